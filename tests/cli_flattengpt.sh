#!/bin/sh
# depthfuse compress --method flattengpt through the CLI: the compressed model is the same at -np 1,
# 2 and 4 and with either solver (kept heads and channels identical, perplexity within 1e-5
# relative); the report lists the groups (each block's fate, the kept KV heads and channels, lambda,
# the phases); the model has the original widths and a lower perplexity than bi's at the same depth; requests that
# cannot be met fail with one line and write nothing.
# Usage: cli_flattengpt.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
MPIFLAGS="$*"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
M=$DF_FIXTURES/models/base-16L
head -c 40000 "$DF_FIXTURES/data/brown.test.txt" > "$out/ppl.txt"
compress() { # np tag [flags]
    np=$1; tag=$2; shift 2
    "$mpiexec" -n "$np" $MPIFLAGS "$DF_BIN" compress --method flattengpt --model "$M" --progress=none \
        --calib "$DF_FIXTURES/data/calib.train.txt" --samples 8 --seq-len 128 --remove 2 --batch-tokens 512 \
        --out "$out/$tag" --json "$out/$tag.json" "$@" > "$out/$tag.log" 2>&1 || { cat "$out/$tag.log"; exit 1; }
    "$mpiexec" -n 1 $MPIFLAGS "$DF_BIN" eval --model "$out/$tag" --ppl "$out/ppl.txt" --seq-len 256 \
        --json "$out/$tag.eval.json" --progress=none > /dev/null 2>&1
}
compress 1 np1 --solver lapack
compress 2 np2 --solver lapack
compress 2 np2s --solver scalapack
compress 4 np4s --solver scalapack --block-size 32
fail() { # expected-message tag flags...
    want=$1; tag=$2; shift 2
    if "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" compress --method flattengpt --model "$M" --progress=none \
        --calib "$DF_FIXTURES/data/calib.train.txt" --out "$out/$tag" "$@" > "$out/$tag.log" 2>&1; then
        echo "FAIL: $tag succeeded"; exit 1
    fi
    n=$(grep -c "error: .*$want" "$out/$tag.log" || true)
    [ "$n" = 1 ] || { echo "FAIL: $tag: want one line with '$want', got $n:"; cat "$out/$tag.log"; exit 1; }
    [ ! -e "$out/$tag" ] || { echo "FAIL: $tag left $out/$tag"; exit 1; }
    echo "$tag: one line: $(grep "error:" "$out/$tag.log")"
}
fail "removing 16 of 16 blocks is not possible" merges --remove 16
fail "is not positive definite" singular --remove 1 --ridge 0 --samples 1 --seq-len 64
fail "data-parallel only" pipeline --remove 2 --pipeline 2
fail "unknown solver" solver --remove 2 --solver magma
"$mpiexec" -n 1 $MPIFLAGS "$DF_BIN" compress --method bi --model "$M" --calib "$DF_FIXTURES/data/calib.train.txt" \
    --samples 2 --seq-len 64 --remove 2 --out "$out/drop" --progress=none > /dev/null 2>&1
"$mpiexec" -n 1 $MPIFLAGS "$DF_BIN" eval --model "$out/drop" --ppl "$out/ppl.txt" --seq-len 256 --json "$out/drop.eval.json" --progress=none > /dev/null 2>&1
/usr/bin/python3 - "$out" "$M" <<'PY'
import json, sys
d, model = sys.argv[1:]
cfg = json.load(open(f"{model}/config.json"))
ppl = lambda t: list(json.load(open(f"{d}/{t}.eval.json"))["perplexity"].values())[0]
ok = True
ref = json.load(open(f"{d}/np1.json"))
for tag in ["np2", "np2s", "np4s"]:
    r = json.load(open(f"{d}/{tag}.json"))
    same = [(g["blocks"], g["kept_kv_heads"], g["kept_channels"]) for g in r["flattengpt"]["groups"]] == \
           [(g["blocks"], g["kept_kv_heads"], g["kept_channels"]) for g in ref["flattengpt"]["groups"]]
    rel = abs(ppl(tag) - ppl("np1")) / ppl("np1")
    print(f"{tag}: same groups, heads and channels as np1: {same}; ppl {ppl(tag):.6f} vs {ppl('np1'):.6f} (rel {rel:.1e})")
    ok &= same and rel <= 1e-5
f = ref["flattengpt"]
groups = f["groups"]
ok &= ref["blocks_after"] == 14 and len(ref["removed"]) == 2 and len(groups) == 2
for g in groups:
    ch, kv = g["kept_channels"], g["kept_kv_heads"]
    ok &= len(ch) == cfg["intermediate_size"] and ch == sorted(set(ch)) and 0 <= ch[0] and ch[-1] < len(g["blocks"]) * cfg["intermediate_size"]
    ok &= len(kv) == cfg["num_key_value_heads"] and kv == sorted(set(kv)) and g["lambda"] > 0
    ok &= len(g["kept_heads"]) == cfg["num_attention_heads"]
    for b in g["blocks"]:
        ok &= ref["block_map"][b]["fate"].startswith("flattened")
print("groups:", [(g["blocks"], g["kept_kv_heads"], round(g["lambda"], 1)) for g in groups], "phases:", [p["name"] for p in ref["phases"]])
ocfg = json.load(open(f"{d}/np1/config.json"))
ok &= ocfg["num_hidden_layers"] == 14 and ocfg["intermediate_size"] == cfg["intermediate_size"] and ocfg["num_key_value_heads"] == cfg["num_key_value_heads"]
print(f"flattened ppl {ppl('np1'):.3f}; bi removing 2 blocks: {ppl('drop'):.3f}")
ok &= ppl("np1") < ppl("drop")
sys.exit(0 if ok else 1)
PY
