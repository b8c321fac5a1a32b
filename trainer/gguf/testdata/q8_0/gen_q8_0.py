#!/usr/bin/python3
"""Golden Q8_0 blocks for trainer/gguf's tests, from numpy, written from ggml's reference rounding
(ggml-quants.c quantize_row_q8_0_ref), not from our Go code:

    per block of 32 float32 values: d = amax / 127 (float32), id = 1/d (0 when d == 0),
    q = roundf(x * id) (half away from zero), stored as float16 d (round to nearest even) + 32 int8.

Writes input.f32 (little-endian float32 values) and expected.q8_0 (34-byte blocks) beside this
script. Deterministic: run it again and the files do not change.

    /usr/bin/python3 trainer/gguf/testdata/q8_0/gen_q8_0.py
"""
import hashlib
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def round_half_away(x):
    """C's roundf in float32 arithmetic: floor(|x|) plus one when the fraction is at least a half."""
    a = np.abs(x)
    whole = np.floor(a)
    up = (a - whole >= np.float32(0.5)).astype(np.float32)
    return np.sign(x) * (whole + up)


def quantize(values):
    blocks = values.reshape(-1, 32).astype(np.float32)
    amax = np.max(np.abs(blocks), axis=1, keepdims=True)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = round_half_away((blocks * inv).astype(np.float32)).astype(np.int8)
    out = np.zeros((blocks.shape[0], 34), dtype=np.uint8)
    with np.errstate(over="ignore"):  # a d beyond the float16 range becomes inf, as in C
        out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out


def inputs():
    rng = np.random.default_rng(20240917)
    parts = [
        rng.standard_normal(32 * 24) * 0.02,                    # weights of a trained model
        rng.standard_normal(32 * 8) * 3.0,
        rng.uniform(-1, 1, 32 * 8) * np.float32(1e-6),          # small scales
        np.zeros(32),                                           # d == 0
        np.concatenate([[127.0], np.arange(31) - 15.5]),        # d == 1: exact ties at .5
        np.concatenate([[-127.0], -(np.arange(31) + 0.5)]),     # negative ties
        np.concatenate([[254.0], np.arange(31) * 2 + 1.0]),     # d == 2: ties of x/2
        np.full(32, 1e-30),                                     # d underflows float16 to 0
        np.concatenate([[3e-6], rng.standard_normal(31) * 1e-6]),  # d a float16 subnormal
        np.concatenate([[1e7], rng.standard_normal(31)]),       # d overflows float16 to inf
        np.concatenate([[-65504.0 * 127], rng.standard_normal(31) * 1e5]),  # d at the float16 max
        rng.standard_normal(32 * 8) * 0.02 + 0.01,
    ]
    return np.concatenate(parts).astype(np.float32)


def main():
    x = inputs()
    blocks = quantize(x)
    with open(os.path.join(HERE, "input.f32"), "wb") as f:
        f.write(x.astype("<f4").tobytes())
    with open(os.path.join(HERE, "expected.q8_0"), "wb") as f:
        f.write(blocks.tobytes())
    digest = hashlib.sha256(x.astype("<f4").tobytes() + blocks.tobytes()).hexdigest()
    print(f"{x.size} values, {blocks.shape[0]} blocks, sha256 {digest}")


if __name__ == "__main__":
    main()
