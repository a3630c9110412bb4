#!/bin/sh
# FlattenGPT's distributed linear algebra (tools/bench/bench_flattengpt.c) at several -np: the Gram
# accumulation's GFLOP/s per rank against dgemm/dsyrk, and the SPD ridge solve (Cholesky, inverse
# diagonal, solves) by ScaLAPACK at each -np and by LAPACK on one rank, with their agreement.
#   tools/bench/bench_flattengpt.sh [NP ...]            (default: 1 2 4)
#   SIZES="8192 16384" GRAM="4096 2048" REPEAT=3 NB=64 LAPACK=1 tools/bench/bench_flattengpt.sh 1 2 4 8 16
# MPIRUN (default "mpirun --oversubscribe", plus --allow-run-as-root as root) and DF_BUILD (build)
# pass through; threads per rank: OPENBLAS_NUM_THREADS (default 1, so -np is the core count).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${DF_BUILD:-$root/build}/tools/bench/bench_flattengpt
[ -x "$bench" ] || { echo "no $bench: cmake --build build --target bench_flattengpt" >&2; exit 1; }
MPIRUN=${MPIRUN:-mpirun --oversubscribe}
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
SIZES=${SIZES:-"8192 16384"}; GRAM=${GRAM:-"4096 2048"}; REPEAT=${REPEAT:-3}; NB=${NB:-64}; LAPACK=${LAPACK:-1}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
[ $# -gt 0 ] || set -- 1 2 4
first=1
for np in "$@"; do
    # LAPACK (rank 0 alone, the same at every -np) once, at the first -np
    flags=""; [ "$LAPACK" = 1 ] && [ $first = 1 ] || flags="--no-lapack"
    # shellcheck disable=SC2086
    $MPIRUN -np "$np" "$bench" --repeat "$REPEAT" --nb "$NB" $flags --gram $GRAM --solve $SIZES
    first=0
done
