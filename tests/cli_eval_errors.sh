#!/bin/sh
# Bad task files and options: depthfuse eval exits non-zero with one line on stderr naming the file
# (and line), alone and under mpirun -q -n 2 (-q: without mpirun's own notice of a failed job).
# Usage: cli_eval_errors.sh MPIEXEC [MPI PREFLAGS...]
set -u
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
model=$DF_FIXTURES/models/base-16L
ok='{"query": "q", "choices": ["a", "b"], "gold": 0}'
printf '%s\n%s\n{"query": "q", "choices": ["a", "b"]}\n' "$ok" "$ok" > "$out/missing.jsonl"
printf '%s\n{"query": "q", "choices": ["a", "b"], "gold": 2}\n' "$ok" > "$out/range.jsonl"
printf '%s\n\n{"query": "q", "choices": [], "gold": 0}\n' "$ok" > "$out/empty.jsonl"
printf '{"question": "q"}\n' > "$out/unknown.jsonl"
printf 'ctx\n3\na\nb\nc\nd\nctx\nx\na\nb\nc\nd\n' > "$out/hs.txt"
printf '{"goal": "g", "sol1": "a", "sol2": "b"}\n' > "$out/piqa.jsonl"
printf 'BZh91AY&SY-not-really' > "$out/broken.jsonl.bz2"
mkdir "$out/a" "$out/b" && cp "$out/range.jsonl" "$out/a/t.jsonl" && cp "$out/range.jsonl" "$out/b/t.jsonl"
fail=0
check() { # expected-substring args...
    want=$1; shift
    for launch in single mpi; do
        if [ $launch = single ]; then "$DF_BIN" eval --model "$model" "$@" > "$out/o" 2> "$out/e"; rc=$?
        else "$mpiexec" -q -n 2 $MPIFLAGS "$DF_BIN" eval --model "$model" "$@" > "$out/o" 2> "$out/e"; rc=$?
        fi
        lines=$(grep -c . "$out/e")
        if [ $rc -eq 0 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" "$out/e"; then
            echo "FAIL ($launch) want '$want': rc=$rc, $lines stderr lines:"; cat "$out/e"; fail=1
        else
            echo "ok   ($launch) $(cat "$out/e")"
        fi
    done
}
MPIFLAGS="$*"
check "$out/missing.jsonl:3: missing \"gold\"" --tasks "$out/missing.jsonl"
check "$out/range.jsonl:2: gold 2 is out of range for 2 choices" --tasks "$out/range.jsonl"
check "$out/empty.jsonl:3: \"choices\" has 0 entries" --tasks "$out/empty.jsonl"
check "$out/unknown.jsonl:1: unknown task format" --tasks "$out/unknown.jsonl"
check "$out/hs.txt:8: the gold label must be 0-3" --tasks "$out/hs.txt"
check "$out/piqa-labels.lst: cannot open" --tasks "$out/piqa.jsonl"
check "$out/broken.jsonl.bz2: corrupt bzip2 data" --tasks "$out/broken.jsonl.bz2"
check "$out/nothere.jsonl: cannot open" --tasks "$out/nothere.jsonl"
check "two task files are named t.jsonl" --tasks "$out/a/t.jsonl,$out/b/t.jsonl"
check "--samples-out needs --tasks" --ppl "$DF_FIXTURES/data/kjv.test.txt" --samples-out "$out/s.jsonl"
check "no task file is in the PIQA format" --tasks "$DF_FIXTURES/tasks/llm-foundry/copa.jsonl" --labels "$out/x.lst" --limit 5
exit $fail
