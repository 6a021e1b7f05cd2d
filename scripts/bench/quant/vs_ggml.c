// The quantized dot products of Verba's kernels and of llama.cpp's ggml-cpu on the same weights, cache-
// resident (16 rows × 1536 columns, best of 20000 runs): what each does per byte of weights when memory is
// not the limit. Each side quantizes the activations its own way (Verba: per 32 values; ggml: q8_0 or
// q8_K), outside the timing. Built and run by scripts/bench-quant-vs-ggml.sh.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "CVerbaKernels.h"

void ggml_cpu_init(void);
void quantize_row_q8_0(const float *x, void *y, int64_t k);
void quantize_row_q8_K(const float *x, void *y, int64_t k);
typedef void (*vec_dot)(int n, float *s, size_t bs, const void *vx, size_t bx, const void *vy, size_t by, int nrc);
void ggml_vec_dot_q8_0_q8_0(int, float *, size_t, const void *, size_t, const void *, size_t, int);
void ggml_vec_dot_q4_0_q8_0(int, float *, size_t, const void *, size_t, const void *, size_t, int);
void ggml_vec_dot_q4_K_q8_K(int, float *, size_t, const void *, size_t, const void *, size_t, int);
void ggml_vec_dot_q6_K_q8_K(int, float *, size_t, const void *, size_t, const void *, size_t, int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
    ggml_cpu_init();
    enum { ROWS = 16, COLS = 1536 };
    static float w[ROWS * COLS], x[COLS], y[ROWS];
    static unsigned char q[ROWS * COLS * 2], ours[2 * COLS], theirs[2 * COLS];
    srand(1);
    for (int i = 0; i < ROWS * COLS; i++) w[i] = (float)(rand() % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < COLS; i++) x[i] = (float)(rand() % 2001) / 1000.0f - 1.0f;
    struct { const char *name; uint32_t type; int block, bytes; vec_dot dot; int k; } types[] = {
        {"q8_0", 8, 32, 34, ggml_vec_dot_q8_0_q8_0, 0}, {"q4_0", 2, 32, 18, ggml_vec_dot_q4_0_q8_0, 0},
        {"q4_K", 12, 256, 144, ggml_vec_dot_q4_K_q8_K, 1}, {"q6_K", 14, 256, 210, ggml_vec_dot_q6_K_q8_K, 1},
    };
    printf("cache-resident dot products, %d×%d, kernels: level %d (GB/s of weight bytes)\n", ROWS, COLS,
           verba_kernels()->level);
    for (int t = 0; t < 4; t++) {
        long row_bytes = COLS / types[t].block * types[t].bytes;
        verba_quantize_row(types[t].type, w, q, ROWS * COLS);
        verba_quantize_act(x, ours, COLS);
        (types[t].k ? quantize_row_q8_K : quantize_row_q8_0)(x, theirs, COLS);
        double best_ours = 1e9, best_theirs = 1e9;
        for (int rep = 0; rep < 20000; rep++) {
            double s = now();
            verba_quant_matmul(types[t].type, q, row_bytes, 0, ROWS, COLS, ours, 1, y, ROWS);
            double e = now() - s;
            if (e < best_ours) best_ours = e;
            s = now();
            for (int r = 0; r < ROWS; r++) types[t].dot(COLS, y + r, 0, q + r * row_bytes, 0, theirs, 0, 1);
            e = now() - s;
            if (e < best_theirs) best_theirs = e;
        }
        double bytes = (double)ROWS * (double)row_bytes;
        printf("%s  verba %5.1f GB/s  ggml %5.1f GB/s  (%.2f×)\n", types[t].name, bytes / best_ours / 1e9,
               bytes / best_theirs / 1e9, best_theirs / best_ours);
    }
    return 0;
}
