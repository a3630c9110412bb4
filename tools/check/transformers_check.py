#!/usr/bin/env python3
"""Load model folders with Hugging Face transformers and compare its logits with ours, on a machine
that has transformers (Debian 12, where CI runs, packages none):

  python3 tools/check/transformers_check.py FOLDER...

A folder holding reference.safetensors (tools/make_arch_fixtures.py's fixtures, the bundled
base-16L) is compared on its input_ids.i / logits.i; a folder written by depthfuse (convert,
prune) is compared on ids.txt and depthfuse_logits.safetensors, which tools/check/dump_logits
writes:  build/tools/check/dump_logits DIR DIR/depthfuse_logits.safetensors $(cat DIR/ids.txt)
Exit 0 when every folder loads and every logit agrees within 1e-3 (fp32 on both sides).
"""
import os
import sys

import torch
import transformers
from safetensors.torch import load_file


def pairs(d):
    """(ids, expected logits) of a folder"""
    ref = os.path.join(d, "reference.safetensors")
    if os.path.exists(ref):
        r = load_file(ref)
        i = 0
        while f"input_ids.{i}" in r:
            yield r[f"input_ids.{i}"].long().tolist(), r[f"logits.{i}"]
            i += 1
    else:
        ids = [int(x) for x in open(os.path.join(d, "ids.txt")).read().split()]
        yield ids, load_file(os.path.join(d, "depthfuse_logits.safetensors"))["logits"]


def main(folders):
    worst = 0.0
    for d in folders:
        model = transformers.AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
        diff = 0.0
        for ids, want in pairs(d):
            with torch.no_grad():
                got = model(torch.tensor([ids])).logits[0].float()
            diff = max(diff, (got - want.float()).abs().max().item())
        worst = max(worst, diff)
        c = model.config
        print(f"{os.path.basename(os.path.normpath(d))}: loaded by transformers {transformers.__version__} as "
              f"{type(model).__name__} ({c.num_hidden_layers} layers, tied={c.tie_word_embeddings}); logits max "
              f"|transformers - reference| = {diff:.2e}")
    print(f"worst {worst:.2e}")
    return worst < 1e-3


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(0 if main(sys.argv[1:]) else 1)
