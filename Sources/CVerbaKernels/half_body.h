// Conversions between float32 and IEEE binary16 / bfloat16, included by kernels_body.h (one copy per CPU
// level). Round to nearest, ties to even; NaN stays NaN (quiet, top payload bits kept), as F16C does.
// Levels with F16C use vcvtph2ps / vcvtps2ph; the others the bit-level formulas below, which the compiler
// vectorizes. 16-bit buffers may be at any alignment.

VI float half_bits_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, em = h & 0x7fff, bits;
    if (em >= 0x7c00) {
        // Infinity or NaN: all-ones exponent, mantissa moved up, NaN quieted.
        bits = 0x7f800000 | (em & 0x3ff) << 13 | ((em & 0x3ff) ? 0x400000 : 0);
    } else {
        // The exponent field read with float's bias (127) instead of half's (15) is 2^112 too small, for
        // normals and subnormals alike; one exact multiplication fixes it.
        float f;
        uint32_t moved = em << 13;
        memcpy(&f, &moved, 4);
        f *= 0x1p112f;
        memcpy(&bits, &f, 4);
    }
    return ({ float r; uint32_t b = sign | bits; memcpy(&r, &b, 4); r; });
}

VI uint16_t float_to_half_bits(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t mag = bits & 0x7fffffff, result;
    if (mag > 0x7f800000) {
        result = 0x7e00 | ((mag >> 13) & 0x3ff);              // NaN
    } else if (mag >= 0x477ff000) {
        result = 0x7c00;                                       // ≥ 65520 rounds to infinity
    } else if (mag < 0x38800000) {
        // Below 2^-14, a subnormal half: adding 0.5 puts |x|·2^24 in the low mantissa bits, rounded to
        // nearest even by the addition itself.
        float f;
        memcpy(&f, &mag, 4);
        f += 0.5f;
        uint32_t fb;
        memcpy(&fb, &f, 4);
        result = fb - 0x3f000000;
    } else {
        // Rebias the exponent and round the 13 dropped bits to nearest even in one addition.
        result = (mag + 0xc8000fffu + ((mag >> 13) & 1)) >> 13;
    }
    return sign | (uint16_t)result;
}

static void K_half_to_float(const void *src, float *dst, long n) {
    const unsigned char *s = src;
    long i = 0;
#if VERBA_HAS_F16C
    for (; i + 8 <= n; i += 8) {
        __m128i h;
        memcpy(&h, s + 2 * i, 16);
        __m256 f = _mm256_cvtph_ps(h);
        memcpy(dst + i, &f, 32);
    }
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, s + 2 * i, 2);
        dst[i] = half_bits_to_float(h);
    }
}

static void K_float_to_half(const float *src, void *dst, long n) {
    unsigned char *d = dst;
    long i = 0;
#if VERBA_HAS_F16C
    for (; i + 8 <= n; i += 8) {
        __m256 f;
        memcpy(&f, src + i, 32);
        __m128i h = _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT);
        memcpy(d + 2 * i, &h, 16);
    }
#endif
    for (; i < n; i++) {
        uint16_t h = float_to_half_bits(src[i]);
        memcpy(d + 2 * i, &h, 2);
    }
}

static void K_bf16_to_float(const void *src, float *dst, long n) {
    const unsigned char *s = src;
    for (long i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, s + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        memcpy(dst + i, &bits, 4);
    }
}

static void K_float_to_bf16(const float *src, void *dst, long n) {
    unsigned char *d = dst;
    for (long i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, src + i, 4);
        uint32_t rounded = (bits + 0x7fff + ((bits >> 16) & 1)) >> 16;
        uint32_t quiet = (bits >> 16) | 0x0040;
        uint16_t h = (uint16_t)((bits & 0x7fffffff) > 0x7f800000 ? quiet : rounded);
        memcpy(d + 2 * i, &h, 2);
    }
}
