#!/usr/bin/python3
"""Independent PyTorch reference for trainer/model (llm.c-style golden dumps).

    /usr/bin/python3 scripts/golden_model.py              # writes testdata/golden/
    /usr/bin/python3 scripts/golden_model.py --out DIR    # somewhere else
    /usr/bin/python3 scripts/golden_model.py --selftest   # float64 gradcheck + cross-checks, writes nothing
    /usr/bin/python3 scripts/golden_model.py --selftest --quick   # the same, gradcheck in fast mode only

Use exactly /usr/bin/python3 (Debian's python3-torch 1.13 + python3-numpy); the python3 first on
PATH has no torch.

A from-scratch float32 forward of LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM written
from the Hugging Face semantics (transformers' modeling_llama.py, modeling_mistral.py,
modeling_qwen2.py, PEFT's lora/layer.py), with autograd for the backward. Nothing here is derived from
the Go code. For each variant it writes a tiny model (config.json + BF16 model.safetensors), a PEFT
adapter with a random nonzero lora_B, a packed batch, and the logits, loss and gradients of the mean
loss with respect to every LoRA tensor and to the input embeddings, twice: once over the stored base
weights ("full") and once with the seven projections of every layer quantized to NF4 with double
quantization (bitsandbytes' algorithm, from scripts/nf4_reference.py) and dequantized ("nf4").

Conventions (see testdata/golden/README.md for the full list):
  * RMSNorm  y = w * (x * rsqrt(mean(x^2) + eps))
  * RoPE half-split (rotate_half), inv_freq = 1/theta^(arange(0,hd,2)/hd) in float32 as transformers
    computes it, llama3 rope scaling applied to inv_freq, cos/sin of position_id * inv_freq.
  * Attention: GQA, query head h uses kv head h // (nH/nKV); scale hd^-0.5; key j is visible to
    query i iff j <= i and segment[j] == segment[i] and (no window or i - j < sliding_window).
  * LoRA (PEFT): y = x W^T + b + ((x A^T) B^T) * scaling, scaling = alpha/r or alpha/sqrt(r) (rsLoRA).
  * Loss: logits[:, :-1] predict labels[:, 1:]; -100 ignored; mean over the counted tokens of the
    whole batch.
"""

import argparse
import base64
import collections
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nf4_reference as nf4  # noqa: E402  (the colleague's numpy bitsandbytes NF4 reference)

torch.set_num_threads(1)  # fixed reduction order: the same bytes on every machine we have
IGNORE = -100
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ATTN = {"q_proj", "k_proj", "v_proj", "o_proj"}
NF4_BLOCKSIZE = 64

# ---------------------------------------------------------------------------------------------
# Variants


def _llama_inputs(rng, V, bos):
    """Row 0: one sample of 16 with a 5-token prompt. Row 1: two packed samples of 7 and 9 tokens
    (HF DataCollatorWithFlattening: positions restart, the first label of every sample is -100);
    the first sample has a 3-token prompt, the second none, so its only ignored label is the
    collator's."""
    rows = [[sample(rng, V, 16, 5, bos)], [sample(rng, V, 7, 3, bos), sample(rng, V, 9, 0, bos)]]
    return rows


def _llama3_inputs(rng, V, bos):
    return [[sample(rng, V, 24, 6, bos)]]


def _qwen2_inputs(rng, V, bos):
    return [[sample(rng, V, 12, 4, bos)], [sample(rng, V, 12, 2, bos)]]


def _mistral_inputs(rng, V, bos):
    """Row 1 is packed (10 + 6) so the sliding window meets a segment boundary."""
    return [[sample(rng, V, 16, 3, bos)], [sample(rng, V, 10, 2, bos), sample(rng, V, 6, 0, bos)]]


VARIANTS = collections.OrderedDict([
    ("llama", dict(
        seed=1001, inputs=_llama_inputs, lora_r=4, lora_alpha=8, use_rslora=False,
        config={
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
            "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 128,
            "rope_theta": 10000.0, "rope_scaling": None, "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
            "attention_dropout": 0.0, "pretraining_tp": 1, "max_position_embeddings": 512,
            "bos_token_id": 1, "eos_token_id": 2,
        })),
    ("llama3_tied", dict(
        seed=1002, inputs=_llama3_inputs, lora_r=8, lora_alpha=16, use_rslora=True,
        config={
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16,
            "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 128,
            "rope_theta": 500000.0,
            "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 64, "rope_type": "llama3"},
            "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "attention_bias": False,
            "mlp_bias": False, "attention_dropout": 0.0, "pretraining_tp": 1,
            "max_position_embeddings": 512, "bos_token_id": 120, "eos_token_id": [121, 122],
        })),
    ("qwen2_bias", dict(
        seed=1003, inputs=_qwen2_inputs, lora_r=4, lora_alpha=4, use_rslora=False,
        config={
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
            "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 128,
            "rope_theta": 1000000.0, "rope_scaling": None, "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False, "attention_dropout": 0.0,
            "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 2,
            "max_position_embeddings": 512, "bos_token_id": 126, "eos_token_id": 127,
        })),
    ("mistral_headdim", dict(
        seed=1004, inputs=_mistral_inputs, lora_r=4, lora_alpha=8, use_rslora=False,
        config={
            "architectures": ["MistralForCausalLM"], "model_type": "mistral",
            "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 24,
            "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 128,
            "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "sliding_window": 5,
            "tie_word_embeddings": False, "attention_dropout": 0.0,
            "max_position_embeddings": 512, "bos_token_id": 1, "eos_token_id": 2,
        })),
])


def full_config(v):
    c = dict(v["config"])
    c.update({"hidden_act": "silu", "initializer_range": 0.02, "torch_dtype": "bfloat16",
              "transformers_version": "4.46.0", "use_cache": True})
    return c


class Spec:
    """The architecture as the forward reads it, resolved from config.json the way transformers does."""

    def __init__(self, c):
        self.arch = c["model_type"]
        self.H = c["hidden_size"]
        self.nH = c["num_attention_heads"]
        self.nKV = c.get("num_key_value_heads") or self.nH
        self.hd = c.get("head_dim") or self.H // self.nH
        self.L = c["num_hidden_layers"]
        self.I = c["intermediate_size"]
        self.V = c["vocab_size"]
        self.eps = c["rms_norm_eps"]
        self.theta = c["rope_theta"]
        self.rope_scaling = c.get("rope_scaling")
        self.tied = c.get("tie_word_embeddings", False)
        self.qkv_bias = self.arch == "qwen2" or c.get("attention_bias", False)
        if self.arch == "mistral":
            self.window = c.get("sliding_window") or 0
        elif self.arch == "qwen2" and c.get("use_sliding_window", False):
            raise NotImplementedError("qwen2 sliding window is not used by these goldens")
        else:
            self.window = 0
        assert self.nH % self.nKV == 0

    def proj_shape(self, name):
        return {"q_proj": (self.nH * self.hd, self.H), "k_proj": (self.nKV * self.hd, self.H),
                "v_proj": (self.nKV * self.hd, self.H), "o_proj": (self.H, self.nH * self.hd),
                "gate_proj": (self.I, self.H), "up_proj": (self.I, self.H),
                "down_proj": (self.H, self.I)}[name]


def module_path(i, proj):
    return "model.layers.%d.%s.%s" % (i, "self_attn" if proj in ATTN else "mlp", proj)


def lora_key(i, proj, ab):
    return "base_model.model.%s.lora_%s.weight" % (module_path(i, proj), ab)


def lora_scaling(v):
    r, a = v["lora_r"], v["lora_alpha"]
    return a / math.sqrt(r) if v["use_rslora"] else a / r


# ---------------------------------------------------------------------------------------------
# Deterministic data (numpy PCG64: stable across numpy versions)


def sample(rng, V, n, prompt, bos=1):
    """One training sample: bos then random tokens from 3..V-1; its labels are its ids with the prompt masked and the first label -100 as HF's
    DataCollatorWithFlattening writes it (for the first sample of a row that label is never used,
    the shift drops it)."""
    ids = [bos] + rng.integers(3, V, size=n - 1).tolist()
    labels = [IGNORE] + ids[1:]
    for k in range(prompt):
        labels[k] = IGNORE
    return ids, labels


def bf16(t):
    return t.to(torch.bfloat16)


def make_weights(spec, rng):
    """Base weights ~ N(0, 0.1^2), norms 1 + N(0, 0.1^2), biases N(0, 0.1^2), rounded to bfloat16
    (round to nearest even). Returned as bf16 torch tensors in the order transformers stores them."""
    def normal(shape, mean=0.0):
        return bf16(torch.from_numpy((rng.standard_normal(shape) * 0.1 + mean).astype(np.float32)))

    w = collections.OrderedDict()
    w["model.embed_tokens.weight"] = normal((spec.V, spec.H))
    for i in range(spec.L):
        w["model.layers.%d.input_layernorm.weight" % i] = normal((spec.H,), 1.0)
        for p in PROJ:
            w[module_path(i, p) + ".weight"] = normal(spec.proj_shape(p))
            if spec.qkv_bias and p in ("q_proj", "k_proj", "v_proj"):
                w[module_path(i, p) + ".bias"] = normal((spec.proj_shape(p)[0],))
        w["model.layers.%d.post_attention_layernorm.weight" % i] = normal((spec.H,), 1.0)
    w["model.norm.weight"] = normal((spec.H,), 1.0)
    if not spec.tied:
        w["lm_head.weight"] = normal((spec.V, spec.H))
    return w


def make_lora(spec, v, rng):
    """A as PEFT initialises it (U(-1/sqrt(in), 1/sqrt(in))), B ~ N(0, 0.05^2) instead of zeros so
    every gradient is nontrivial. Float32, not rounded."""
    r = v["lora_r"]
    out = collections.OrderedDict()
    for i in range(spec.L):
        for p in PROJ:
            o, n = spec.proj_shape(p)
            bound = 1.0 / math.sqrt(n)
            out[lora_key(i, p, "A")] = torch.from_numpy(rng.uniform(-bound, bound, (r, n)).astype(np.float32))
            out[lora_key(i, p, "B")] = torch.from_numpy((rng.standard_normal((o, r)) * 0.05).astype(np.float32))
    return out


def make_inputs(v, spec, rng):
    rows = v["inputs"](rng, spec.V, v["config"]["bos_token_id"])
    ids, labels, pos, seg = [], [], [], []
    for row in rows:
        r_ids, r_lab, r_pos, r_seg = [], [], [], []
        for s, (i, l) in enumerate(row):
            r_ids += i
            r_lab += l
            r_pos += list(range(len(i)))
            r_seg += [s] * len(i)
        ids.append(r_ids), labels.append(r_lab), pos.append(r_pos), seg.append(r_seg)
    T = len(ids[0])
    assert all(len(r) == T for r in ids)
    t = lambda x: torch.tensor(x, dtype=torch.int64)  # noqa: E731
    return collections.OrderedDict([("input_ids", t(ids)), ("labels", t(labels)),
                                    ("position_ids", t(pos)), ("segment_ids", t(seg))])


# ---------------------------------------------------------------------------------------------
# NF4 base (bitsandbytes blocksize 64 + double quantization), via scripts/nf4_reference.py


def nf4_roundtrip(w):
    """Quantize a [out, in] weight as bitsandbytes' quantize_4bit(quant_type nf4, blocksize 64,
    compress_statistics True) does and dequantize it with the double-quantized absmax, in float32.
    The input is the bf16 weight upcast (exactly what bitsandbytes reads)."""
    flat = w.to(torch.float32).numpy().reshape(-1).astype(np.float32)
    packed, absmax = nf4.quantize_nf4(flat, NF4_BLOCKSIZE)
    codes, nested, offset = nf4.double_quantize(absmax)
    used = nf4.decode_absmax(codes, nested, offset)
    deq = nf4.dequantize_nf4(packed, used, flat.size, NF4_BLOCKSIZE)
    return torch.from_numpy(deq.reshape(w.shape).copy())


def base_weights(weights, mode, dtype):
    """name -> frozen float tensor: the bf16 values upcast, or for mode nf4 the seven projection
    weights of every layer replaced by their NF4 round trip. Embeddings, norms, biases and lm_head
    stay as stored."""
    out = collections.OrderedDict()
    for name, t in weights.items():
        if mode == "nf4" and name.endswith("_proj.weight"):
            out[name] = nf4_roundtrip(t).to(dtype)
        else:
            out[name] = t.to(torch.float32).to(dtype)
    return out


# ---------------------------------------------------------------------------------------------
# The model


def rope_inv_freq(spec, dtype=torch.float32):
    """transformers' _compute_default_rope_parameters (+ _compute_llama3_parameters)."""
    hd = spec.hd
    inv_freq = 1.0 / (spec.theta ** (torch.arange(0, hd, 2, dtype=torch.int64).to(dtype) / hd))
    bands = None
    rs = spec.rope_scaling
    if rs:
        kind = rs.get("rope_type", rs.get("type"))
        assert kind == "llama3", kind
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_freq_wavelen = old / low
        high_freq_wavelen = old / high
        wavelen = 2 * math.pi / inv_freq
        inv_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama
        medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_llama = torch.where(medium, smoothed, inv_llama)
        bands = ["high(kept)" if wl < high_freq_wavelen else "low(/factor)" if wl > low_freq_wavelen
                 else "medium(smoothed)" for wl in wavelen.tolist()]
        inv_freq = inv_llama
    return inv_freq, bands


def rope_cos_sin(spec, position_ids, dtype):
    inv_freq, _ = rope_inv_freq(spec, dtype)
    freqs = position_ids.to(dtype)[:, :, None] * inv_freq[None, None, :]  # (B,T,hd/2)
    emb = torch.cat([freqs, freqs], dim=-1)                                 # (B,T,hd)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def attention_mask(spec, segment_ids):
    """(B,1,T,T) bool, True = key j visible to query i."""
    T = segment_ids.shape[1]
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    keep = (j <= i)[None]
    keep = keep & (segment_ids[:, :, None] == segment_ids[:, None, :])
    if spec.window:
        keep = keep & ((i - j) < spec.window)[None]
    return keep[:, None]


def forward(spec, W, lora, scaling, inputs, embeds=None, attn_impl=None):
    """Returns dict(logits (B,T,V), loss (), embeds (B,T,C) leaf with grad, acts)."""
    ids = inputs["input_ids"]
    B, T = ids.shape
    dtype = W["model.embed_tokens.weight"].dtype
    if embeds is None:
        embeds = W["model.embed_tokens.weight"][ids].detach().clone().requires_grad_(True)
    cos, sin = rope_cos_sin(spec, inputs["position_ids"], dtype)
    cos, sin = cos[:, None], sin[:, None]  # (B,1,T,hd)
    mask = attention_mask(spec, inputs["segment_ids"])
    acts = collections.OrderedDict()

    def linear(x, i, p):
        name = module_path(i, p)
        y = F.linear(x, W[name + ".weight"], W.get(name + ".bias"))
        if lora is not None:
            a = lora[lora_key(i, p, "A")]
            b = lora[lora_key(i, p, "B")]
            y = y + F.linear(F.linear(x, a), b) * scaling
        return y

    h = embeds
    rep = spec.nH // spec.nKV
    for i in range(spec.L):
        x = rms_norm(h, W["model.layers.%d.input_layernorm.weight" % i], spec.eps)
        q = linear(x, i, "q_proj").view(B, T, spec.nH, spec.hd).transpose(1, 2)
        k = linear(x, i, "k_proj").view(B, T, spec.nKV, spec.hd).transpose(1, 2)
        v = linear(x, i, "v_proj").view(B, T, spec.nKV, spec.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # transformers' repeat_kv: expand (B,nKV,rep,T,hd) -> (B,nH,T,hd): head h reads kv head h//rep
        k = k[:, :, None].expand(B, spec.nKV, rep, T, spec.hd).reshape(B, spec.nH, T, spec.hd)
        v = v[:, :, None].expand(B, spec.nKV, rep, T, spec.hd).reshape(B, spec.nH, T, spec.hd)
        if attn_impl is None:
            s = torch.matmul(q, k.transpose(2, 3)) * spec.hd ** -0.5
            s = s.masked_fill(~mask, float("-inf"))
            o = torch.matmul(torch.softmax(s, dim=-1), v)
        else:
            o = attn_impl(q, k, v, mask, spec.hd ** -0.5)
        o = o.transpose(1, 2).reshape(B, T, spec.nH * spec.hd)
        h = h + linear(o, i, "o_proj")
        x = rms_norm(h, W["model.layers.%d.post_attention_layernorm.weight" % i], spec.eps)
        h = h + linear(F.silu(linear(x, i, "gate_proj")) * linear(x, i, "up_proj"), i, "down_proj")
        acts["act.model.layers.%d.output" % i] = h
    h = rms_norm(h, W["model.norm.weight"], spec.eps)
    acts["act.model.norm.output"] = h
    head = W["model.embed_tokens.weight"] if spec.tied else W["lm_head.weight"]
    logits = F.linear(h, head)
    if logits.dtype != torch.float64:  # transformers: logits.float(); the float64 self-test stays float64
        logits = logits.float()
    loss = causal_lm_loss(logits, inputs["labels"])
    return {"logits": logits, "loss": loss, "embeds": embeds, "acts": acts}


def causal_lm_loss(logits, labels):
    """transformers' ForCausalLMLoss without num_items_in_batch: shift, ignore -100, mean."""
    V = logits.shape[-1]
    shift_logits = logits[:, :-1, :].reshape(-1, V)
    shift_labels = labels[:, 1:].reshape(-1)
    return F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE, reduction="mean")


# ---------------------------------------------------------------------------------------------
# safetensors


DTYPES = {"F64": ("<f8", 8), "F32": ("<f4", 4), "I64": ("<i8", 8), "I32": ("<i4", 4),
          "BF16": ("<u2", 2), "U8": ("u1", 1)}


def st_entry(t, dtype):
    """(dtype, shape, bytes) for a torch tensor, as little-endian C-order data."""
    shape = list(t.shape)
    if dtype == "BF16":
        assert t.dtype == torch.bfloat16
        data = t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        data = np.ascontiguousarray(t.detach().numpy(), dtype=DTYPES[dtype][0]).tobytes()
    assert len(data) == int(np.prod(shape, dtype=np.int64)) * DTYPES[dtype][1]
    return dtype, shape, data


def write_safetensors(path, entries):
    """entries: name -> (dtype, shape, bytes). Layout as safetensors' serialize does it: wider dtypes
    first, then by name; header compact JSON with __metadata__ first, padded with spaces to 8."""
    order = sorted(entries, key=lambda n: (-DTYPES[entries[n][0]][1], n))
    header = collections.OrderedDict([("__metadata__", {"format": "pt"})])
    off = 0
    for n in order:
        dt, shape, data = entries[n]
        header[n] = collections.OrderedDict([("dtype", dt), ("shape", shape),
                                             ("data_offsets", [off, off + len(data)])])
        off += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for n in order:
            f.write(entries[n][2])


def read_safetensors(path):
    """name -> numpy array (BF16 as float32). Strict: full coverage, no holes."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    buf = raw[8 + n:]
    header.pop("__metadata__", None)
    spans = sorted(tuple(e["data_offsets"]) for e in header.values())
    pos = 0
    for b, e in spans:
        assert b == pos, (path, b, pos)
        pos = e
    assert pos == len(buf), (path, pos, len(buf))
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        a = np.frombuffer(buf[b:end], dtype=DTYPES[e["dtype"]][0])
        if e["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a.reshape(e["shape"])
    return out


# ---------------------------------------------------------------------------------------------
# Generation


def build(name):
    v = VARIANTS[name]
    cfg = full_config(v)
    spec = Spec(cfg)
    rng = np.random.default_rng(v["seed"])
    weights = make_weights(spec, rng)
    lora = make_lora(spec, v, rng)
    inputs = make_inputs(v, spec, rng)
    return v, cfg, spec, weights, lora, inputs


def run_mode(spec, v, weights, lora, inputs, mode, dtype=torch.float32):
    W = base_weights(weights, mode, dtype)
    params = collections.OrderedDict((k, t.to(dtype).clone().requires_grad_(True)) for k, t in lora.items())
    out = forward(spec, W, params, lora_scaling(v), inputs)
    out["loss"].backward()
    out["lora_grads"] = collections.OrderedDict((k, p.grad) for k, p in params.items())
    out["W"] = W
    return out


def eval_loss(spec, v, weights, lora, inputs, mode):
    """What `qlora eval` computes: every row of input_ids on its own from position 0, not packed, each
    token predicting the next; the mean NLL over all of them."""
    W = base_weights(weights, mode, torch.float32)
    nll, count = 0.0, 0
    with torch.no_grad():
        for ids in inputs["input_ids"]:
            T = ids.shape[0]
            row = collections.OrderedDict([
                ("input_ids", ids[None]), ("labels", ids[None].clone()),
                ("position_ids", torch.arange(T)[None]), ("segment_ids", torch.zeros(1, T, dtype=torch.int64))])
            out = forward(spec, W, lora, lora_scaling(v), row)
            nll += float(out["loss"]) * (T - 1)
            count += T - 1
    return torch.tensor(nll / count, dtype=torch.float32)


def adapter_config(v):
    cfg = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": None, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": False, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None,
        "loftq_config": {}, "lora_alpha": v["lora_alpha"], "lora_bias": False, "lora_dropout": 0.0,
        "modules_to_save": None, "peft_type": "LORA", "r": v["lora_r"], "rank_pattern": {},
        "revision": None, "target_modules": list(PROJ), "task_type": "CAUSAL_LM", "use_dora": False,
        "use_rslora": v["use_rslora"],
    }
    return json.dumps(cfg, indent=2, sort_keys=True)  # PEFT writes no final newline


def norm(t):
    return float(t.detach().double().norm())


def generate(outroot):
    summary = []
    for name in VARIANTS:
        v, cfg, spec, weights, lora, inputs = build(name)
        d = os.path.join(outroot, name)
        os.makedirs(os.path.join(d, "adapter"), exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")  # as PretrainedConfig writes it
        write_safetensors(os.path.join(d, "model.safetensors"),
                          {k: st_entry(t, "BF16") for k, t in weights.items()})
        with open(os.path.join(d, "adapter", "adapter_config.json"), "w") as f:
            f.write(adapter_config(v))
        write_safetensors(os.path.join(d, "adapter", "adapter_model.safetensors"),
                          {k: st_entry(t, "F32") for k, t in lora.items()})
        write_safetensors(os.path.join(d, "inputs.safetensors"),
                          {k: st_entry(t, "I32") for k, t in inputs.items()})

        print("== %s: %s, H %d, heads %d/%d, hd %d, layers %d, I %d, V %d, window %d, tied %s, bias %s,"
              " LoRA r %d alpha %g rslora %s -> scaling %.6g" % (
                  name, spec.arch, spec.H, spec.nH, spec.nKV, spec.hd, spec.L, spec.I, spec.V,
                  spec.window, spec.tied, spec.qkv_bias, v["lora_r"], v["lora_alpha"], v["use_rslora"],
                  lora_scaling(v)))
        _, bands = rope_inv_freq(spec)
        if bands:
            print("   llama3 rope bands per frequency index:", ", ".join(
                "%d:%s" % (k, b) for k, b in enumerate(bands)))
            assert {"high(kept)", "medium(smoothed)", "low(/factor)"} <= set(bands)
        counted = int((inputs["labels"][:, 1:] != IGNORE).sum())
        print("   batch %s, counted label tokens %d" % (tuple(inputs["input_ids"].shape), counted))

        for mode in ("full", "nf4"):
            out = run_mode(spec, v, weights, lora, inputs, mode)
            ent = collections.OrderedDict()
            ent["logits"] = st_entry(out["logits"].detach(), "F32")
            ent["loss"] = st_entry(out["loss"].detach(), "F32")
            ent["grad.inputs_embeds"] = st_entry(out["embeds"].grad, "F32")
            for k, g in out["lora_grads"].items():
                ent["grad." + k] = st_entry(g, "F32")
            for k, a in out["acts"].items():
                ent[k] = st_entry(a.detach(), "F32")
            ent["eval_loss"] = st_entry(eval_loss(spec, v, weights, lora, inputs, mode), "F32")
            if mode == "nf4":
                key = "model.layers.0.self_attn.q_proj.weight"
                ent["dequant." + key] = st_entry(out["W"][key], "F32")
                rel = [norm(out["W"][module_path(i, p) + ".weight"] - weights[module_path(i, p) + ".weight"].float())
                       / norm(weights[module_path(i, p) + ".weight"].float()) for i in range(spec.L) for p in PROJ]
            write_safetensors(os.path.join(d, "golden_%s.safetensors" % mode), ent)

            loss = float(out["loss"])
            gl = math.sqrt(sum(norm(g) ** 2 for g in out["lora_grads"].values()))
            ge = norm(out["embeds"].grad)
            assert math.isfinite(loss) and loss > 0
            for k, g in list(out["lora_grads"].items()) + [("inputs_embeds", out["embeds"].grad)]:
                assert torch.isfinite(g).all() and norm(g) > 0, (name, mode, k)
            line = "   %-4s loss %.9g  |grad lora| %.6g  |grad embeds| %.6g  |logits| %.6g" % (
                mode, loss, gl, ge, norm(out["logits"]))
            if mode == "nf4":
                line += "  NF4 rel. weight error %.4f..%.4f" % (min(rel), max(rel))
            print(line)
            summary.append((name, mode, loss))
    return summary


# ---------------------------------------------------------------------------------------------
# Self-test


def naive_attention(spec_window, segs):
    """Loops over (b, h, i, j) with the visibility rule written out; float64."""
    def impl(q, k, v, mask, scale):
        B, nH, T, hd = q.shape
        out = torch.zeros_like(q)
        for b in range(B):
            for h in range(nH):
                for i in range(T):
                    js = [j for j in range(T) if j <= i and segs[b][j] == segs[b][i]
                          and (spec_window == 0 or i - j < spec_window)]
                    s = torch.stack([(q[b, h, i] * k[b, h, j]).sum() * scale for j in js])
                    p = torch.exp(s - s.max())
                    p = p / p.sum()
                    out[b, h, i] = sum(p[n] * v[b, h, j] for n, j in enumerate(js))
        return out
    return impl


def rel(a, b):
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm())


def selftest(quick):
    dt = torch.float64
    for name in VARIANTS:
        v, cfg, spec, weights, lora, inputs = build(name)
        sc = lora_scaling(v)
        W = base_weights(weights, "full", dt)
        L64 = collections.OrderedDict((k, t.to(dt)) for k, t in lora.items())
        ref = forward(spec, W, L64, sc, inputs)
        checks = []

        # 1. the vectorised mask/attention against a loop that spells the rule out
        segs = inputs["segment_ids"].tolist()
        alt = forward(spec, W, L64, sc, inputs, attn_impl=naive_attention(spec.window, segs))
        checks.append(("naive attention loop", rel(alt["logits"], ref["logits"]), 1e-12))

        # 2. packing: each sample run alone (positions from 0, one segment) gives the same logits,
        #    and the per-sample losses combine to the batch loss
        nll_sum, n_sum, worst = 0.0, 0, 0.0
        for b in range(inputs["input_ids"].shape[0]):
            for s in sorted(set(segs[b])):
                cols = [t for t in range(len(segs[b])) if segs[b][t] == s]
                sub = {k: t[b:b + 1, cols] for k, t in inputs.items()}
                sub["segment_ids"] = torch.zeros_like(sub["segment_ids"])
                assert sub["position_ids"].tolist()[0] == list(range(len(cols)))
                o = forward(spec, W, L64, sc, sub)
                worst = max(worst, rel(o["logits"][0], ref["logits"][b, cols]))
                n = int((sub["labels"][:, 1:] != IGNORE).sum())
                nll_sum += float(o["loss"]) * n
                n_sum += n
        checks.append(("packed == separate samples (logits)", worst, 1e-12))
        checks.append(("packed == separate samples (loss)",
                       abs(nll_sum / n_sum - float(ref["loss"])) / float(ref["loss"]), 1e-12))

        # 3. loss written out by hand
        lg = ref["logits"][:, :-1].reshape(-1, spec.V)
        lb = inputs["labels"][:, 1:].reshape(-1)
        keep = lb != IGNORE
        manual = -(torch.log_softmax(lg[keep], -1).gather(1, lb[keep][:, None])).mean()
        checks.append(("loss by hand", abs(float(manual) - float(ref["loss"])), 1e-12))

        # 4. RoPE as complex rotation of the pairs (x_k, x_{k+hd/2})
        x = torch.randn(1, 1, 5, spec.hd, dtype=dt, generator=torch.Generator().manual_seed(0))
        pos = torch.arange(5)[None] * 3
        cos, sin = rope_cos_sin(spec, pos, dt)
        got = x * cos[:, None] + rotate_half(x) * sin[:, None]
        inv, _ = rope_inv_freq(spec, dt)
        zc = torch.complex(x[..., :spec.hd // 2], x[..., spec.hd // 2:]) * torch.polar(
            torch.ones_like(inv)[None, None, None], pos.to(dt)[0][None, None, :, None] * inv)
        checks.append(("rope == complex rotation", rel(got, torch.cat([zc.real, zc.imag], -1)), 1e-13))

        # 5. LoRA merged into the base weight (PEFT merge W' = W + s B A) gives the same model
        Wm = collections.OrderedDict(W)
        for i in range(spec.L):
            for p in PROJ:
                key = module_path(i, p) + ".weight"
                Wm[key] = W[key] + sc * L64[lora_key(i, p, "B")] @ L64[lora_key(i, p, "A")]
        merged = forward(spec, Wm, None, sc, inputs)
        checks.append(("LoRA == merged weights", rel(merged["logits"], ref["logits"]), 1e-12))

        # 6. float32 golden vs float64 recomputation: the precision floor for Go tolerances
        o32 = run_mode(spec, v, weights, lora, inputs, "full")
        o64 = run_mode(spec, v, weights, lora, inputs, "full", dt)
        checks.append(("fp32 vs fp64 logits", rel(o32["logits"], o64["logits"]), 1e-5))
        gw = max(rel(o32["lora_grads"][k], o64["lora_grads"][k]) for k in lora)
        checks.append(("fp32 vs fp64 worst LoRA grad", gw, 1e-4))
        checks.append(("fp32 vs fp64 grad embeds", rel(o32["embeds"].grad, o64["embeds"].grad), 1e-4))

        # 7. autograd against finite differences (float64), LoRA params + inputs_embeds
        for mode in ("full", "nf4") if name == "llama" else ("full",):
            Wg = base_weights(weights, mode, dt)
            keys = list(lora)
            params = [lora[k].to(dt).clone().requires_grad_(True) for k in keys]
            emb = Wg["model.embed_tokens.weight"][inputs["input_ids"]].clone().requires_grad_(True)

            def f(*ts):
                return forward(spec, Wg, dict(zip(keys, ts[:-1])), sc, inputs, embeds=ts[-1])["loss"]
            fast = quick or not (name == "llama" and mode == "full")
            # raises on a mismatch
            torch.autograd.gradcheck(f, tuple(params) + (emb,), eps=1e-6, atol=1e-8, rtol=1e-5,
                                     fast_mode=fast)
            checks.append(("gradcheck %s%s" % (mode, " (fast)" if fast else " (element-wise)"), 0.0, 0.0))

        # 8. the masks are not vacuous: the window / the segments change the logits
        if spec.window:
            spec.window, w = 0, spec.window
            checks.append(("window matters", rel(forward(spec, W, L64, sc, inputs)["logits"], ref["logits"]),
                           -1e-3))
            spec.window = w
        if spec.rope_scaling:
            spec.rope_scaling, rs = None, spec.rope_scaling
            checks.append(("llama3 rope scaling matters", rel(forward(spec, W, L64, sc, inputs)["logits"],
                                                               ref["logits"]), -1e-3))
            spec.rope_scaling = rs
        if any(max(r) > 0 for r in segs):
            flat = dict(inputs, segment_ids=torch.zeros_like(inputs["segment_ids"]))
            checks.append(("segments matter", rel(forward(spec, W, L64, sc, flat)["logits"], ref["logits"]),
                           -1e-3))

        # 9. inv_freq (float32, as transformers) against the formula in float64 Python math
        inv32, _ = rope_inv_freq(spec)
        want = []
        for k in range(spec.hd // 2):
            f0 = 1.0 / spec.theta ** (2 * k / spec.hd)
            rs = spec.rope_scaling
            if rs:
                wl = 2 * math.pi / f0
                old = rs["original_max_position_embeddings"]
                if wl > old / rs["low_freq_factor"]:
                    f0 = f0 / rs["factor"]
                elif wl >= old / rs["high_freq_factor"]:
                    s_ = (old / wl - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
                    f0 = (1 - s_) * f0 / rs["factor"] + s_ * f0
            want.append(f0)
        checks.append(("inv_freq vs float64 formula", max(abs(a / b - 1) for a, b in zip(inv32.tolist(), want)), 1e-6))

        # 10. the NF4 round trip is nf4_reference's own make_case (double quant) bit for bit
        key = "model.layers.0.self_attn.q_proj.weight"
        case = nf4.make_case("q", weights[key].float().numpy(), list(weights[key].shape), NF4_BLOCKSIZE, True)
        ref_deq = np.frombuffer(base64.b64decode(case["dequant"]), dtype="<f4")
        checks.append(("NF4 dequant == nf4_reference.make_case", float(np.sum(
            ref_deq != nf4_roundtrip(weights[key]).numpy().reshape(-1))), 0.0))

        print("== %s" % name)
        for what, err, tol in checks:  # tol < 0: err must be at least -tol
            good = err <= tol if tol >= 0 else err >= -tol
            print("   %-40s %-9.3g (%s %.0e) %s" % (what, err, "<=" if tol >= 0 else ">=", abs(tol),
                                                     "ok" if good else "FAIL"))
            assert good, (name, what, err)
    print("selftest passed")


def check_written(outroot):
    """Read every file back with the strict reader and compare with a fresh computation."""
    for name in VARIANTS:
        v, cfg, spec, weights, lora, inputs = build(name)
        d = os.path.join(outroot, name)
        m = read_safetensors(os.path.join(d, "model.safetensors"))
        assert set(m) == set(weights)
        for k, t in weights.items():
            assert np.array_equal(m[k], t.float().numpy()), k
        a = read_safetensors(os.path.join(d, "adapter", "adapter_model.safetensors"))
        for k, t in lora.items():
            assert np.array_equal(a[k], t.numpy()), k
        x = read_safetensors(os.path.join(d, "inputs.safetensors"))
        for k, t in inputs.items():
            assert np.array_equal(x[k], t.numpy()), k
        for mode in ("full", "nf4"):
            g = read_safetensors(os.path.join(d, "golden_%s.safetensors" % mode))
            assert g["loss"].shape == () and g["logits"].shape == (*inputs["input_ids"].shape, spec.V)
            for k in lora:
                assert g["grad." + k].shape == tuple(lora[k].shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "testdata", "golden"))
    ap.add_argument("--selftest", action="store_true", help="cross-checks and gradcheck, write nothing")
    ap.add_argument("--quick", action="store_true",
                    help="with --selftest: gradcheck in fast mode everywhere (the default checks every "
                         "element of llama/full, about 30 s)")
    args = ap.parse_args()
    nf4.check_thresholds()
    if args.selftest:
        selftest(args.quick)
        return
    summary = generate(args.out)
    check_written(args.out)
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(args.out)):
        for fn in sorted(files):
            if fn.endswith(".safetensors") or fn.endswith(".json"):
                with open(os.path.join(root, fn), "rb") as f:
                    h.update(fn.encode() + f.read())
    print("losses:", ", ".join("%s/%s %.6f" % s for s in summary))
    print("sha256 of all outputs:", h.hexdigest())


if __name__ == "__main__":
    main()
