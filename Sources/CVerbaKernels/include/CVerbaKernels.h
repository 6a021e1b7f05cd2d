// The float kernels of the engine, compiled once per CPU level (baseline x86-64 / generic, AVX2 + FMA,
// AVX-512, AVX-512 with VNNI) into one binary. `verba_kernels()` returns the table of the level chosen at first use: the best
// level the CPU and the OS support, or the one the VERBA_CPU environment variable names
// (baseline | avx2 | avx512 | avx512vnni; a level the machine lacks falls back to the best it has, with a warning on
// stderr). Buffers are row-major float32; sizes are element counts; pointers may be unaligned.
#ifndef CVERBAKERNELS_H
#define CVERBAKERNELS_H

#include <stdint.h>

/// CPU levels, in increasing order of capability.
enum {
    VERBA_LEVEL_BASELINE = 0, VERBA_LEVEL_AVX2 = 1, VERBA_LEVEL_AVX512 = 2, VERBA_LEVEL_AVX512VNNI = 3,
    VERBA_LEVEL_COUNT = 4
};

typedef struct verba_kernel_table {
    int level;
    /// y[r] (+)= W[r,:] · x (+ bias[r]) for r in r0..<r1; W (rows, cols).
    void (*gemv_rows)(const float *w, const float *x, float *y, long r0, long r1, long cols,
                      const float *bias, int accumulate);
    /// acc (cols) = Σ_{r0 ≤ i < r1} x[i] · W[i, :] (acc is overwritten).
    void (*column_sums)(const float *w, const float *x, float *acc, long r0, long r1, long cols);
    /// c[i·ldc + j] = a_i · W[j,:] (+ beta·c[i·ldc + j]) for j in j0..<j1 and the m rows a_i = a + i·lda;
    /// W (n, k) with rows ldw apart. For small m (a few sequences' rows): W is read once per group of 4.
    void (*gemm_small_nt)(const float *a, long lda, const float *w, long ldw, float *c, long ldc,
                          long m, long j0, long j1, long k, float beta);
    /// c[i·ldc + j] = Σ_r a_i[r]·W[r, j] (+ beta·c[i·ldc + j]) for j in j0..<j1; W (k, n) rows ldw apart.
    void (*gemm_small_nn)(const float *a, long lda, const float *w, long ldw, float *c, long ldc,
                          long m, long j0, long j1, long k, float beta);
    float (*dot)(const float *a, const float *b, long n);
    /// y += x.
    void (*add)(const float *x, float *y, long n);
    /// Every row of x (rows, n) += bias (n).
    void (*add_bias)(float *x, const float *bias, long rows, long n);
    void (*scale)(float *x, float s, long n);
    /// out = (x − mean)·rstd·gamma + beta per row (out may alias x); mean and rstd (rows) saved when not NULL.
    void (*layer_norm)(const float *x, float *out, const float *gamma, const float *beta, long rows, long n,
                       float eps, float *mean, float *rstd);
    /// residual = layer_norm(x + bias + residual) per row.
    void (*bias_residual_layer_norm)(const float *x, const float *bias, float *residual, const float *gamma,
                                     const float *beta, long rows, long n, float eps);
    void (*softmax)(float *x, long rows, long n);
    void (*exp_inplace)(float *x, long n);
    /// x = gelu_erf(x + bias) per row (bias may be NULL).
    void (*gelu_erf)(float *x, const float *bias, long rows, long n);
    void (*gelu_tanh)(float *x, long n);
    /// dx = gelu_tanh'(x) · dout (dx may alias dout).
    void (*gelu_tanh_backward)(float *dx, const float *x, const float *dout, long n);
    /// Packed bidirectional self-attention over sequences s0..<s1 (see VerbaTensor's packedSelfAttention).
    void (*packed_attention)(const float *qkv, float *out, const long *offsets, long s0, long s1,
                             const int32_t *key_mask, long heads, long head_dim, float *scratch,
                             int first_query_only);
    void (*half_to_float)(const void *src, float *dst, long n);
    void (*float_to_half)(const float *src, void *dst, long n);
    void (*bf16_to_float)(const void *src, float *dst, long n);
    void (*float_to_bf16)(const float *src, void *dst, long n);
    /// The quantized activations of x (n floats, n a multiple of 32; see verba_quant_act_bytes).
    void (*quantize_act)(const float *x, void *dst, long n);
    /// y[i·ldy + r] = W[r,:] · x_i for r in r0..<r1 and i in 0..<nx: W is rows of `cols` values in ggml
    /// blocks of `type` (row r at w + r·row_bytes), x_i the quantized activations at
    /// act + i·verba_quant_act_bytes(cols). Types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.
    void (*quant_matmul)(uint32_t type, const void *w, long row_bytes, long r0, long r1, long cols,
                         const void *act, long nx, float *y, long ldy);
} verba_kernel_table;

/// The table in use (chosen once, thread-safely, at the first call).
const verba_kernel_table *verba_kernels(void);

/// The table of `level` if this binary has it and this CPU and OS can run it, else NULL.
const verba_kernel_table *verba_kernels_for_level(int level);

/// The best level this CPU and OS support.
int verba_cpu_best_level(void);

/// Makes `level`'s table the one in use (for tests comparing levels); 0 if the machine cannot run it.
int verba_kernels_select(int level);

// The kernels of the table in use, as plain functions (static inline, so each call is one indirect call).
static inline void verba_gemv_rows(const float *w, const float *x, float *y, long r0, long r1, long cols,
                                   const float *bias, int accumulate) {
    verba_kernels()->gemv_rows(w, x, y, r0, r1, cols, bias, accumulate);
}
static inline void verba_column_sums(const float *w, const float *x, float *acc, long r0, long r1, long cols) {
    verba_kernels()->column_sums(w, x, acc, r0, r1, cols);
}
static inline void verba_gemm_small_nt(const float *a, long lda, const float *w, long ldw, float *c, long ldc,
                                       long m, long j0, long j1, long k, float beta) {
    verba_kernels()->gemm_small_nt(a, lda, w, ldw, c, ldc, m, j0, j1, k, beta);
}
static inline void verba_gemm_small_nn(const float *a, long lda, const float *w, long ldw, float *c, long ldc,
                                       long m, long j0, long j1, long k, float beta) {
    verba_kernels()->gemm_small_nn(a, lda, w, ldw, c, ldc, m, j0, j1, k, beta);
}
static inline float verba_dot(const float *a, const float *b, long n) { return verba_kernels()->dot(a, b, n); }
static inline void verba_add(const float *x, float *y, long n) { verba_kernels()->add(x, y, n); }
static inline void verba_add_bias(float *x, const float *bias, long rows, long n) {
    verba_kernels()->add_bias(x, bias, rows, n);
}
static inline void verba_scale(float *x, float s, long n) { verba_kernels()->scale(x, s, n); }
static inline void verba_layer_norm(const float *x, float *out, const float *gamma, const float *beta, long rows,
                                    long n, float eps, float *mean, float *rstd) {
    verba_kernels()->layer_norm(x, out, gamma, beta, rows, n, eps, mean, rstd);
}
static inline void verba_bias_residual_layer_norm(const float *x, const float *bias, float *residual,
                                                  const float *gamma, const float *beta, long rows, long n,
                                                  float eps) {
    verba_kernels()->bias_residual_layer_norm(x, bias, residual, gamma, beta, rows, n, eps);
}
static inline void verba_softmax(float *x, long rows, long n) { verba_kernels()->softmax(x, rows, n); }
static inline void verba_exp_inplace(float *x, long n) { verba_kernels()->exp_inplace(x, n); }
static inline void verba_gelu_erf(float *x, const float *bias, long rows, long n) {
    verba_kernels()->gelu_erf(x, bias, rows, n);
}
static inline void verba_gelu_tanh(float *x, long n) { verba_kernels()->gelu_tanh(x, n); }
static inline void verba_gelu_tanh_backward(float *dx, const float *x, const float *dout, long n) {
    verba_kernels()->gelu_tanh_backward(dx, x, dout, n);
}
static inline void verba_packed_attention(const float *qkv, float *out, const long *offsets, long s0, long s1,
                                          const int32_t *key_mask, long heads, long head_dim, float *scratch,
                                          int first_query_only) {
    verba_kernels()->packed_attention(qkv, out, offsets, s0, s1, key_mask, heads, head_dim, scratch,
                                      first_query_only);
}
static inline void verba_half_to_float(const void *src, float *dst, long n) { verba_kernels()->half_to_float(src, dst, n); }
static inline void verba_float_to_half(const float *src, void *dst, long n) { verba_kernels()->float_to_half(src, dst, n); }
static inline void verba_bf16_to_float(const void *src, float *dst, long n) { verba_kernels()->bf16_to_float(src, dst, n); }
static inline void verba_float_to_bf16(const float *src, void *dst, long n) { verba_kernels()->float_to_bf16(src, dst, n); }


// Quantized activations of n values (n a multiple of 32): n int8 values, then n/32 float scales (one per
// 32 values: x ≈ scale · q), n/32 floats scale · (sum of the 32 values), and n/16 int16 sums of the values
// (one per 16).
static inline long verba_quant_act_bytes(long n) { return n + 8 * (n / 32) + 2 * (n / 16); }

static inline void verba_quantize_act(const float *x, void *dst, long n) { verba_kernels()->quantize_act(x, dst, n); }
static inline void verba_quant_matmul(uint32_t type, const void *w, long row_bytes, long r0, long r1, long cols,
                                      const void *act, long nx, float *y, long ldy) {
    verba_kernels()->quant_matmul(type, w, row_bytes, r0, r1, cols, act, nx, y, ldy);
}

/// Floats of n values stored as ggml `type` (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K; n a multiple
/// of the block size), as gguf-py's `dequantize` computes them. 0 for another type, else 1.
int verba_dequantize_row(uint32_t type, const void *src, float *dst, long n);

/// ggml's reference quantization (quantize_row_*_ref) of n floats into `type` blocks; same types. 0 for
/// another type, else 1.
int verba_quantize_row(uint32_t type, const float *src, void *dst, long n);

#endif
