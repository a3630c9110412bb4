#!/bin/sh
# depthfuse eval --tasks on base-16L's four fixture tasks (400 items each), then a subset at other
# layouts. Checks: the report's shape (acc values are fractions, no other key is named acc); each
# metric recomputed from --samples-out (argmax of ll, of ll / characters; means; sample standard
# errors sqrt(p(1-p)/(n-1))); the cloze tasks score above chance by more than 3 standard errors (a
# scorer that misaligns tokens scores at chance); per-item ll within 1e-4 at -np 2 (pipeline and
# data-parallel) of -np 1.
# Usage: cli_eval_tasks.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
T=$DF_FIXTURES/tasks
model=$DF_FIXTURES/models/base-16L
four="$T/brown_cloze.valid.jsonl,$T/kjv_cloze.valid.jsonl,$T/nlpc_cloze.valid.jsonl,$T/wordnet_def.valid.jsonl"
sub="$T/brown_cloze.valid.jsonl,$T/llm-foundry/winogrande.jsonl,$T/llm-foundry/lambada_openai.jsonl,$T/hellaswag/hellaswag_val_full.txt.bz2"
"$DF_BIN" eval --model "$model" --tasks "$four" --json "$out/four.json" --report-md "$out/four.md" \
    --samples-out "$out/four.jsonl" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
grep -v elapsed "$out/log"
"$DF_BIN" eval --model "$model" --tasks "$sub" --limit 50 --samples-out "$out/np1.jsonl" > "$out/log" 2>&1 ||
    { cat "$out/log"; exit 1; }
for P in 1 2; do
    "$mpiexec" -n 2 "$@" "$DF_BIN" eval --model "$model" --tasks "$sub" --limit 50 --pipeline $P \
        --samples-out "$out/np2_P$P.jsonl" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
done
/usr/bin/python3 - "$out" <<'PY'
import json, math, sys
d = sys.argv[1]
ok = True
def check(cond, msg):
    global ok
    ok &= bool(cond)
    print(("ok   " if cond else "FAIL ") + msg)

rep = json.load(open(f"{d}/four.json"))
check({"model", "blocks", "seconds", "perplexity", "tasks"} <= set(rep) and rep["blocks"] == 16, "report keys")
def acc_keys(o, path=""):
    for k, v in (o.items() if isinstance(o, dict) else []):
        if k == "acc": yield path
        yield from acc_keys(v, path + "/" + k)
check(sorted(acc_keys(rep)) == sorted(f"/tasks/{t}" for t in rep["tasks"]), "only tasks.<file>.acc is named acc")
samples = {}
for line in open(f"{d}/four.jsonl"):
    s = json.loads(line)
    samples.setdefault(s["task"], []).append(s)
for task, m in rep["tasks"].items():
    items = samples[task]
    n = len(items)
    first_max = lambda v: max(range(len(v)), key=lambda i: (v[i], -i))
    acc = sum(first_max(s["ll"]) == s["gold"] for s in items) / n
    acc_norm = sum(first_max([l / c for l, c in zip(s["ll"], s["chars"])]) == s["gold"] for s in items) / n
    se = lambda p: math.sqrt(p * (1 - p) / (n - 1))
    check(m["n"] == n == 400 and 0 <= m["acc"] <= 1 and 0 <= m["acc_norm"] <= 1, f"{task}: n {n}, fractions")
    check(abs(m["acc"] - acc) < 1e-12 and abs(m["acc_norm"] - acc_norm) < 1e-12,
          f"{task}: acc {m['acc']:.4f} acc_norm {m['acc_norm']:.4f} from the samples {acc:.4f} {acc_norm:.4f}")
    check(abs(m["acc_stderr"] - se(acc)) < 1e-12 and abs(m["acc_norm_stderr"] - se(acc_norm)) < 1e-12,
          f"{task}: stderr {m['acc_stderr']:.4f} {m['acc_norm_stderr']:.4f} = sqrt(p(1-p)/(n-1))")
    if "cloze" in task:
        check(m["acc_norm"] - m["chance"] > 3 * m["acc_norm_stderr"],
              f"{task}: acc_norm {m['acc_norm']:.4f} above chance {m['chance']:.2f} by > 3 stderr")
md = open(f"{d}/four.md").read()
check(all(f"| {t} " in md for t in rep["tasks"]), "the Markdown report has a row per task")

def load(name):
    return {(s["task"], s["line"]): s for s in map(json.loads, open(f"{d}/{name}.jsonl"))}
base = load("np1")
check(len(base) == 200, f"--limit 50 on 4 files: {len(base)} items")
for lay in ("np2_P1", "np2_P2"):
    other = load(lay)
    worst = max(abs(a - b) for k, s in base.items() for a, b in zip(s["ll"], other[k]["ll"]))
    check(other.keys() == base.keys() and worst <= 1e-4, f"{lay}: per-item ll max |diff| vs np 1 {worst:.2e}")
sys.exit(0 if ok else 1)
PY
