#!/bin/sh
# Faults (docs/reliability.md), at -np 2, one case per ctest test:
#   kill      one rank SIGKILLed mid-run: the other exits within 10 s, mpirun non-zero, no rank left
#   efbig     a file-size limit (ulimit -f, SIGXFSZ ignored: writes fail with EFBIG) while an HF
#             folder is written (an .h5, one file, is refused before writing): one error line,
#             every rank non-zero, nothing at the output path (nor a temporary sibling), the input
#             untouched
#   tmpfs     a small tmpfs as the output's file system: the free-space check refuses before
#             writing (exit 77 where mounting is not allowed)
#   nonfinite a NaN in one weight: --check-tensors names the tensor; without it, evaluation stops
#             at the first window naming the block (the head for a NaN in the final norm), with no
#             perplexity printed and no report written; importance stops at the first non-finite score
# Usage: cli_faults.sh CASE MPIEXEC [MPI PREFLAGS...]
set -eu
case=$1; mpiexec=$2; shift 2
MPIFLAGS="$*"
w=$(mktemp -d); trap 'umount "$w/small" 2>/dev/null || true; rm -rf "$w"' EXIT
M=$DF_FIXTURES/models/base-16L
CAL="--calib $DF_FIXTURES/data/calib.train.txt"
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -f "$w/log" ] && cat "$w/log"; exit 1; }
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
# every rank's exit status in $w/ranks ("rank R exit S"), the highest in $rc; output in $w/log. The
# wrapper itself exits 0, so that mpirun does not end the other rank before it has finished on its
# own (the job must still be over within 300 s). FSIZE set: each rank (not mpirun, whose PMIx server
# needs its shared-memory files) runs under ulimit -f FSIZE (512-byte blocks) with SIGXFSZ ignored.
each_rank() {
    rm -f "$w/ranks"
    set +e
    timeout 300 "$mpiexec" -n 2 $MPIFLAGS sh -c '[ -z "${FSIZE:-}" ] || { ulimit -f "$FSIZE"; trap "" XFSZ; }
        "$0" "$@"; echo "rank $OMPI_COMM_WORLD_RANK exit $?" >> "'"$w/ranks"'"' "$DF_BIN" "$@" > "$w/log" 2>&1
    [ $? -ne 124 ] || fail "the job ran past 300 s"
    rc=$(awk '{ if ($4 > m) m = $4 } END { print m + 0 }' "$w/ranks")
    set -e
}
# one error line naming $1, both ranks non-zero
refused_everywhere() {
    [ "$rc" -ne 0 ] || fail "$2: exit 0"
    [ "$(grep -c 'error:' "$w/log")" -eq 1 ] || fail "$2: expected one error line"
    grep -q "error: .*$1" "$w/log" || fail "$2: expected '$1'"
    [ "$(grep -c 'exit [1-9]' "$w/ranks")" -eq 2 ] || fail "$2: not every rank failed: $(cat "$w/ranks")"
    ok "$2: $(grep 'error:' "$w/log")"
}
# the processes whose parent is $1 (from /proc: no procps needed)
children_of() {
    for st in /proc/[0-9]*/stat; do
        sed 's/.*) //' "$st" 2>/dev/null | awk -v p="$1" -v f="$st" '$2 == p { split(f, a, "/"); print a[3] }'
    done
}
# is process $1 running (a zombie is not: where nothing reaps, a finished rank stays one)?
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]; }
nothing_at() { # the output path and its temporary siblings are absent
    ls -d "$1" "$1".depthfuse-tmp.* > /dev/null 2>&1 && fail "something left at $1: $(ls -d "$1"*)"
    return 0
}

case $case in
kill)
    # a greedy Macro Influence run long enough to be killed in the middle of its sweeps
    "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" importance --model "$M" --metric mi --iterative 8 $CAL --samples 32 \
        --seq-len 128 --progress=log > "$w/log" 2>&1 &
    mp=$!
    victim=""
    for _ in $(seq 600); do # up to 60 s for the load and the first sweep to start
        if grep -q "layout:" "$w/log" 2>/dev/null; then
            for c in $(children_of "$mp"); do
                tr '\0' '\n' < "/proc/$c/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$c
            done
        fi
        [ -n "$victim" ] && break
        kill -0 "$mp" 2>/dev/null || fail "the run ended before it could be killed"
        sleep 0.1
    done
    [ -n "$victim" ] || fail "no rank 1 found under mpirun $mp"
    sleep 1
    kill -0 "$mp" 2>/dev/null || fail "the run ended before it could be killed"
    others=$(children_of "$mp" | grep -vx "$victim" || true)
    t0=$(date +%s.%N)
    kill -KILL "$victim"
    gone=""
    for _ in $(seq 150); do # 15 s
        if ! kill -0 "$mp" 2>/dev/null; then gone=1; break; fi
        sleep 0.1
    done
    [ -n "$gone" ] || { kill -KILL "$mp" $others 2>/dev/null; fail "mpirun still running 15 s after the kill"; }
    set +e; wait "$mp"; rc=$?; set -e
    [ "$rc" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
    for p in $others; do # every other rank gone too, within the 10 s
        for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
        alive "$p" && fail "rank process $p still running: $(cat /proc/$p/cmdline | tr '\0' ' ')"
    done
    el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    awk -v e="$el" 'BEGIN { exit !(e <= 10) }' || fail "the job took ${el}s to end after the kill"
    ok "rank 1 killed: mpirun exit $rc after ${el}s, no rank left: $(grep -m1 -i 'signal 9\|killed' "$w/log" || true)"
    ;;
efbig)
    sums "$M" > "$w/in.sum"
    # the model: 16 MB in bf16; shared memory between the ranks off (its segment would meet the limit)
    runs_to() { case $1 in *.h5) echo --from-hf "$M" --to "$1" ;; *) echo --from-h5 "$w/m.h5" --to-hf "$1" ;; esac; }
    each_rank convert --from-hf "$M" --to "$w/m.h5"
    [ "$rc" -eq 0 ] || fail "convert to .h5"
    # an HF folder: the write fails with EFBIG; an .h5 (one file): refused before writing
    for out in "$w/out" "$w/out.h5"; do
        FSIZE=8192 OMPI_MCA_btl=self,tcp each_rank convert $(runs_to "$out")  # 4 MiB
        case $out in
        *.h5) refused_everywhere "needs .* MB but the file-size limit (ulimit -f) is 4.2 MB" "ulimit -f, $(basename "$out")" ;;
        *) refused_everywhere "File too large" "EFBIG writing $(basename "$out")" ;;
        esac
        nothing_at "$out"
    done
    sums "$M" | cmp -s - "$w/in.sum" || fail "the input changed"
    ok "the input untouched"
    ;;
tmpfs)
    mkdir "$w/small"
    mount -t tmpfs -o size=4m tmpfs "$w/small" 2>/dev/null || { echo "skip: cannot mount a tmpfs here"; exit 77; }
    each_rank prune --model "$M" --method bi --remove 2 $CAL --samples 2 --seq-len 32 --out "$w/small/pruned"
    refused_everywhere "the model needs .* MB but .* has .* MB free" "free-space check (4 MB tmpfs)"
    nothing_at "$w/small/pruned"
    ;;
nonfinite)
    # copies of the model with one bf16 NaN: in block 5's down_proj, and in the final norm
    cp -r "$M" "$w/nan5" && cp -r "$M" "$w/nanhead"
    /usr/bin/python3 - "$w/nan5" model.layers.5.mlp.down_proj.weight 1234 "$w/nanhead" model.norm.weight 7 <<'PY'
import json, os, struct, sys
a = sys.argv[1:]
for d, name, k in zip(a[0::3], a[1::3], a[2::3]):
    idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))["weight_map"]
    path = os.path.join(d, idx[name])
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        t = json.loads(f.read(n))[name]
        assert t["dtype"] == "BF16"
        f.seek(8 + n + t["data_offsets"][0] + 2 * int(k))
        f.write(struct.pack("<H", 0x7FC0))
PY
    PPL="--ppl $DF_FIXTURES/data/kjv.test.txt --seq-len 64"
    each_rank eval --model "$w/nan5" $PPL --check-tensors --pipeline 2
    refused_everywhere "$w/nan5: tensor \"model.layers.5.mlp.down_proj.weight\" holds a non-finite value (nan at element 1234)" \
        "--check-tensors, --pipeline 2"
    each_rank eval --model "$w/nanhead" $PPL --check-tensors
    refused_everywhere "tensor \"model.norm.weight\" holds a non-finite value (nan at element 7)" "--check-tensors, the norm"
    for P in 1 2; do
        each_rank eval --model "$w/nan5" $PPL --pipeline $P --json "$w/e.json"
        refused_everywhere "kjv.test.txt: non-finite loss (nan) at block 5, window 0; stopped" "evaluation, --pipeline $P"
        ! grep -v 'error:' "$w/log" | grep -qiw nan || fail "a nan printed besides the error line"
        [ ! -e "$w/e.json" ] || fail "a report was written"
    done
    each_rank eval --model "$w/nanhead" $PPL --pipeline 2
    refused_everywhere "non-finite loss (nan) in the head (final norm, lm_head), window 0; stopped" "evaluation, the norm"
    each_rank importance --model "$w/nan5" --metric bi $CAL --samples 2 --seq-len 32
    refused_everywhere "bi: non-finite score (nan) of block 5 at step 0; stopped" "importance (bi)"
    each_rank eval --model "$M" $PPL --check-tensors
    [ "$rc" -eq 0 ] || fail "--check-tensors refused the clean model"
    ok "the clean model passes --check-tensors"
    ;;
*) echo "unknown case $case"; exit 2 ;;
esac
