#!/bin/sh
# Progress and messages as a user sees them (docs/report.md):
#  - under a pseudo-terminal (script(1)) around mpirun -np 2, eval redraws one line per file in place:
#    carriage returns between the redraws, no newline inside, one newline after the final 100% line;
#  - into a pipe (a log) the same run writes whole lines whose spacing follows the rules: never two
#    within MIN seconds, each either a new tenth of the work or MAX seconds after the previous one,
#    plus the final one (DF_PROGRESS_INTERVALS=TTY,MIN,MAX shrinks the seconds for the test); with the
#    default intervals a short run writes the final line alone;
#  - --progress=none and --quiet write no progress, --quiet no layout lines, results stay;
#  - a bad --progress is one error line; no command is the usage and exit 2 with nothing on stderr.
# Usage: cli_progress.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
model=$DF_FIXTURES/models/base-16L
head -n 100 "$DF_FIXTURES/data/kjv.test.txt" > "$out/kjv.txt"
head -n 60 "$DF_FIXTURES/data/brown.test.txt" > "$out/brown.txt"
EVAL="eval --model $model --ppl $out/kjv.txt --ppl $out/brown.txt --seq-len 64 --batch-tokens 128"
ONE="eval --model $model --ppl $out/kjv.txt --seq-len 64 --batch-tokens 512"
mpi() { "$mpiexec" -n 2 "$@"; }

# 1. a terminal: script gives mpirun a pty; the ranks' own ptys must not be taken for it
DF_PROGRESS_INTERVALS=0,0,0 script -qec "$mpiexec -n 2 $* $DF_BIN $EVAL" "$out/tty.txt" < /dev/null > /dev/null ||
    { cat "$out/tty.txt"; exit 1; }
# 2. a log (a pipe), auto mode, small intervals; then the default intervals
DF_PROGRESS_INTERVALS=0,0.3,0.8 mpi "$@" "$DF_BIN" $EVAL > "$out/log.txt" 2>&1 || { cat "$out/log.txt"; exit 1; }
mpi "$@" "$DF_BIN" $EVAL > "$out/default.txt" 2>&1 || { cat "$out/default.txt"; exit 1; }
# 3. forced modes and --quiet, without a terminal
"$DF_BIN" $ONE --progress=tty > "$out/forced.txt" 2>&1
"$DF_BIN" $ONE --progress none > "$out/none.txt" 2>&1
"$DF_BIN" --quiet $ONE > "$out/quiet.txt" 2>&1
# 4. messages
rc=0; "$DF_BIN" $ONE --progress=sometimes > "$out/bad.out" 2> "$out/bad.err" || rc=$?
echo "$rc" > "$out/bad.rc"
rc=0; "$DF_BIN" > "$out/none_cmd.out" 2> "$out/none_cmd.err" || rc=$?
echo "$rc" > "$out/none_cmd.rc"

/usr/bin/python3 - "$out" <<'PY'
import re, sys
d = sys.argv[1]
ok = True
def check(cond, msg):
    global ok
    print(("ok   " if cond else "FAIL ") + msg)
    ok &= bool(cond)
def read(n):
    return open(f"{d}/{n}", "rb").read().decode("utf-8", "replace")
LINE = re.compile(r"^  (\S+) (\d+)/(\d+) \((\d+)%\) [\d.]+/s, ([\dhms.]+)(, ETA \S+)?$")
def seconds(s):
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?", s)
    h, mi, se = (float(x) if x else 0.0 for x in m.groups())
    return 3600 * h + 60 * mi + se
labels = ["kjv.txt", "brown.txt"]

# 1. the terminal: a typescript, the pty's \r\n turned back into \n
tty = read("tty.txt").replace("\r\n", "\n")
for lab in labels:
    start = tty.find("\r  " + lab)
    check(start >= 0, f"tty: {lab} drawn in place")
    end = tty.find("\n", start)
    seg = tty[start:end]
    draws = [s.replace("\x1b[K", "") for s in seg.split("\r") if s]
    check(len(draws) >= 3, f"tty: {lab} redrawn {len(draws)} times on one line")
    check(all(LINE.match(s) for s in draws), f"tty: every redraw of {lab} is a progress line")
    last = LINE.match(draws[-1])
    check(last and last.group(2) == last.group(3) and last.group(4) == "100", f"tty: {lab} ends at 100%: {draws[-1]!r}")
    check(seg.endswith("\x1b[K") and not tty[end + 1:].startswith("\r  " + lab),
          f"tty: one newline ends {lab}'s line, no redraw after it")
    check(tty.count("\r  " + lab + " ") == len(draws), f"tty: {lab} drawn on that line only")
check("| kjv.txt" in tty and "perplexity" in tty, "tty: the table follows on its own lines")

# 2. the log: whole lines, the rate limit
for name, lo, hi in (("log.txt", 0.3, 0.8), ("default.txt", 30, 300)):
    text = read(name)
    check("\r" not in text and "\x1b" not in text, f"{name}: auto mode in a pipe writes plain lines")
    for lab in labels:
        rows = [LINE.match(l) for l in text.splitlines() if l.startswith("  " + lab + " ")]
        check(rows and all(rows), f"{name}: {lab}: {len(rows)} lines, each a progress line")
        if not rows or not all(rows):
            continue
        total = int(rows[0].group(3))
        check(int(rows[-1].group(2)) == total and rows[-1].group(6) is None, f"{name}: {lab}: the final line")
        if name == "default.txt":
            check(len(rows) == 1, f"{name}: {lab}: a short run writes the final line alone")
            continue
        prev_t, prev_dec = 0.0, 0
        for r in rows[:-1]:
            t, done = seconds(r.group(5)), int(r.group(2))
            dec = 10 * done // total
            gap = t - prev_t  # times are printed to 0.1 s
            check(gap >= lo - 0.1, f"{name}: {lab}: {done}/{total} {gap:.1f} s after the previous line (>= {lo})")
            check(dec > prev_dec or gap >= hi - 0.1, f"{name}: {lab}: {done}/{total} is a new tenth ({dec}) or {hi} s later")
            prev_t, prev_dec = t, dec

# 3. forced modes
check("\r  kjv.txt" in read("forced.txt"), "--progress=tty draws in place without a terminal")
for n in ("none.txt", "quiet.txt"):
    t = read(n)
    check(not any(LINE.match(l) for l in t.replace("\r", "\n").splitlines()), f"{n}: no progress")
    check("| kjv.txt" in t, f"{n}: the results stay")
check("layout:" in read("none.txt") and "layout:" not in read("quiet.txt"), "--quiet drops the layout lines")

# 4. messages
err = read("bad.err").strip().splitlines()
check(read("bad.rc").strip() == "1" and len(err) == 1 and "--progress" in err[0] and "sometimes" in err[0],
      f"a bad --progress: one line naming it: {err}")
check(read("none_cmd.rc").strip() == "2" and read("none_cmd.err") == "" and "usage:" in read("none_cmd.out"),
      "no command: the usage, exit 2, nothing on stderr")
sys.exit(0 if ok else 1)
PY
