// Loads OpenBLAS with dlopen at its first use (see include/CBLAS.h).
#include "CBLAS.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         float, const float *, blasint, const float *, blasint, float, float *, blasint);
typedef void (*sgemv_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, blasint, blasint, float, const float *, blasint,
                         const float *, blasint, float, float *, blasint);
typedef void (*threads_fn)(int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn sgemm;
static sgemv_fn sgemv;
static threads_fn set_threads;
static char error_text[512];

static void load(void) {
    // The runtime library's name (libopenblas0 / libopenblas0-pthread), then the development link.
    const char *names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *handle = NULL;
    for (int i = 0; i < 2 && !handle; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(error_text, sizeof error_text, "cannot load OpenBLAS (libopenblas.so.0): %s", why ? why : "not found");
        return;
    }
    sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    sgemv = (sgemv_fn)dlsym(handle, "cblas_sgemv");
    set_threads = (threads_fn)dlsym(handle, "openblas_set_num_threads");
    if (!sgemm || !sgemv || !set_threads) {
        snprintf(error_text, sizeof error_text, "the loaded OpenBLAS lacks cblas_sgemm, cblas_sgemv or openblas_set_num_threads");
        sgemm = NULL;
        return;
    }
    set_threads(1);
}

int verba_blas_load(void) {
    pthread_once(&once, load);
    return sgemm ? 0 : -1;
}

const char *verba_blas_error(void) { return error_text; }

static void require(void) {
    if (verba_blas_load() != 0) {
        fprintf(stderr, "verba: %s\n", error_text);
        abort();
    }
}

void verba_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE transA, enum CBLAS_TRANSPOSE transB,
                 int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc) {
    require();
    sgemm(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void verba_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *a, int lda, const float *x, int incx, float beta, float *y, int incy) {
    require();
    sgemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

void verba_blas_set_threads(int n) {
    require();
    set_threads(n);
}
