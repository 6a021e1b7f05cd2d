// Chooses the kernel level once: the best the CPU and the OS support (cpuid for the instructions,
// xgetbv for the OS saving the ymm / zmm registers), unless VERBA_CPU names another.
#include "CVerbaKernels.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

extern const verba_kernel_table verba_table_baseline;
#if defined(__x86_64__)
extern const verba_kernel_table verba_table_avx2;
extern const verba_kernel_table verba_table_avx512;
extern const verba_kernel_table verba_table_avx512vnni;
#endif

static const char *const level_names[VERBA_LEVEL_COUNT] = {"baseline", "avx2", "avx512", "avx512vnni"};

static int detect_level(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return VERBA_LEVEL_BASELINE;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return VERBA_LEVEL_BASELINE;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0x6) != 0x6) return VERBA_LEVEL_BASELINE;       // OS saves xmm and ymm state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return VERBA_LEVEL_BASELINE;
    int avx2 = (b >> 5) & 1;
    if (!avx2) return VERBA_LEVEL_BASELINE;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);   // F, DQ, BW, VL
    int vnni = (c >> 11) & 1;                                                                  // AVX512_VNNI
    if (avx512 && (xcr0_lo & 0xe0) == 0xe0) return vnni ? VERBA_LEVEL_AVX512VNNI : VERBA_LEVEL_AVX512;  // opmask, zmm
    return VERBA_LEVEL_AVX2;
#else
    return VERBA_LEVEL_BASELINE;
#endif
}

static const verba_kernel_table *table_of(int level) {
    switch (level) {
    case VERBA_LEVEL_BASELINE: return &verba_table_baseline;
#if defined(__x86_64__)
    case VERBA_LEVEL_AVX2: return &verba_table_avx2;
    case VERBA_LEVEL_AVX512: return &verba_table_avx512;
    case VERBA_LEVEL_AVX512VNNI: return &verba_table_avx512vnni;
#endif
    default: return NULL;
    }
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int best_level;
static const verba_kernel_table *active;

static void choose(void) {
    best_level = detect_level();
    int level = best_level;
    const char *forced = getenv("VERBA_CPU");
    if (forced && *forced) {
        int wanted = -1;
        for (int l = 0; l < VERBA_LEVEL_COUNT; l++) if (strcmp(forced, level_names[l]) == 0) wanted = l;
        if (wanted < 0) {
            fprintf(stderr, "verba: VERBA_CPU=%s is not one of baseline, avx2, avx512, avx512vnni; using %s\n", forced,
                    level_names[best_level]);
        } else if (wanted > best_level) {
            fprintf(stderr, "verba: VERBA_CPU=%s is not supported by this CPU; using %s\n", forced,
                    level_names[best_level]);
        } else {
            level = wanted;
        }
    }
    __atomic_store_n(&active, table_of(level), __ATOMIC_RELEASE);
}

const verba_kernel_table *verba_kernels(void) {
    const verba_kernel_table *t = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (t) return t;
    pthread_once(&once, choose);
    return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

int verba_cpu_best_level(void) {
    pthread_once(&once, choose);
    return best_level;
}

const verba_kernel_table *verba_kernels_for_level(int level) {
    if (level < 0 || level > verba_cpu_best_level()) return NULL;
    return table_of(level);
}

int verba_kernels_select(int level) {
    const verba_kernel_table *t = verba_kernels_for_level(level);
    if (!t) return 0;
    __atomic_store_n(&active, t, __ATOMIC_RELEASE);
    return 1;
}
