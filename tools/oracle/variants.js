// Tokenizer variants for the oracle: the fixture tokenizers with their components swapped for the
// other ones depthfuse implements (Metaspace, Split behaviours, unk without byte fallback, added
// tokens with lstrip/rstrip/single_word/normalized, more decoders and post-processors), so every
// supported component is checked against the reference, not only those the fixtures use.
//   node variants.js FIXTURES_DIR OUT_DIR   (writes OUT_DIR/NAME/tokenizer.json, prints the names)
'use strict';
const fs = require('fs');
const path = require('path');

const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const byteLevel = (prefix, regex) => ({ type: 'ByteLevel', add_prefix_space: prefix, trim_offsets: true, use_regex: regex });
const metaspace = (scheme, split) => ({ type: 'Metaspace', replacement: '▁', prepend_scheme: scheme, split });
const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
// pre, post: [token, id] pairs around sequence A
const template = (pre, post) => ({
  type: 'TemplateProcessing',
  single: [...pre.map(([t]) => ({ SpecialToken: { id: t, type_id: 0 } })), { Sequence: { id: 'A', type_id: 0 } },
    ...post.map(([t]) => ({ SpecialToken: { id: t, type_id: 0 } }))],
  pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: Object.fromEntries([...pre, ...post].map(([t, id]) => [t, { id: t, ids: [id], tokens: [t] }])),
});
const added = (id, content, o) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
  special: false, ...o });

function variants(fx) {
  const load = (p) => JSON.parse(fs.readFileSync(path.join(fx, p), 'utf8'));
  const base = () => load('models/base-16L/tokenizer.json');
  const llama2 = () => load('tokenizers/llama2-hf/tokenizer.json');
  const llama3 = () => load('tokenizers/llama3-hf/tokenizer.json');
  const v = {};
  // SentencePiece-style with a Metaspace pre-tokenizer instead of the Prepend/Replace normalizer
  for (const [scheme, sp] of [['always', true], ['first', false], ['never', true], ['first', true]]) {
    const j = llama2();
    j.normalizer = null;
    j.pre_tokenizer = metaspace(scheme, sp);
    j.decoder = { type: 'Sequence', decoders: [metaspace(scheme, sp), { type: 'ByteFallback' }, { type: 'Fuse' }] };
    v[`metaspace_${scheme}_${sp ? 'split' : 'nosplit'}`] = j;
  }
  // unk instead of byte fallback, fused and not; Strip on each token's end (the reference panics
  // when a Strip's start and stop overlap, so the end is stripped before Fuse, the start after)
  for (const fuse of [true, false]) {
    const j = llama2();
    j.model.byte_fallback = false;
    j.model.fuse_unk = fuse;
    j.decoder.decoders.unshift({ type: 'Strip', content: '▁', start: 0, stop: 1 });
    j.decoder.decoders[4] = { type: 'Strip', content: ' ', start: 2, stop: 0 };
    v[`unk_${fuse ? 'fused' : 'unfused'}`] = j;
  }
  // added tokens with every flag, matched raw and after a normalizer; a non-special one
  {
    const j = base();
    j.normalizer = { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { String: '``' }, content: '"' },
      { type: 'Replace', pattern: { Regex: '\\s{3,}' }, content: '  ' }] };
    j.added_tokens.push(added(4096, '<mask>', { lstrip: true, special: true }), added(4097, '[X]', { rstrip: true }),
      added(4098, 'hello', { single_word: true, normalized: true }), added(4099, 'ing', { normalized: true }),
      added(4100, '" q', { normalized: true, special: true }), added(4101, '<|end', { lstrip: true, rstrip: true }));
    j.post_processor = { type: 'Sequence', processors: [byteLevel(true, true),
      template([['<|begin_of_text|>', 0]], [['<|end_of_text|>', 1]])] };
    v.added_flags = j;
  }
  {
    const j = llama2();   // normalized added tokens meet the Prepend normalizer's output
    j.added_tokens.push(added(32000, '<x>', { normalized: true }), added(32001, 'world', { normalized: true, single_word: true }));
    j.post_processor = template([['<s>', 1]], [['</s>', 2]]);
    v.llama2_added = j;
  }
  // Split behaviours in sequence; ByteLevel with a prefix space and without its regex
  {
    const j = base();
    j.pre_tokenizer = { type: 'Sequence', pretokenizers: [split({ Regex: '\\p{P}' }, 'MergedWithNext'),
      split({ String: ' ' }, 'MergedWithPrevious'), byteLevel(true, true)] };
    v.split_merged = j;
  }
  {
    const j = base();
    j.pre_tokenizer = { type: 'Sequence', pretokenizers: [split({ Regex: '\\s+' }, 'Removed'),
      split({ String: 'e' }, 'Contiguous', true), byteLevel(false, false)] };
    j.decoder = null;
    v.split_removed_nodecoder = j;
  }
  {
    const j = base();   // a rarely matching first split: chunks with no match, so rescans
    j.pre_tokenizer = { type: 'Sequence', pretokenizers: [split({ Regex: '\\d+' }, 'Isolated'), byteLevel(false, true)] };
    j.decoder = { type: 'Sequence', decoders: [byteLevel(true, true), { type: 'Replace', pattern: { Regex: '[0-9]' }, content: '#' }] };
    v.split_rare_digits = j;
  }
  {
    const j = llama3();   // Qwen2's NFC and regex; merges as ["a", "b"] pairs; BOS and EOS
    j.normalizer = { type: 'NFC' };
    j.pre_tokenizer.pretokenizers[0].pattern.Regex = QWEN2;
    j.model.merges = j.model.merges.map((m) => m.split(' '));
    j.model.ignore_merges = false;
    j.post_processor = { type: 'Sequence', processors: [byteLevel(false, false),
      template([['<|begin_of_text|>', 128000]], [['<|end_of_text|>', 128001]])] };
    v.qwen2_nfc = j;
  }
  return v;
}

const [fx, out] = process.argv.slice(2);
if (!out) throw new Error('usage: node variants.js FIXTURES_DIR OUT_DIR');
for (const [name, j] of Object.entries(variants(fx))) {
  fs.mkdirSync(path.join(out, name), { recursive: true });
  fs.writeFileSync(path.join(out, name, 'tokenizer.json'), JSON.stringify(j));
  console.log(name);
}
