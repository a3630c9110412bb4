// The reference side of depthfuse's tokenizer oracle test: Hugging Face tokenizers (npm binding of
// the Rust implementation) encodes every input (no special tokens added) and decodes the ids back
// (special tokens kept). The inputs go into the output file with the results, so the C side
// (tests/test_tok_oracle.c) tokenizes exactly the same texts.
//   node oracle.js TOKENIZER_JSON FIXTURES_DIR OUT
// ORACLE_INPUTS=small: two data files and 50 C4 documents instead of all (for tokenizer variants).
// OUT: "DFORACLE2\n", then per case: u32 name length, name; u64 length + UTF-8 text; u64 count +
// u32 ids; u64 count + u32 ids with special tokens added; u64 length + decoded ids (special tokens
// kept); u64 length + decoded ids with special tokens skipped; all little-endian.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');
const stress = require('./stress');

function fileText(p) {
  // whole file as one string; fatal: the fixtures are UTF-8, a bad byte would change the text
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(fs.readFileSync(p));
}

function inputs(fixtures, tokenizerJson) {
  const cases = [];
  const data = path.join(fixtures, 'data');
  const files = [];
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!p.endsWith('.jsonl')) files.push(p);
    }
  })(data);
  const small = process.env.ORACLE_INPUTS === 'small';
  for (const p of files)
    if (!small || /(kjv|wordnet)\.test/.test(p)) cases.push(['file:' + path.relative(fixtures, p), fileText(p)]);
  const c4 = path.join(data, 'c4', 'c4_sample_200docs.jsonl');
  fileText(c4).split('\n').filter((l) => l.length).slice(0, small ? 50 : undefined)
    .forEach((l, i) => cases.push([`c4:${i}`, JSON.parse(l).text]));
  const specials = JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')).added_tokens.map((t) => t.content);
  stress.texts(specials).forEach((t, i) => cases.push([`stress:${i}`, t]));
  return cases;
}

async function main() {
  const [tokPath, fixtures, out] = process.argv.slice(2);
  if (!out) throw new Error('usage: node oracle.js TOKENIZER_JSON FIXTURES_DIR OUT');
  const tok = Tokenizer.fromFile(tokPath);
  const parts = [Buffer.from('DFORACLE2\n')];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  let nids = 0;
  const t0 = process.hrtime.bigint();
  for (const [name, text] of inputs(fixtures, tokPath)) {
    const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
    const idsSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
    const dec = Buffer.from(await tok.decode(ids, false), 'utf8');
    const decSkip = Buffer.from(await tok.decode(ids, true), 'utf8');
    const nb = Buffer.from(name, 'utf8'), tb = Buffer.from(text, 'utf8');
    const idbuf = (v) => [u64(v.length), Buffer.from(Uint32Array.from(v).buffer)];
    parts.push(u32(nb.length), nb, u64(tb.length), tb, ...idbuf(ids), ...idbuf(idsSpecial), u64(dec.length), dec,
               u64(decSkip.length), decSkip);
    nids += ids.length;
  }
  // every id decoded alone (byte pieces, partial characters, first-token rules of the decoders)
  const nvocab = tok.getVocabSize(true);
  const single = await tok.decodeBatch(Array.from({ length: nvocab }, (_, i) => [i]), false);
  parts.push(Buffer.from('DFVOCAB\n'), u32(nvocab));
  for (const d of single) { const b = Buffer.from(d, 'utf8'); parts.push(u32(b.length), b); }
  fs.writeFileSync(out, Buffer.concat(parts));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`reference: ${path.basename(path.dirname(tokPath))}: ${nids} ids in ${s.toFixed(1)} s`);
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
