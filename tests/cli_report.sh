#!/bin/sh
# The run report end to end (docs/report.md). Two real runs at -np 2 on base-16L: prune --method bi
# --remove 2 with --eval-ppl (two splits) and --eval-tasks (a cloze task), and compress --method bi
# --remove 4 on the same files taking the dense scores from the first (--eval-dense), with
# --report-html and --report-compare; a third document
# made from the second as a method would write one (fused, flattened and candidate fates, charts
# with gaps, strings holding HTML). Checks, on the raw pages and on the DOM headless Chromium
# renders: every number the page shows (data-value and its text) equals the JSON's, every block's
# fate is the block_map's, the charts have the series and points of the JSON, strings from the JSON
# are text (no element made from them), no resource is external or fails to load; the screenshot is
# a real picture. Bad reports are refused in one line. Chromium is a test-only package (tools/test.sh):
# without it the browser checks are skipped (exit 77) after the rest has passed.
# Usage: cli_report.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
F=$DF_FIXTURES
head -n 100 "$F/data/kjv.test.txt" > "$out/kjv.txt"
head -n 60 "$F/data/brown.test.txt" > "$out/brown.txt"
run() { "$mpiexec" -n 2 "$@" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }; }
CAL="--calib $F/data/calib.train.txt --samples 4 --seq-len 64"
EVAL="--eval-ppl $out/kjv.txt --eval-ppl $out/brown.txt --eval-seq-len 64 --eval-tasks $F/tasks/brown_cloze.valid.jsonl --eval-limit 24"
run "$@" "$DF_BIN" prune --model "$F/models/base-16L" --method bi --remove 2 $CAL --out "$out/bi2" --json "$out/a.json" $EVAL
# the second run takes the dense scores from the first's (as eval --json writes them)
/usr/bin/python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))["eval"]["dense"], open(sys.argv[2], "w"))' \
    "$out/a.json" "$out/dense.json"
run "$@" "$DF_BIN" compress --method bi --model "$F/models/base-16L" --remove 4 $CAL --out "$out/bi4" --json "$out/b.json" \
    $EVAL --eval-dense "$out/dense.json" --report-html "$out/b.html" --report-compare "$out/a.json"
cp "$out/log" "$out/compress.log"
sed 's/"seq_len": *64/"seq_len": 32/' "$out/dense.json" > "$out/dense32.json"
rc=0; "$DF_BIN" compress --method bi --model "$F/models/base-16L" --remove 4 $CAL --out "$out/bi4x" $EVAL \
    --eval-dense "$out/dense32.json" > "$out/log" 2> "$out/err" || rc=$?
[ $rc -eq 1 ] && grep -q "dense32.json: its perplexities are not of --eval-seq-len 64 windows" "$out/err" && [ ! -e "$out/bi4x" ] ||
    { echo "FAIL: a mismatched --eval-dense was not refused (rc $rc)"; cat "$out/err"; exit 1; }
# a method's document: the second run's numbers with a method's fates and charts
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(f"{d}/b.json"))
r["method"] = "fuse<x>"
fates = ["kept", "fused into 3, 4", "flattened with 7", "from base-16L-ft-kjv", "from base-16L-ft-wordnet",
         "merged with <img src=\"http://example.invalid/x.png\"> & 'q'"]
for b in r["block_map"]:
    b["fate"] = fates[b["block"] % len(fates)]
r["charts"] = [{"title": "fine-tuning loss <b>", "x_label": "step", "y_label": "loss",
                "series": [{"name": "group 1", "x": [0, 1, 2, 3, 4], "y": [2.5, 2.1, None, 1.7, 1.6]},
                           {"name": "group \"2\"", "x": list(range(3000)), "y": [1 + 1 / (i + 1) for i in range(3000)]}]},
               {"title": "search", "series": [{"name": "incumbent", "x": [1, 2, 3], "y": [9, 8, 8]}]}]
r["versions"]["note"] = "</pre><script>alert(1)</script>"
json.dump(r, open(f"{d}/c.json", "w"))
PY
"$DF_BIN" report "$out/a.json" "$out/b.json" "$out/c.json" --out "$out/page.html" > "$out/table.txt" 2>&1 ||
    { cat "$out/table.txt"; exit 1; }
cat "$out/table.txt"
# bad reports: one line naming the file
bad() { # bad NAME JSON EXPECTED
    printf '%s' "$2" > "$out/$1.json"
    rc=0; "$DF_BIN" report "$out/$1.json" --out "$out/bad.html" > /dev/null 2> "$out/err" || rc=$?
    if [ $rc -ne 1 ] || [ "$(grep -c . "$out/err")" -ne 1 ] || ! grep -q "$1.json: .*$3" "$out/err" || [ -e "$out/bad.html" ]; then
        echo "FAIL bad report $1 (rc $rc):"; cat "$out/err"; exit 1
    fi
    echo "ok   bad report $1: $(cat "$out/err")"
}
bad eval '{"model": "m", "blocks": 16, "perplexity": {}}' 'not a `depthfuse compress --json` report'
bad blocks '{"method": "x", "blocks_before": 4, "blocks_after": 2, "removed": [7]}' '"removed" holds 7'
bad series '{"method": "x", "blocks_before": 4, "blocks_after": 2, "charts": [{"title": "t", "series": [{"name": "s", "x": [1, 2], "y": [1]}]}]}' 'has 2 x and 1 y'
bad phases '{"method": "x", "blocks_before": 4, "blocks_after": 2, "phases": [{"name": 3}]}' '"phases" must be'
bad truncated '{"method": "x", ' 'invalid JSON'

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chromium" ]; then
    for p in b page; do
        # a copy of the page with a check run after load: resources fetched, images that failed
        /usr/bin/python3 - "$out/$p.html" "$out/$p.check.html" <<'PY'
import sys
html = open(sys.argv[1], encoding="utf-8").read()
probe = """<script>window.addEventListener('load', () => { const r = performance.getEntriesByType('resource')
  .map(e => e.name); const bad = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const p = document.createElement('pre'); p.id = 'df-probe'; p.textContent = JSON.stringify({resources: r, broken: bad});
  document.body.appendChild(p); });</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(html.replace("</body>", probe + "</body>"))
PY
        flags="--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
               --disable-sync --no-first-run --host-resolver-rules=MAP*~NOTFOUND --hide-scrollbars"
        # shellcheck disable=SC2086
        "$chromium" $flags --user-data-dir="$(mktemp -d -p "$out")" --virtual-time-budget=5000 --dump-dom \
            "file://$out/$p.check.html" > "$out/$p.dom.html" 2> "$out/chromium.log" || { tail "$out/chromium.log"; exit 1; }
        # shellcheck disable=SC2086
        "$chromium" $flags --user-data-dir="$(mktemp -d -p "$out")" --window-size=1280,3000 \
            --screenshot="$out/$p.png" "file://$out/$p.html" > /dev/null 2>> "$out/chromium.log" || { tail "$out/chromium.log"; exit 1; }
    done
fi

/usr/bin/python3 - "$out" "${chromium:+yes}" <<'PY'
import html.parser, json, math, re, struct, sys, zlib
d, browser = sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "yes"
ok = True
def check(cond, msg):
    global ok
    if not cond or "FAIL" in msg:
        print("FAIL " + msg)
    ok &= bool(cond)
    return cond

class Page(html.parser.HTMLParser):
    """elements with their attributes and their text (the text of nested elements included)"""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.els, self.stack = [], []
    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "a": dict(attrs), "text": ""}
        self.els.append(e)
        if tag not in ("br", "meta", "line", "circle", "polyline", "path", "input", "img", "link"):
            self.stack.append(e)
    def handle_startendtag(self, tag, attrs):
        self.els.append({"tag": tag, "a": dict(attrs), "text": ""})
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break
    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

def parse(path):
    p = Page()
    p.feed(open(path, encoding="utf-8").read())
    return p.els

def verify(path, runs, what):
    els = parse(path)
    n0 = 0
    fields = {}
    for e in els:
        if "data-field" in e["a"] and "data-value" in e["a"]:
            fields.setdefault((int(e["a"]["data-run"]), e["a"]["data-field"]), []).append(e)
    def expect(run, field, value, text):
        global ok
        got = fields.get((run, field))
        if not check(got, f"{what}: run {run} shows {field}"):
            return
        for e in got:
            check(float(e["a"]["data-value"]) == value, f"{what}: run {run} {field} data-value {e['a']['data-value']} == {value}")
            check(e["text"].strip() == text, f"{what}: run {run} {field} reads {e['text'].strip()!r}, expected {text!r}")
    count = 0
    dense_run = next((i for i, r in enumerate(runs) if r.get("eval", {}).get("dense")), None)
    for i, r in enumerate(runs):
        expect(i, "blocks_before", r["blocks_before"], f"{r['blocks_before']:.0f}")
        expect(i, "blocks_after", r["blocks_after"], f"{r['blocks_after']:.0f}")
        expect(i, "params_before", r["params_before"], f"{r['params_before'] / 1e6:.2f}M")
        expect(i, "params_after", r["params_after"], f"{r['params_after'] / 1e6:.2f}M")
        expect(i, "seconds", r["seconds"], f"{r['seconds']:.1f} s")
        for ph in r["phases"]:
            expect(i, "phase:" + ph["name"], ph["seconds"], f"{ph['seconds']:.2f}")
        removed = [e for e in els if e["a"].get("data-field") == "removed" and e["a"].get("data-run") == str(i)]
        check(removed and removed[0]["text"] == ", ".join(str(b) for b in r["removed"]), f"{what}: run {i} removed blocks")
        cmd = [e for e in els if e["a"].get("data-field") == "command" and e["a"].get("data-run") == str(i)]
        check(cmd and cmd[0]["text"] == r["command"], f"{what}: run {i} command")
        rects = {int(e["a"]["data-block"]): e["a"]["data-fate"] for e in els
                 if e["tag"] == "rect" and e["a"].get("data-run") == str(i) and "data-block" in e["a"]}
        check(rects == {b["block"]: b["fate"] for b in r["block_map"]}, f"{what}: run {i} block strip = block_map")
        ev = r.get("eval")
        if ev:
            for f, v in ev["compressed"]["perplexity"].items():
                expect(i, "ppl:compressed:" + f, v, f"{v:.4f}")
                cell = fields[(i, "ppl:compressed:" + f)][0]
                ratio = f"×{v / runs[dense_run]['eval']['dense']['perplexity'][f]:.3f} dense"
                check(any(e["text"] == ratio for e in els if e["a"].get("class") == "sub"), f"{what}: ratio {ratio}")
            for t, m in ev["compressed"]["tasks"].items():
                expect(i, "acc:compressed:" + t, m["acc"], f"{m['acc']:.4f}")
                if "acc_norm" in m:
                    expect(i, "acc_norm:compressed:" + t, m["acc_norm"], f"{m['acc_norm']:.4f}")
            count += 1
        series = {e["a"]["data-series"]: int(e["a"]["data-points"]) for e in els
                  if e["tag"] == "g" and "data-series" in e["a"]}
        for c in r.get("charts", []):
            for s in c["series"]:
                n = sum(y is not None for y in s["y"])
                check(series.get(s["name"]) == n, f"{what}: chart series {s['name']!r} with {n} points")
    dense = runs[dense_run]["eval"]["dense"]
    for f, v in dense["perplexity"].items():
        expect(dense_run, "ppl:dense:" + f, v, f"{v:.4f}")
    for t, m in dense["tasks"].items():
        expect(dense_run, "acc:dense:" + t, m["acc"], f"{m['acc']:.4f}")
    check(count == sum(1 for r in runs if r.get("eval")), f"{what}: every evaluated run shown")
    # nothing external, nothing made from the JSON's strings
    for e in els:
        for k, v in e["a"].items():
            if k in ("src", "href", "xlink:href", "srcset", "poster", "data", "action"):
                check(v.startswith("#") or v.startswith("data:"), f"{what}: <{e['tag']} {k}={v!r}> is not external")
            if k == "style":
                check("url(" not in v, f"{what}: no url() in style")
    tags = {e["tag"] for e in els}
    check(not tags & {"img", "link", "iframe", "object", "embed", "audio", "video"}, f"{what}: no fetched elements ({tags & {'img', 'link', 'iframe'}})")
    scripts = [e for e in els if e["tag"] == "script"]
    check(len(scripts) == (1 if "dom" in what else 0), f"{what}: no script but the probe ({len(scripts)})")
    text = open(path, encoding="utf-8").read()
    check("<style>" in text, f"{what}: inline CSS")
    if any(r["method"] == "fuse<x>" for r in runs):
        check("merged with &lt;img src=&quot;http://example.invalid/x.png&quot;&gt;" in text and "&lt;/pre&gt;&lt;script&gt;" in text,
              f"{what}: HTML in the JSON's strings is escaped")
    return els

load = lambda n: json.load(open(f"{d}/{n}.json"))
a, b, c = load("a"), load("b"), load("c")
check(set(b["eval"]) == {"dense", "compressed"} and b["eval"]["dense"]["blocks"] == 16 and b["eval"]["compressed"]["blocks"] == 12,
      "compress --eval-*: eval.dense (16 blocks) and eval.compressed (12 blocks)")
check(set(b["eval"]["dense"]["perplexity"]) == {"kjv.txt", "brown.txt"} and "brown_cloze.valid.jsonl" in b["eval"]["dense"]["tasks"]
      and b["eval"]["dense"]["tasks"]["brown_cloze.valid.jsonl"]["n"] == 24, "eval keys: both splits, the task at --eval-limit 24")
check([p["name"] for p in a["phases"]] == ["eval dense", "importance", "write", "eval compressed"], f"phases {a['phases']}")
check([p["name"] for p in b["phases"]] == ["importance", "write", "eval compressed"], f"--eval-dense: no dense phase {b['phases']}")
check(b["eval"]["dense"] == a["eval"]["dense"], "--eval-dense: the dense scores are the file's")
for f, v in b["eval"]["dense"]["perplexity"].items():
    check(b["eval"]["compressed"]["perplexity"][f] > v, f"{f}: removing 4 blocks raises perplexity")
log = open(f"{d}/compress.log").read()
for f in ("kjv.txt", "brown.txt"):
    row = re.search(r"\| " + re.escape(f) + r" +\| +([\d.]+) \| +([\d.]+) \|", log)
    check(row and abs(float(row.group(1)) - b["eval"]["dense"]["perplexity"][f]) < 1e-4
          and abs(float(row.group(2)) - b["eval"]["compressed"]["perplexity"][f]) < 1e-4, f"the printed comparison of {f}")
verify(f"{d}/b.html", [a, b], "b.html")
verify(f"{d}/page.html", [a, b, c], "page.html")
table = open(f"{d}/table.txt").read()
for label, r in (("dense", None), ("bi (bi4)", b)):
    row = re.search(r"^\| " + re.escape(label) + r" +\|(.*)$", table, re.M)
    if check(row, f"table row {label}"):
        cells = [x.strip() for x in row.group(1).split("|")]
        e = b["eval"]["dense" if r is None else "compressed"]
        check(cells[2:4] == [f"{e['perplexity'][k]:.3f}" for k in ("kjv.txt", "brown.txt")], f"table {label}: {cells}")
if browser:
    for p, runs in (("b", [a, b]), ("page", [a, b, c])):
        els = verify(f"{d}/{p}.dom.html", runs, f"{p} dom")
        probe = [e for e in els if e["a"].get("id") == "df-probe"]
        if check(probe, f"{p}: the probe ran in Chromium"):
            res = json.loads(probe[0]["text"])
            check(res == {"resources": [], "broken": []}, f"{p}: Chromium fetched nothing and nothing is missing: {res}")
        png = open(f"{d}/{p}.png", "rb").read()
        w, h = struct.unpack(">II", png[16:24])
        raw = zlib.decompress(b"".join(png[i + 8:i + 8 + struct.unpack(">I", png[i:i + 4])[0]]
                              for i in [m.start() - 4 for m in re.finditer(b"IDAT", png)]))
        check(png[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (1280, 3000) and len(set(raw)) > 50,
              f"{p}.png: a {w}x{h} picture with {len(set(raw))} byte values")
print("report checks:", "passed" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
if [ -z "$chromium" ]; then
    echo "SKIP: chromium is not installed (tools/test.sh installs it): the page was checked without a browser"
    exit 77
fi
