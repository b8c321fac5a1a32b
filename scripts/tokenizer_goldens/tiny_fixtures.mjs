// Writes two tiny tokenizers under testdata/tokenizer/ for tests that must run without the npm
// files: tiny-bytelevel (Llama 3's pipeline) and tiny-sentencepiece (Llama 2's). Their
// vocabularies are small but their pipelines are the real ones, so generate.mjs also checks them
// against transformers.js.
//
//   node tiny_fixtures.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '..', '..', 'testdata', 'tokenizer');
const templates = path.resolve(here, '..', '..', 'trainer', 'tokenizer', 'templates');

// GPT-2's byte alphabet.
function byteChars() {
  const chars = [];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCodePoint(printable ? b : 256 + n++));
  }
  return chars;
}

// Merges that build each word left to right, with every prefix in the vocabulary.
function addWords(vocab, merges, words) {
  for (const w of words) {
    const chars = [...w];
    let cur = chars[0];
    for (const c of chars.slice(1)) {
      if (!(c in vocab)) throw new Error(`${c} not in vocab`);
      const next = cur + c;
      if (!(next in vocab)) {
        vocab[next] = Object.keys(vocab).length;
        merges.push([cur, c]);
      }
      cur = next;
    }
  }
}

function write(name, tokenizer, config) {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer, null, 1) + '\n');
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 1) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), dir)}`);
}

function added(id, content, special = true) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

// tiny-bytelevel: Llama 3's pre-tokenizer, ignore_merges, ByteLevel decoder, BOS from a template.
{
  const vocab = {};
  byteChars().forEach((c) => (vocab[c] = Object.keys(vocab).length));
  const merges = [];
  const G = '\u0120'; // the byte alphabet's space
  addWords(vocab, merges, [`${G}the`, `${G}and`, 'ing', 'Hello', `${G}hello`, `${G}world`, `${G}${G}`,
    '\u010a\u010a', "'s", 'the', `${G}is`, `${G}a`, `${G}test`, '123']);
  const specials = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
  const base = Object.keys(vocab).length;
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((c, i) => added(base + i, c)),
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
          behavior: 'Isolated',
          invert: false,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [base], tokens: ['<|begin_of_text|>'] } },
        },
      ],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges,
    },
  };
  const config = {
    bos_token: '<|begin_of_text|>',
    eos_token: '<|eot_id|>',
    clean_up_tokenization_spaces: false,
    chat_template: fs.readFileSync(path.join(templates, 'llama3.jinja'), 'utf8'),
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  write('tiny-bytelevel', tokenizer, config);
}

// tiny-sentencepiece: Llama 2's legacy pipeline (Prepend and Replace, no pre-tokenizer), byte
// fallback, fused unknowns, <s> from a template.
{
  const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = Object.keys(vocab).length;
  for (const c of ['\u2581', ...'abcdefghijklmnopqrstuvwxyzH,.!\'']) vocab[c] = Object.keys(vocab).length;
  const merges = [];
  const S = '\u2581';
  addWords(vocab, merges, [`${S}the`, `${S}and`, `${S}hello`, `${S}world`, `${S}${S}`, 'ing', `${S}Hello`, `${S}is`, `${S}a`, `${S}test`]);
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: S }, { type: 'Replace', pattern: { String: ' ' }, content: S }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: S }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, vocab, merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    clean_up_tokenization_spaces: false,
    legacy: true,
    tokenizer_class: 'LlamaTokenizer',
  };
  write('tiny-sentencepiece', tokenizer, config);
}
