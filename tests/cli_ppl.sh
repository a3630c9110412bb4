#!/bin/sh
# depthfuse eval perplexity against the reference (fixtures/models/base-16L/reference.json,
# ppl_seq512_nobos: transformers + tokenizers, fp32) within 0.2%, and the same at every layout:
# relative difference <= 1e-5 across the given "np:P" layouts.
# Usage: cli_ppl.sh "SPLITS" "LAYOUTS" MPIEXEC [MPI PREFLAGS...]   e.g. "kjv.test.txt" "1:1 2:1 2:2"
set -eu
splits=$1; layouts=$2; mpiexec=$3; shift 3
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
args=""
for s in $splits; do args="$args --ppl $DF_FIXTURES/data/$s"; done
for lay in $layouts; do
    np=${lay%:*}; P=${lay#*:}
    "$mpiexec" -n "$np" "$@" "$DF_BIN" eval --model "$DF_FIXTURES/models/base-16L" $args --seq-len 512 \
        --pipeline "$P" --json "$out/np${np}_P$P.json" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
done
/usr/bin/python3 - "$out" "$DF_FIXTURES/models/base-16L/reference.json" $layouts <<'PY'
import json, sys
d, ref = sys.argv[1], json.load(open(sys.argv[2]))["ppl_seq512_nobos"]
runs = {lay: json.load(open(f"{d}/np{lay.split(':')[0]}_P{lay.split(':')[1]}.json"))["perplexity"] for lay in sys.argv[3:]}
first = runs[sys.argv[3]]
ok = True
for split, want in ((s, ref[s]) for s in first):
    for lay, r in runs.items():
        rel_ref, rel_first = abs(r[split] - want) / want, abs(r[split] - first[split]) / first[split]
        good = rel_ref <= 2e-3 and rel_first <= 1e-5
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {split:18s} np:P={lay:4s} ppl {r[split]:.4f}  reference {want:.4f}  "
              f"rel {rel_ref:.2e}  vs first layout {rel_first:.1e}")
sys.exit(0 if ok else 1)
PY
