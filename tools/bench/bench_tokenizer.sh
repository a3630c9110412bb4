#!/bin/sh
# Tokens/s of depthfuse and of the reference (Hugging Face tokenizers, npm 0.23.2) on the same file,
# same machine, same run, for the three fixture tokenizers; the ratio is depthfuse / reference.
#   tools/bench/bench_tokenizer.sh BUILD_DIR [FILE] [RUNS]     (default FILE: WikiText-2 test)
# Needs: the build's tools/bench/bench_tokenizer, and  npm ci --prefix tools/oracle
set -eu
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
file=${2:-$root/tests/fixtures/data/wikitext-2-raw/wiki.test.raw}
runs=${3:-5}
echo "file: $file ($(wc -c < "$file") bytes), best of $runs runs, $(nproc) cores"
printf '%-10s %-10s %-9s %7s %9s %8s %11s %7s\n' tokenizer impl mode threads tokens seconds tokens/s ratio
for tok in models/base-16L tokenizers/llama2-hf tokenizers/llama3-hf; do
    t="$root/tests/fixtures/$tok"
    ref=$(node "$root/tools/oracle/bench.js" "$t/tokenizer.json" "$file" "$runs")
    ours=$("$build/tools/bench/bench_tokenizer" "$t" "$file" "$runs")
    echo "$ref
$ours" | awk -v tok="$(basename "$tok")" '
        $1 == "npm" { ref = $6 }
        { rows[NR] = $0 }
        END { for (i = 1; i <= NR; i++) { split(rows[i], f, " ");
                  printf "%-10s %-10s %-9s %7s %9s %8s %11s %6.1fx\n", tok, f[1], f[2], f[3], f[4], f[5], f[6], f[6] / ref } }'
done
