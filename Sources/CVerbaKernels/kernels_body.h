// The bodies of the float kernels, included once per CPU level by kernels_<level>.c, which defines
// VERBA_SUFFIX (the level's name, appended to the table's name), VERBA_HAS_FMA (1 when the level has
// fused multiply-add), VERBA_HAS_F16C, VERBA_HAS_AVX2 (the 8-bit integer instructions of the quantized
// kernels), VERBA_HAS_AVX512 (their 512-bit forms) and VERBA_HAS_VNNI (AVX-512 VNNI's vpdpbusd), and wraps the inclusion in a `#pragma clang attribute` giving
// every function the level's target features. The code is written on 16-float vectors (clang vector
// extensions): one zmm register with AVX-512, two ymm with AVX2, four xmm on baseline x86-64 (NEON on
// arm64), so one source serves every level.
#include <stdint.h>
#include <string.h>
#include <float.h>
#include <math.h>

// Helpers are always inlined: 64-byte vectors are passed in memory between functions without AVX-512.
#pragma clang diagnostic ignored "-Wpsabi"
#define VI static inline __attribute__((always_inline))

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)

VI v16 ld(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
VI void st(float *p, v16 v) { memcpy(p, &v, sizeof v); }
VI v16 splat(float f) { return (v16){0} + f; }

/// The first n < 16 floats at p, the other lanes 0.
VI v16 ld_part(const float *p, long n) { v16 v = {0}; memcpy(&v, p, (size_t)n * sizeof(float)); return v; }
VI void st_part(float *p, v16 v, long n) { memcpy(p, &v, (size_t)n * sizeof(float)); }

/// a·b + c, fused (one rounding) where the level has FMA.
VI v16 fmav(v16 a, v16 b, v16 c) {
#if VERBA_HAS_FMA
    return __builtin_elementwise_fma(a, b, c);
#else
    return a * b + c;
#endif
}

/// m ? a : b per lane (m all ones or all zeros).
VI v16 sel(v16i m, v16 a, v16 b) { return (v16)((m & (v16i)a) | (~m & (v16i)b)); }
VI v16 vmax(v16 a, v16 b) { return sel(b > a, b, a); }
VI v16 vclamp(v16 v, float lo, float hi) {
    v16 l = splat(lo), h = splat(hi);
    v = sel(v < l, l, v);
    return sel(v > h, h, v);
}
VI v16 vabs(v16 v) { return (v16)((v16i)v & 0x7fffffff); }

VI float hsum(v16 v) {
    v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}
VI float hmax(v16 v) {
    float m = v[0];
    for (int l = 1; l < 16; l++) m = v[l] > m ? v[l] : m;
    return m;
}

// MARK: exp and erfc

/// e^x per lane within ~2 ulp: subnormal results down to x ≈ −103.97, 0 below, +inf above 88.72, NaN for NaN.
/// Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-7 Taylor polynomial, and 2^n applied as two
/// factors so neither over- nor underflows early.
VI v16 vexp(v16 x) {
    v16 xc = vclamp(x, -104.0f, 88.75f);
    // n = round(x·log2 e) by the 1.5·2^23 trick: the sum's low mantissa bits hold n in two's complement.
    v16 shifted = fmav(xc, splat(1.44269504088896341f), splat(12582912.0f));
    v16 n = shifted - 12582912.0f;
    v16 r = fmav(n, splat(-0.693145751953125f), xc);          // ln2 high part (n·hi is exact)
    r = fmav(n, splat(-1.42860682030941723212e-6f), r);        // ln2 low part
    v16 p = splat(1.0f / 5040);
    p = fmav(p, r, splat(1.0f / 720));
    p = fmav(p, r, splat(1.0f / 120));
    p = fmav(p, r, splat(1.0f / 24));
    p = fmav(p, r, splat(1.0f / 6));
    p = fmav(p, r, splat(0.5f));
    p = fmav(p, r, splat(1.0f));
    p = fmav(p, r, splat(1.0f));
    v16i ni = (v16i)shifted - 0x4b400000;
    v16i n1 = ni >> 1, n2 = ni - n1;                          // 2^n = 2^n1 · 2^n2, each normal
    v16 f1 = (v16)((n1 + 127) << 23), f2 = (v16)((n2 + 127) << 23);
    v16 result = p * f1 * f2;
    result = sel(x < -104.0f, splat(0), result);
    result = sel(x > 88.75f, splat(INFINITY), result);
    return sel(x != x, x, result);                            // NaN in, NaN out
}

/// The rounding error of x·x (x·x − fl(x·x), exactly): one FMA, or Veltkamp's split without one.
VI v16 square_error(v16 x, v16 square) {
#if VERBA_HAS_FMA
    return fmav(x, x, -square);
#else
    v16 c = x * 4097.0f;
    v16 hi = c - (c - x), lo = x - hi;
    return ((hi * hi - square) + 2.0f * hi * lo) + lo * lo;
#endif
}

/// erfc(|x|/√2) per lane (relative error ~3e-7; 0 once it underflows): e^(−u²)·erfcx(u), erfcx from two
/// fitted polynomials (scripts/fit-erfc.py); the exponent −x²/2 keeps the rounding error of x².
VI v16 verfc_scaled(v16 x) {
    v16 u = vabs(x) * 0.70710678118654752f;
    v16 a = u - 0.75f;                                        // near: u in [0, 1.5]
    v16 pn = splat(0.0003958303132094443f);
    pn = fmav(pn, a, splat(-0.0011485640425235033f));
    pn = fmav(pn, a, splat(0.0024283358361572027f));
    pn = fmav(pn, a, splat(-0.005931811407208443f));
    pn = fmav(pn, a, splat(0.014283794909715652f));
    pn = fmav(pn, a, splat(-0.03192635998129845f));
    pn = fmav(pn, a, splat(0.06679260730743408f));
    pn = fmav(pn, a, splat(-0.12983322143554688f));
    pn = fmav(pn, a, splat(0.23095795512199402f));
    pn = fmav(pn, a, splat(-0.3679727613925934f));
    pn = fmav(pn, a, splat(0.5069376230239868f));
    v16i far = u > 1.5f;
    v16 erfcx = pn;
    if (__builtin_reduce_or(far)) {                           // far: t = 1/u in [0.1, 2/3], erfcx = g(t)·t
        v16 t = 1.0f / vclamp(u, 1.5f, 10.0f);
        v16 b = t - 0.38333333f;
        v16 pf = splat(0.04302576929330826f);
        pf = fmav(pf, b, splat(-0.2083783596754074f));
        pf = fmav(pf, b, splat(0.18881390988826752f));
        pf = fmav(pf, b, splat(-0.030928075313568115f));
        pf = fmav(pf, b, splat(-0.117856465280056f));
        pf = fmav(pf, b, splat(0.1734282225370407f));
        pf = fmav(pf, b, splat(-0.08765508979558945f));
        pf = fmav(pf, b, splat(-0.15308323502540588f));
        pf = fmav(pf, b, splat(0.5295908451080322f));
        erfcx = sel(far, pf * t, erfcx);
    }
    v16 square = x * x;
    v16 low = square_error(x, square);
    v16 e = vexp(square * -0.5f);
    return fmav(e, low * -0.5f, e) * erfcx;                   // e^(−(square + low)/2) to first order in low
}

VI v16 gelu_erf_v(v16 v) {
    v16 half = verfc_scaled(v) * 0.5f;
    return v * sel(v < 0.0f, half, 1.0f - half);
}

VI v16 gelu_tanh_v(v16 v) {
    v16 y = fmav(0.044715f * v * v, v, v) * 0.79788456080286535588f;
    return v / (1.0f + vexp(-2.0f * y));
}

// MARK: GEMV

static void gemv_rows_sequential(const float *w, const float *x, float *y, long r0, long r1, long cols,
                                 const float *bias, int accumulate) {
    long body = cols - cols % 16;
    for (long r = r0; r < r1; r++) {
        const float *wr = w + r * cols;
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        long j = 0;
        for (; j + 64 <= body; j += 64) {
            a0 = fmav(ld(wr + j), ld(x + j), a0);
            a1 = fmav(ld(wr + j + 16), ld(x + j + 16), a1);
            a2 = fmav(ld(wr + j + 32), ld(x + j + 32), a2);
            a3 = fmav(ld(wr + j + 48), ld(x + j + 48), a3);
        }
        for (; j < body; j += 16) a0 = fmav(ld(wr + j), ld(x + j), a0);
        float s = hsum((a0 + a1) + (a2 + a3));
        for (; j < cols; j++) s += wr[j] * x[j];
        if (bias) s += bias[r];
        y[r] = accumulate ? y[r] + s : s;
    }
}

static void gemv_rows_blocked(const float *w, const float *x, float *y, long r0, long r1, long cols,
                              const float *bias, int accumulate) {
    long body = cols - cols % 16;
    long r = r0;
    for (; r + 8 <= r1; r += 8) {
        const float *w0 = w + r * cols;
        v16 a[8] = {{0}};
        long j = 0;
        for (; j < body; j += 16) {
            v16 xv = ld(x + j);
            const float *p = w0 + j;
            a[0] = fmav(ld(p), xv, a[0]); p += cols;
            a[1] = fmav(ld(p), xv, a[1]); p += cols;
            a[2] = fmav(ld(p), xv, a[2]); p += cols;
            a[3] = fmav(ld(p), xv, a[3]); p += cols;
            a[4] = fmav(ld(p), xv, a[4]); p += cols;
            a[5] = fmav(ld(p), xv, a[5]); p += cols;
            a[6] = fmav(ld(p), xv, a[6]); p += cols;
            a[7] = fmav(ld(p), xv, a[7]);
        }
        for (int q = 0; q < 8; q++) {
            float s = hsum(a[q]);
            for (long t = j; t < cols; t++) s += w0[q * cols + t] * x[t];
            if (bias) s += bias[r + q];
            y[r + q] = accumulate ? y[r + q] + s : s;
        }
    }
    gemv_rows_sequential(w, x, y, r, r1, cols, bias, accumulate);
}

static void K_gemv_rows(const float *w, const float *x, float *y, long r0, long r1, long cols,
                        const float *bias, int accumulate) {
    // Up to 4095 columns one row at a time, so the thread reads W as one sequential stream (short
    // interleaved streams never let the prefetchers ramp up); longer rows eight at a time sharing x loads.
    if (cols < 4096) gemv_rows_sequential(w, x, y, r0, r1, cols, bias, accumulate);
    else gemv_rows_blocked(w, x, y, r0, r1, cols, bias, accumulate);
}

/// acc += Σ_{i in r0..<r1} x[i]·W[i,:], `rows` (16 or 8) weight rows per pass, two accumulator chains.
VI long column_pass(const float *w, const float *x, float *acc, long i, long r1, long cols, int rows) {
    long body = cols - cols % 16;
    for (; i + rows <= r1; i += rows) {
        const float *w0 = w + i * cols;
        v16 xs[16];
        for (int q = 0; q < rows; q++) xs[q] = splat(x[i + q]);
        long j = 0;
        for (; j < body; j += 16) {
            const float *p = w0 + j;
            v16 a = ld(acc + j), b = ld(p) * xs[0];
            for (int q = 1; q < rows; q++) {
                p += cols;
                if (q & 1) a = fmav(xs[q], ld(p), a); else b = fmav(xs[q], ld(p), b);
            }
            st(acc + j, a + b);
        }
        for (; j < cols; j++) {
            float s = acc[j];
            for (int q = 0; q < rows; q++) s += x[i + q] * w0[q * cols + j];
            acc[j] = s;
        }
    }
    return i;
}

static void K_column_sums(const float *w, const float *x, float *acc, long r0, long r1, long cols) {
    memset(acc, 0, (size_t)cols * sizeof(float));
    long i = r0;
    // Sixteen rows per pass while the accumulator stays in L1 (short rows), then eight, then one.
    if (cols <= 1024) i = column_pass(w, x, acc, i, r1, cols, 16);
    i = column_pass(w, x, acc, i, r1, cols, 8);
    long body = cols - cols % 16;
    for (; i < r1; i++) {
        const float *wi = w + i * cols;
        v16 xi = splat(x[i]);
        long j = 0;
        for (; j < body; j += 16) st(acc + j, fmav(xi, ld(wi + j), ld(acc + j)));
        for (; j < cols; j++) acc[j] += x[i] * wi[j];
    }
}

// MARK: Small-M matrix products (a few activation rows, weights read once)

// Batched decode multiplies a handful of rows (one per sequence) by every weight matrix. A general
// sgemm packs the whole weight matrix per call; these kernels stream each weight row from memory once
// and apply it to every activation row while it is in L1.

#if VERBA_HAS_AVX512
#define SMALL_TILES 2   /* weight rows per pass of the NT kernel: 8 independent chains of 16 lanes */
#else
#define SMALL_TILES 1
#endif

/// c[i·ldc + j] = a_i · W[j,:] (+ beta·c) for j in j0..<j1, i in 0..<m; W (n, k) rows `ldw` apart.
static void K_gemm_small_nt(const float *a, long lda, const float *w, long ldw, float *c, long ldc,
                            long m, long j0, long j1, long k, float beta) {
    long body = k - k % 16;
    for (long j = j0; j < j1; j += SMALL_TILES) {
        int rows = j1 - j < SMALL_TILES ? (int)(j1 - j) : SMALL_TILES;
        const float *wr[SMALL_TILES];
        for (int t = 0; t < SMALL_TILES; t++) wr[t] = w + (j + (t < rows ? t : 0)) * ldw;
        // The weight rows stay in L1 while each group of four activation rows passes over them.
        for (long i0 = 0; i0 < m; i0 += 4) {
            int g = m - i0 < 4 ? (int)(m - i0) : 4;
            const float *ar[4];
            for (int q = 0; q < 4; q++) ar[q] = a + (i0 + (q < g ? q : 0)) * lda;
            v16 acc[SMALL_TILES][4];
            for (int t = 0; t < SMALL_TILES; t++) for (int q = 0; q < 4; q++) acc[t][q] = (v16){0};
            for (long r = 0; r < body; r += 16) {
                v16 x0 = ld(ar[0] + r), x1 = ld(ar[1] + r), x2 = ld(ar[2] + r), x3 = ld(ar[3] + r);
                for (int t = 0; t < SMALL_TILES; t++) {
                    v16 wv = ld(wr[t] + r);
                    acc[t][0] = fmav(wv, x0, acc[t][0]);
                    acc[t][1] = fmav(wv, x1, acc[t][1]);
                    acc[t][2] = fmav(wv, x2, acc[t][2]);
                    acc[t][3] = fmav(wv, x3, acc[t][3]);
                }
            }
            for (int t = 0; t < rows; t++) {
                for (int q = 0; q < g; q++) {
                    float s = hsum(acc[t][q]);
                    for (long rr = body; rr < k; rr++) s += wr[t][rr] * ar[q][rr];
                    float *out = c + (i0 + q) * ldc + j + t;
                    *out = beta == 0 ? s : s + beta * *out;
                }
            }
        }
    }
}

/// c_i[j0..<j1] += Σ_{p<R} a_i[r + p]·W[r + p, j0..<j1] for every activation row i: R consecutive weight
/// rows (contiguous streams), read once for all m rows.
VI void small_nn_rows(const float *a, long lda, const float *w, long ldw, float *c, long ldc,
                      long m, long j0, long j1, long r, int R) {
    long body = j0 + (j1 - j0) - (j1 - j0) % 16;
    const float *w0 = w + r * ldw;
    for (long j = j0; j < body; j += 16) {
        v16 wv[8];
        for (int p = 0; p < R; p++) wv[p] = ld(w0 + p * ldw + j);
        for (long i = 0; i < m; i++) {
            const float *ai = a + i * lda + r;
            float *ci = c + i * ldc + j;
            v16 s = fmav(splat(ai[0]), wv[0], ld(ci));
            for (int p = 1; p < R; p++) s = fmav(splat(ai[p]), wv[p], s);
            st(ci, s);
        }
    }
    for (long j = body; j < j1; j++) {
        for (long i = 0; i < m; i++) {
            const float *ai = a + i * lda + r;
            float s = c[i * ldc + j];
            for (int p = 0; p < R; p++) s += ai[p] * w0[p * ldw + j];
            c[i * ldc + j] = s;
        }
    }
}

/// c[i·ldc + j] = Σ_r a_i[r]·W[r, j] (+ beta·c) for j in j0..<j1, i in 0..<m; W (k, n) rows `ldw` apart.
/// C accumulates one block of columns at a time in a packed L1 buffer (C's own rows may be a multiple of
/// 4 KB apart, which would put them all in the same L1 sets) while W streams through row by row.
static void K_gemm_small_nn(const float *a, long lda, const float *w, long ldw, float *c, long ldc,
                            long m, long j0, long j1, long k, float beta) {
    enum { BUFFER = 4096, PAD = 16 };
    float buf[BUFFER + 16 * PAD];
    for (long i0 = 0; i0 < m; i0 += 16) {
        long rows = m - i0 < 16 ? m - i0 : 16;
        long block = BUFFER / rows / 16 * 16;
        long stride = block + PAD;
        const float *ai = a + i0 * lda;
        float *cr = c + i0 * ldc;
        for (long b0 = j0; b0 < j1; b0 += block) {
            long width = j1 - b0 < block ? j1 - b0 : block;
            for (long i = 0; i < rows; i++) {
                float *bi = buf + i * stride;
                if (beta == 0) memset(bi, 0, (size_t)width * sizeof(float));
                else for (long j = 0; j < width; j++) bi[j] = beta * cr[i * ldc + b0 + j];
            }
            long r = 0;
            for (; r + 8 <= k; r += 8) small_nn_rows(ai, lda, w + b0, ldw, buf, stride, rows, 0, width, r, 8);
            for (; r < k; r++) small_nn_rows(ai, lda, w + b0, ldw, buf, stride, rows, 0, width, r, 1);
            for (long i = 0; i < rows; i++) memcpy(cr + i * ldc + b0, buf + i * stride, (size_t)width * sizeof(float));
        }
    }
}

// MARK: Vector helpers

static float K_dot(const float *a, const float *b, long n) {
    v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = fmav(ld(a + i), ld(b + i), s0);
        s1 = fmav(ld(a + i + 16), ld(b + i + 16), s1);
        s2 = fmav(ld(a + i + 32), ld(b + i + 32), s2);
        s3 = fmav(ld(a + i + 48), ld(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = fmav(ld(a + i), ld(b + i), s0);
    if (i < n) s1 = fmav(ld_part(a + i, n - i), ld_part(b + i, n - i), s1);
    return hsum((s0 + s1) + (s2 + s3));
}

static void K_add(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) st(y + i, ld(y + i) + ld(x + i));
    for (; i < n; i++) y[i] += x[i];
}

static void K_add_bias(float *x, const float *bias, long rows, long n) {
    for (long r = 0; r < rows; r++) K_add(bias, x + r * n, n);
}

static void K_scale(float *x, float s, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) st(x + i, ld(x + i) * s);
    for (; i < n; i++) x[i] *= s;
}

// MARK: Layer normalization

/// One row: mean, then the biased variance around it (two passes, as PyTorch), then the affine map.
VI void layer_norm_row(const float *xi, float *o, const float *gamma, const float *beta, long n,
                                  float eps, float *mean_out, float *rstd_out) {
    long tail = n % 16, body = n - tail;
    v16 s0 = {0}, s1 = {0};
    long j = 0;
    for (; j + 32 <= body; j += 32) { s0 += ld(xi + j); s1 += ld(xi + j + 16); }
    if (j < body) s0 += ld(xi + j);
    if (tail) s1 += ld_part(xi + body, tail);
    float mean = hsum(s0 + s1) / (float)n;
    v16 mv = splat(mean), q0 = {0}, q1 = {0};
    for (j = 0; j + 32 <= body; j += 32) {
        v16 d0 = ld(xi + j) - mv, d1 = ld(xi + j + 16) - mv;
        q0 = fmav(d0, d0, q0); q1 = fmav(d1, d1, q1);
    }
    if (j < body) { v16 d = ld(xi + j) - mv; q0 = fmav(d, d, q0); }
    float variance = hsum(q0 + q1);
    for (long t = body; t < n; t++) { float d = xi[t] - mean; variance += d * d; }
    variance /= (float)n;
    float inv = 1.0f / sqrtf(variance + eps);
    v16 iv = splat(inv);
    for (j = 0; j < body; j += 16) st(o + j, fmav((ld(xi + j) - mv) * iv, ld(gamma + j), ld(beta + j)));
    for (long t = body; t < n; t++) o[t] = (xi[t] - mean) * inv * gamma[t] + beta[t];
    if (mean_out) *mean_out = mean;
    if (rstd_out) *rstd_out = inv;
}

static void K_layer_norm(const float *x, float *out, const float *gamma, const float *beta, long rows, long n,
                         float eps, float *mean, float *rstd) {
    for (long r = 0; r < rows; r++)
        layer_norm_row(x + r * n, out + r * n, gamma, beta, n, eps, mean ? mean + r : 0, rstd ? rstd + r : 0);
}

static void K_bias_residual_layer_norm(const float *x, const float *bias, float *residual, const float *gamma,
                                       const float *beta, long rows, long n, float eps) {
    for (long r = 0; r < rows; r++) {
        const float *xi = x + r * n;
        float *o = residual + r * n;
        long j = 0;
        for (; j + 16 <= n; j += 16) st(o + j, ld(xi + j) + ld(bias + j) + ld(o + j));
        for (; j < n; j++) o[j] = xi[j] + bias[j] + o[j];
        layer_norm_row(o, o, gamma, beta, n, eps, 0, 0);
    }
}

// MARK: Softmax, exp, GELU

static void K_softmax(float *x, long rows, long n) {
    if (n == 0) return;
    long tail = n % 16, body = n - tail;
    for (long r = 0; r < rows; r++) {
        float *row = x + r * n;
        v16 m = splat(-INFINITY);
        for (long j = 0; j < body; j += 16) m = vmax(m, ld(row + j));
        float mx = hmax(m);
        for (long t = body; t < n; t++) mx = row[t] > mx ? row[t] : mx;
        v16 mv = splat(mx), s = {0};
        for (long j = 0; j < body; j += 16) { v16 e = vexp(ld(row + j) - mv); st(row + j, e); s += e; }
        if (tail) {
            v16 e = vexp(ld_part(row + body, tail) - mv);
            for (long l = tail; l < 16; l++) e[l] = 0;
            st_part(row + body, e, tail);
            s += e;
        }
        K_scale(row, 1.0f / hsum(s), n);
    }
}

static void K_exp_inplace(float *x, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) st(x + i, vexp(ld(x + i)));
    if (i < n) st_part(x + i, vexp(ld_part(x + i, n - i)), n - i);
}

static void K_gelu_erf(float *x, const float *bias, long rows, long n) {
    for (long r = 0; r < rows; r++) {
        float *row = x + r * n;
        long i = 0;
        for (; i + 16 <= n; i += 16) st(row + i, gelu_erf_v(bias ? ld(row + i) + ld(bias + i) : ld(row + i)));
        if (i < n) {
            v16 v = ld_part(row + i, n - i);
            if (bias) v += ld_part(bias + i, n - i);
            st_part(row + i, gelu_erf_v(v), n - i);
        }
    }
}

static void K_gelu_tanh(float *x, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) st(x + i, gelu_tanh_v(ld(x + i)));
    if (i < n) st_part(x + i, gelu_tanh_v(ld_part(x + i, n - i)), n - i);
}

/// With σ = 1/(1 + e^(−2u)), u = √(2/π)(x + 0.044715x³): 1 + tanh u = 2σ and sech² u = 4σ(1 − σ), so
/// gelu'(x) = σ + 2xσ(1 − σ)·√(2/π)(1 + 3·0.044715x²).
VI v16 gelu_tanh_grad_v(v16 v) {
    v16 v2 = v * v;
    v16 u = fmav(v2 * 0.044715f, v, v) * 0.79788456080286535588f;
    v16 sig = 1.0f / (1.0f + vexp(u * -2.0f));
    v16 slope = fmav(v2, splat(0.134145f), splat(1.0f)) * 0.79788456080286535588f;
    return fmav((v + v) * sig * (1.0f - sig), slope, sig);
}

static void K_gelu_tanh_backward(float *dx, const float *x, const float *dout, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) st(dx + i, gelu_tanh_grad_v(ld(x + i)) * ld(dout + i));
    if (i < n) st_part(dx + i, gelu_tanh_grad_v(ld_part(x + i, n - i)) * ld_part(dout + i, n - i), n - i);
}

#include "attention_body.h"
#include "half_body.h"
#include "quant_body.h"

const verba_kernel_table CAT(verba_table, VERBA_SUFFIX) = {
    .level = VERBA_LEVEL,
    .gemv_rows = K_gemv_rows,
    .column_sums = K_column_sums,
    .gemm_small_nt = K_gemm_small_nt,
    .gemm_small_nn = K_gemm_small_nn,
    .dot = K_dot,
    .add = K_add,
    .add_bias = K_add_bias,
    .scale = K_scale,
    .layer_norm = K_layer_norm,
    .bias_residual_layer_norm = K_bias_residual_layer_norm,
    .softmax = K_softmax,
    .exp_inplace = K_exp_inplace,
    .gelu_erf = K_gelu_erf,
    .gelu_tanh = K_gelu_tanh,
    .gelu_tanh_backward = K_gelu_tanh_backward,
    .packed_attention = K_packed_attention,
    .half_to_float = K_half_to_float,
    .float_to_half = K_float_to_half,
    .bf16_to_float = K_bf16_to_float,
    .float_to_bf16 = K_float_to_bf16,
    .quantize_act = K_quantize_act,
    .quant_matmul = K_quant_matmul,
};
