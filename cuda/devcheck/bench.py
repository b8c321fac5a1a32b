#!/usr/bin/env python3
"""The baseline and the table of cuda/devcheck/run.sh's bench part.

  bench.py peft --shapes llama-1b,llama-3b,llama-8b --seq 2048 --steps 3 --out peft.json
      transformers + PEFT on the same shapes as `qlora-cuda bench`: random-initialised Llama in
      bf16, LoRA r 16 (alpha 32, no dropout) on all seven linear layers, gradient checkpointing,
      one sequence of --seq tokens, AdamW, clipping at 1. It also measures the GPU's bf16 matrix
      rate (an 8192³ matmul), which model FLOPs utilisation is taken against. No bitsandbytes on
      the GPU machine, so the base is bf16, not 4-bit: its memory is not comparable with an NF4
      run's, its speed is the reference to reach.

  bench.py table --qlora DIR --peft peft.json --out bench.md
      the table: tokens/s, step time, peak memory (measured by NVML; for qlora-cuda also what the
      backend counts and what the planner planned), MFU = 6 · parameters · tokens/s / matmul rate.

Only the standard library at import time, so that `python3 -m py_compile` passes anywhere; torch,
transformers, peft and pynvml are imported when `peft` runs.
"""

import argparse
import glob
import json
import os
import sys
import threading
import time

# The shapes of trainer/run/bench.go's BenchShapes (config.json keys), kept in step with them.
SHAPES = {
    "llama-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                     num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True),
    "llama-3b": dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                     num_attention_heads=24, num_key_value_heads=8, tie_word_embeddings=True),
    "llama-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                     num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
}

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class NVMLPeak:
    """Samples the GPU's memory in use every 50 ms (NVML, as nvidia-smi reads it) while active."""

    def __init__(self):
        import pynvml
        self.nvml = pynvml
        pynvml.nvmlInit()
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(int(os.environ.get("NVML_INDEX", "0")))
        self.base = self.used()
        self.peak = self.base
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def used(self):
        return self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used

    def run(self):
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.used())

    def close(self):
        self.stop.set()
        self.thread.join()
        return self.peak - self.base


def matmul_rate(torch):
    """The bf16 matrix rate in FLOP/s: the median of 20 timed 8192³ products on random data."""
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    times.sort()
    return 2 * n**3 / times[len(times) // 2]


def peft_run(shape, seq, steps):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    sampler = NVMLPeak()
    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=max(4096, seq))
    cfg.use_cache = False
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    params = sum(p.numel() for p in model.parameters())
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS,
                                             task_type="CAUSAL_LM"))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    ids = torch.randint(0, cfg.vocab_size, (1, seq), device="cuda")

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    step()  # warm-up
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    secs = (time.perf_counter() - start) / steps
    out = dict(shape=shape, backend="transformers+peft (bf16 base, sdpa)", seq_len=seq, steps=steps,
               parameters=params, trainable=sum(p.numel() for p in trainable), step_s=secs, tokens_per_s=seq / secs,
               loss=float(loss), torch_peak_allocated_bytes=torch.cuda.max_memory_allocated(),
               torch_peak_reserved_bytes=torch.cuda.max_memory_reserved(), nvml_peak_bytes=sampler.close(),
               versions=dict(torch=torch.__version__, transformers=__import__("transformers").__version__,
                             peft=__import__("peft").__version__))
    del model, opt, trainable
    torch.cuda.empty_cache()
    return out


def cmd_peft(args):
    import torch
    result = dict(gpu=torch.cuda.get_device_name(0), matmul_flops=matmul_rate(torch), runs=[])
    print(f"bf16 matmul 8192³ on {result['gpu']}: {result['matmul_flops'] / 1e12:.0f} TFLOP/s", flush=True)
    for shape in args.shapes.split(","):
        try:
            r = peft_run(shape, args.seq, args.steps)
        except Exception as e:  # one shape failing (out of memory, say) must not lose the others
            r = dict(shape=shape, backend="transformers+peft", error=f"{type(e).__name__}: {e}")
        print(json.dumps(r), flush=True)
        result["runs"].append(r)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


def gib(n):
    return "-" if n is None or n < 0 else f"{n / 2**30:.1f}"


def cmd_table(args):
    peft = json.load(open(args.peft)) if os.path.exists(args.peft) else dict(runs=[])
    rate = peft.get("matmul_flops")
    rows = []
    for path in sorted(glob.glob(os.path.join(args.qlora, "bench-*.json"))):
        try:
            r = json.load(open(path))
        except (OSError, ValueError):
            continue
        nvml = r.get("nvml_peak_bytes")
        engine = "qlora-cuda (NF4, fused GEMM)" if r.get("nf4_gemm") == "fused" else "qlora-cuda (NF4 base)"
        rows.append((r["shape"], engine, r, nvml))
    for r in peft["runs"]:
        rows.append((r["shape"], "transformers+peft (bf16 base)", r, r.get("nvml_peak_bytes")))
    lines = [f"GPU: {peft.get('gpu', '?')}; bf16 matmul rate {rate / 1e12:.0f} TFLOP/s" if rate else "GPU: ? (no matmul rate)",
             "",
             "| shape | engine | tokens/s | step s | peak GiB (NVML) | peak GiB (engine) | planned GiB | MFU |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for shape, engine, r, nvml in sorted(rows, key=lambda x: (x[0], x[1])):
        if "error" in r:
            lines.append(f"| {shape} | {engine} | failed: {r['error'][:80]} | | | | | |")
            continue
        mfu = "-"
        if rate and r.get("parameters"):
            mfu = f"{100 * 6 * r['parameters'] * r['tokens_per_s'] / rate:.1f}%"
        engine_peak = r.get("peak_bytes", r.get("torch_peak_reserved_bytes"))
        lines.append(f"| {shape} | {engine} | {r['tokens_per_s']:.0f} | {r['step_s']:.2f} | {gib(nvml)} | "
                     f"{gib(engine_peak)} | {gib(r.get('planned_bytes'))} | {mfu} |")
    lines += ["", "MFU = 6 × parameters × tokens/s ÷ the measured bf16 matmul rate; sequence length, steps and "
              "LoRA (r 16, all seven projections, gradient checkpointing) are the same for both engines."]
    for shape, engine, r, _ in sorted(rows, key=lambda x: x[0]):
        if r.get("kernels"):
            lines += [""] + where_time_goes(r)
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)


# Kernel families of `qlora-cuda bench --profile`, by name prefix.
FAMILIES = [("attention (plain)", "attention"), ("attention (flash)", "flash"), ("GEMM (cuBLAS)", "gemm"),
            ("NF4 dequantize", "nf4_dequantize"), ("NF4 GEMM (fused)", "nf4_gemm"), ("cast fp32→bf16", "cast"),
            ("cross-entropy", "cross_entropy")]


def where_time_goes(r):
    """One profiled step of qlora-cuda: the kernel families, then the ten longest entries."""
    wall = r["profiled_step_s"]
    kernels = r["kernels"]
    device = sum(k["s"] for k in kernels)
    fam = {}
    for k in kernels:
        name = next((f for f, prefix in FAMILIES if k["name"].startswith(prefix)), "other kernels")
        calls, secs = fam.get(name, (0, 0.0))
        fam[name] = (calls + k["calls"], secs + k["s"])
    variant = ", NF4 fused into the GEMM" if r.get("nf4_gemm") == "fused" else ""
    out = [f"Where the time goes, {r['shape']}{variant}: one profiled step, {wall * 1e3:.0f} ms wall, "
           f"{device * 1e3:.0f} ms on the device (CUDA events per launch)", "",
           "| kernels | calls | ms | share of the step |", "|---|---:|---:|---:|"]
    for name, (calls, secs) in sorted(fam.items(), key=lambda x: -x[1][1]):
        out.append(f"| {name} | {calls} | {secs * 1e3:.1f} | {100 * secs / wall:.1f}% |")
    out.append(f"| host (launches, waits) | | {(wall - device) * 1e3:.1f} | {100 * (wall - device) / wall:.1f}% |")
    out += ["", "| longest | calls | ms |", "|---|---:|---:|"]
    out += [f"| {k['name']} | {k['calls']} | {k['s'] * 1e3:.1f} |" for k in kernels[:10]]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("peft")
    a.add_argument("--shapes", default="llama-1b,llama-3b,llama-8b")
    a.add_argument("--seq", type=int, default=2048)
    a.add_argument("--steps", type=int, default=3)
    a.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("--qlora", required=True, help="folder of qlora-cuda's bench-SHAPE.json")
    t.add_argument("--peft", required=True)
    t.add_argument("--out", required=True)
    args = p.parse_args()
    {"peft": cmd_peft, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()
