// Reference tokenizer throughput for tools/bench/bench_tokenizer.sh: encode FILE as one string
// (no special tokens), best of RUNS; prints "npm serial 1 tokens seconds tokens/s".
//   node bench.js TOKENIZER_JSON FILE [RUNS]
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [tokPath, file, runsArg] = process.argv.slice(2);
  const runs = Number(runsArg || 5);
  const tok = Tokenizer.fromFile(tokPath);
  const text = fs.readFileSync(file, 'utf8');
  let best = Infinity, n = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    n = enc.getIds().length;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt < best) best = dt;
  }
  console.log(`npm serial 1 ${n} ${best.toFixed(4)} ${(n / best).toFixed(0)}`);
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
