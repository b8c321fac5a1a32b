#!/usr/bin/python3
"""One LoRA training step on the CPU: `qlora train` against PyTorch, side by side.

    /usr/bin/python3 scripts/cpu_vs_torch.py                 # 5 rounds of 10 measured steps each
    /usr/bin/python3 scripts/cpu_vs_torch.py --rounds 3 --steps 20 --gemm

Use exactly /usr/bin/python3 (Debian's python3-torch 1.13, python3-numpy, libopenblas0-pthread);
run from anywhere (it builds the repository's ./cmd/qlora with `go build`).

The shape is the CPU target: Llama, 4 layers, hidden 256, intermediate 688, 8 heads, 4 KV heads,
vocabulary 2048, one sequence of 256 tokens per step, LoRA r 16 (alpha 32, no dropout) on all seven
projections, the base in NF4 (blocksize 64, double quantization), AdamW, gradient clipping at 1,
no gradient checkpointing.

Ours: a real `qlora train` run on a model written by scripts/tinymodel (BF16 safetensors) and a
pre-tokenized JSONL dataset of 256-token rows; the step time is read from each step event
(tokens_per_s is the step's rows over its wall time: forward, backward, clipping, AdamW), after
--warmup steps. Both cores: GOMAXPROCS defaults to them.

PyTorch: a from-scratch Llama with PEFT-style LoRA over the same weights (read from the same
safetensors) and the same token rows, torch.set_num_threads(2), torch.optim.AdamW and
clip_grad_norm_. Two bases:
  * nf4  - the projections held as packed NF4 codes with double-quantized scales, dequantized on the
           fly in the forward pass and again in the backward pass (a custom autograd function doing
           what bitsandbytes' MatMul4Bit does on a CPU); the like-for-like comparison;
  * fp32 - the projections as dense float32 tensors: the fastest PyTorch can do, with no NF4 at all.
The NF4 codes here come from a nearest-value quantizer (not bitsandbytes' exact tie rules): the
values do not matter for speed.

Debian's PyTorch runs its own OpenMP threads and OpenBLAS its own pthreads, and both spin while
they wait, so with two cores the defaults oversubscribe them. PyTorch is therefore timed three
ways, each in a process of its own: as it comes ("default"), with OMP_WAIT_POLICY=PASSIVE, and with
OPENBLAS_NUM_THREADS=1; the ratio is taken against the fastest of them.

Rounds alternate the programs so that all see the same machine; the script prints each round's
medians, the overall median and minimum per step, and the ratios ours/torch.
--gemm also times the large matrix products of the step in both (Go: BenchmarkGemm).
"""

import argparse
import ctypes
import json
import math
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

SHAPE = dict(vocab=2048, hidden=256, intermediate=688, layers=4, heads=8, kv_heads=4)
SEQ, R, ALPHA, LR = 256, 16, 32, 2e-4
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
       -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
       0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
       0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------
# The model folder and the data, shared by both sides


def prepare(root, work):
    qlora = os.path.join(work, "qlora")
    subprocess.run(["go", "build", "-o", qlora, "./cmd/qlora"], cwd=root, check=True)
    model = os.path.join(work, "model")
    subprocess.run(["go", "run", "./scripts/tinymodel", "-out", model,
                    "-vocab", str(SHAPE["vocab"]), "-hidden", str(SHAPE["hidden"]),
                    "-intermediate", str(SHAPE["intermediate"]), "-layers", str(SHAPE["layers"]),
                    "-heads", str(SHAPE["heads"]), "-kv-heads", str(SHAPE["kv_heads"])],
                   cwd=root, check=True)
    # qlora train wants a tokenizer beside the model; ids stay below its vocabulary of 320 (the
    # model's is 2048: the logits and the loss cover all of it either way).
    shutil.copy(os.path.join(root, "testdata/tokenizer/tiny-sentencepiece/tokenizer.json"), model)
    rng = np.random.default_rng(1)
    rows = rng.integers(3, 320, size=(256, SEQ)).tolist()
    data = os.path.join(work, "data.jsonl")
    with open(data, "w") as f:
        for r in rows:
            f.write(json.dumps({"input_ids": r}) + "\n")
    return qlora, model, data, rows


# ---------------------------------------------------------------------------------------------
# Ours


def run_qlora(qlora, model, data, work, steps, warmup, tag):
    out = os.path.join(work, "run-" + tag)
    shutil.rmtree(out, ignore_errors=True)
    sets = {"max_steps": steps + warmup, "max_seq_length": SEQ, "micro_batch_size": 1,
            "gradient_accumulation_steps": 1, "lora_r": R, "lora_alpha": ALPHA, "lora_dropout": 0,
            "gradient_checkpointing": "false", "packing": "false", "shuffle": "false",
            "eval_steps": 0, "save_steps": 0, "val_set_size": 0, "max_grad_norm": 1,
            "optim": "adamw_32bit", "learning_rate": LR}
    cmd = [qlora, "train", "--backend", "cpu", "--model", model, "--data", data, "--out", out,
           "--events", "-"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"qlora train failed:\n{p.stderr}")
    times = []
    for line in p.stdout.splitlines():
        ev = json.loads(line)
        if ev.get("type") == "step" and ev["step"] > warmup:
            times.append(SEQ / ev["tokens_per_s"])  # rows / (rows per second) = the step's seconds
    shutil.rmtree(out, ignore_errors=True)
    return times


# ---------------------------------------------------------------------------------------------
# PyTorch


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        assert info["dtype"] == "BF16", info["dtype"]
        u16 = np.frombuffer(blob[a:b], dtype=np.uint16).astype(np.uint32) << 16
        out[name] = torch.from_numpy(u16.view(np.float32).reshape(info["shape"]).copy())
    return out


class NF4Weight:
    """A (out, in) weight as bitsandbytes stores it: packed 4-bit codes, blocks of 64, the block
    scales 8-bit quantized in blocks of 256 with a float32 scale each and a mean offset."""

    def __init__(self, w):
        self.shape = tuple(w.shape)
        flat = w.reshape(-1, 64)
        absmax = flat.abs().max(dim=1).values
        table = torch.tensor(NF4)
        codes = (flat / absmax[:, None]).unsqueeze(-1).sub(table).abs().argmin(-1).to(torch.uint8).reshape(-1)
        self.packed = (codes[0::2] << 4) | codes[1::2]
        self.table = table
        self.offset = absmax.mean()
        centred = (absmax - self.offset).reshape(-1)
        pad = (-centred.numel()) % 256
        blocks = F.pad(centred, (0, pad)).reshape(-1, 256)
        self.nested = blocks.abs().max(dim=1).values.clamp_min(1e-12)
        self.code8 = torch.linspace(-1, 1, 256)
        q = ((blocks / self.nested[:, None] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        self.qabsmax = q.reshape(-1)[: centred.numel()]

    def dequantize(self):
        nblocks = self.qabsmax.numel()
        absmax = self.code8[self.qabsmax.long()] * self.nested.repeat_interleave(256)[:nblocks] + self.offset
        codes = torch.stack([self.packed >> 4, self.packed & 15], dim=1).reshape(-1).long()
        return (self.table[codes].reshape(nblocks, 64) * absmax[:, None]).reshape(self.shape)


class MatMulNF4(torch.autograd.Function):
    """y = x·Wᵀ with W dequantized in the forward pass and again in the backward one, as
    bitsandbytes' MatMul4Bit does; W is frozen."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.w = w
        return x @ w.dequantize().t()

    @staticmethod
    def backward(ctx, dy):
        return dy @ ctx.w.dequantize(), None


class Linear(torch.nn.Module):
    def __init__(self, w, base):
        super().__init__()
        out_f, in_f = w.shape
        self.base = base
        self.w = NF4Weight(w) if base == "nf4" else w.contiguous()
        self.lora_A = torch.nn.Parameter(torch.empty(R, in_f))
        torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's init
        self.lora_B = torch.nn.Parameter(torch.zeros(out_f, R))
        self.scaling = ALPHA / R

    def forward(self, x):
        y = MatMulNF4.apply(x, self.w) if self.base == "nf4" else x @ self.w.t()
        return y + (x @ self.lora_A.t()) @ self.lora_B.t() * self.scaling


class Llama(torch.nn.Module):
    def __init__(self, weights, cfg, base):
        super().__init__()
        self.embed = weights["model.embed_tokens.weight"]
        self.lm_head = weights["lm_head.weight"]
        self.norm = weights["model.norm.weight"]
        self.eps = cfg["rms_norm_eps"]
        self.nh, self.nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = cfg["hidden_size"] // self.nh
        self.layers = torch.nn.ModuleList()
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            layer = torch.nn.Module()
            for name in PROJ:
                part = "self_attn." if name in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp."
                setattr(layer, name, Linear(weights[p + part + name + ".weight"], base))
            layer.n1 = weights[p + "input_layernorm.weight"]
            layer.n2 = weights[p + "post_attention_layernorm.weight"]
            self.layers.append(layer)
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, self.hd, 2).float() / self.hd))
        f = torch.outer(torch.arange(SEQ).float(), inv)
        emb = torch.cat([f, f], -1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.mask = torch.full((SEQ, SEQ), float("-inf")).triu(1)

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x):
        half = self.hd // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * self.cos + rot * self.sin

    def forward(self, ids):
        t = ids.numel()
        x = self.embed[ids]
        for l in self.layers:
            h = self.rms(x, l.n1)
            q = self.rope(l.q_proj(h).view(t, self.nh, self.hd).transpose(0, 1))
            k = self.rope(l.k_proj(h).view(t, self.nkv, self.hd).transpose(0, 1))
            v = l.v_proj(h).view(t, self.nkv, self.hd).transpose(0, 1)
            g = self.nh // self.nkv
            k, v = k.repeat_interleave(g, 0), v.repeat_interleave(g, 0)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.hd) + self.mask, -1) @ v
            x = x + l.o_proj(att.transpose(0, 1).reshape(t, -1))
            h = self.rms(x, l.n2)
            x = x + l.down_proj(F.silu(l.gate_proj(h)) * l.up_proj(h))
        return self.rms(x, self.norm) @ self.lm_head.t()


def run_torch(model, opt, rows, steps, warmup):
    params = [p for p in model.parameters() if p.requires_grad]
    times = []
    for i in range(steps + warmup):
        ids = torch.tensor(rows[i % len(rows)])
        t0 = time.perf_counter()
        logits = model(ids)
        loss = F.cross_entropy(logits[:-1], ids[1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------------------------------------
# Reporting


def blas_info():
    lines = [l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l or "CPU capability" in l]
    out = [l if len(l) < 200 else "  ".join(p for p in l.split(", ") if "BLAS" in p or "LAPACK_INFO" in p) for l in lines]
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_corename.restype = ctypes.c_char_p
        ob.openblas_get_config.restype = ctypes.c_char_p
        out.append("OpenBLAS: %s, core %s, %d threads" % (ob.openblas_get_config().decode(),
                                                          ob.openblas_get_corename().decode(),
                                                          ob.openblas_get_num_threads()))
    except OSError as e:
        out.append(f"OpenBLAS: not loadable ({e})")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOMAXPROCS"):
        if var in os.environ:
            out.append(f"{var}={os.environ[var]}")
    return out


def gemm_section(root, reps=200):
    """The step's big products, as BenchmarkGemm times them (c = a·bᵀ), in both."""
    shapes = [(256, 256, 256), (256, 688, 256), (256, 2048, 256)]
    print("\nlarge matrix products, c (M,N) = a (M,K) · bᵀ with b (N,K), float32, GFLOP/s:")
    p = subprocess.run(["go", "test", "-run", "^$", "-bench", "BenchmarkGemm/float32", "-benchtime", "2s",
                        "./trainer/backend/cpu/"], cwd=root, capture_output=True, text=True, check=True)
    go = {}
    for line in p.stdout.splitlines():
        if line.startswith("BenchmarkGemm/float32/"):
            name = line.split()[0].split("/")[2].rsplit("-", 1)[0]
            go[name] = float(line.split()[-2])
    for m, n, k in shapes:
        a, b = torch.randn(m, k), torch.randn(n, k)
        c = a @ b.t()
        best = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b.t(), out=c)
            best.append((time.perf_counter() - t0) / reps)
        tg = 2 * m * n * k / min(best) / 1e9
        name = f"{m}x{n}x{k}"
        print(f"  {name:>14}: ours {go.get(name, float('nan')):7.1f}   torch/OpenBLAS {tg:7.1f}")


TORCH_ENVS = [("default", {}), ("passive", {"OMP_WAIT_POLICY": "PASSIVE"}),
              ("blas1", {"OPENBLAS_NUM_THREADS": "1"})]


def torch_worker(args):
    """--worker: time the PyTorch steps in this process and print them as JSON."""
    torch.set_num_threads(2)
    cfg = json.load(open(os.path.join(args.work, "model", "config.json")))
    weights = read_safetensors(os.path.join(args.work, "model", "model.safetensors"))
    rows = [json.loads(l)["input_ids"] for l in open(os.path.join(args.work, "data.jsonl"))]
    torch.manual_seed(0)
    out = {}
    for base in ("nf4", "fp32"):
        m = Llama(weights, cfg, base)
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=LR,
                                betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        out[base] = run_torch(m, opt, rows, args.steps, args.warmup)
    print(json.dumps(out))


def run_torch_process(args, env):
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--work", args.work,
                        "--steps", str(args.steps), "--warmup", str(args.warmup)],
                       env=e, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"torch worker failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="measured steps per round and program")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--gemm", action="store_true", help="also time the large matrix products")
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return torch_worker(args)

    torch.set_num_threads(2)
    root = repo_root()
    keep = args.work is not None
    args.work = args.work or tempfile.mkdtemp(prefix="cpu_vs_torch-")
    os.makedirs(args.work, exist_ok=True)
    qlora, model_dir, data, rows = prepare(root, args.work)

    print("machine: %d cores; %s" % (os.cpu_count(), open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")))
    print("torch %s, torch.set_num_threads(2)" % torch.__version__)
    for l in blas_info():
        print("  " + l)
    cols = ["ours"] + [f"{base}/{name}" for name, _ in TORCH_ENVS for base in ("nf4", "fp32")]
    print(f"ms per step (median of {args.steps} steps after {args.warmup} warm-up), torch as nf4|fp32 base / environment:")
    print("  round " + "".join(f"{c:>14}" for c in cols))
    all_t = {c: [] for c in cols}
    for r in range(args.rounds):
        res = {"ours": run_qlora(qlora, model_dir, data, args.work, args.steps, args.warmup, str(r))}
        for name, env in TORCH_ENVS:
            for base, t in run_torch_process(args, env).items():
                res[f"{base}/{name}"] = t
        for c in cols:
            all_t[c] += res[c]
        print(f"  {r + 1:5d} " + "".join(f"{statistics.median(res[c]) * 1e3:14.1f}" for c in cols))
    med = {c: statistics.median(v) * 1e3 for c, v in all_t.items()}
    low = {c: min(v) * 1e3 for c, v in all_t.items()}
    print("  all   " + "".join(f"{med[c]:14.1f}" for c in cols))
    print("  min   " + "".join(f"{low[c]:14.1f}" for c in cols))
    for base in ("nf4", "fp32"):
        best = min((c for c in cols if c.startswith(base + "/")), key=lambda c: med[c])
        dflt = f"{base}/default"
        print(f"ratio ours/torch per step, {base} base: {med['ours'] / med[best]:.2f} against the fastest "
              f"({best}, median {med[best]:.1f} ms), {med['ours'] / med[dflt]:.2f} against the default "
              f"(median {med[dflt]:.1f} ms); ours {med['ours']:.1f} ms (below 1: ours is faster)")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"load average at the end: {' '.join(load)} (other processes on these cores slow every side)")
    if args.gemm:
        gemm_section(root)
    if not keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
