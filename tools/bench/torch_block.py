#!/usr/bin/python3
"""PyTorch CPU anchor for bench_forward: the same forward (embedding, Llama blocks, final norm,
lm_head, cross-entropy of the next tokens) written by hand in fp32 torch, with random weights of
the shapes in a config.json. The blocks follow transformers' LlamaDecoderLayer (separate q/k/v and
gate/up projections, repeat_kv, additive causal mask, fp32 softmax), the way the HF reference runs
on CPU; torch 1.13 has no fused attention.

Driven by bench_forward over a pipe so that both are timed alternately under the same machine
conditions: after setting up (and one warm-up forward) it prints "ready"; then each input line
"run" times one forward and answers "time SECONDS". --once runs --repeat forwards by itself and
prints min and median instead.
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


class Llama:
    def __init__(self, c, T):
        self.H, self.I, self.V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
        self.nh = c["num_attention_heads"]
        self.nkv = c.get("num_key_value_heads", self.nh)
        self.hd = c.get("head_dim", self.H // self.nh)
        self.eps = c.get("rms_norm_eps", 1e-6)
        H, I, V, Q, KV = self.H, self.I, self.V, self.nh * self.hd, self.nkv * self.hd

        def w(*shape):
            return torch.randn(*shape) * 0.02

        self.embed, self.lm_head, self.norm = w(V, H), w(V, H), torch.ones(H)
        self.blocks = [dict(n1=torch.ones(H), q=w(Q, H), k=w(KV, H), v=w(KV, H), o=w(H, Q), n2=torch.ones(H),
                            gate=w(I, H), up=w(I, H), down=w(H, I)) for _ in range(c["num_hidden_layers"])]
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.hd, 2).float() / self.hd))
        ang = torch.outer(torch.arange(T).float(), inv)
        self.cos, self.sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
        self.mask = torch.full((T, T), float("-inf")).triu(1)

    def block(self, x, p):
        B, T, _ = x.shape
        h = rmsnorm(x, p["n1"], self.eps)
        q = F.linear(h, p["q"]).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = F.linear(h, p["k"]).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = F.linear(h, p["v"]).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * self.cos + rotate_half(q) * self.sin
        k = k * self.cos + rotate_half(k) * self.sin
        g = self.nh // self.nkv
        k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.hd) + self.mask
        a = (F.softmax(s, dim=-1, dtype=torch.float32) @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + F.linear(a, p["o"])
        h = rmsnorm(x, p["n2"], self.eps)
        return x + F.linear(F.silu(F.linear(h, p["gate"])) * F.linear(h, p["up"]), p["down"])

    def nll(self, ids):
        x = F.embedding(ids, self.embed)
        for p in self.blocks:
            x = self.block(x, p)
        logits = F.linear(rmsnorm(x, self.norm, self.eps), self.lm_head)
        return F.cross_entropy(logits[:, :-1].reshape(-1, self.V), ids[:, 1:].reshape(-1), reduction="sum")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="a model's config.json (shapes only; weights are random)")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--once", action="store_true", help="time --repeat forwards alone and print min / median")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    with open(a.config) as f:
        cfg = json.load(f)
    m = Llama(cfg, a.seq)
    ids = torch.randint(0, m.V, (a.batch, a.seq))

    def forward():
        t0 = time.perf_counter()
        m.nll(ids).item()
        return time.perf_counter() - t0

    with torch.inference_mode():
        forward()  # warm-up
        if a.once:
            t = sorted(forward() for _ in range(a.repeat))
            print(f"torch {torch.__version__} threads {torch.get_num_threads()}: min {t[0]:.4f} s median "
                  f"{t[len(t) // 2]:.4f} s")
            return
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            print(f"time {forward():.6f}", flush=True)


if __name__ == "__main__":
    main()
