#!/bin/sh
# depthfuse convert end to end at -np 2 with 2 pipeline stages: HF -> h5 -> HF (3 MB shards), the
# written folder holds several shards + index + tokenizer, and the three models (source, .h5,
# written folder) give the same perplexity on a text sample.
# Usage: cli_convert.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
src=$DF_FIXTURES/models/base-16L
head -c 60000 "$DF_FIXTURES/data/kjv.test.txt" > "$out/sample.txt"
run() { "$mpiexec" -q -n 2 "$@" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }; }
run "$@" "$DF_BIN" convert --from-hf "$src" --to "$out/m.h5" --pipeline 2
run "$@" "$DF_BIN" convert --from-h5 "$out/m.h5" --to-hf "$out/back" --max-shard-size 3MB --pipeline 2
ls "$out/back"
n=$(ls "$out/back" | grep -c '^model-.*safetensors$')
[ "$n" -ge 2 ] && [ -f "$out/back/model.safetensors.index.json" ] && [ -f "$out/back/tokenizer.json" ] ||
    { echo "FAIL: expected >= 2 shards, an index and tokenizer.json"; exit 1; }
for m in "$src" "$out/m.h5" "$out/back"; do
    run "$@" "$DF_BIN" eval --model "$m" --ppl "$out/sample.txt" --seq-len 256 --pipeline 2 --json "$out/e.json"
    /usr/bin/python3 -c "import json;print(json.load(open('$out/e.json'))['perplexity']['sample.txt'])" >> "$out/ppl"
done
cat "$out/ppl"
[ "$(sort -u "$out/ppl" | wc -l)" -eq 1 ] || { echo "FAIL: perplexities differ"; exit 1; }
