#!/bin/sh
# Forward throughput of the fixture (base-16L) and of the synthetic hidden-2048 Llama at seq 512,
# against OpenBLAS sgemm's peak and PyTorch CPU on the same shapes, all in one run, plus where the
# time goes op by op (docs/performance.md). The synthetic model is written once (614 MB of bf16).
#   tools/bench/bench_forward.sh [BUILD_DIR [REPEATS]]     (DF_SYNTH_DIR: where the model goes)
# The environment passes through: OPENBLAS_CORETYPE=SkylakeX picks OpenBLAS's AVX-512 kernels on
# CPUs 0.3.21 does not know (Zen 5); torch_block.py loads the same OpenBLAS and gets them too.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
repeat=${2:-7}
synth=${DF_SYNTH_DIR:-${TMPDIR:-/tmp}/depthfuse-synthetic-llama}
bench=$build/tools/bench/bench_forward
[ -x "$bench" ] || { echo "no $bench: cmake --build $build --target bench_forward" >&2; exit 1; }
[ -f "$synth/config.json" ] || "$bench" --write-synthetic "$synth"
echo "load average before: $(cat /proc/loadavg)"
# the fixture first: peak RSS is a high-water mark, so the smaller model is measured before the larger
"$bench" --repeat "$repeat" --ops --torch "$root/tools/bench/torch_block.py" "$root/tests/fixtures/models/base-16L" "$synth"
echo "load average after: $(cat /proc/loadavg)"
