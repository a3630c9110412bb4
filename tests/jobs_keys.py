"""Job files (docs/jobs.md) against the binary: the docs are `depthfuse run --schema`; every
jobs/**/*.json is strict JSON and passes `run --check`; a job holding every key of docs/jobs.md
reaches every flag with its value (paths resolved against the job's folder); misspelt, mistyped,
missing and duplicated keys fail with one line naming the key path, at -np 1 and -np 2, before any
other file is opened. Usage: jobs_keys.py SRC MPIEXEC [MPIFLAGS...] (DF_BIN set by ctest)."""
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

SRC, MPIEXEC, MPIFLAGS = sys.argv[1], sys.argv[2], sys.argv[3:] + ["--bind-to", "none"]
BIN = os.environ["DF_BIN"]
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL " + msg)


def run(args, np=0):
    cmd = ([MPIEXEC, "-n", str(np)] + MPIFLAGS if np else []) + [BIN] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


# 1. the docs are the schema
rc, out, err = run(["run", "--schema"])
with open(os.path.join(SRC, "docs/jobs.md")) as f:
    docs = f.read()
if rc != 0 or out != docs:
    fail("docs/jobs.md differs from `depthfuse run --schema` (regenerate: depthfuse run --schema > docs/jobs.md)")


# 2. every job of jobs/ is strict JSON and checks
def strict(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def no_constants(name):
    raise ValueError("not JSON: " + name)


jobs = sorted(glob.glob(os.path.join(SRC, "jobs/**/*.json"), recursive=True))
if len(jobs) < 12:
    fail("expected the demo jobs and the 70B templates under jobs/, found %d" % len(jobs))
methods_seen = set()
for j in jobs:
    try:
        with open(j) as f:
            doc = json.load(f, object_pairs_hook=strict, parse_constant=no_constants)
    except ValueError as e:
        fail("%s: not strict JSON: %s" % (j, e))
        continue
    if doc.get("command") == "compress":
        methods_seen.update(doc["method"].keys())
    rc, out, err = run(["run", "--check", j])
    if rc != 0 or not out.startswith("depthfuse "):
        fail("%s: run --check: rc %d, %s" % (j, rc, err.strip()))
for m in ["mi", "bi", "sleb", "fusegpt", "flattengpt", "gptailor"]:
    if not any(("demo" in j and m in os.path.basename(j)) for j in jobs):
        fail("jobs/demo has no job for method %s" % m)
    if m not in methods_seen:
        fail("no compress job of jobs/ uses method %s" % m)

# 3. every key of docs/jobs.md: one job per command (per method for compress) holding all its keys
tables = {}  # (command, method or None) -> [(key, type)]
section = None
for line in docs.splitlines():
    m = re.match(r"^## (\S+)$", line) or re.match(r"^### (\S+): method\.(\S+)$", line)
    if m:
        section = (m.group(1), m.group(2) if m.re.pattern.startswith("^###") else None)
        continue
    row = re.match(r"^\| `([a-z0-9_]+)` \| ([a-z ,]+) \|", line)
    if row and section and section[0] != "Keys":
        tables.setdefault(section, []).append((row.group(1), row.group(2)))
commands = sorted({c for c, _ in tables})
if len(tables) < 12 or "compress" not in commands or "eval" not in commands:
    fail("docs/jobs.md: tables not found (%s)" % sorted(tables))
n_keys = sum(len(v) for v in tables.values())

tmp = tempfile.mkdtemp(prefix="df-jobs-")
jobdir = os.path.join(tmp, "sub")
os.makedirs(jobdir)


def value(key, typ):
    if typ.startswith("integer"):
        return 3
    if typ.startswith("number"):
        return 0.25
    if typ.startswith("boolean"):
        return True
    if typ.startswith("list"):
        return ["a_" + key, "b_" + key]
    return "v_" + key


def expect(argv, flag, key, typ):
    """the flag and its value(s) on the command line"""
    path = ", path" in typ
    resolved = (lambda v: os.path.join(jobdir, v)) if path else (lambda v: v)
    if typ.startswith("boolean"):
        return flag in argv
    pairs = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == flag]
    if typ.startswith("integer"):
        return pairs == ["3"]
    if typ.startswith("number"):
        return pairs == ["0.25"]
    if typ.startswith("list"):
        return pairs == [resolved("a_" + key), resolved("b_" + key)]
    return pairs == [resolved("v_" + key)]


def flag_of(key):
    return ("-" if len(key) == 1 else "--") + key.replace("_", "-")


exercised = set()
combos = [c for c in tables if c[0] != "prune"] + [("prune", m) for m in ("mi", "bi", "sleb")]
for (cmd, method) in sorted(combos, key=lambda t: (t[0], t[1] or "")):
    if cmd in ("compress", "prune") and method is None:
        continue  # the shared keys ride along with every method's job
    job = {"command": cmd, "description": "every key", "ranks": 7}
    keys = list(tables[("compress" if cmd == "prune" else cmd, method)])  # prune: compress's method tables
    if method:
        job["method"] = {method: {k: value(k, t) for k, t in keys}}
        shared = tables[(cmd, None)]
        job.update({k: value(k, t) for k, t in shared})
        keys_all = [(k, t) for k, t in shared] + keys
    else:
        job.update({k: value(k, t) for k, t in keys})
        keys_all = keys
    if cmd in ("report", "merge", "tokenize", "detokenize"):
        job["inputs"] = ["in_a"]
    path = os.path.join(jobdir, "%s-%s.json" % (cmd, method or "all"))
    with open(path, "w") as f:
        json.dump(job, f)
    rc, out, err = run(["run", "--check", path])
    if rc != 0:
        fail("%s: every-key job refused: %s" % (path, err.strip()))
        continue
    argv = shlex.split(out.strip())
    if argv[:2] != ["depthfuse", cmd] or (method and argv[2:4] != ["--method", method]):
        fail("%s: command line %s" % (path, argv[:4]))
    for k, t in keys_all:
        exercised.add(("compress" if cmd == "prune" else cmd, method, k) if method and (k, t) in keys else (cmd, None, k))
        if not expect(argv, flag_of(k), k, t):
            fail("%s: key %s (%s) did not become %s with its value: %s" % (path, k, t, flag_of(k), out.strip()))
    if "inputs" in job and os.path.join(jobdir, "in_a") != argv[-1]:
        fail("%s: inputs did not become the positional argument: %s" % (path, argv[-1]))
documented = {(c, m, k) for (c, m), rows in tables.items() for k, _ in rows}
if exercised != documented:
    fail("keys of docs/jobs.md not exercised: %s" % sorted(documented - exercised, key=str))
print("every key: %d keys of %d tables in docs/jobs.md, each reached its flag" % (len(exercised), len(tables)))

# 4. refused in one line naming the key path, at -np 1 and 2, before the (missing) model is opened
base = {"command": "compress", "model": "no/such/model", "out": "o", "remove": 2,
        "method": {"fusegpt": {"calib": "no/such/file", "rank": 8}}}
cases = [
    ("misspelt", lambda d: d["method"]["fusegpt"].update(rnak=8), "method.fusegpt.rnak: unknown key"),
    ("misspelt_top", lambda d: d.update(seq_lenn=4), "seq_lenn: unknown key"),
    ("method_key_on_top", lambda d: d.update(epochs=1), "epochs: unknown key here; it belongs under method.fusegpt"),
    ("top_key_in_method", lambda d: d["method"]["fusegpt"].update(pipeline=1),
     "method.fusegpt.pipeline: unknown key here; it belongs at the top level"),
    ("type_int", lambda d: d["method"]["fusegpt"].update(rank="8"), "method.fusegpt.rank: expected an integer"),
    ("type_frac", lambda d: d["method"]["fusegpt"].update(rank=8.5), "method.fusegpt.rank: expected an integer"),
    ("type_num", lambda d: d["method"]["fusegpt"].update(lr_coef="x"), "method.fusegpt.lr_coef: expected a number"),
    ("type_bool", lambda d: d.update(overwrite=1), "overwrite: expected true or false"),
    ("type_str", lambda d: d.update(out=3), "out: expected a string"),
    ("type_list", lambda d: d.update(eval_ppl=[1]), "eval_ppl[0]: expected a string"),
    ("missing", lambda d: d.pop("model"), "model: required (--model)"),
    ("missing_method_key", lambda d: d["method"]["fusegpt"].pop("calib"), "method.fusegpt.calib: required (--calib)"),
    ("missing_method", lambda d: d.pop("method"), "method: required"),
    ("unknown_method", lambda d: d.update(method={"fusgpt": {}}), "method.fusgpt: unknown method"),
    ("unknown_command", lambda d: d.update(command="compres"), "command: unknown command"),
    ("run_in_run", lambda d: d.update(command="run"), "command: unknown command"),
]
for name, edit, msg in cases:
    d = json.loads(json.dumps(base))
    edit(d)
    p = os.path.join(jobdir, name + ".json")
    with open(p, "w") as f:
        json.dump(d, f)
    modes = [(0, ["run"]), (0, ["run", "--check"]), (0, ["plan"])]
    if name in ("misspelt", "type_int", "missing"):  # every rank exits non-zero, one line in all
        modes.append((2, ["run"]))
    for np, mode in modes:
            rc, out, err = run(mode + [p], np)
            lines = [l for l in err.splitlines() if l.startswith("depthfuse")]  # not mpirun's own lines
            if rc == 0 or len(lines) != 1 or (p + ": " + msg) not in lines[0] or out:
                fail("%s (%s, -np %d): rc %d, stderr %r; expected one line with %r" % (name, " ".join(mode), np, rc, err, msg))
# strict JSON: trailing comma, duplicate key, comments, NaN; a missing file
for name, text, msg in [("trailing", '{"command": "eval",}', "not valid JSON"),
                        ("duplicate", '{"command": "eval", "model": "a", "model": "b"}', "model: given twice"),
                        ("comment", '{"command": "eval" /* x */}', "not valid JSON"),
                        ("nan", '{"command": "eval", "model": "m", "seq_len": NaN}', "not valid JSON"),
                        ("array", '[1]', "expected a JSON object")]:
    p = os.path.join(jobdir, name + ".json")
    with open(p, "w") as f:
        f.write(text)
    rc, out, err = run(["run", "--check", p])
    if rc == 0 or len(err.strip().splitlines()) != 1 or msg not in err:
        fail("%s: rc %d, %r; expected %r" % (name, rc, err, msg))
rc, out, err = run(["run", os.path.join(jobdir, "absent.json")])
if rc == 0 or "absent.json" not in err:
    fail("a missing job file: rc %d %r" % (rc, err))
# "ranks" is enforced by run (not by --check or plan)
p = os.path.join(jobdir, "ranks.json")
with open(p, "w") as f:
    json.dump({"command": "eval", "ranks": 3, "model": "m", "ppl": ["x"]}, f)
rc, out, err = run(["run", p])
if rc == 0 or "ranks: the job is for 3 ranks; this run has 1" not in err:
    fail("ranks: rc %d %r" % (rc, err))

print("jobs_keys: %s" % ("all checks passed" if failures == 0 else "%d failure(s)" % failures))
sys.exit(1 if failures else 0)
