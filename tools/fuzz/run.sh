#!/bin/sh
# Build the libFuzzer harnesses (clang-14, -DDF_FUZZ=ON in build-fuzz) and run each for SECONDS,
# in parallel (one harness per core; with more cores than harnesses each gets -fork=N workers),
# then print the executions per harness and any crash. Crash inputs stay in build-fuzz/fuzz-out/NAME/
# (crash-*, leak-*, timeout-*): fix them and add each to tests/fixtures/regress/ (docs/reliability.md).
# Usage: tools/fuzz/run.sh SECONDS [HARNESS...]     NICE=10 (default) sets the niceness
set -eu
secs=${1:?usage: tools/fuzz/run.sh SECONDS [HARNESS...]}; shift
root=$(cd "$(dirname "$0")/../.." && pwd)
B=$root/build-fuzz
F=$root/tests/fixtures
CC=clang-14 cmake -S "$root" -B "$B" -DCMAKE_BUILD_TYPE=Release -DDF_FUZZ=ON -DBUILD_TESTING=OFF > /dev/null
nice -n "${NICE:-10}" cmake --build "$B" --target fuzzers depthfuse -j"$(getconf _NPROCESSORS_ONLN)" > "$B/fuzz-build.log" 2>&1 ||
    { tail -30 "$B/fuzz-build.log"; exit 1; }
names=${*:-$(cat "$B/tools/fuzz/fuzzers.txt" | tr ';' ' ')}
cores=$(getconf _NPROCESSORS_ONLN)

# seed corpora from the fixtures (small files whole; big ones as their first bytes), and the
# regression inputs of earlier findings
seed() { # harness, files...
    d=$B/corpus/$1; shift
    mkdir -p "$d"
    for f in "$@"; do [ -f "$f" ] && head -c 65536 "$f" > "$d/$(echo "$f" | tr '/' '_')"; done
    return 0
}
st_header() { # the header of a .safetensors, as fuzz_safetensors takes it (4 bytes data length + JSON)
    /usr/bin/python3 - "$@" <<'PY'
import struct, sys
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
    b = open(src, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    data = len(b) - 8 - n
    open(dst, "wb").write(struct.pack("<I", data & ((1 << 20) - 1)) + b[8:8 + n])
PY
}
mkdir -p "$B/corpus/fuzz_safetensors" "$B/corpus/fuzz_h5"
for m in "$F"/arch/*/model.safetensors "$F"/models/base-16L/model-0000*.safetensors; do
    st_header "$m" "$B/corpus/fuzz_safetensors/$(echo "$m" | tr '/' '_')"
done
/usr/bin/python3 - "$B/corpus/fuzz_safetensors" <<'PY'
import json, struct, sys
# small valid files: every dtype the format has, 0-d to 3-d shapes, metadata, an empty tensor
sizes = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
shapes = [[], [3], [2, 3], [2, 1, 2], [0, 4]]
for k, (dt, sz) in enumerate(sizes.items()):
    h, off = {"__metadata__": {"format": "pt"}}, 0
    for j, shp in enumerate(shapes):
        n = sz
        for d in shp: n *= d
        h[f"model.layers.{j}.t{k}"] = {"dtype": dt, "shape": shp, "data_offsets": [off, off + n]}
        off += n
    open(f"{sys.argv[1]}/small-{dt}", "wb").write(struct.pack("<I", off) + json.dumps(h).encode())
PY
seed fuzz_index "$F"/models/*/model.safetensors.index.json
seed fuzz_config "$F"/models/*/config.json "$F"/arch/*/config.json
seed fuzz_tokenizer "$F"/models/base-16L/tokenizer.json "$F"/tokenizers/*/tokenizer.json
seed fuzz_encode "$F"/data/kjv.valid.txt "$F"/data/c4/* "$F"/data/wikitext-2-raw/*valid*
for f in "$B"/corpus/fuzz_encode/*; do head -c 4097 "$f" > "$f.cut" && mv "$f.cut" "$f"; done
for f in "$F"/tasks/*.jsonl "$F"/tasks/llm-foundry/*.jsonl "$F"/tasks/piqa-original/valid.jsonl; do
    d=$B/corpus/fuzz_tasks; mkdir -p "$d"
    { printf '\000'; head -c 16384 "$f"; } > "$d/$(echo "$f" | tr '/' '_')"  # byte 0: t.jsonl
done
{ printf '\000'; head -c 4096 "$F/tasks/piqa-original/valid.jsonl"; printf '\000'; head -c 400 "$F/tasks/piqa-original/valid-labels.lst"; } \
    > "$B/corpus/fuzz_tasks/piqa-with-labels"
{ printf '\004'; bzcat "$F/tasks/hellaswag/hellaswag_val_full.txt.bz2" | head -60 | bzip2 -c; } > "$B/corpus/fuzz_tasks/hellaswag-bz2"
{ printf '\001'; bzcat "$F/tasks/hellaswag/hellaswag_val_full.txt.bz2" | head -60; } > "$B/corpus/fuzz_tasks/hellaswag-txt"
{ printf '\002'; head -c 8192 "$F/tasks/llm-foundry/copa.jsonl" | gzip -c; } > "$B/corpus/fuzz_tasks/copa-gz"
for a in tiny-llama3-tied tiny-qwen2; do
    [ -f "$B/corpus/fuzz_h5/$a.h5" ] || "$B/depthfuse" convert --from-hf "$F/arch/$a" --to "$B/corpus/fuzz_h5/$a.h5" \
        --quiet > /dev/null 2>&1 || true
done
seed fuzz_state "$root"/tools/fuzz/seeds/state/*.json
for n in $names; do # committed seeds of harnesses (e.g. df_file_fuzzer ones) and earlier findings
    [ -d "$root/tools/fuzz/seeds/$n" ] && seed "$n" "$root/tools/fuzz/seeds/$n"/*
    [ -d "$root/tests/fixtures/regress/$n" ] && seed "$n" "$root/tests/fixtures/regress/$n"/*
done
export DF_FUZZ_TOKENIZERS="$F/models/base-16L/tokenizer.json:$F/tokenizers/llama2-hf/tokenizer.json:$F/tokenizers/llama3-hf/tokenizer.json"
export ASAN_OPTIONS=detect_leaks=1:malloc_context_size=20
export LSAN_OPTIONS=suppressions=$root/tools/sanitizer.supp:print_suppressions=0
export OMPI_MCA_mca_base_component_disable_dlclose=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

count=$(echo $names | wc -w)
workers=$((cores / count)); [ "$workers" -ge 1 ] || workers=1
echo "fuzzing $count harnesses for ${secs}s each, $workers worker(s) each, at most $cores at a time"
run_one() { # harness
    n=$1; o=$B/fuzz-out/$n; mkdir -p "$o" "$B/corpus/$n"
    # the MPI harnesses (MPI_Init as a singleton, never finalized) leave Open MPI's allocations at
    # exit with stacks LeakSanitizer cannot follow: leaks are checked by the asan tests there
    leaks=1; case $n in fuzz_h5|fuzz_state) leaks=0 ;; esac
    (cd "$o" && ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=$leaks nice -n "${NICE:-10}" "$B/tools/fuzz/$n" \
        -max_total_time="$secs" -fork="$workers" -ignore_crashes=1 -max_len=65536 -rss_limit_mb=4096 -timeout=30 \
        -artifact_prefix="$o/" -print_final_stats=1 -detect_leaks=$leaks "$B/corpus/$n" > "$o/log" 2>&1)
}
# at most one harness per core at a time
running=0
for n in $names; do
    run_one "$n" &
    running=$((running + 1))
    if [ "$running" -ge "$cores" ]; then wait; running=0; fi
done
wait
printf '%-18s %14s %8s %s\n' harness executions corpus crashes
for n in $names; do
    o=$B/fuzz-out/$n
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$o/log" | awk '{s+=$2} END {print s+0}')
    [ "$execs" -gt 0 ] || execs=$(grep -o '#[0-9]*' "$o/log" | tail -1 | tr -d '#')
    crashes=$(ls "$o" | grep -c -E '^(crash|leak|timeout|oom)-' || true)
    printf '%-18s %14s %8s %s\n' "$n" "${execs:-0}" "$(ls "$B/corpus/$n" | wc -l)" "$crashes"
done
