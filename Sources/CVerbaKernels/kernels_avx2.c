// The kernels for x86-64 CPUs with AVX2, FMA and F16C (Haswell, Zen and later).
#include "CVerbaKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define VERBA_SUFFIX avx2
#define VERBA_LEVEL VERBA_LEVEL_AVX2
#define VERBA_HAS_FMA 1
#define VERBA_HAS_F16C 1
#define VERBA_HAS_AVX2 1
#define VERBA_HAS_AVX512 0
#define VERBA_HAS_VNNI 0
#include "kernels_body.h"
#pragma clang attribute pop
#endif
