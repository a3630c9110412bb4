# Sourced by the scaling benches: runs one measurement per layout per repeat, side by side.
# for_layouts R FN: for each of R repeats and each layout of $LAYOUTS (NP:P, or NP:P:1 for one thread
# per rank) sets np, P, tag (NP_P or NP_P_1t) and MPIRUN (mpirun with the layout's ranks, unbound so
# each rank gets cores / ranks threads, and OPENBLAS_NUM_THREADS=1 for NP:P:1), then calls FN, which
# appends "seconds count" to $out/t_$tag. $out is a temporary folder removed on exit.
LAYOUTS=${LAYOUTS:-1:1:1 1:1 2:1 2:2}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for_layouts() {
    flags="--oversubscribe --bind-to none"
    [ "$(id -u)" -eq 0 ] && flags="$flags --allow-run-as-root"
    for i in $(seq "$1"); do
        for lay in $LAYOUTS; do
            np=$(echo "$lay" | cut -d: -f1); P=$(echo "$lay" | cut -d: -f2); th=$(echo "$lay:" | cut -d: -f3)
            tag=${np}_$P${th:+_1t}
            MPIRUN="mpirun -q -np $np $flags ${th:+-x OPENBLAS_NUM_THREADS=1}"
            "$2"
        done
    done
}
