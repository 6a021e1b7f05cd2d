// ggml's quantized block formats: dequantization (the float math gguf-py's `dequantize` does, operation
// for operation, so results are identical) and quantization (the algorithms of ggml's quantize_row_*_ref,
// including the K-quants' scale searches, so files match llama-quantize's). Compiled once, for the baseline
// target, without contraction into fused multiply-adds: every product and sum is rounded on its own as in
// the references. Blocks are read and written byte by byte (little-endian fields, any alignment).
#include "CVerbaKernels.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#pragma clang diagnostic ignored "-Wunused-function"

#define VI static inline __attribute__((always_inline))
#define VERBA_HAS_F16C 0
#include "half_body.h"

enum { T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8, T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14 };

static float ld_half(const uint8_t *p) { return half_bits_to_float((uint16_t)(p[0] | p[1] << 8)); }
static void st_half(uint8_t *p, float f) {
    uint16_t h = float_to_half_bits(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}
static uint32_t ld_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void st_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/// The 6-bit scale and minimum of sub-block j (0..<8) of a Q4_K / Q5_K block's 12 packed bytes: bytes 0-3
/// hold scales 0-3 (low 6 bits), bytes 4-7 minimums 0-3; scales and minimums 4-7 keep their low nibbles
/// in bytes 8-11 and their top two bits in the spare top bits of bytes 0-7.
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// MARK: Dequantization

static void dequant_q8_0(const uint8_t *b, float *y) {
    float d = ld_half(b);
    for (int i = 0; i < 32; i++) y[i] = (float)(int8_t)b[2 + i] * d;
}

static void dequant_q4_0(const uint8_t *b, float *y) {
    float d = ld_half(b);
    for (int i = 0; i < 16; i++) {
        y[i] = d * (float)((b[2 + i] & 0xF) - 8);
        y[i + 16] = d * (float)((b[2 + i] >> 4) - 8);
    }
}

static void dequant_q4_1(const uint8_t *b, float *y) {
    float d = ld_half(b), m = ld_half(b + 2);
    for (int i = 0; i < 16; i++) {
        y[i] = d * (float)(b[4 + i] & 0xF) + m;
        y[i + 16] = d * (float)(b[4 + i] >> 4) + m;
    }
}

/// Q5_0 / Q5_1: the 5-bit values of a block from its 32 high bits (bit i for value i) and 16 nibble bytes.
static void five_bit_values(const uint8_t *qh4, const uint8_t *qs, int *q) {
    uint32_t qh = ld_u32(qh4);
    for (int i = 0; i < 16; i++) {
        q[i] = (qs[i] & 0xF) | (int)((qh >> i) & 1) << 4;
        q[i + 16] = (qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4;
    }
}

static void dequant_q5_0(const uint8_t *b, float *y) {
    float d = ld_half(b);
    int q[32];
    five_bit_values(b + 2, b + 6, q);
    for (int i = 0; i < 32; i++) y[i] = d * (float)(q[i] - 16);
}

static void dequant_q5_1(const uint8_t *b, float *y) {
    float d = ld_half(b), m = ld_half(b + 2);
    int q[32];
    five_bit_values(b + 4, b + 8, q);
    for (int i = 0; i < 32; i++) y[i] = d * (float)q[i] + m;
}

/// Q4_K (qh NULL) and Q5_K: sub-block j (32 values) is d·scale_j·q − dmin·min_j; its low 4 bits are the
/// low (even j) or high (odd j) nibbles of qs[32·(j/2) ..], its fifth bit bit j of qh[0..<32].
static void dequant_k4_k5(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, float *y) {
    float d = ld_half(b), dmin = ld_half(b + 2);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        scale_min_k4(j, b + 4, &sc, &m);
        float dl = d * (float)sc, ml = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        for (int l = 0; l < 32; l++) {
            int v = (j & 1) ? q[l] >> 4 : q[l] & 0xF;
            if (qh) v |= ((qh[l] >> j) & 1) << 4;
            y[32 * j + l] = dl * (float)v - ml;
        }
    }
}

/// Q6_K: 128 low-nibble bytes, 64 bytes of high 2-bit pairs, 16 int8 scales (one per 16 values), f16 d.
static void dequant_q6_k(const uint8_t *b, float *y) {
    float d = ld_half(b + 208);
    const int8_t *sc = (const int8_t *)(b + 192);
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
        float *yh = y + 128 * half;
        for (int l = 0; l < 32; l++) {
            int q[4] = {
                (ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4,
                (ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4,
                (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4,
                (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4,
            };
            for (int k = 0; k < 4; k++) {
                int v = 128 * half + 32 * k + l;
                yh[32 * k + l] = (d * (float)sc[v / 16]) * (float)(q[k] - 32);
            }
        }
    }
}

int verba_dequantize_row(uint32_t type, const void *src, float *dst, long n) {
    const uint8_t *b = src;
    switch (type) {
    case T_Q8_0: for (long i = 0; i < n / 32; i++) dequant_q8_0(b + 34 * i, dst + 32 * i); return 1;
    case T_Q4_0: for (long i = 0; i < n / 32; i++) dequant_q4_0(b + 18 * i, dst + 32 * i); return 1;
    case T_Q4_1: for (long i = 0; i < n / 32; i++) dequant_q4_1(b + 20 * i, dst + 32 * i); return 1;
    case T_Q5_0: for (long i = 0; i < n / 32; i++) dequant_q5_0(b + 22 * i, dst + 32 * i); return 1;
    case T_Q5_1: for (long i = 0; i < n / 32; i++) dequant_q5_1(b + 24 * i, dst + 32 * i); return 1;
    case T_Q4_K:
        for (long i = 0; i < n / 256; i++) dequant_k4_k5(b + 144 * i, NULL, b + 144 * i + 16, dst + 256 * i);
        return 1;
    case T_Q5_K:
        for (long i = 0; i < n / 256; i++) {
            const uint8_t *k = b + 176 * i;
            dequant_k4_k5(k, k + 16, k + 48, dst + 256 * i);
        }
        return 1;
    case T_Q6_K: for (long i = 0; i < n / 256; i++) dequant_q6_k(b + 210 * i, dst + 256 * i); return 1;
    default: return 0;
    }
}

// MARK: Quantization of the 32-value blocks

/// The value of largest magnitude (the first such), as ggml's reference quantizers pick it.
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        if (amax < fabsf(x[i])) { amax = fabsf(x[i]); max = x[i]; }
    }
    return max;
}

static void quant_q8_0(const float *x, uint8_t *b) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    st_half(b, d);
    for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
}

/// Q4_0 (nmax 8, 15 levels) and Q5_0 (16, 31): d = −max/nmax so the largest magnitude maps to level 0.
static void quant_symmetric(const float *x, int nmax, int top, float *d_out, int *q) {
    float d = signed_absmax(x, 32) / (float)-nmax, id = d ? 1.0f / d : 0.0f;
    *d_out = d;
    for (int i = 0; i < 32; i++) {
        int v = (int8_t)(x[i] * id + ((float)nmax + 0.5f));
        q[i] = v < top ? v : top;
    }
}

/// Q4_1 (top 15) and Q5_1 (31): d = (max − min)/top, values from the minimum up.
static void quant_affine(const float *x, int top, float *d_out, float *m_out, int *q) {
    float min = INFINITY, max = -INFINITY;
    for (int i = 0; i < 32; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
    }
    float d = (max - min) / (float)top, id = d ? 1.0f / d : 0.0f;
    *d_out = d;
    *m_out = min;
    for (int i = 0; i < 32; i++) {
        int v = (int8_t)((x[i] - min) * id + 0.5f);
        q[i] = v < top ? v : top;
    }
}

static void pack_nibbles(const int *q, uint8_t *qs) {
    for (int i = 0; i < 16; i++) qs[i] = (uint8_t)((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
}

static void pack_high_bits(const int *q, uint8_t *qh4) {
    uint32_t qh = 0;
    for (int i = 0; i < 32; i++) qh |= (uint32_t)((q[i] >> 4) & 1) << i;
    st_u32(qh4, qh);
}

// MARK: K-quant scale searches

/// Round to nearest (ties to even) by the 1.5·2^23 trick, valid for |f| < 2^22 (ggml's nearest_int).
static int nearest(float f) {
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/// A scale and minimum for n values on levels 0...nmax minimizing the weighted squared error: the plain
/// min/max fit, then nstep + 1 trial inverse scales (rmin + rdelta·k + nmax)/(max − min), each refit by
/// weighted least squares for scale and minimum (minimum kept ≤ 0), the best kept. Returns the scale,
/// −minimum in *neg_min and the levels in L (ggml's make_qkx2_quants, squared error).
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                           float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0;
    }
    float iscale = (float)nmax / (max - min), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best += w[i] * (diff * diff);
    }
    uint8_t trial[32];
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * (float)k + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * (x[i] - min)), 0, nmax);
            trial[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0) continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / det, m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (m > 0) {
            m = 0;
            s = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = s * trial[i] + m - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, trial, (size_t)n);
            best = err;
            scale = s;
            min = m;
        }
    }
    *neg_min = -min;
    return scale;
}

/// A signed scale for n values on levels −nmax..<nmax (stored as 0..<2·nmax) minimizing the squared error
/// weighted by x²: the scale mapping the largest magnitude to −nmax, then 18 trial scales around it, each
/// refit by least squares (ggml's make_qx_quants with rmse_type 1).
static float fit_scale_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    float iscale = -(float)nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)k) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clampi(nearest(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// MARK: K-quant blocks

/// Q4_K (nmax 15) and Q5_K (31) levels of one 256-value block: per-sub-block scale and minimum fits
/// (weights √(mean x²) + |x|), both quantized to 6 bits against the block's largest, then every value
/// re-rounded against the stored scale and minimum. Writes d, dmin and the 12 scale bytes at b; L gets the
/// levels.
static void quant_k4_k5_levels(const float *x, int nmax, uint8_t *b, uint8_t *L) {
    float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av + fabsf(xs[l]);
        scales[j] = nmax == 15 ? fit_scale_min(32, 15, xs, w, L + 32 * j, &mins[j], -1.0f, 0.1f, 20)
                               : fit_scale_min(32, 31, xs, w, L + 32 * j, &mins[j], -0.5f, 0.1f, 15);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f, inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t *s = b + 4;
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest(inv_scale * scales[j]), lm = (uint8_t)nearest(inv_min * mins[j]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (j < 4) {
            s[j] = ls;
            s[j + 4] = lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    st_half(b, max_scale / 63.0f);
    st_half(b + 2, max_min / 63.0f);
    float d = ld_half(b), dmin = ld_half(b + 2);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        scale_min_k4(j, s, &sc, &m);
        float dl = d * (float)sc;
        if (!dl) continue;
        float ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + ml) / dl), 0, nmax);
    }
}

static void quant_q4_k(const float *x, uint8_t *b) {
    uint8_t L[256];
    quant_k4_k5_levels(x, 15, b, L);
    uint8_t *q = b + 16;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) q[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + l + 32] << 4);
}

static void quant_q5_k(const float *x, uint8_t *b) {
    uint8_t L[256];
    quant_k4_k5_levels(x, 31, b, L);
    uint8_t *qh = b + 16, *q = b + 48;
    memset(qh, 0, 32);
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            int lo = L[64 * c + l], hi = L[64 * c + l + 32];
            qh[l] |= (uint8_t)(((lo >> 4) & 1) << (2 * c) | ((hi >> 4) & 1) << (2 * c + 1));
            q[32 * c + l] = (uint8_t)((lo & 0xF) | (hi & 0xF) << 4);
        }
    }
}

static void quant_q6_k(const float *x, uint8_t *b) {
    int8_t L[256];
    float scales[16], max_scale = 0, max_abs = 0;
    for (int s = 0; s < 16; s++) {
        scales[s] = fit_scale_symmetric(16, 32, x + 16 * s, L + 16 * s);
        if (fabsf(scales[s]) > max_abs) { max_abs = fabsf(scales[s]); max_scale = scales[s]; }
    }
    if (max_abs < 1e-15f) {
        memset(b, 0, 210);
        return;
    }
    float iscale = -128.0f / max_scale;
    st_half(b + 208, 1 / iscale);
    int8_t *sc = (int8_t *)(b + 192);
    for (int s = 0; s < 16; s++) {
        int v = nearest(iscale * scales[s]);
        sc[s] = (int8_t)(v < 127 ? v : 127);
    }
    float d = ld_half(b + 208);
    for (int s = 0; s < 16; s++) {
        float dl = d * (float)sc[s];
        if (!dl) continue;
        for (int l = 0; l < 16; l++) L[16 * s + l] = (int8_t)(clampi(nearest(x[16 * s + l] / dl), -32, 31) + 32);
    }
    for (int half = 0; half < 2; half++) {
        uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
        const int8_t *Lh = L + 128 * half;
        for (int l = 0; l < 32; l++) {
            int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
            ql[l] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
            ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
            qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
        }
    }
}

int verba_quantize_row(uint32_t type, const float *src, void *dst, long n) {
    uint8_t *b = dst;
    int q[32];
    float d, m;
    switch (type) {
    case T_Q8_0: for (long i = 0; i < n / 32; i++) quant_q8_0(src + 32 * i, b + 34 * i); return 1;
    case T_Q4_0:
        for (long i = 0; i < n / 32; i++) {
            quant_symmetric(src + 32 * i, 8, 15, &d, q);
            st_half(b + 18 * i, d);
            pack_nibbles(q, b + 18 * i + 2);
        }
        return 1;
    case T_Q4_1:
        for (long i = 0; i < n / 32; i++) {
            quant_affine(src + 32 * i, 15, &d, &m, q);
            st_half(b + 20 * i, d);
            st_half(b + 20 * i + 2, m);
            pack_nibbles(q, b + 20 * i + 4);
        }
        return 1;
    case T_Q5_0:
        for (long i = 0; i < n / 32; i++) {
            quant_symmetric(src + 32 * i, 16, 31, &d, q);
            st_half(b + 22 * i, d);
            pack_high_bits(q, b + 22 * i + 2);
            pack_nibbles(q, b + 22 * i + 6);
        }
        return 1;
    case T_Q5_1:
        for (long i = 0; i < n / 32; i++) {
            quant_affine(src + 32 * i, 31, &d, &m, q);
            st_half(b + 24 * i, d);
            st_half(b + 24 * i + 2, m);
            pack_high_bits(q, b + 24 * i + 4);
            pack_nibbles(q, b + 24 * i + 8);
        }
        return 1;
    case T_Q4_K: for (long i = 0; i < n / 256; i++) quant_q4_k(src + 256 * i, b + 144 * i); return 1;
    case T_Q5_K: for (long i = 0; i < n / 256; i++) quant_q5_k(src + 256 * i, b + 176 * i); return 1;
    case T_Q6_K: for (long i = 0; i < n / 256; i++) quant_q6_k(src + 256 * i, b + 210 * i); return 1;
    default: return 0;
    }
}
