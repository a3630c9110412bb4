"""What tools/plot_results.py and tools/plot_importance.py share: reading depthfuse's JSON reports,
one-line errors, and drawing a gnuplot script into a PNG that is written whole or not at all."""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def fail(prog, msg):
    print(f"{prog}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_report(prog, path, keys, what):
    """the JSON object in path, which must have every key in keys (else: not a `what`)"""
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        fail(prog, f"{path}: {e}")
    missing = [k for k in keys if not isinstance(r, dict) or k not in r]
    if missing:
        fail(prog, f"{path}: no \"{missing[0]}\" (not a {what}?)")
    return r


def draw(prog, out, make_script):
    """make_script(tmp, png) writes its data files into the folder tmp and returns the gnuplot script
    that draws png; the PNG replaces out once gnuplot has finished"""
    if not shutil.which("gnuplot"):
        fail(prog, "gnuplot not found (Debian: apt-get install gnuplot-nox)")
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(out))) as tmp:
        png = os.path.join(tmp, "out.png")
        gp = subprocess.run(["gnuplot"], input=make_script(tmp, png), text=True, capture_output=True)
        if gp.returncode != 0 or not os.path.exists(png):
            fail(prog, f"gnuplot failed: {gp.stderr.strip()}")
        os.replace(png, out)
