#!/bin/sh
# FlattenGPT's options on base-16L, 4 of 16 blocks removed: each variant compressed and scored on the
# four test splits (perplexity, seq-len 512), one Markdown row each (docs/flattengpt.md's table).
#   tools/flattengpt_variants.sh                      # every variant below, NP=2
#   NP=4 WORK=/tmp/fv tools/flattengpt_variants.sh "ridge 1:--ridge 1" "dense inputs:--inputs dense"
# A variant is "NAME:FLAGS" (flags added to the defaults); results also in $WORK/NAME.eval.json.
set -eu
cd "$(dirname "$0")/.."
NP=${NP:-2}; WORK=${WORK:-build/flattengpt-variants}; BIN=${DF_BIN:-build/depthfuse}
D=tests/fixtures/data; M=tests/fixtures/models/base-16L
FLAGS="--oversubscribe"; [ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
mkdir -p "$WORK"
[ $# -gt 0 ] || set -- "defaults:" "W_O compensation:--wo-comp" "dense inputs:--inputs dense" \
    "heads by output norm:--head-score output" "similarity span:--similarity span" \
    "128 windows:--samples 128" "32 x 1024 tokens:--seq-len 1024" "ridge 1:--ridge 1" "ridge 0.1:--ridge 0.1"
echo "| variant | flags | ppl brown | ppl nlpc | ppl kjv | ppl wordnet | mean |"
echo "|---|---|---|---|---|---|---|"
for v in "$@"; do
    name=${v%%:*}; flags=${v#*:}; tag=$(echo "$name" | tr -c 'a-zA-Z0-9\n' '_')
    # shellcheck disable=SC2086
    mpirun -q -np "$NP" $FLAGS "$BIN" compress --method flattengpt --model "$M" --calib "$D/calib.train.txt" --remove 4 \
        $flags --out "$WORK/$tag" --overwrite --json "$WORK/$tag.run.json" --progress=none > "$WORK/$tag.log" 2>&1
    mpirun -q -np "$NP" $FLAGS "$BIN" eval --model "$WORK/$tag" --ppl "$D/brown.test.txt" --ppl "$D/nlpc.test.txt" \
        --ppl "$D/kjv.test.txt" --ppl "$D/wordnet.test.txt" --seq-len 512 --json "$WORK/$tag.eval.json" --progress=none > /dev/null 2>&1
    /usr/bin/python3 - "$WORK/$tag.eval.json" "$name" "$flags" <<'PY'
import json, sys
p = list(json.load(open(sys.argv[1]))["perplexity"].values())
print(f"| {sys.argv[2]} | `{sys.argv[3] or '-'}` | " + " | ".join(f"{x:.2f}" for x in p) + f" | {sum(p) / len(p):.2f} |")
PY
done
