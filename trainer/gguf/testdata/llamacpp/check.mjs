// Loads the GGUF files TestLlamaCpp_Dump wrote in llama.cpp and checks them against our model:
// the tokens of each text as llama.cpp's tokenizer gives them must be the Hugging Face tokenizer's,
// and the greedy continuation must be ours for F32, F16 and BF16 (Q8_0 may drift: it is printed).
// The files are also parsed by @huggingface/gguf, a second reader.
//
//   GGUF_LLAMACPP_OUT=/tmp/gg go test ./trainer/gguf -run LlamaCpp_Dump
//   mkdir /tmp/nlc && cd /tmp/nlc && npm init -y && npm install node-llama-cpp@3.22.1 @huggingface/gguf@0.4.6
//   cp .../trainer/gguf/testdata/llamacpp/check.mjs . && node check.mjs /tmp/gg [variant] [type]
import {getLlama} from "node-llama-cpp";
import {gguf} from "@huggingface/gguf";
import fs from "fs";

const [dir, onlyVariant, onlyType] = process.argv.slice(2);
const results = JSON.parse(fs.readFileSync(`${dir}/results.json`));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
let failures = 0;
for (const r of results.filter((r) => !onlyVariant || r.Name === onlyVariant)) {
  for (const [type, path] of Object.entries(r.Files).filter(([t]) => !onlyType || t === onlyType)) {
    const {tensorInfos} = await gguf(path, {allowLocalFile: true});
    const model = await llama.loadModel({modelPath: path});
    const context = await model.createContext({contextSize: 128});
    console.log(`${r.Name} ${type}: ${tensorInfos.length} tensors, bos ${model.tokens.bos}`);
    for (let i = 0; i < r.Texts.length; i++) {
      const hf = r.Tokens[i];
      const ours = Array.from(model.tokenize(r.Texts[i], false));
      const bosOK = hf.length === ours.length || (hf.length === ours.length + 1 && hf[0] === model.tokens.bos);
      const tokensOK = bosOK && JSON.stringify(ours) === JSON.stringify(hf.slice(hf.length - ours.length));
      const sequence = context.getSequence();
      const generated = [];
      for await (const t of sequence.evaluate(hf, {temperature: 0})) {
        generated.push(t);
        if (generated.length >= r.Greedy[i].length) break;
      }
      sequence.dispose();
      const greedyOK = JSON.stringify(generated) === JSON.stringify(r.Greedy[i]);
      if (!tokensOK || (!greedyOK && type !== "Q8_0")) failures++;
      console.log(`  tokens ${tokensOK ? "same" : `DIFFER ${ours} vs ${hf}`}, greedy ${greedyOK ? "same" : `DIFFERS ${generated} vs ${r.Greedy[i]}`}`);
    }
    await context.dispose();
    await model.dispose();
  }
}
console.log(`${failures} failures`);
process.exit(failures ? 1 : 0);
