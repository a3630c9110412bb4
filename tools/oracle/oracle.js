// The reference side of depthfuse's tokenizer oracle test: Hugging Face tokenizers (npm binding of
// the Rust implementation) encodes every input (no special tokens added) and decodes the ids back
// (special tokens kept). The inputs go into the output file with the results, so the C side
// (tests/test_tok_oracle.c) tokenizes exactly the same texts.
//   node oracle.js TOKENIZER_JSON FIXTURES_DIR OUT
// OUT: "DFORACLE1\n", then per case: u32 name length, name, u64 text length, text (UTF-8),
// u64 id count, u32 ids, u64 decoded length, decoded text; all little-endian.
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
  for (const p of files) cases.push(['file:' + path.relative(fixtures, p), fileText(p)]);
  const c4 = path.join(data, 'c4', 'c4_sample_200docs.jsonl');
  fileText(c4).split('\n').filter((l) => l.length).forEach((l, i) => cases.push([`c4:${i}`, JSON.parse(l).text]));
  const specials = JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')).added_tokens.map((t) => t.content);
  stress.texts(specials).forEach((t, i) => cases.push([`stress:${i}`, t]));
  return cases;
}

async function main() {
  const [tokPath, fixtures, out] = process.argv.slice(2);
  if (!out) throw new Error('usage: node oracle.js TOKENIZER_JSON FIXTURES_DIR OUT');
  const tok = Tokenizer.fromFile(tokPath);
  const parts = [Buffer.from('DFORACLE1\n')];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  let nids = 0;
  const t0 = process.hrtime.bigint();
  for (const [name, text] of inputs(fixtures, tokPath)) {
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const ids = enc.getIds();
    const dec = Buffer.from(await tok.decode(ids, false), 'utf8');
    const nb = Buffer.from(name, 'utf8'), tb = Buffer.from(text, 'utf8');
    parts.push(u32(nb.length), nb, u64(tb.length), tb, u64(ids.length), Buffer.from(Uint32Array.from(ids).buffer),
               u64(dec.length), dec);
    nids += ids.length;
  }
  fs.writeFileSync(out, Buffer.concat(parts));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`reference: ${path.basename(path.dirname(tokPath))}: ${nids} ids in ${s.toFixed(1)} s`);
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
