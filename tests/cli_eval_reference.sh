#!/bin/sh
# depthfuse eval --tasks end to end (tokenizer, requests, scoring) against transformers: the three
# reference texts of base-16L as language-modelling items and as the choices of one multiple-choice
# item, each with an empty context, so that the model reads BOS + encode(text) = the reference
# input_ids. Each ll must be the sum of log-softmax(reference logits) over the text's tokens within
# 1e-2, the greedy flags must match the reference argmax where it is clear (top-2 margin > 0.05),
# at -np 1 and at -np 2 with two pipeline stages. Usage: cli_eval_reference.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
ref=$DF_FIXTURES/models/base-16L
/usr/bin/python3 - "$ref/reference.json" "$out" <<'PY'
import json, sys
texts, d = json.load(open(sys.argv[1]))["texts"], sys.argv[2]
with open(f"{d}/lm.jsonl", "w") as f:
    for t in texts:
        f.write(json.dumps({"context": "", "continuation": t, "delimiter": ""}) + "\n")
with open(f"{d}/mc.jsonl", "w") as f:
    f.write(json.dumps({"query": "", "choices": texts, "gold": 0, "delimiter": ""}) + "\n")
PY
"$DF_BIN" eval --model "$ref" --tasks "$out/lm.jsonl,$out/mc.jsonl" --samples-out "$out/np1.jsonl" > "$out/log" 2>&1 ||
    { cat "$out/log"; exit 1; }
"$mpiexec" -n 2 "$@" "$DF_BIN" eval --model "$ref" --tasks "$out/lm.jsonl,$out/mc.jsonl" --pipeline 2 \
    --samples-out "$out/np2.jsonl" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
/usr/bin/python3 - "$ref/reference.safetensors" "$out" <<'PY'
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
def tensor(name):
    h = header[name]
    a, b = h["data_offsets"]
    dt = {"I32": np.int32, "F32": np.float32}[h["dtype"]]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(h["shape"])
want = []
for i in range(3):
    ids, logits = tensor(f"input_ids.{i}").reshape(-1), tensor(f"logits.{i}").astype(np.float64)
    z = logits[:-1]
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    lp = z[np.arange(len(ids) - 1), ids[1:]] - lse
    top2 = np.sort(z, 1)[:, -2:]
    want.append((lp.sum(), len(ids) - 1, bool((z.argmax(1) == ids[1:]).all()), bool((top2[:, 1] - top2[:, 0] > 0.05).all())))
ok = True
for run in ("np1", "np2"):
    samples = [json.loads(l) for l in open(f"{sys.argv[2]}/{run}.jsonl")]
    lm = [s for s in samples if s["task"] == "lm.jsonl"]
    mc = [s for s in samples if s["task"] == "mc.jsonl"][0]
    for i, (ll, ntok, greedy, clear) in enumerate(want):
        got = [(lm[i]["ll"][0], lm[i]["tokens"][0]), (mc["ll"][i], mc["tokens"][i])]
        for kind, (g, t) in zip(("language model", "choice"), got):
            good = t == ntok and abs(g - ll) <= 1e-2
            ok &= good
            print(f"{'ok  ' if good else 'FAIL'} {run} text {i} as {kind}: {t} tokens (reference {ntok}), ll {g:.5f}, "
                  f"from transformers' logits {ll:.5f}")
        if clear:
            ok &= lm[i]["greedy"] == greedy
            print(f"{'ok  ' if lm[i]['greedy'] == greedy else 'FAIL'} {run} text {i}: greedy {lm[i]['greedy']}")
    best = max(range(3), key=lambda i: want[i][0])
    ok &= mc["pred"] == best
    print(f"{'ok  ' if mc['pred'] == best else 'FAIL'} {run} the choice with the highest reference ll ({best}) is predicted")
sys.exit(0 if ok else 1)
PY
