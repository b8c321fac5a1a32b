#!/usr/bin/python3
"""Independent reference for trainer/nf4: NF4 + double quantization the way
bitsandbytes computes it, written with numpy only, producing the golden files
under testdata/nf4/ that the Go tests compare against.

    /usr/bin/python3 scripts/nf4_reference.py [outdir]     # default testdata/nf4

What it follows (bitsandbytes csrc/kernels.cu and functional.py):
  * NF4 table: the 16 float32 constants of get_4bit_type("nf4").
  * kQuantizeBlockwise: per block absmax (float32), r = 1/absmax in float32,
    each value times r in float32, then dQuantizeNF4's decision tree (strict >
    on float32 thresholds). An all-zero block gives 0*inf = NaN -> code 0.
  * Packing: first element in the high nibble. For an odd count the last low
    nibble is 0 (bitsandbytes' CUDA kernel would store the code of a padding
    0.0 there; no reader looks at it).
  * Double quantization: offset = mean(absmax) (here: float64 sum in index
    order, one rounding to float32 -- the Go code does the same; bitsandbytes
    uses torch's float32 mean), then quantize_blockwise(absmax - offset,
    blocksize=256) with create_dynamic_map(signed=True) and dQuantize<0>'s
    binary search with midpoint rounding.
  * create_dynamic_map: built as bitsandbytes builds it, with torch.linspace's
    float32 arithmetic (x86-64 torch fuses start + step*idx into one FMA).

The Go tests never run this script; they read its committed output. All
float arrays are stored as base64 of little-endian float32, byte arrays as
base64, so every bit is kept (NaN included).
"""

import base64
import json
import os
import sys
from fractions import Fraction

import numpy as np

F32 = np.float32

# The 16 NF4 constants (bitsandbytes get_4bit_type("nf4")), index = code.
NF4_LITERALS = [
    "-1.0", "-0.6961928009986877", "-0.5250730514526367", "-0.39491748809814453",
    "-0.28444138169288635", "-0.18477343022823334", "-0.09105003625154495", "0.0",
    "0.07958029955625534", "0.16093020141124725", "0.24611230194568634", "0.33791524171829224",
    "0.44070982933044434", "0.5626170039176941", "0.7229568362236023", "1.0",
]


def f32_from_decimal(text):
    """Round a decimal literal directly to the nearest float32 (ties to even),
    as a C compiler does for 0.123f. np.float32(float(text)) rounds twice and
    differs for four of dQuantizeNF4's thresholds (see check_thresholds)."""
    exact = Fraction(text)
    guess = F32(float(exact))
    best = guess
    for cand in (np.nextafter(guess, F32(-np.inf)), np.nextafter(guess, F32(np.inf))):
        d_best = abs(Fraction(float(best)) - exact)
        d_cand = abs(Fraction(float(cand)) - exact)
        if d_cand < d_best or (d_cand == d_best and int(cand.view(np.uint32)) % 2 == 0):
            best = cand
    return F32(best)


NF4 = np.array([f32_from_decimal(s) for s in NF4_LITERALS], dtype=F32)

# dQuantizeNF4's thresholds, as the float literals of kernels.cu.
THRESHOLD_LITERALS = {}


def threshold(text):
    THRESHOLD_LITERALS[text] = f32_from_decimal(text)
    return THRESHOLD_LITERALS[text]


T_P0 = threshold("0.03979014977812767")
T_P1 = threshold("0.3893125355243683")
T_P11 = threshold("0.6427869200706482")
T_P111 = threshold("0.8614784181118011")
T_P110 = threshold("0.5016634166240692")
T_P10 = threshold("0.2035212516784668")
T_P101 = threshold("0.2920137718319893")
T_P100 = threshold("0.1202552504837513")
T_N0 = threshold("-0.33967943489551544")
T_N01 = threshold("-0.13791173323988914")
T_N011 = threshold("-0.045525018125772476")
T_N010 = threshold("-0.23460740596055984")
T_N00 = threshold("-0.6106329262256622")
T_N001 = threshold("-0.4599952697753906")
T_N000 = threshold("-0.8480964004993439")

# In code order: threshold k lies between code k and code k+1.
THRESHOLDS = np.array([T_N000, T_N00, T_N001, T_N0, T_N010, T_N01, T_N011, T_P0,
                       T_P100, T_P10, T_P101, T_P1, T_P110, T_P11, T_P111], dtype=F32)


def check_thresholds():
    """The tree's literals print the float64 midpoints of neighbouring codes.
    Four of those midpoints (thresholds 0, 8, 12, 14) lie exactly halfway
    between two float32 values, so the float32 a compiler reads from the
    shortest decimal (what the CUDA tree compares with) can differ from
    np.float32(midpoint) rounded twice. The tree uses the literals."""
    twice_rounded = []
    for k in range(15):
        mid = (float(NF4[k]) + float(NF4[k + 1])) / 2
        text = [t for t, v in THRESHOLD_LITERALS.items() if v == THRESHOLDS[k]][0]
        assert float(text) == mid, (k, text, mid)
        if F32(mid) != THRESHOLDS[k]:
            twice_rounded.append(k)
    assert twice_rounded == [0, 8, 12, 14], twice_rounded
    bits = [int(THRESHOLDS[k].view(np.uint32)) for k in (0, 8, 12, 14)]
    assert bits == [0xBF591CD9, 0x3DF64863, 0x3F006D03, 0x3F5C89D9], [hex(b) for b in bits]


def dquantize_nf4(x):
    """bitsandbytes dQuantizeNF4, branch for branch."""
    if x > T_P0:
        if x > T_P1:
            if x > T_P11:
                if x > T_P111:
                    return 0b1111
                return 0b1110
            if x > T_P110:
                return 0b1101
            return 0b1100
        if x > T_P10:
            if x > T_P101:
                return 0b1011
            return 0b1010
        if x > T_P100:
            return 0b1001
        return 0b1000
    if x > T_N0:
        if x > T_N01:
            if x > T_N011:
                return 0b0111
            return 0b0110
        if x > T_N010:
            return 0b0101
        return 0b0100
    if x > T_N00:
        if x > T_N001:
            return 0b0011
        return 0b0010
    if x > T_N000:
        return 0b0001
    return 0b0000


def quantize_nf4(w, blocksize):
    """Returns (packed uint8, absmax float32) for a flat float32 array."""
    n = w.size
    nblocks = -(-n // blocksize)
    absmax = np.zeros(nblocks, dtype=F32)
    codes = np.zeros(n + n % 2, dtype=np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in range(nblocks):
            block = w[b * blocksize:(b + 1) * blocksize]
            m = F32(np.max(np.abs(block)))
            absmax[b] = m
            recip = F32(1.0) / m
            scaled = (block * recip).astype(F32)
            for i, x in enumerate(scaled):
                codes[b * blocksize + i] = dquantize_nf4(x)
    packed = ((codes[0::2] << 4) | codes[1::2]).astype(np.uint8)
    return packed, absmax


def dequantize_nf4(packed, absmax, n, blocksize):
    out = np.zeros(n, dtype=F32)
    for i in range(n):
        byte = int(packed[i // 2])
        code = byte >> 4 if i % 2 == 0 else byte & 15
        out[i] = F32(NF4[code] * absmax[i // blocksize])
    return out


def torch_linspace_f32(start, end, steps):
    """torch.linspace(start, end, steps) for float32 on x86-64 CPU."""
    start, end = F32(start), F32(end)
    step = F32(F32(end - start) / F32(steps - 1))
    half = steps // 2
    out = np.zeros(steps, dtype=F32)
    for idx in range(steps):
        # One rounding of the exact value: the fused multiply-add torch's
        # AVX2 kernel compiles to (float32 * small int is exact in float64).
        if idx < half:
            out[idx] = F32(float(start) + float(step) * idx)
        else:
            out[idx] = F32(float(end) - float(step) * (steps - idx - 1))
    return out


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    data = []
    non_sign_bits = total_bits - (1 if signed else 0)
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    assert additional_items == 0 and signed, "only the signed 8-bit map is needed"
    for i in range(max_exponent_bits):
        fraction_items = 2 ** (i + non_sign_bits - max_exponent_bits) + 1
        boundaries = torch_linspace_f32(0.1, 1.0, fraction_items)
        means = ((boundaries[:-1] + boundaries[1:]) / F32(2.0)).astype(F32)
        scale = F32(10 ** (-(max_exponent_bits - 1) + i))  # torch casts the scalar
        scaled = (scale * means).astype(F32)
        data += scaled.tolist()
        data += (-scaled).tolist()
    data.append(0.0)
    data.append(1.0)
    assert len(data) == 256
    data.sort()
    return np.array(data, dtype=F32)


DYNAMIC = create_dynamic_map()


def dquantize_8bit(code, x):
    """bitsandbytes dQuantize<STOCHASTIC=0>: binary search + midpoint."""
    pivot, upper_pivot, lower_pivot = 127, 255, 0
    lower, upper = F32(-1.0), F32(1.0)
    val = code[pivot]
    i = 64
    while i > 0:
        if x > val:
            lower_pivot, lower = pivot, val
            pivot += i
        else:
            upper_pivot, upper = pivot, val
            pivot -= i
        val = code[pivot]
        i >>= 1
    if upper_pivot == 255:
        upper = code[upper_pivot]
    if lower_pivot == 0:
        lower = code[lower_pivot]
    if x > val:
        midpoint = F32(F32(upper + val) * F32(0.5))
        return upper_pivot if x > midpoint else pivot
    midpoint = F32(F32(lower + val) * F32(0.5))
    return lower_pivot if x < midpoint else pivot


def quantize_blockwise_8bit(a, blocksize=256):
    n = a.size
    nblocks = -(-n // blocksize)
    codes = np.zeros(n, dtype=np.uint8)
    absmax = np.zeros(nblocks, dtype=F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in range(nblocks):
            block = a[b * blocksize:(b + 1) * blocksize]
            m = F32(np.max(np.abs(block)))
            absmax[b] = m
            recip = F32(1.0) / m
            for i, x in enumerate((block * recip).astype(F32)):
                codes[b * blocksize + i] = dquantize_8bit(DYNAMIC, x)
    return codes, absmax


def mean_offset(absmax):
    total = 0.0
    for a in absmax:  # float64, index order
        total += float(a)
    return F32(total / len(absmax))


def double_quantize(absmax):
    offset = mean_offset(absmax)
    centred = (absmax - offset).astype(F32)
    codes, nested = quantize_blockwise_8bit(centred, 256)
    return codes, nested, offset


def decode_absmax(codes, nested, offset):
    out = np.zeros(codes.size, dtype=F32)
    for i, c in enumerate(codes):
        out[i] = F32(F32(DYNAMIC[c] * nested[i // 256]) + offset)
    return out


def b64(arr, dtype):
    return base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode("ascii")


def quant_state_json(shape, blocksize, dtype, offset):
    """The P.weight.quant_state.bitsandbytes__nf4 bytes, as QuantState.as_dict
    (packed=True) + json.dumps write them."""
    state = {"quant_type": "nf4", "blocksize": blocksize, "dtype": dtype, "shape": list(shape)}
    if offset is not None:
        state.update({"nested_blocksize": 256, "nested_dtype": "float32",
                      "nested_offset": float(offset)})
    return json.dumps(state)


def make_case(name, w, shape, blocksize, double, dtype="bfloat16", with_dequant=True):
    w = np.ascontiguousarray(w, dtype=F32).reshape(-1)
    assert w.size == int(np.prod(shape))
    packed, absmax = quantize_nf4(w, blocksize)
    case = {"name": name, "shape": list(shape), "blocksize": blocksize, "double": double,
            "dtype": dtype, "input": b64(w, "<f4"), "packed": b64(packed, np.uint8),
            "absmax": b64(absmax, "<f4")}
    used = absmax
    offset = None
    if double:
        codes, nested, offset = double_quantize(absmax)
        used = decode_absmax(codes, nested, offset)
        case.update({"codes": b64(codes, np.uint8), "nested_absmax": b64(nested, "<f4"),
                     "offset": b64(np.array([offset]), "<f4"),
                     "offset_repr": repr(float(offset))})
    if with_dequant:
        case["dequant"] = b64(dequantize_nf4(packed, used, w.size, blocksize), "<f4")
    case["quant_state"] = quant_state_json(shape, blocksize, dtype, offset)
    return case


def threshold_blocks():
    """Four 64-element blocks: absmax 1 with every threshold and both float32
    neighbours, absmax 2 and 0.25 with the same values scaled (exact after
    the power-of-two reciprocal), and an all-zero block."""
    t = THRESHOLDS
    up = np.nextafter(t, F32(np.inf))
    down = np.nextafter(t, F32(-np.inf))
    base = np.concatenate([[F32(1.0)], t, up, down, [F32(0.0), F32(-0.0)], NF4[:16]]).astype(F32)
    assert base.size == 64 and np.max(np.abs(base)) == 1.0
    negmax = base.copy()
    negmax[0] = F32(-1.0)
    return np.concatenate([base, (base * F32(2.0)).astype(F32),
                           (negmax * F32(0.25)).astype(F32), np.zeros(64, F32)])


def dynamic_probe_points():
    """Inputs for the 8-bit search: every map entry, every float32 midpoint of
    neighbours and the floats either side of it, the ends, -0.0 and NaN."""
    c = DYNAMIC
    mids = ((c[:-1] + c[1:]).astype(F32) * F32(0.5)).astype(F32)
    pts = [c, mids, np.nextafter(mids, F32(np.inf)), np.nextafter(mids, F32(-np.inf)),
           np.array([-1.0, 1.0, -0.0, 1.0000001, -1.0000001, np.nan], dtype=F32)]
    return np.concatenate(pts).astype(F32)


def normal(rng, shape, std=0.02):
    return (rng.standard_normal(shape) * std).astype(F32)


def build_cases():
    rng = np.random.default_rng(20240611)
    cases = [make_case("thresholds", threshold_blocks(), [4, 64], 64, False)]
    cases.append(make_case("thresholds_double", threshold_blocks(), [4, 64], 64, True))
    odd = normal(rng, (5, 27))
    odd[2, :] = 0.0  # zeros inside a block that has other values
    cases.append(make_case("partial_odd", odd, [5, 27], 64, False))
    cases.append(make_case("cross_rows", normal(rng, (3, 40)), [3, 40], 64, False, dtype="float16"))
    cases.append(make_case("cross_rows_double", normal(rng, (3, 40)), [3, 40], 64, True))
    cases.append(make_case("normal_bs64", normal(rng, (48, 96)), [48, 96], 64, False))
    cases.append(make_case("normal_bs128", normal(rng, (40, 200)), [40, 200], 128, False))
    cases.append(make_case("normal_bs32", normal(rng, (16, 64)), [16, 64], 32, False, dtype="float32"))
    cases.append(make_case("normal_bs4096", normal(rng, (3, 2000)), [3, 2000], 4096, False))
    big = normal(rng, (130, 130))
    big[7] *= 40.0          # an outlier row spreads the scales
    big[90, 3] = 1.5        # and one outlier element
    cases.append(make_case("double_bs64", big, [130, 130], 64, True))
    const = np.tile(np.array([0.5, -0.25, 0.125, -0.5], dtype=F32), 128)  # every absmax 0.5
    cases.append(make_case("double_constant", const, [8, 64], 64, True))
    return cases


def tables():
    probe = dynamic_probe_points()
    codes = np.array([dquantize_8bit(DYNAMIC, x) for x in probe], dtype=np.uint8)
    return {"nf4_code": b64(NF4, "<f4"), "nf4_thresholds": b64(THRESHOLDS, "<f4"),
            "dynamic_map": b64(DYNAMIC, "<f4"),
            "dynamic_probe": b64(probe, "<f4"), "dynamic_probe_codes": b64(codes, np.uint8)}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "nf4")
    os.makedirs(outdir, exist_ok=True)
    check_thresholds()
    assert DYNAMIC[127] == 0 and DYNAMIC[255] == 1 and DYNAMIC[0] == F32(-0.99296875)
    with open(os.path.join(outdir, "tables.json"), "w") as f:
        json.dump(tables(), f, indent=1)
        f.write("\n")
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(build_cases(), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
