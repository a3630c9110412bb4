#!/bin/sh
# Every task format end to end on base-16L at -np 2 (two data-parallel groups), the first 50 items of
# each file: all llm-foundry files, PIQA in its original form (labels beside it, and by --labels),
# HellaSwag from its .bz2, with --ppl in the same run (perplexity against the reference, 0.2%).
# Usage: cli_eval_formats.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
T=$DF_FIXTURES/tasks
model=$DF_FIXTURES/models/base-16L
tasks=$(ls "$T"/llm-foundry/*.jsonl | tr '\n' ',')"$T/piqa-original/valid.jsonl,$T/hellaswag/hellaswag_val_full.txt.bz2"
"$mpiexec" -n 2 "$@" "$DF_BIN" eval --model "$model" --tasks "$tasks" --limit 50 --ppl "$DF_FIXTURES/data/kjv.test.txt" \
    --json "$out/all.json" --samples-out "$out/all.jsonl" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
grep -v elapsed "$out/log"
mkdir "$out/piqa" && cp "$T/piqa-original/valid.jsonl" "$out/piqa/"
"$DF_BIN" eval --model "$model" --tasks "$out/piqa/valid.jsonl" --labels "$T/piqa-original/valid-labels.lst" --limit 50 \
    --samples-out "$out/piqa.jsonl" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
/usr/bin/python3 - "$out" "$T" "$DF_FIXTURES/models/base-16L/reference.json" <<'PY'
import glob, json, os, sys
d, tasks, ref = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))["ppl_seq512_nobos"]
rep = json.load(open(f"{d}/all.json"))
want = {os.path.basename(p): "multiple_choice" for p in glob.glob(f"{tasks}/llm-foundry/*.jsonl")}
want.update({"winogrande.jsonl": "schema", "lambada_openai.jsonl": "language_modeling", "valid.jsonl": "piqa",
             "hellaswag_val_full.txt.bz2": "hellaswag"})
ok = True
def check(cond, msg):
    global ok
    ok &= bool(cond)
    print(("ok   " if cond else "FAIL ") + msg)
check(set(rep["tasks"]) == set(want), f"{len(rep['tasks'])} task files reported")
for name, m in rep["tasks"].items():
    check(m["format"] == want.get(name) and m["n"] == 50 and 0 <= m["acc"] <= 1 and
          (0 < m["chance"] < 1) == (m["format"] != "language_modeling"), f"{name}: {m['format']}, n {m['n']}, acc {m['acc']:.2f}")
    if m["format"] in ("multiple_choice", "piqa", "hellaswag"):
        check(0 <= m["acc_norm"] <= 1, f"{name}: acc_norm {m['acc_norm']:.2f}")
    else:
        check("acc_norm" not in m, f"{name}: no acc_norm for {m['format']}")
lam = rep["tasks"]["lambada_openai.jsonl"]
check(lam["perplexity"] > 1 and lam["chance"] == 0, f"LAMBADA: perplexity {lam['perplexity']:.1f}, acc {lam['acc']:.2f}")
p = rep["perplexity"]["kjv.test.txt"]
check(abs(p - ref["kjv.test.txt"]) / ref["kjv.test.txt"] <= 2e-3, f"perplexity {p:.4f} beside tasks, reference {ref['kjv.test.txt']}")
gold = lambda f, task: [s["gold"] for s in map(json.loads, open(f)) if s["task"] == task]
check(gold(f"{d}/piqa.jsonl", "valid.jsonl") == gold(f"{d}/all.jsonl", "valid.jsonl"), "PIQA labels by --labels")
sys.exit(0 if ok else 1)
PY
