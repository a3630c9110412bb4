#!/usr/bin/python3
"""PyTorch CPU anchor for bench_train: the same steps in fp32 torch (Debian's python3-torch 1.13),
timed alternately with depthfuse over a pipe ("ready", then each "run" -> "time SECONDS").

--mode plain: forward + backward of --blocks Llama blocks (every weight requires grad), loss
  (y * dy).sum(); --mode fused: one fine-tuning step of --blocks fused blocks the way FuseGPT's
  official FuseLinear does it (W_eff = W + B A + (C_L C_R) * W_p materialized in every forward,
  W and W_p frozen; A, B, C_L, C_R and the norm gains trained), MSE at the group output, Adam
  (betas 0.9 / 0.95) with two learning rates. Blocks follow transformers' LlamaDecoderLayer
  (separate q/k/v and gate/up, repeat_kv, additive causal mask, fp32 softmax): torch 1.13 has no
  fused attention. Weights are random (speed does not depend on them).
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("plain", "fused"), required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--rank", type=int, default=128)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    c = json.load(open(a.config))
    H, I = c["hidden_size"], c["intermediate_size"]
    nh = c["num_attention_heads"]
    nkv = c.get("num_key_value_heads", nh)
    hd = c.get("head_dim") or H // nh
    eps = c.get("rms_norm_eps", 1e-6)
    B, T = a.batch, a.seq
    Q, KV = nh * hd, nkv * hd
    shapes = {"q": (Q, H), "k": (KV, H), "v": (KV, H), "o": (H, Q), "gate": (I, H), "up": (I, H), "down": (H, I)}
    inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.outer(torch.arange(T).float(), inv)
    cos, sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def block(x, W):
        h = rmsnorm(x, W["n1"], eps)
        q = F.linear(h, W["q"]).view(B, T, nh, hd).transpose(1, 2)
        k = F.linear(h, W["k"]).view(B, T, nkv, hd).transpose(1, 2)
        v = F.linear(h, W["v"]).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(nh // nkv, dim=1), v.repeat_interleave(nh // nkv, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
        att = (F.softmax(s, dim=-1, dtype=torch.float32) @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + F.linear(att, W["o"])
        h = rmsnorm(x, W["n2"], eps)
        return x + F.linear(F.silu(F.linear(h, W["gate"])) * F.linear(h, W["up"]), W["down"])

    def w(*shape):
        return torch.randn(*shape) * 0.02

    blocks, coef, base = [], [], []
    for _ in range(a.blocks):
        p = {"n1": torch.ones(H, requires_grad=True), "n2": torch.ones(H, requires_grad=True)}
        base += [p["n1"], p["n2"]]
        for n, (o, i) in shapes.items():
            if a.mode == "plain":
                p[n] = w(o, i).requires_grad_(True)
                base.append(p[n])
                continue
            r = min(a.rank, o, i)
            bound = 1.0 / math.sqrt(i)
            f = {"W": w(o, i), "Wp": w(o, i),
                 "A": torch.empty(r, i).uniform_(-bound, bound).requires_grad_(True),
                 "B": (torch.randn(o, r) * 0.01).requires_grad_(True),
                 "CL": (torch.randn(o, r) * 0.01).requires_grad_(True),
                 "CR": torch.empty(r, i).uniform_(-bound, bound).requires_grad_(True)}
            p[n] = f
            base += [f["A"], f["B"]]
            coef += [f["CL"], f["CR"]]
        blocks.append(p)
    x0, tgt = torch.randn(B, T, H), torch.randn(B, T, H)
    if a.mode == "fused":
        opt = torch.optim.Adam([{"params": coef, "lr": 1e-3}, {"params": base, "lr": 1e-4}], betas=(0.9, 0.95))

    def step():
        t0 = time.perf_counter()
        x = x0
        if a.mode == "plain":
            for p in base:
                p.grad = None
            for p in blocks:
                x = block(x, p)
            (x * tgt).sum().backward()
        else:
            opt.zero_grad()
            for p in blocks:
                W = {"n1": p["n1"], "n2": p["n2"]}
                for n in shapes:
                    f = p[n]
                    W[n] = f["W"] + f["B"] @ f["A"] + (f["CL"] @ f["CR"]) * f["Wp"]
                x = block(x, W)
            F.mse_loss(x, tgt).backward()
            opt.step()
        return time.perf_counter() - t0

    step()  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        print(f"time {step():.6f}", flush=True)


if __name__ == "__main__":
    main()
