#!/bin/sh
# The bad-inputs table (tests/bad_inputs.txt): each bad checkpoint, config, tokenizer, data file, task
# file, CLI flag and state file makes depthfuse exit non-zero with exactly one line on stderr holding
# the expected message, alone and under mpirun -n 2 (every rank non-zero, the job over within 60 s).
# The bad files are made here from the fixtures; $M (the good model), $W (this run's folder), $D (data),
# $NL (a folder whose name holds a newline) are expanded in the table's arguments and messages.
# Usage: bad_inputs.sh TABLE MPIEXEC [MPI PREFLAGS...]
set -u
table=$1; mpiexec=$2; shift 2
MPIFLAGS="$*"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
M=$DF_FIXTURES/models/base-16L
D=$DF_FIXTURES/data
NL="$W/new
line"
bad_model() { cp -r "$M" "$W/$1"; }
bad_model trunc && head -c 100000 "$M/model-00002-of-00002.safetensors" > "$W/trunc/model-00002-of-00002.safetensors"
bad_model hdr && printf '\377\377\377\377\377\377\377\177' | dd of="$W/hdr/model-00001-of-00002.safetensors" conv=notrunc 2>/dev/null
bad_model index && echo '{"weight_map": {"lm_head.weight": "../../etc/passwd"}}' > "$W/index/model.safetensors.index.json"
bad_model cfg && echo '{"model_type": "llama",' > "$W/cfg/config.json"
bad_model nul && cp "$DF_FIXTURES/regress/fuzz_config/nul-in-key.json" "$W/nul/config.json"
bad_model layers && sed 's/"num_hidden_layers": 16/"num_hidden_layers": 15/' "$M/config.json" > "$W/layers/config.json"
bad_model arch && sed 's/"model_type": "llama"/"model_type": "gpt2"/' "$M/config.json" > "$W/arch/config.json"
bad_model tok && echo 'not json' > "$W/tok/tokenizer.json"
bad_model tokmodel && echo '{"model": {"type": "WordPiece", "vocab": {}}}' > "$W/tokmodel/tokenizer.json"
mkdir -p "$NL" && cp "$M/config.json" "$NL/" && echo '{' > "$NL/config.json"
echo 'a text file, not HDF5' > "$W/fake.h5"
: > "$W/empty.txt"
printf 'caf\351 au lait\n' > "$W/latin1.txt"
printf '{"query": "q", "choices": ["a", "b"]}\n' > "$W/nogold.jsonl"
echo '{"metric": "mi", "removed": [' > "$W/broken.state.json"
echo '{"metric": "sleb", "naive": 0, "input_blocks": 16, "model_hash": "x", "calib_windows": 2, "calib_tokens": 32,
 "calib_hash": "y", "removed": [], "scores": [], "first_step_scores": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}' > "$W/other.state.json"

fail=0 n=0
while IFS='|' read -r kind what args want; do
    case $kind in ''|\#*) continue ;; esac
    n=$((n + 1))
    eval "set -- $args"
    want=$(printf '%s' "$want" | sed "s|\$W|$W|g; s|\$M|$M|g; s|\$D|$D|g; s/^ *//; s/ *$//")
    for launch in single mpi; do
        t0=$(date +%s)
        if [ $launch = single ]; then "$DF_BIN" "$@" < /dev/null > "$W/o" 2> "$W/e"; rc=$?
        else timeout 60 "$mpiexec" -q -n 2 $MPIFLAGS "$DF_BIN" "$@" < /dev/null > "$W/o" 2> "$W/e"; rc=$?
        fi
        lines=$(grep -c . "$W/e")
        if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" "$W/e"; then
            echo "FAIL [$kind] $what ($launch): rc=$rc, $lines stderr lines, want '$want':"; cat "$W/e"; fail=1
        else
            echo "ok   [$kind] $what ($launch, $(($(date +%s) - t0)) s): $(cat "$W/e")"
        fi
    done
done < "$table"
echo "$n bad inputs"
[ "$n" -gt 0 ] && exit $fail
exit 1
