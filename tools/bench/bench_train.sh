#!/bin/sh
# FuseGPT fine-tuning speed side by side in one run (docs/fusegpt.md): one step of a 7-block fused
# group at the fixture's shapes (8 x 256 tokens), forward + backward of a hidden-2048 block at seq
# 512, and one step of that block fused, each against OpenBLAS sgemm's peak and PyTorch CPU
# (tools/bench/bench_train_torch.py, Debian's python3-torch) at the same thread count; then the
# group step again with activations recomputed in backward. Min / median over REPEATS.
#   tools/bench/bench_train.sh [BUILD_DIR [REPEATS]]     (run it under nice on a shared machine)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
repeat=${2:-5}
bench=$build/tools/bench/bench_train
[ -x "$bench" ] || { echo "no $bench: cmake --build $build --target bench_train" >&2; exit 1; }
echo "load average before: $(cat /proc/loadavg)"
"$bench" --repeat "$repeat" --torch "$root/tools/bench/bench_train_torch.py" "$root/tests/fixtures/models/base-16L"
"$bench" --repeat "$repeat" --only group --recompute "$root/tests/fixtures/models/base-16L"
echo "load average after: $(cat /proc/loadavg)"
