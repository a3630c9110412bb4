#!/bin/sh
# The removal baselines on the bundled model: dense base-16L and mi (FuseGPT's Macro Influence,
# greedy), bi (ShortGPT's Block Influence, one shot) and sleb (greedy perplexity) at 25% sparsity
# (4 of 16 blocks, and 2 for a second point), each evaluated on the four held-out test splits,
# WikiText-2 test and the four fixture tasks. Writes docs/results.md, docs/results/*.json and the
# plots docs/results.png (scores against removed blocks) and docs/importance.png.
#
#   tools/results.sh                      # NP=2 ranks, 32 calibration windows of 1024 tokens
#   NP=16 PIPELINE=2 SAMPLES=32 SEQ=1024 DF_BIN=/path/to/depthfuse tools/results.sh
#
# The fixture model was trained on 1024-token contexts (max_position_embeddings), so calibration
# windows are 1024 tokens rather than FuseGPT's 2048.
set -eu
cd "$(dirname "$0")/.."
NP=${NP:-2}; PIPELINE=${PIPELINE:-1}; SAMPLES=${SAMPLES:-32}; SEQ=${SEQ:-1024}; SEED=${SEED:-0}
MODEL=tests/fixtures/models/base-16L
D=tests/fixtures/data; T=tests/fixtures/tasks
OUT=docs/results; WORK=${WORK:-build/results}
mkdir -p "$OUT" "$WORK"
FLAGS="--oversubscribe"
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
BIN=${DF_BIN:-build/depthfuse}
df() { mpirun -q -np "$NP" $FLAGS "$BIN" "$@" --pipeline "$PIPELINE"; }
CALIB="--calib $D/calib.train.txt --samples $SAMPLES --seq-len $SEQ --seed $SEED"
EVAL="--ppl $D/brown.test.txt --ppl $D/nlpc.test.txt --ppl $D/kjv.test.txt --ppl $D/wordnet.test.txt
      --ppl $D/wikitext-2-raw/wiki.test.raw --seq-len 512
      --tasks $T/brown_cloze.valid.jsonl,$T/kjv_cloze.valid.jsonl,$T/nlpc_cloze.valid.jsonl,$T/wordnet_def.valid.jsonl"

echo "== dense"
df eval --model "$MODEL" $EVAL --json "$OUT/dense.json"
for m in mi bi sleb; do
    for k in 2 4; do
        echo "== $m, $k blocks removed"
        df prune --model "$MODEL" --method "$m" --remove "$k" $CALIB --out "$WORK/$m-$k" --overwrite --json "$OUT/prune-$m-$k.json"
        df eval --model "$WORK/$m-$k" $EVAL --json "$OUT/$m-$k.json"
    done
done
tools/plot_results.py -o docs/results.png --base "$OUT/dense.json" \
    "MI (FuseGPT)=$OUT/mi-2.json,$OUT/mi-4.json" "BI (ShortGPT)=$OUT/bi-2.json,$OUT/bi-4.json" \
    "SLEB=$OUT/sleb-2.json,$OUT/sleb-4.json"
tools/plot_importance.py -o docs/importance.png "$OUT/prune-mi-4.json" "$OUT/prune-bi-4.json" "$OUT/prune-sleb-4.json"

/usr/bin/python3 - "$OUT" "$NP" "$PIPELINE" "$SAMPLES" "$SEQ" <<'PY' > docs/results.md.tmp
import json, sys
out, np_, P, samples, seq = sys.argv[1:]
load = lambda name: json.load(open(f"{out}/{name}.json"))
dense = load("dense")
ppl_keys = list(dense["perplexity"]); task_keys = list(dense["tasks"])
short = lambda k: k.replace(".test.txt", "").replace(".test.raw", "").replace(".valid.jsonl", "")
rows = [("dense", "—", dense, None, None)]
names = {"mi": "MI (FuseGPT)", "bi": "BI (ShortGPT)", "sleb": "SLEB"}
for m in ("mi", "bi", "sleb"):
    for k in (2, 4):
        p = load(f"prune-{m}-{k}")
        rows.append((f"{names[m]}, {k} removed", ", ".join(map(str, p["removed"])), load(f"{m}-{k}"), p, m))
print("# Removal baselines on base-16L\n")
print("Produced by `tools/results.sh` (NP=%s, --pipeline %s): calibration = %s windows of %s tokens of "
      "`calib.train.txt` (seed 0); perplexity by the WikiText-2 protocol at seq-len 512; zero-shot accuracy "
      "as lm-evaluation-harness scores it (acc / acc_norm, fractions). Lower perplexity and higher accuracy "
      "are better.\n" % (np_, P, samples, seq))
hdr = "| model | removed blocks | " + " | ".join(f"ppl {short(k)}" for k in ppl_keys) + " | " + \
      " | ".join(f"{short(k)} acc / acc_norm" for k in task_keys) + " |"
print(hdr)
print("|" + "---|" * (2 + len(ppl_keys) + len(task_keys)))
for name, removed, r, _, _ in rows:
    cells = [f"{r['perplexity'][k]:.2f}" for k in ppl_keys]
    cells += [f"{r['tasks'][k]['acc']:.3f} / {r['tasks'][k]['acc_norm']:.3f}" for k in task_keys]
    print(f"| {name} | {removed} | " + " | ".join(cells) + " |")
print("\nBlocks removed, in order (mi and sleb are greedy: recomputed after each removal; bi removes the "
      "lowest-scoring blocks at once):\n")
for name, removed, _, p, m in rows[1:]:
    if name.endswith("4 removed"):
        print(f"- {name.split(',')[0]}: {removed} (the table of scores: `docs/results/prune-{m}-4.json`)")
print("\n![perplexity and accuracy against removed blocks](results.png)\n")
print("![block importance per metric](importance.png)\n")
print("Seconds per run (prune = importance + writing; eval = all files): " + ", ".join(
      f"{m}-4 prune {load(f'prune-{m}-4')['seconds']:.0f} s" for m in ("mi", "bi", "sleb")) + ".")
PY
mv docs/results.md.tmp docs/results.md
echo "wrote docs/results.md, docs/results.png, docs/importance.png"
