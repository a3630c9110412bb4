#!/bin/sh
# depthfuse tokenize / detokenize: the reference probes through the CLI (txt and u32), file round
# trips for the three fixture tokenizers, and errors (invalid UTF-8 with its byte offset, a refused
# component, a bad id) reported in one line naming the file, with a non-zero exit, on one rank and
# under mpirun. Usage: tok_cli.sh MPIEXEC [MPI PREFLAGS...]
set -u
mpiexec=$1; shift
F=$DF_FIXTURES
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# the 12 probes of reference.json, with and without BOS, as txt and as u32
python3 - "$F/models/base-16L/reference.json" "$out" <<'PY'
import json, sys
probes = json.load(open(sys.argv[1]))["tokenizer_probes"]
for i, p in enumerate(probes):
    open(f"{sys.argv[2]}/probe{i}.txt", "w", encoding="utf-8").write(p["text"])
    open(f"{sys.argv[2]}/probe{i}.ids", "w").write(" ".join(map(str, p["ids"])) + "\n")
    open(f"{sys.argv[2]}/probe{i}.bos", "w").write(" ".join(map(str, p["ids_with_bos"])) + "\n")
PY
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
    "$DF_BIN" tokenize --tokenizer "$F/models/base-16L" "$out/probe$i.txt" > "$out/got" &&
        cmp -s "$out/got" "$out/probe$i.ids" || bad "probe $i"
    text=$(cat "$out/probe$i.txt"; printf x)   # x keeps trailing newlines
    "$DF_BIN" tokenize --tokenizer "$F/models/base-16L/tokenizer.json" --bos --text "${text%x}" > "$out/got" &&
        cmp -s "$out/got" "$out/probe$i.bos" || bad "probe $i --bos --text"
done
[ $fail = 0 ] && ok "reference probes (FILE, --bos --text)"

# whole files: tokenize then detokenize gives the file back, txt and u32 ids agree
for tok in models/base-16L tokenizers/llama2-hf tokenizers/llama3-hf; do
    for f in data/wikitext-2-raw/wiki.test.raw data/kjv.test.txt; do
        "$DF_BIN" tokenize --tokenizer "$F/$tok" -o "$out/ids.txt" "$F/$f" &&
            "$DF_BIN" tokenize --tokenizer "$F/$tok" --format u32 -o "$out/ids.u32" "$F/$f" &&
            "$DF_BIN" detokenize --tokenizer "$F/$tok" -o "$out/back.txt" "$out/ids.txt" &&
            "$DF_BIN" detokenize --tokenizer "$F/$tok" --format u32 "$out/ids.u32" > "$out/back.u32" &&
            cmp -s "$out/back.txt" "$F/$f" && cmp -s "$out/back.u32" "$F/$f" &&
            [ "$(wc -w < "$out/ids.txt")" -eq "$(($(wc -c < "$out/ids.u32") / 4))" ] &&
            ok "round trip $tok $f ($(wc -w < "$out/ids.txt") ids)" || bad "round trip $tok $f"
    done
done

# invalid UTF-8: an error at its byte offset; --replace-invalid tokenizes it as U+FFFD
printf 'abc\377def' > "$out/bad.txt"
printf 'abc\357\277\275def' > "$out/fixed.txt"
expect_error() {   # NAME PATTERN CMD...: non-zero exit, one depthfuse line on stderr holding PATTERN
    name=$1; pat=$2; shift 2   # (mpirun adds lines of its own)
    "$@" > "$out/o" 2> "$out/e"; rc=$?
    if [ $rc -ne 0 ] && [ "$(grep -c depthfuse "$out/e")" -eq 1 ] && grep -qF -- "$pat" "$out/e"; then
        ok "$name: $(grep depthfuse "$out/e")"
    else bad "$name: rc=$rc"; cat "$out/e"; fi
}
expect_error "invalid UTF-8" "$out/bad.txt: invalid UTF-8 at byte 3" "$DF_BIN" tokenize --tokenizer "$F/tokenizers/llama3-hf" "$out/bad.txt"
expect_error "invalid UTF-8 (mpirun)" "$out/bad.txt: invalid UTF-8 at byte 3" \
    "$mpiexec" -n 2 "$@" "$DF_BIN" tokenize --tokenizer "$F/tokenizers/llama3-hf" "$out/bad.txt"
"$DF_BIN" tokenize --tokenizer "$F/tokenizers/llama2-hf" --replace-invalid "$out/bad.txt" > "$out/a" &&
    "$DF_BIN" tokenize --tokenizer "$F/tokenizers/llama2-hf" "$out/fixed.txt" > "$out/b" && cmp -s "$out/a" "$out/b" &&
    ok "--replace-invalid" || bad "--replace-invalid"

# a component depthfuse does not implement is refused by name
mkdir -p "$out/lower"
python3 - "$F/models/base-16L/tokenizer.json" "$out/lower/tokenizer.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); j["normalizer"] = {"type": "Lowercase"}
json.dump(j, open(sys.argv[2], "w"))
PY
expect_error "unsupported normalizer" "$out/lower/tokenizer.json: normalizer 'Lowercase' is not supported" \
    "$DF_BIN" tokenize --tokenizer "$out/lower" --text hi
printf '{"model": {"type": "BPE", "vocab": {"a\377": 0}, "merges": []}}' > "$out/badutf8.json"
expect_error "tokenizer.json not UTF-8" "$out/badutf8.json: invalid UTF-8 at byte 38" \
    "$DF_BIN" tokenize --tokenizer "$out/badutf8.json" --text a
printf '1 2 99999999' > "$out/ids.bad"
expect_error "id out of range" "$out/ids.bad: token id 99999999 is not in the vocabulary" \
    "$DF_BIN" detokenize --tokenizer "$F/models/base-16L" "$out/ids.bad"
printf '1 2 x3' > "$out/ids.bad"
expect_error "not an id" "$out/ids.bad: expected a token id at byte 4" "$DF_BIN" detokenize --tokenizer "$F/models/base-16L" "$out/ids.bad"
expect_error "no tokenizer" "$out: no tokenizer.json there" "$DF_BIN" tokenize --tokenizer "$out" --text hi

# under mpirun: rank 0 alone writes, and the result is the single-process one
"$mpiexec" -n 2 "$@" "$DF_BIN" tokenize --tokenizer "$F/tokenizers/llama3-hf" "$F/data/kjv.test.txt" > "$out/mpi.txt" &&
    "$DF_BIN" tokenize --tokenizer "$F/tokenizers/llama3-hf" "$F/data/kjv.test.txt" > "$out/one.txt" &&
    cmp -s "$out/mpi.txt" "$out/one.txt" && ok "mpirun -n 2 output = single process" || bad "mpirun -n 2 output"
exit $fail
