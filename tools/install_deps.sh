#!/bin/sh
# Installs what depthfuse builds and tests with, all from Debian 12 packages (and the npm oracle for
# the tokenizer tests). Run as root or with sudo available.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config git ca-certificates bzip2 \
    libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-openmpi-dev hdf5-tools \
    libcjson-dev libscalapack-openmpi-dev libonig-dev libyaml-dev libbz2-dev zlib1g-dev \
    python3 python3-torch python3-numpy gnuplot-nox
command -v npm >/dev/null || $SUDO apt-get install -y -qq nodejs npm
# the reference tokenizer implementation (npm tokenizers), used by the oracle tests and benchmarks
if [ -f "$(dirname "$0")/oracle/package.json" ]; then
    npm ci --prefix "$(dirname "$0")/oracle" --no-audit --no-fund --loglevel=error
fi
