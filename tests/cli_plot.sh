#!/bin/sh
# tools/plot_results.py on real reports: base-16L and base-16L with 4 blocks removed (bi), each
# evaluated on 40 items; the PNG is written whole, sized for its panels (one task + the legend), and
# a file that is not a report is refused in one line naming it.
set -eu
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
root=$(dirname "$0")/..
model=$DF_FIXTURES/models/base-16L
task=$DF_FIXTURES/tasks/kjv_cloze.valid.jsonl
"$DF_BIN" prune --model "$model" --method bi --remove 4 --calib "$DF_FIXTURES/data/calib.train.txt" --samples 2 \
    --seq-len 128 --out "$out/bi4" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
for m in "$model" "$out/bi4"; do
    "$DF_BIN" eval --model "$m" --tasks "$task" --limit 40 --json "$out/$(basename "$m").json" > "$out/log" 2>&1 ||
        { cat "$out/log"; exit 1; }
done
/usr/bin/python3 "$root/tools/plot_results.py" -o "$out/plot.png" --base "$out/base-16L.json" bi="$out/bi4.json"
/usr/bin/python3 - "$out/plot.png" <<'PY'
import struct, sys
png = open(sys.argv[1], "rb").read()
w, h = struct.unpack(">II", png[16:24])
ok = png[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (2 * 420, 320 + 40) and len(png) > 10000
print(("ok  " if ok else "FAIL") + f" PNG {w}x{h}, {len(png)} bytes")
sys.exit(0 if ok else 1)
PY
echo '{"model": "x"}' > "$out/bad.json"
if /usr/bin/python3 "$root/tools/plot_results.py" -o "$out/p2.png" --base "$out/bad.json" 2> "$out/e"; then
    echo "FAIL: a file without blocks was plotted"; exit 1
fi
[ "$(grep -c . "$out/e")" -eq 1 ] && grep -q "bad.json" "$out/e" && [ ! -e "$out/p2.png" ] ||
    { echo "FAIL: want one line naming bad.json:"; cat "$out/e"; exit 1; }
echo "ok   $(cat "$out/e")"
