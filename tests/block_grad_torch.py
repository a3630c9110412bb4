#!/usr/bin/python3
"""Oracle for test_block_grad: one Llama block (transformers' LlamaDecoderLayer / Qwen2, written out
in float64 torch: separate q/k/v, repeat_kv, causal mask, rotate-half RoPE from config.json) on the
hidden states and weights test_block_grad dumped; loss = sum(dy * block(x)); torch.autograd gives
every gradient, which must match depthfuse's within TOL relative (||a - b|| / ||b||).
The fused block uses W_eff = W + B A + sum_k (C_L,k C_R,k) * W_p,k (+ b + sum_k c_b,k * b_p,k).
Usage: block_grad_torch.py DIR MODEL TOL"""
import json
import os
import sys

import numpy as np
import torch

D, MODEL, TOL = sys.argv[1], sys.argv[2], float(sys.argv[3])
torch.set_default_dtype(torch.float64)
cfg = json.load(open(os.path.join(MODEL, "config.json")))
H, I = cfg["hidden_size"], cfg["intermediate_size"]
nh = cfg["num_attention_heads"]
nkv = cfg.get("num_key_value_heads", nh)
hd = cfg.get("head_dim") or H // nh
eps = cfg.get("rms_norm_eps", 1e-6)
theta = cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0))
meta = [l.split() for l in open(os.path.join(D, "meta.txt"))]
Bsz, T = int(meta[0][1]), int(meta[1][1])
N = Bsz * T


def load(name, *shape):
    a = np.fromfile(os.path.join(D, name + ".bin"), dtype=np.float32)
    return torch.tensor(a.astype(np.float64)).reshape(*shape)


def exists(name):
    return os.path.exists(os.path.join(D, name + ".bin"))


inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
cos, sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
mask = torch.full((T, T), float("-inf")).triu(1)


def rope(x):  # [B, heads, T, hd]
    h = hd // 2
    rot = torch.cat((-x[..., h:], x[..., :h]), -1)
    return x * cos + rot * sin


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def block(x, W):
    def lin(name, inp):
        y = inp @ W[name].T
        return y + W[name + "_b"] if name + "_b" in W else y

    n1 = rms(x, W["n1"])
    q = lin("q", n1).view(Bsz, T, nh, hd).transpose(1, 2)
    k = lin("k", n1).view(Bsz, T, nkv, hd).transpose(1, 2)
    v = lin("v", n1).view(Bsz, T, nkv, hd).transpose(1, 2)
    q, k = rope(q), rope(k)
    k = k.repeat_interleave(nh // nkv, dim=1)
    v = v.repeat_interleave(nh // nkv, dim=1)
    p = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + mask, dim=-1)
    att = (p @ v).transpose(1, 2).reshape(Bsz, T, nh * hd)
    h = x + lin("o", att)
    n2 = rms(h, W["n2"])
    return h + lin("down", torch.nn.functional.silu(lin("gate", n2)) * lin("up", n2))


HF = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
      "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
x = load("x", Bsz, T, H).requires_grad_(True)
dy = load("dy", Bsz, T, H)
worst, failed = 0.0, []


def check(what, ours, ref):
    global worst
    rel = float((ours - ref).norm() / ref.norm()) if float(ref.norm()) > 0 else float("inf")
    worst = max(worst, rel)
    ok = rel < TOL
    if not ok:
        failed.append(what)
    print(f"  {what:42s} rel {rel:.2e} |ref| {float(ref.norm()):.3e} {'ok' if ok else 'FAIL'}")


# plain block
W = {"n1": load("w.input_layernorm.weight", H), "n2": load("w.post_attention_layernorm.weight", H)}
for s, hf in HF.items():
    if s in ("q", "k", "v", "o", "gate", "up", "down"):
        out = {"q": nh * hd, "k": nkv * hd, "v": nkv * hd, "o": H, "gate": I, "up": I, "down": H}[s]
        inp = {"o": nh * hd, "down": I}.get(s, H)
        W[s] = load(f"w.{hf}.weight", out, inp)
        if exists(f"w.{hf}.bias"):
            W[s + "_b"] = load(f"w.{hf}.bias", out)
for t in W.values():
    t.requires_grad_(True)
(block(x, W) * dy).sum().backward()
print("plain block:")
check("dx", load("dx", Bsz, T, H), x.grad)
check("input_layernorm.weight", load("g.input_layernorm.weight", H), W["n1"].grad)
check("post_attention_layernorm.weight", load("g.post_attention_layernorm.weight", H), W["n2"].grad)
for s, hf in HF.items():
    check(f"{hf}.weight", load(f"g.{hf}.weight", *W[s].shape), W[s].grad)
    if s + "_b" in W:
        check(f"{hf}.bias", load(f"g.{hf}.bias", *W[s + "_b"].shape), W[s + "_b"].grad)

# fused block
x.grad = None
gains = load("f.gains", 2, H).requires_grad_(True)
Wf = {"n1": gains[0], "n2": gains[1]}
params = []
for row in meta[3:]:
    hf, out, inp, lr = row[1], int(row[2]), int(row[3]), int(row[4])
    s = [k for k, v in HF.items() if v + ".weight" == hf][0]
    A = load(f"f.A.0.{hf}", lr, inp).requires_grad_(True)
    Bm = load(f"f.B.0.{hf}", out, lr).requires_grad_(True)
    weff = W[s].detach() + Bm @ A
    beff = W[s + "_b"].detach() if s + "_b" in W else None
    params += [(f"{s} dA", A, f"f.dA.0.{hf}"), (f"{s} dB", Bm, f"f.dB.0.{hf}")]
    for k, term in enumerate(row[5:]):
        r = int(term.rstrip("b"))
        CL = load(f"f.CL.{k}.{hf}", out, r).requires_grad_(True)
        CR = load(f"f.CR.{k}.{hf}", r, inp).requires_grad_(True)
        weff = weff + (CL @ CR) * load(f"f.Wp.{k}.{hf}", out, inp)
        params += [(f"{s} dC_L[{k}]", CL, f"f.dCL.{k}.{hf}"), (f"{s} dC_R[{k}]", CR, f"f.dCR.{k}.{hf}")]
        if term.endswith("b"):
            cb = load(f"f.cb.{k}.{hf}", out).requires_grad_(True)
            beff = beff + cb * load(f"f.bp.{k}.{hf}", out)
            params.append((f"{s} dc_b[{k}]", cb, f"f.dcb.{k}.{hf}"))
    Wf[s] = weff
    if beff is not None:
        Wf[s + "_b"] = beff
(block(x, Wf) * dy).sum().backward()
print("fused block:")
check("dx", load("f.dx", Bsz, T, H), x.grad)
check("norm gains", load("f.d.gains", 2, H), gains.grad)
for what, p, f in params:
    check(what, load(f, *p.shape), p.grad)
print(f"worst relative error {worst:.2e} (tolerance {TOL:g}); {len(failed)} failed")
sys.exit(1 if failed else 0)
