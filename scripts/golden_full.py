#!/usr/bin/python3
"""PyTorch goldens for full-parameter training (trainer/model Options.FullTraining).

    /usr/bin/python3 scripts/golden_full.py              # writes testdata/golden/full/
    /usr/bin/python3 scripts/golden_full.py --selftest   # float64 gradcheck + cross-checks, writes nothing

Use exactly /usr/bin/python3 (Debian's python3-torch 1.13 + python3-numpy).

The model is scripts/golden_model.py's independent forward (imported, not copied), run with no
adapter and with every weight a leaf that requires grad: the embeddings (looked up through the
graph, so their gradient is the scatter of the input gradient), the norms, the seven projections,
qwen2's q/k/v biases, the final norm and lm_head. Tied embeddings are one tensor used twice, so
autograd sums the lookup's and the head's gradients, as the Go model must. Two variants, small on
purpose (the files are committed): an untied GQA Llama with a packed row, and a tied Qwen2 with
biases. For each the script writes config.json, model.safetensors (BF16), inputs.safetensors, and
golden.safetensors with the logits, the loss and grad.<HF name> for every weight, all F32.
"""

import argparse
import collections
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_model as gm  # noqa: E402  (the independent reference forward)

torch.set_num_threads(1)


def _llama_rows(rng, V, bos):
    """Row 0: one sample of 12 with a 3-token prompt; row 1: two packed samples (5 + 7)."""
    return [[gm.sample(rng, V, 12, 3, bos)], [gm.sample(rng, V, 5, 2, bos), gm.sample(rng, V, 7, 0, bos)]]


def _qwen2_rows(rng, V, bos):
    return [[gm.sample(rng, V, 10, 2, bos)], [gm.sample(rng, V, 10, 0, bos)]]


VARIANTS = collections.OrderedDict([
    ("llama", dict(
        seed=2001, inputs=_llama_rows,
        config={
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2,
            "num_hidden_layers": 2, "intermediate_size": 48, "vocab_size": 64,
            "rope_theta": 10000.0, "rope_scaling": None, "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
            "attention_dropout": 0.0, "pretraining_tp": 1, "max_position_embeddings": 128,
            "bos_token_id": 1, "eos_token_id": 2,
        })),
    ("qwen2_tied", dict(
        seed=2002, inputs=_qwen2_rows,
        config={
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2,
            "num_hidden_layers": 2, "intermediate_size": 48, "vocab_size": 64,
            "rope_theta": 1000000.0, "rope_scaling": None, "rms_norm_eps": 1e-6,
            "tie_word_embeddings": True, "attention_dropout": 0.0,
            "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 2,
            "max_position_embeddings": 128, "bos_token_id": 62, "eos_token_id": 63,
        })),
])


def build(name):
    v = VARIANTS[name]
    cfg = gm.full_config(v)
    spec = gm.Spec(cfg)
    rng = np.random.default_rng(v["seed"])
    weights = gm.make_weights(spec, rng)
    inputs = gm.make_inputs(v, spec, rng)
    return cfg, spec, weights, inputs


def run(spec, weights, inputs, dtype=torch.float32, untie=False):
    """Loss and logits with every weight a leaf; returns (out, leaves). With untie, a tied model's
    head gets its own copy of the embeddings (for the cross-check that the tied gradient is the
    sum of the two uses)."""
    leaves = collections.OrderedDict(
        (k, t.to(torch.float32).to(dtype).clone().requires_grad_(True)) for k, t in weights.items())
    W = dict(leaves)
    if untie:
        spec.tied = False
        W["lm_head.weight"] = leaves["model.embed_tokens.weight"].detach().clone().requires_grad_(True)
    embeds = W["model.embed_tokens.weight"][inputs["input_ids"]]  # through the graph: scatter-add
    out = gm.forward(spec, W, None, 1.0, inputs, embeds=embeds)
    if untie:
        spec.tied = True
    out["loss"].backward()
    return out, leaves, W


def generate(outroot):
    summary = []
    for name in VARIANTS:
        cfg, spec, weights, inputs = build(name)
        d = os.path.join(outroot, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        gm.write_safetensors(os.path.join(d, "model.safetensors"),
                             {k: gm.st_entry(t, "BF16") for k, t in weights.items()})
        gm.write_safetensors(os.path.join(d, "inputs.safetensors"),
                             {k: gm.st_entry(t, "I32") for k, t in inputs.items()})
        out, leaves, _ = run(spec, weights, inputs)
        ent = collections.OrderedDict()
        ent["logits"] = gm.st_entry(out["logits"].detach(), "F32")
        ent["loss"] = gm.st_entry(out["loss"].detach(), "F32")
        for k, p in leaves.items():
            assert p.grad is not None and torch.isfinite(p.grad).all() and gm.norm(p.grad) > 0, (name, k)
            ent["grad." + k] = gm.st_entry(p.grad, "F32")
        gm.write_safetensors(os.path.join(d, "golden.safetensors"), ent)
        loss = float(out["loss"])
        total = math.sqrt(sum(gm.norm(p.grad) ** 2 for p in leaves.values()))
        counted = int((inputs["labels"][:, 1:] != gm.IGNORE).sum())
        print("== %s: %s, H %d, heads %d/%d, layers %d, I %d, V %d, tied %s, bias %s; batch %s, %d counted"
              % (name, spec.arch, spec.H, spec.nH, spec.nKV, spec.L, spec.I, spec.V, spec.tied, spec.qkv_bias,
                 tuple(inputs["input_ids"].shape), counted))
        print("   loss %.9g  |grad| %.6g over %d tensors" % (loss, total, len(leaves)))
        summary.append((name, loss))
    return summary


def selftest():
    for name in VARIANTS:
        cfg, spec, weights, inputs = build(name)
        checks = []
        # 1. float32 against float64: the precision floor for the Go tolerance (1e-4 per tensor)
        o32, l32, _ = run(spec, weights, inputs)
        o64, l64, _ = run(spec, weights, inputs, torch.float64)
        worst = max(gm.rel(l32[k].grad, l64[k].grad) for k in l32)
        checks.append(("fp32 vs fp64 worst weight grad", worst, 1e-5))
        checks.append(("fp32 vs fp64 logits", gm.rel(o32["logits"], o64["logits"]), 1e-5))
        # 2. tied: the one tensor's gradient is the lookup's plus the head's
        if spec.tied:
            _, lu, Wu = run(spec, weights, inputs, torch.float64, untie=True)
            both = lu["model.embed_tokens.weight"].grad + Wu["lm_head.weight"].grad
            checks.append(("tied grad == lookup + head", gm.rel(l64["model.embed_tokens.weight"].grad, both), 1e-12))
            checks.append(("the head's share matters", gm.rel(lu["model.embed_tokens.weight"].grad, both), -1e-2))
        # 3. autograd against finite differences over every weight (float64, fast mode)
        keys = list(weights)

        def f(*ts):
            W = dict(zip(keys, ts))
            return gm.forward(spec, W, None, 1.0, inputs, embeds=W["model.embed_tokens.weight"][inputs["input_ids"]])["loss"]
        params = tuple(weights[k].to(torch.float32).to(torch.float64).clone().requires_grad_(True) for k in keys)
        torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-8, rtol=1e-5, fast_mode=True)
        checks.append(("gradcheck (fast) over %d weights" % len(keys), 0.0, 0.0))
        print("== %s" % name)
        for what, err, tol in checks:  # tol < 0: err must be at least -tol
            good = err <= tol if tol >= 0 else err >= -tol
            print("   %-40s %-9.3g (%s %.0e) %s" % (what, err, "<=" if tol >= 0 else ">=", abs(tol), "ok" if good else "FAIL"))
            assert good, (name, what, err)
    print("selftest passed")


def check_written(outroot):
    """Read every file back with the strict reader and compare with what was computed."""
    for name in VARIANTS:
        cfg, spec, weights, inputs = build(name)
        d = os.path.join(outroot, name)
        m = gm.read_safetensors(os.path.join(d, "model.safetensors"))
        assert set(m) == set(weights)
        for k, t in weights.items():
            assert np.array_equal(m[k], t.float().numpy()), k
        g = gm.read_safetensors(os.path.join(d, "golden.safetensors"))
        for k, t in weights.items():
            assert g["grad." + k].shape == tuple(t.shape), k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "testdata", "golden", "full"))
    ap.add_argument("--selftest", action="store_true", help="cross-checks and gradcheck, write nothing")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        return
    summary = generate(args.out)
    check_written(args.out)
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(args.out)):
        for fn in sorted(files):
            if fn.endswith(".safetensors") or fn.endswith(".json"):
                with open(os.path.join(root, fn), "rb") as f:
                    h.update(fn.encode() + f.read())
    print("losses:", ", ".join("%s %.6f" % s for s in summary))
    print("sha256 of all outputs:", h.hexdigest())


if __name__ == "__main__":
    main()
