// Philox4x32-10, as trainer/rng computes it: a draw depends only on (seed, stream, index), so the
// GPU draws the same dropout masks as the CPU.
#pragma once

__device__ __forceinline__ unsigned int mulhi32(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}

// philoxUint32 is rng.Uint32: word index%4 of the block for counter (index/4 low, index/4 high,
// stream low, stream high) under key (seed low, seed high).
__device__ __forceinline__ unsigned int philoxUint32(unsigned long long seed, unsigned long long stream, unsigned long long index) {
    unsigned long long block = index / 4;
    unsigned int c0 = (unsigned int)block, c1 = (unsigned int)(block >> 32);
    unsigned int c2 = (unsigned int)stream, c3 = (unsigned int)(stream >> 32);
    unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        unsigned int hi0 = mulhi32(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        unsigned int hi1 = mulhi32(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        unsigned int n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    switch (index % 4) {
    case 0: return c0;
    case 1: return c1;
    case 2: return c2;
    default: return c3;
    }
}

// philoxUniform is rng.Uniform: 24 random bits as a double in [0, 1), exact in float.
__device__ __forceinline__ double philoxUniform(unsigned long long seed, unsigned long long stream, unsigned long long index) {
    return (double)(philoxUint32(seed, stream, index) >> 8) * (1.0 / 16777216.0);
}
