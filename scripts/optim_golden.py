#!/usr/bin/python3
"""Goldens for trainer/optim, from implementations that share no code with it.

    /usr/bin/python3 scripts/optim_golden.py      # Debian: python3-torch python3-numpy

writes two files under trainer/optim/testdata/:

adamw_golden.json
    schedules:  torch LambdaLR driven by transformers' lr lambdas (optimization.py, written out
                below: transformers is not needed), the learning rate of every update 0..total+2
                for several (type, base, warmup, total);
    warmup:     TrainingArguments.get_warmup_steps for a few (total, steps, ratio);
    clip:       torch.nn.utils.clip_grad_norm_ (float64) of three gradients for several max_norm;
    adamw:      torch.optim.AdamW (the installed torch, foreach off) for 10 steps over three
                tensors in two param groups (weight decay 0.01 and 0), the learning rate from a
                warmup-cosine LambdaLR, fixed gradients per step; run in float32 and in float64,
                the parameters after every step.

adamw8bit_golden.json
    bitsandbytes' block-wise 8-bit AdamW (AdamW8bit: csrc/kernels.cu
    kOptimizerStatic8bit2StateBlockwise and, for tensors under min_8bit_size, kOptimizer32bit2State)
    written here in numpy from the kernels' algorithm, in float32, with exact division, sqrt and
    pow where the GPU uses __fdividef and __powf. Two tensors, 5000 elements (8-bit states) and
    100 (32-bit states), 10 steps; after every step the parameters, and for the 8-bit tensor the
    state codes and absmax (a state is qmap[code] * absmax[i // 256]). The maps come from
    create_dynamic_map as bitsandbytes writes it, with torch.linspace. Arrays are base64 of
    little-endian float32 or uint8. The gradients are not stored: grad8(step, i) below, which
    the Go test repeats, makes them.
"""
import base64
import json
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "trainer", "optim", "testdata")
f32 = np.float32


# ---- transformers' schedules (optimization.py) ----

def constant_lambda(step, *, num_warmup_steps):
    if step < num_warmup_steps:
        return float(step) / float(max(1.0, num_warmup_steps))
    return 1.0


def linear_lambda(step, *, num_warmup_steps, num_training_steps):
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def cosine_lambda(step, *, num_warmup_steps, num_training_steps, num_cycles=0.5):
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))


def lr_lambda(typ, warmup, total):
    if typ == "constant":
        return lambda s: constant_lambda(s, num_warmup_steps=warmup)
    if typ == "linear":
        return lambda s: linear_lambda(s, num_warmup_steps=warmup, num_training_steps=total)
    return lambda s: cosine_lambda(s, num_warmup_steps=warmup, num_training_steps=total)


def schedule_lrs(typ, base, warmup, total, steps):
    """The lr of updates 0..steps-1 as the Trainer sees them: LambdaLR steps after each update."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(typ, warmup, total))
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def clip_golden():
    """torch.nn.utils.clip_grad_norm_ in float64 over three gradients, for several max_norm."""
    rng = np.random.default_rng(77)
    grads = [rng.standard_normal(n) for n in (3, 50, 200)]
    out = {"grads": [g.tolist() for g in grads], "cases": []}
    for max_norm in [0.5, 1.0, 10.0, 100.0]:
        ps = [torch.zeros(len(g), dtype=torch.float64, requires_grad=True) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = torch.tensor(g, dtype=torch.float64)
        norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        out["cases"].append({"max_norm": max_norm, "norm": norm.item(),
                             "clipped": [p.grad.tolist() for p in ps]})
    return out


def get_warmup_steps(total, warmup_steps, warmup_ratio):
    return warmup_steps if warmup_steps > 0 else math.ceil(total * warmup_ratio)


# ---- torch.optim.AdamW ----

def adamw_golden():
    rng = np.random.default_rng(20240607)
    sizes = {"a": 5, "b": 17, "c": 40}
    init = {k: rng.standard_normal(n).astype(f32) for k, n in sizes.items()}
    grads = [{k: (rng.standard_normal(n) * 0.1).astype(f32) for k, n in sizes.items()} for _ in range(10)]
    base, warmup, total = 0.05, 3, 10
    out = {"lr": base, "warmup": warmup, "total": total, "betas": [0.9, 0.999], "eps": 1e-8,
           "weight_decay": {"a": 0.01, "b": 0.0, "c": 0.0},
           "init": {k: v.tolist() for k, v in init.items()},
           "grads": [{k: v.tolist() for k, v in g.items()} for g in grads]}
    for dtype, name in [(torch.float32, "float32"), (torch.float64, "float64")]:
        ps = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in init.items()}
        opt = torch.optim.AdamW([{"params": [ps["a"]], "weight_decay": 0.01},
                                 {"params": [ps["b"], ps["c"]], "weight_decay": 0.0}],
                                lr=base, betas=(0.9, 0.999), eps=1e-8, foreach=False)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("cosine", warmup, total))
        steps, lrs = [], []
        for g in grads:
            for k, p in ps.items():
                p.grad = torch.tensor(g[k], dtype=dtype)
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
            steps.append({k: p.detach().tolist() for k, p in ps.items()})
        out[name] = steps
        out["step_lrs"] = lrs
    return out


# ---- bitsandbytes' 8-bit AdamW, in numpy ----

def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    """bitsandbytes/functional.py create_dynamic_map, as written there."""
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    assert additional_items == 0
    data.append(0)
    data.append(1.0)
    assert len(data) == 2 ** total_bits
    data.sort()
    return torch.tensor(data).numpy()


def quantize_2d(code, x, signed):
    """kernels.cu quantize_2D, vectorized: binary search from 127, then midpoint rounding."""
    pivot = np.full(x.shape, 127)
    upper_pivot = np.full(x.shape, 255)
    lower_pivot = np.zeros(x.shape, dtype=int)
    lower = np.full(x.shape, -1.0 if signed else 0.0, dtype=f32)
    upper = np.full(x.shape, 1.0, dtype=f32)
    val = code[pivot]
    i = 64
    while i > 0:
        up = x > val
        lower_pivot = np.where(up, pivot, lower_pivot)
        lower = np.where(up, val, lower)
        upper_pivot = np.where(up, upper_pivot, pivot)
        upper = np.where(up, upper, val)
        pivot = np.where(up, pivot + i, pivot - i)
        val = code[pivot]
        i >>= 1
    above = x > val
    mid_up = (upper + val) * f32(0.5)
    mid_lo = (lower + val) * f32(0.5)
    return np.where(above, np.where(x > mid_up, upper_pivot, pivot),
                    np.where(x < mid_lo, lower_pivot, pivot))


def scalars(lr, beta1, beta2, eps, wd, step):
    """The kernels' float arguments and corrections (powf and sqrtf correctly rounded)."""
    lr, beta1, beta2, eps, wd = f32(lr), f32(beta1), f32(beta2), f32(eps), f32(wd)
    correction1 = f32(1) - f32(np.float64(beta1) ** step)
    correction2 = f32(np.sqrt(np.float64(f32(1) - f32(np.float64(beta2) ** step))))
    step_size = (-lr * correction2) / correction1
    return lr, beta1, beta2, eps, wd, correction2, step_size


def bnb_8bit_step(p, g, c1, c2, a1, a2, q1, q2, hp, step):
    """One kOptimizerStatic8bit2StateBlockwise launch: block b of 256 is thread block b."""
    lr, beta1, beta2, eps, wd, correction2, step_size = scalars(*hp, step)
    n = p.size
    blocks = (n + 255) // 256
    pad = blocks * 256 - n
    # cub BlockLoad with valid_items fills the rest of the last block: g 0, state1 128, state2 0.
    gb = np.concatenate([g, np.zeros(pad, f32)]).reshape(blocks, 256)
    c1b = np.concatenate([c1, np.full(pad, 128, np.uint8)]).reshape(blocks, 256)
    c2b = np.concatenate([c2, np.zeros(pad, np.uint8)]).reshape(blocks, 256)
    pb = np.concatenate([p, np.zeros(pad, f32)]).reshape(blocks, 256)
    finite = np.isfinite(gb)
    gz = np.where(finite, gb, f32(0))
    s2 = q2[c2b] * a2[:, None]
    s2 = (s2 * beta2) + (((f32(1) - beta2) * gz) * gz)
    s1 = q1[c1b] * a1[:, None]
    s1 = (s1 * beta1) + ((f32(1) - beta1) * gz)
    s1 = np.where(finite, s1, f32(0))
    s2 = np.where(finite, s2, f32(0))
    lowest = np.full(blocks, -np.finfo(f32).max, dtype=f32)
    new_a1 = np.fmax(lowest, np.fmax.reduce(np.abs(s1), axis=1))
    new_a2 = np.fmax(lowest, np.fmax.reduce(np.abs(s2), axis=1))
    upd = pb + (step_size * (s1 / (np.sqrt(s2) + (correction2 * eps))))
    if wd > 0:
        upd = upd * (f32(1) - (lr * wd))
    pb = np.where(finite, upd, pb)
    with np.errstate(invalid="ignore", divide="ignore"):
        x1 = s1 / new_a1[:, None]
        x2 = s2 / new_a2[:, None]
    n1 = quantize_2d(q1, x1, True)
    n2 = quantize_2d(q2, x2, False)
    flip = np.signbit(q1[n1]) != np.signbit(s1)  # keep state1's sign
    n1 = np.where(flip, np.where(s1 > 0, n1 + 1, n1 - 1), n1) % 256
    return (pb.reshape(-1)[:n].astype(f32), n1.reshape(-1)[:n].astype(np.uint8),
            n2.reshape(-1)[:n].astype(np.uint8), new_a1.astype(f32), new_a2.astype(f32))


def bnb_32bit_step(p, g, s1, s2, hp, step):
    """kOptimizer32bit2State, case ADAM (skip_zeros off): weight decay after the step."""
    lr, beta1, beta2, eps, wd, correction2, step_size = scalars(*hp, step)
    s1 = s1 * beta1 + ((f32(1) - beta1) * g)
    s2 = s2 * beta2 + ((f32(1) - beta2) * (g * g))
    p = p + (step_size * (s1 / (np.sqrt(s2) + (eps * correction2))))
    if wd > 0:
        p = p * (f32(1) - (lr * wd))
    return p.astype(f32), s1, s2


def hash32(i, step):
    """A 32-bit integer hash of (i, step); the Go test has the same."""
    x = (i * 0x9E3779B1 + step * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    x = (x * 0x297A2D39) & 0xFFFFFFFF
    x ^= x >> 15
    return x


def uniform8(i, step):
    """A float32 in [-1, 1) with 24 random bits, exact in float32 and float64."""
    return ((hash32(i, step) >> 8) - (1 << 23)) / float(1 << 23)


def grad8(step, i):
    """Gradient of element i (of the arena: 5000 then 100) at step (from 1): uniform, scaled by
    2^-(block % 6); block 7 of the big tensor zero in steps 1-3 (an all-zero block); a NaN, a +Inf
    and a -Inf at three (step, element) places."""
    special = {(3, 17): math.nan, (5, 4000): math.inf, (6, 4999): -math.inf, (6, 5003): 0.0}
    if (step, i) in special:
        return special[(step, i)]
    if i < 5000 and i // 256 == 7 and step <= 3:
        return 0.0
    return uniform8(i, step) * 2.0 ** -((i // 256) % 6)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).astype("<" + a.dtype.str[1:]).tobytes()).decode()


def adamw8bit_golden():
    n8, n32, steps = 5000, 100, 10
    q1, q2 = create_dynamic_map(True), create_dynamic_map(False)
    base, warmup, total = 2e-3, 2, 10
    betas, eps, wd = (0.9, 0.999), 1e-8, 0.01
    p = np.array([uniform8(i, 0) for i in range(n8 + n32)], dtype=f32)
    pb, ps = p[:n8].copy(), p[n8:].copy()
    c1, c2 = np.zeros(n8, np.uint8), np.zeros(n8, np.uint8)
    blocks = (n8 + 255) // 256
    a1, a2 = np.zeros(blocks, f32), np.zeros(blocks, f32)
    s1, s2 = np.zeros(n32, f32), np.zeros(n32, f32)
    lrs = schedule_lrs("linear", base, warmup, total, steps)
    out = {"sizes": [n8, n32], "lr": base, "warmup": warmup, "total": total, "betas": list(betas),
           "eps": eps, "weight_decay": wd, "step_lrs": lrs,
           "qmap1": b64(q1.astype(f32)), "qmap2": b64(q2.astype(f32)), "init": b64(p), "steps": []}
    for step in range(1, steps + 1):
        g = np.array([grad8(step, i) for i in range(n8 + n32)], dtype=f32)
        hp = (lrs[step - 1], betas[0], betas[1], eps, wd)
        pb, c1, c2, a1, a2 = bnb_8bit_step(pb, g[:n8], c1, c2, a1, a2, q1, q2, hp, step)
        ps, s1, s2 = bnb_32bit_step(ps, g[n8:], s1, s2, hp, step)
        out["steps"].append({"params": b64(np.concatenate([pb, ps])), "code1": b64(c1), "code2": b64(c2),
                             "absmax1": b64(a1), "absmax2": b64(a2)})
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [("constant", 1e-3, 0, 10), ("constant", 2e-4, 3, 10), ("linear", 1e-3, 0, 10),
             ("linear", 1e-3, 3, 10), ("linear", 3e-4, 10, 10), ("linear", 1e-3, 12, 10),
             ("linear", 5e-5, 0, 1), ("linear", 5e-5, 0, 0), ("cosine", 1e-3, 0, 10),
             ("cosine", 2e-4, 3, 10), ("cosine", 2e-4, 6, 187), ("cosine", 1e-3, 1, 1),
             ("cosine", 1e-3, 0, 1), ("cosine", 1e-4, 10, 10)]
    golden = {
        "schedules": [{"type": t, "base": b, "warmup": w, "total": n, "lrs": schedule_lrs(t, b, w, n, n + 3)}
                      for t, b, w, n in cases],
        "warmup": [{"total": n, "steps": s, "ratio": r, "want": get_warmup_steps(n, s, r)}
                   for n, s, r in [(1000, 0, 0.03), (333, 0, 0.03), (100, 0, 0.07), (10, 5, 0.5),
                                   (1875, 0, 0.03), (7, 0, 0.0), (0, 0, 0.1), (3, 2, 0.0), (29, 0, 0.1)]],
        "clip": clip_golden(),
        "adamw": adamw_golden(),
    }
    with open(os.path.join(OUT, "adamw_golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT, "adamw8bit_golden.json"), "w") as f:
        json.dump(adamw8bit_golden(), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
