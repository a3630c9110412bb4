#!/bin/sh
# Prefix sharing (an item's requests read as one row: their common prefix once, each rest in a segment
# of its own; docs/evaluation.md) against reading every request alone (--no-share-prefix): the same
# per-item ll within 1e-4 on the four fixture tasks (every item, -np 1) and on the first 50 items of
# PIQA (both files), HellaSwag, ARC, BoolQ, WinoGrande and LAMBADA at -np 1 and at -np 2 --pipeline 2.
# The report's token counts: without sharing the model reads every request's tokens (input = separate,
# no shared items); with it, every item of a task whose requests begin alike is one row and the model
# reads fewer tokens (LAMBADA, one request per item, stays as it was).
# Usage: cli_eval_share.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
T=$DF_FIXTURES/tasks
L=$T/llm-foundry
model=$DF_FIXTURES/models/base-16L
four="$T/brown_cloze.valid.jsonl,$T/kjv_cloze.valid.jsonl,$T/nlpc_cloze.valid.jsonl,$T/wordnet_def.valid.jsonl"
std="$T/piqa-original/valid.jsonl,$L/piqa.jsonl,$T/hellaswag/hellaswag_val_full.txt.bz2,$L/arc_easy.jsonl"
std="$std,$L/arc_challenge.jsonl,$L/boolq.jsonl,$L/winogrande.jsonl,$L/lambada_openai.jsonl"
run() { # name, then eval options
    name=$1; shift
    "$@" --model "$model" --json "$out/$name.json" --samples-out "$out/$name.jsonl" > "$out/log" 2>&1 ||
        { cat "$out/log"; exit 1; }
}
run four_alone "$DF_BIN" eval --tasks "$four" --no-share-prefix
run four_shared "$DF_BIN" eval --tasks "$four"
run std_alone "$DF_BIN" eval --tasks "$std" --limit 50 --no-share-prefix
run std_shared "$DF_BIN" eval --tasks "$std" --limit 50
run std_shared_np2_P2 "$mpiexec" -n 2 "$@" "$DF_BIN" eval --tasks "$std" --limit 50 --pipeline 2
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
ok = True
def check(cond, msg):
    global ok
    ok &= bool(cond)
    print(("ok   " if cond else "FAIL ") + msg)
def samples(name):
    return {(s["task"], s["line"]): s for s in map(json.loads, open(f"{d}/{name}.jsonl"))}
for alone, shared in (("four_alone", "four_shared"), ("std_alone", "std_shared"), ("std_alone", "std_shared_np2_P2")):
    a, b = samples(alone), samples(shared)
    check(a.keys() == b.keys() and all(a[k]["tokens"] == b[k]["tokens"] for k in a), f"{shared}: the same items and tokens")
    for task in sorted({k[0] for k in a}):
        keys = [k for k in a if k[0] == task]
        worst = max(abs(x - y) for k in keys for x, y in zip(a[k]["ll"], b[k]["ll"]))
        check(worst <= 1e-4, f"{shared} {task}: {len(keys)} items, per-request ll max |diff| vs alone {worst:.2e}")
for alone, shared in (("four_alone", "four_shared"), ("std_alone", "std_shared"), ("std_alone", "std_shared_np2_P2")):
    ra, rb = json.load(open(f"{d}/{alone}.json"))["tasks"], json.load(open(f"{d}/{shared}.json"))["tasks"]
    for task, m in rb.items():
        ta, tb = ra[task]["tokens"], m["tokens"]
        check(ta["input"] == ta["separate"] == tb["separate"] and ra[task]["shared_items"] == 0,
              f"{task}: alone, the model reads every request ({ta['input']} tokens)")
        if m["format"] == "language_modeling":
            check(tb["input"] == tb["separate"] and m["shared_items"] == 0, f"{task}: nothing to share")
        else:
            check(tb["prefix_shared"] <= tb["input"] < tb["separate"] and m["shared_items"] > 0,
                  f"{shared} {task}: {m['shared_items']} of {m['n']} items shared, {tb['input']} tokens read of "
                  f"{tb['separate']} ({tb['input'] / tb['separate']:.0%}; prefix tree {tb['prefix_shared']})")
        if m["format"] in ("multiple_choice", "piqa", "hellaswag") and not m["truncated"]:
            check(m["shared_items"] == m["n"], f"{task}: every item's choices share the context")
sys.exit(0 if ok else 1)
PY
