// The kernels for x86-64 CPUs with AVX-512 F, BW, DQ, VL and VNNI (Ice Lake, Zen 4 and later).
#include "CVerbaKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#define VERBA_SUFFIX avx512vnni
#define VERBA_LEVEL VERBA_LEVEL_AVX512VNNI
#define VERBA_HAS_FMA 1
#define VERBA_HAS_F16C 1
#define VERBA_HAS_AVX2 1
#define VERBA_HAS_AVX512 1
#define VERBA_HAS_VNNI 1
#include "kernels_body.h"
#pragma clang attribute pop
#endif
