#!/bin/sh
# The oracle over tokenizer variants (tools/oracle/variants.js: the fixture tokenizers with every
# other supported component swapped in), each also encoded in small parallel chunks.
# Usage: tok_variants.sh ORACLE_DIR TEST_TOK_ORACLE
set -eu
oracle=$1; bin=$2
if ! command -v node > /dev/null; then
    echo "FAIL: node is not installed (Debian: apt-get install nodejs npm)"; exit 1
fi
if [ ! -d "$oracle/node_modules/tokenizers" ]; then
    echo "FAIL: the reference tokenizer is not installed: run  npm ci --prefix tools/oracle"; exit 1
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
n=0; fail=0
for v in $(node "$oracle/variants.js" "$DF_FIXTURES" "$out"); do
    echo "== $v"
    ORACLE_INPUTS=small node "$oracle/oracle.js" "$out/$v/tokenizer.json" "$DF_FIXTURES" "$out/$v.bin"
    # (the warnings about added-token ids written in the file are expected here)
    "$bin" "$out/$v.bin" "$out/$v" --chunks > "$out/log" 2>&1 || fail=1
    grep -v "is written with id" "$out/log" || true
    n=$((n + 1))
done
[ $n -ge 12 ] || { echo "FAIL: only $n variants"; exit 1; }
exit $fail
