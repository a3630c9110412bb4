#!/usr/bin/python3
"""Tiny random checkpoints of the Llama-family configurations the bundled models do not exercise,
with reference logits and hidden states from an independent fp32 forward written in PyTorch
(Debian's python3-torch; no transformers on Debian), following transformers' modeling_llama /
modeling_qwen2 / modeling_mistral line by line: RMSNorm in fp32, rotate-half RoPE with the llama3
frequency scaling of _compute_llama3_parameters, q/k/v(/o) biases, repeat_kv for GQA, softmax in
fp32, SwiGLU, tied lm_head.

  tools/make_arch_fixtures.py tests/fixtures/arch      # writes one folder per configuration

Each folder: config.json (in the style transformers 4 or 5 writes), bf16 safetensors (one file, or
two shards + index), reference.safetensors with input_ids.i, logits.i [T, V] and hidden_states.i
[L+1, T, H] (entry l enters block l; the last has the final norm applied), computed from the bf16
weights in fp32.
"""
import json
import math
import os
import struct
import sys

import torch

VOCAB = 300
T = 40

CONFIGS = {
    # transformers 4 style: rope_theta at top level, rope_scaling llama3 with a short original
    # context (so the blend region is used), tied embeddings, head_dim given (not hidden / heads)
    "tiny-llama3-tied": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 160,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
        "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "max_position_embeddings": 256,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 16, "rope_type": "llama3"},
        "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": [2, 3], "vocab_size": VOCAB, "torch_dtype": "bfloat16",
        "transformers_version": "4.46.3"},
    # transformers 5 style: rope_parameters, layer_types, dtype; q/k/v biases, no o bias
    "tiny-qwen2": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
        "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "max_position_embeddings": 256,
        "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 3,
        "layer_types": ["full_attention"] * 3, "tie_word_embeddings": False, "hidden_act": "silu",
        "vocab_size": VOCAB, "dtype": "bfloat16", "transformers_version": "5.0.0"},
    # a sliding window longer than any sequence used; MQA (one kv head); two shards + index
    "tiny-mistral": {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1, "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0, "max_position_embeddings": 256, "sliding_window": 4096,
        "tie_word_embeddings": False, "hidden_act": "silu", "vocab_size": VOCAB, "torch_dtype": "bfloat16",
        "transformers_version": "4.46.3"},
    # attention_bias: q, k, v and o biases
    "tiny-llama-attn-bias": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0, "rope_scaling": None, "max_position_embeddings": 256, "attention_bias": True,
        "tie_word_embeddings": False, "hidden_act": "silu", "vocab_size": VOCAB, "torch_dtype": "bfloat16",
        "transformers_version": "4.46.3"},
}


def geometry(c):
    nh, nkv = c["num_attention_heads"], c.get("num_key_value_heads") or c["num_attention_heads"]
    return nh, nkv, c.get("head_dim") or c["hidden_size"] // nh


def rope_theta(c):
    return (c.get("rope_parameters") or {}).get("rope_theta", c.get("rope_theta", 10000.0))


def inv_freq(c):
    """LlamaRotaryEmbedding's inv_freq, with _compute_llama3_parameters' scaling"""
    _, _, hd = geometry(c)
    f = 1.0 / (rope_theta(c) ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    s = c.get("rope_scaling")
    if s and s.get("rope_type", s.get("type")) == "llama3":
        factor, lo, hi, orig = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
        low_wl, high_wl = orig / lo, orig / hi
        wl = 2 * math.pi / f
        f_llama = torch.where(wl > low_wl, f / factor, f)
        smooth = (orig / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * f_llama / factor + smooth * f_llama
        medium = ~(wl < high_wl) * ~(wl > low_wl)
        f = torch.where(medium, smoothed, f_llama)
    return f


def rms_norm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def forward(c, W, ids):
    """logits [T, V] and hidden states [L+1, T, H] (transformers' output_hidden_states convention)"""
    nh, nkv, hd = geometry(c)
    eps, L, n = c["rms_norm_eps"], c["num_hidden_layers"], len(ids)
    freqs = torch.outer(torch.arange(n).float(), inv_freq(c))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((n, n), float("-inf")).triu(1)
    x = W["model.embed_tokens.weight"][ids]
    hidden = [x]
    for l in range(L):
        p = f"model.layers.{l}."
        lin = lambda name, v: torch.nn.functional.linear(v, W[p + name + ".weight"], W.get(p + name + ".bias"))
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin("self_attn.q_proj", h).view(n, nh, hd).transpose(0, 1)
        k = lin("self_attn.k_proj", h).view(n, nkv, hd).transpose(0, 1)
        v = lin("self_attn.v_proj", h).view(n, nkv, hd).transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(nh // nkv, dim=0), v.repeat_interleave(nh // nkv, dim=0)   # repeat_kv
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1, dtype=torch.float32)
        x = x + lin("self_attn.o_proj", (att @ v).transpose(0, 1).reshape(n, nh * hd))
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        x = x + lin("mlp.down_proj", torch.nn.functional.silu(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
        hidden.append(x)
    hidden[-1] = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if c["tie_word_embeddings"] else W["lm_head.weight"]
    return hidden[-1] @ head.T, torch.stack(hidden)


def weights(c, gen):
    """random weights, rounded to bf16 (the stored values), in HF names and shapes"""
    nh, nkv, hd = geometry(c)
    H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    qkv_bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
    o_bias = c["model_type"] != "qwen2" and c.get("attention_bias", False)
    r = lambda *s, scale=0.08: (torch.randn(*s, generator=gen) * scale).bfloat16()
    W = {"model.embed_tokens.weight": r(V, H, scale=0.5), "model.norm.weight": (1 + r(H, scale=0.2)).bfloat16()}
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = (1 + r(H, scale=0.2)).bfloat16()
        W[p + "post_attention_layernorm.weight"] = (1 + r(H, scale=0.2)).bfloat16()
        for name, shape in (("q", (nh * hd, H)), ("k", (nkv * hd, H)), ("v", (nkv * hd, H)), ("o", (H, nh * hd))):
            W[p + f"self_attn.{name}_proj.weight"] = r(*shape)
            if (name != "o" and qkv_bias) or (name == "o" and o_bias):
                W[p + f"self_attn.{name}_proj.bias"] = r(shape[0], scale=0.5)
        W[p + "mlp.gate_proj.weight"] = r(I, H)
        W[p + "mlp.up_proj.weight"] = r(I, H)
        W[p + "mlp.down_proj.weight"] = r(H, I)
    if not c["tie_word_embeddings"]:
        W["lm_head.weight"] = r(V, H, scale=0.5)
    return W


def write_safetensors(path, tensors):
    """the format by hand (Debian has no python3-safetensors): sorted by name, 8-byte padded header"""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dtype = {torch.bfloat16: "BF16", torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(out):
    for i, (name, c) in enumerate(CONFIGS.items()):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        gen = torch.Generator().manual_seed(1000 + i)
        W = weights(c, gen)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
            f.write("\n")
        if name == "tiny-mistral":   # two shards and an index
            names = sorted(W)
            shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
                      "model-00002-of-00002.safetensors": names[len(names) // 2:]}
            for fname, keys in shards.items():
                write_safetensors(os.path.join(d, fname), {k: W[k] for k in keys})
            index = {"metadata": {"total_size": sum(W[k].numel() * 2 for k in W)},
                     "weight_map": {k: f for f, keys in shards.items() for k in keys}}
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump(index, f, indent=2)
        else:
            write_safetensors(os.path.join(d, "model.safetensors"), W)
        W32 = {k: v.float() for k, v in W.items()}
        ref = {}
        with torch.no_grad():
            for s in range(3):
                ids = torch.randint(0, VOCAB, (T,), generator=gen)
                logits, hidden = forward(c, W32, ids)
                ref[f"input_ids.{s}"] = ids.to(torch.int32)
                ref[f"logits.{s}"] = logits.float()
                ref[f"hidden_states.{s}"] = hidden.float()
        write_safetensors(os.path.join(d, "reference.safetensors"), ref)
        print(f"{d}: {sum(v.numel() for v in W.values())} parameters")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1])
