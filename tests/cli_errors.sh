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
exit $fail
