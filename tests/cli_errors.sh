#!/bin/sh
# The CLI reports a bad checkpoint in one line naming the file, and exits non-zero (single rank and
# under mpirun, whose own notices -q silences). Usage: cli_errors.sh TEST_LOAD_ERRORS_BINARY MPIEXEC [MPI PREFLAGS...]
set -u
gen=$1; mpiexec=$2; shift 2
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
"$gen" "$out/bad" > "$out/gen.log" 2>&1 || { cat "$out/gen.log"; exit 1; }
text="$DF_FIXTURES/data/kjv.test.txt"
fail=0
for d in "$out"/bad/*/; do
    d=${d%/}
    for launch in single mpi; do
        if [ $launch = single ]; then
            "$DF_BIN" eval --model "$d" --ppl "$text" > "$out/o" 2> "$out/e"; rc=$?
        else
            "$mpiexec" -q -n 2 "$@" "$DF_BIN" eval --model "$d" --ppl "$text" > "$out/o" 2> "$out/e"; rc=$?
        fi
        lines=$(grep -c . "$out/e")
        if [ $rc -eq 0 ] || [ "$lines" -ne 1 ] || ! grep -q "$d" "$out/e"; then
            echo "FAIL $(basename "$d") ($launch): rc=$rc, $lines stderr lines:"; cat "$out/e"; fail=1
        else
            echo "ok   $(basename "$d") ($launch): $(cat "$out/e")"
        fi
    done
done
# a world of 1 rank under SLURM_NTASKS > 1 (srun without PMI) is refused
SLURM_NTASKS=4 "$DF_BIN" eval --model "$DF_FIXTURES/models/base-16L" --ppl "$text" > "$out/o" 2> "$out/e" && fail=1
grep -q "SLURM_NTASKS=4 but this MPI world has 1 rank" "$out/e" && echo "ok   SLURM_NTASKS=4 singleton: $(cat "$out/e")" ||
    { echo "FAIL: SLURM_NTASKS=4 singleton not refused:"; cat "$out/e"; fail=1; }
# a tokenizer with more tokens than the model's vocabulary
mkdir -p "$out/small"
cp -r "$DF_FIXTURES/arch/tiny-qwen2/." "$out/small/"
"$DF_BIN" eval --model "$out/small" --tokenizer "$DF_FIXTURES/models/base-16L" --ppl "$text" > "$out/o" 2> "$out/e" && fail=1
grep -q "the tokenizer has 4096 tokens but the model's vocab_size is 300" "$out/e" && echo "ok   tokenizer > vocab: $(cat "$out/e")" ||
    { echo "FAIL: tokenizer larger than the vocabulary not refused:"; cat "$out/e"; fail=1; }
exit $fail
