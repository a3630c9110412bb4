#!/bin/sh
# GPTailor's search throughput across MPI layouts, side by side in one run, repeated: trials per hour
# (min/median wall time of the search phase) and the speed-up against -np 1 on one core and on every
# core (tools/bench/scaling_summary.py). Each trial is a new configuration of base-16L + ft-kjv +
# ft-wordnet (remove 4) scored at one fidelity (WINDOWS windows of 512 tokens of each of the four
# validation splits), so every trial costs the same; the data-parallel groups score one each per
# round. LAYOUTS as in layouts.sh (NP:P, NP:P:1 for one thread per rank); default "1:1:1 1:1 2:1";
# on the device machine e.g. LAYOUTS="1:1:1 16:1 16:2".
# Usage: [LAYOUTS=...] tools/bench/bench_gptailor.sh [REPEATS] [TRIALS] [WINDOWS]
set -eu
cd "$(dirname "$0")/../.."
R=${1:-2}; N=${2:-8}; W=${3:-3}
LAYOUTS=${LAYOUTS:-1:1:1 1:1 2:1}
BIN=${DF_BIN:-build/depthfuse}
M=tests/fixtures/models; D=tests/fixtures/data
. tools/bench/layouts.sh
search_once() {
    rm -f "$out/h.jsonl"
    $MPIRUN "$BIN" compress --method gptailor --model $M/base-16L --candidate $M/base-16L-ft-kjv \
        --candidate $M/base-16L-ft-wordnet --remove 4 --objective-ppl $D/brown.valid.txt --objective-ppl $D/nlpc.valid.txt \
        --objective-ppl $D/kjv.valid.txt --objective-ppl $D/wordnet.valid.txt --min-windows "$W" --max-windows "$W" \
        --no-warm-start --trials "$N" --pipeline "$P" --out "$out/m" --overwrite --history "$out/h.jsonl" \
        --json "$out/j.json" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
    /usr/bin/python3 -c "import json;g=json.load(open('$out/j.json'))['gptailor'];print(g['search_seconds'], g['trials'])" >> "$out/t_$tag"
}
for_layouts "$R" search_once
echo "gptailor search on base-16L (+2 candidates, remove 4), $N trials of $W windows x 4 files x 512 tokens; load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 tools/bench/scaling_summary.py "$out" "$(nproc)" "$LAYOUTS" "trials"
/usr/bin/python3 - "$out" "$LAYOUTS" <<'PY'
import statistics, sys
d, lays = sys.argv[1], sys.argv[2].split()
for lay in lays:
    f = lay.split(":"); tag = f"{f[0]}_{f[1]}" + ("_1t" if len(f) > 2 else "")
    rows = [tuple(map(float, l.split())) for l in open(f"{d}/t_{tag}")]
    best = min(r[0] for r in rows); med = statistics.median(r[0] for r in rows)
    print(f"  {lay:8s} trials/hour: best {rows[0][1] / best * 3600:7.0f}, median {rows[0][1] / med * 3600:7.0f}")
PY
