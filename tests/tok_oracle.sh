#!/bin/sh
# Oracle test for one tokenizer: Hugging Face tokenizers (npm, tools/oracle) encodes and decodes
# the fixture data and the stress set, then test_tok_oracle compares depthfuse with it.
# Usage: tok_oracle.sh ORACLE_DIR TOKENIZER_JSON TEST_TOK_ORACLE
set -eu
oracle=$1; tok=$2; bin=$3
if ! command -v node > /dev/null; then
    echo "FAIL: node is not installed (Debian: apt-get install nodejs npm)"; exit 1
fi
if [ ! -d "$oracle/node_modules/tokenizers" ]; then
    echo "FAIL: the reference tokenizer is not installed: run  npm ci --prefix tools/oracle"; exit 1
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
node "$oracle/oracle.js" "$tok" "$DF_FIXTURES" "$out/ref.bin"
"$bin" "$out/ref.bin" "$tok"
