// The kernels for every CPU: baseline x86-64 (SSE2) or, on other architectures, what the compiler's
// default target gives (NEON on arm64).
#include "CVerbaKernels.h"

#define VERBA_SUFFIX baseline
#define VERBA_LEVEL VERBA_LEVEL_BASELINE
#define VERBA_HAS_FMA 0
#define VERBA_HAS_F16C 0
#define VERBA_HAS_AVX2 0
#define VERBA_HAS_AVX512 0
#define VERBA_HAS_VNNI 0
#include "kernels_body.h"
