#!/bin/sh
# NFC against the reference: tools/oracle/nfc.js writes the cases, test_tok_nfc compares.
# Usage: tok_nfc.sh ORACLE_DIR TEST_TOK_NFC
set -eu
oracle=$1; bin=$2
if ! command -v node > /dev/null; then
    echo "FAIL: node is not installed (Debian: apt-get install nodejs npm)"; exit 1
fi
if [ ! -d "$oracle/node_modules/tokenizers" ]; then
    echo "FAIL: the reference tokenizer is not installed: run  npm ci --prefix tools/oracle"; exit 1
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
node "$oracle/nfc.js" "$out/nfc.bin"
"$bin" "$out/nfc.bin"
