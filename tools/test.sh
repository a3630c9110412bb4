#!/bin/sh
# The test command (the README's second line; CI runs it after the first): on the build/ the first
# line made,
#   1. installs the test-only Debian packages (TEST_PACKAGES) when any is missing (root or sudo),
#   2. runs the whole test suite on build/,
#   3. builds build-asan with AddressSanitizer + UndefinedBehaviorSanitizer (-DDF_SANITIZE=ON) and runs
#      the tests labelled asan there (tests/sanitize/labels.cmake; docs/reliability.md): no leak,
#      overflow or undefined behaviour in depthfuse's own code (tools/sanitizer.supp).
# Usage: tools/test.sh [--no-install] [--no-asan] [extra ctest options, e.g. -R NAME]
# JOBS=N sets the parallel build and test jobs (default: the cores).
set -eu
cd "$(dirname "$0")/.."
# chromium: renders the run report in its test (skipped without it); clang, libomp-dev: the fuzzers
# (tools/fuzz/run.sh, clang's OpenMP); slurm-wlm, munge: the one-node Slurm cluster of
# tests/cluster_slurm.sh (tools/slurm_local.sh). One list: add a package here, nowhere else.
TEST_PACKAGES="chromium clang libomp-dev slurm-wlm munge"
JOBS=${JOBS:-$(nproc)}
install=1 asan=1
while [ $# -gt 0 ]; do
    case $1 in
    --no-install) install=0 ;;
    --no-asan) asan=0 ;;
    *) break ;;
    esac
    shift
done

missing=""
for p in $TEST_PACKAGES; do dpkg -s "$p" > /dev/null 2>&1 || missing="$missing $p"; done
if [ "$install" = 1 ] && [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

[ -f build/CMakeCache.txt ] || { echo "tools/test.sh: no build/ (run the README's first command)"; exit 2; }
cmake --build build -j"$JOBS"
status=0
ctest --test-dir build --output-on-failure -j"$JOBS" "$@" || status=1

if [ "$asan" = 1 ]; then
    t0=$(date +%s)
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DDF_SANITIZE=ON > /dev/null
    cmake --build build-asan -j"$JOBS" > build-asan/build.log 2>&1 || { tail -50 build-asan/build.log; exit 1; }
    ctest --test-dir build-asan -L asan --output-on-failure -j"$JOBS" "$@" || status=1
    echo "tools/test.sh: the sanitizer build and its tests took $(($(date +%s) - t0)) s"
fi
exit $status
