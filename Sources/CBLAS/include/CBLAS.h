// OpenBLAS, opened at its first use instead of linked: most `verba` commands (tokenize, decode,
// tokenizer training) never multiply matrices, and loading OpenBLAS with the program cost every one of
// them about 1.6 ms of start-up (it brings libgfortran and starts its worker threads).
#ifndef VERBA_CBLAS_H
#define VERBA_CBLAS_H

#include <cblas.h>  // the CBLAS enums and types only; nothing here is linked

/// Opens OpenBLAS (once; later calls return at once): 0 on success, -1 if it cannot be loaded (see
/// `verba_blas_error`). On load its own threads are set to one: Verba splits products itself.
int verba_blas_load(void);

/// Why `verba_blas_load` failed (empty if it did not).
const char *verba_blas_error(void);

/// `cblas_sgemm`, loading OpenBLAS first if needed (a failure to load aborts with the reason:
/// commands check `verba_blas_load` before they compute).
void verba_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE transA, enum CBLAS_TRANSPOSE transB,
                 int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc);

/// `cblas_sgemv`, loading OpenBLAS first if needed.
void verba_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *a, int lda, const float *x, int incx, float beta, float *y, int incy);

/// `openblas_set_num_threads`, loading OpenBLAS first if needed.
void verba_blas_set_threads(int n);

#endif
