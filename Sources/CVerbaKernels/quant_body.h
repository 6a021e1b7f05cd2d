// Products of ggml-quantized weight rows with quantized activations, included by kernels_body.h (one copy
// per CPU level). Activations are quantized per 32 values to int8 with a float scale (x ≈ d·q, d =
// max|x|/127), with int16 sums per 16 values (see verba_quant_act_bytes); each weight block is then an
// integer dot product of its levels with the activation's int8 values, scaled by both scales, plus a
// correction from the sums where the block has an offset (Q4_0 −8, Q5_0 −16, Q6_K −32) or a minimum
// (Q4_1, Q5_1, Q4_K, Q5_K). The activation quantization does the same float operations at every level, so
// the integer parts are identical everywhere; only the order of the float sums differs.
// With AVX2 the 8-bit products are vpmaddubsw + vpmaddwd (unsigned weight levels × signed activations);
// with VNNI one vpdpbusd. Without either, plain C.

// MARK: Activation quantization

typedef int8_t v16c __attribute__((vector_size(16)));

static void K_quantize_act(const float *x, void *dst, long n) {
    int8_t *qs = dst;
    float *ds = (float *)((char *)dst + n), *dsums = ds + n / 32;
    int16_t *sums = (int16_t *)(dsums + n / 32);
    for (long b = 0; b < n / 32; b++) {
        v16 a = ld(x + 32 * b), c = ld(x + 32 * b + 16);
        float amax = hmax(vmax(vabs(a), vabs(c)));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        // Round to nearest even by adding and removing 1.5·2^23 (|x·id| ≤ 127); the product is its own
        // statement so no level fuses it into the addition.
        v16 pa = a * id, pc = c * id;
        v16 ra = (pa + 12582912.0f) - 12582912.0f, rc = (pc + 12582912.0f) - 12582912.0f;
        v16i ia = __builtin_convertvector(ra, v16i), ic = __builtin_convertvector(rc, v16i);
        v16c qa = __builtin_convertvector(ia, v16c), qc = __builtin_convertvector(ic, v16c);
        memcpy(qs + 32 * b, &qa, 16);
        memcpy(qs + 32 * b + 16, &qc, 16);
        int s0 = __builtin_reduce_add(ia), s1 = __builtin_reduce_add(ic);
        float dv = d, dsum = d * (float)(s0 + s1);
        memcpy(ds + b, &dv, 4);
        memcpy(dsums + b, &dsum, 4);
        int16_t h0 = (int16_t)s0, h1 = (int16_t)s1;
        memcpy(sums + 2 * b, &h0, 2);
        memcpy(sums + 2 * b + 1, &h1, 2);
    }
}

/// A view of quantized activations: values, scales per 32, scale × sum per 32, sums per 16.
typedef struct { const int8_t *q; const float *d; const float *ds; const int16_t *s; } qact;

VI qact act_view(const void *a, long n) {
    const float *d = (const float *)((const char *)a + n);
    qact v = {a, d, d + n / 32, (const int16_t *)(d + 2 * (n / 32))};
    return v;
}

VI float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
#if VERBA_HAS_F16C
    return _cvtsh_ss(h);
#else
    return half_bits_to_float(h);
#endif
}

VI int sum32(qact a, long blk) { return a.s[2 * blk] + a.s[2 * blk + 1]; }

/// The 6-bit scales and minimums of a Q4_K / Q5_K block's 12 scale bytes.
VI void k4_scales(const uint8_t *q, int *sc, int *m) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (q[j + 8] & 0xF) | ((q[j] >> 6) << 4);
        m[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
    }
}

#if VERBA_HAS_AVX2

// MARK: AVX2 / VNNI
// Each kernel keeps two or more independent float accumulators, so consecutive blocks' multiply-adds do
// not wait on one another.

/// Eight int32 sums of four products each of unsigned bytes u and signed bytes s.
VI __m256i dot_us(__m256i u, __m256i s) {
#if VERBA_HAS_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

VI float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

VI __m256i ld32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// The 32 nibbles of 16 bytes as bytes: low nibbles first, then high nibbles.
VI __m256i nibbles16(const uint8_t *p) {
    __m128i raw = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}

/// 0x10 in byte i where bit i of the 32 bits at p is set, else 0.
VI __m256i high_bits32(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                         _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)), _mm256_set1_epi64x(-1));
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/// Eight float16 values at p, p + stride, ..., p + 7·stride, converted together.
VI uint16_t ld16(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return h; }

VI __m256 f16x8(const uint8_t *p, int stride) {
    __m128i v = _mm_setr_epi16((short)ld16(p), (short)ld16(p + stride), (short)ld16(p + 2 * stride), (short)ld16(p + 3 * stride),
                               (short)ld16(p + 4 * stride), (short)ld16(p + 5 * stride), (short)ld16(p + 6 * stride),
                               (short)ld16(p + 7 * stride));
    return _mm256_cvtph_ps(v);
}

/// One block with scalar scales (the blocks after the last group of eight): acc += s · p; c += t.
#define BLOCK32(acc, c, p, s, t) do { (acc) = _mm256_fmadd_ps(_mm256_set1_ps(s), _mm256_cvtepi32_ps(p), (acc)); (c) += (t); } while (0)

/// One block's integer products of each type (weights at wb, activation block b).
// |q| × (x with q's sign): unsigned × signed, the same products.
#define Q8_0_DOT(wb, b) ({ __m256i q_ = ld32((wb) + 2); dot_us(_mm256_sign_epi8(q_, q_), _mm256_sign_epi8(ld32(a.q + 32 * (b)), q_)); })
#define Q4_0_DOT(wb, b) dot_us(nibbles16((wb) + 2), ld32(a.q + 32 * (b)))
#define Q4_1_DOT(wb, b) dot_us(nibbles16((wb) + 4), ld32(a.q + 32 * (b)))
#define Q5_0_DOT(wb, b) dot_us(_mm256_or_si256(nibbles16((wb) + 6), high_bits32((wb) + 2)), ld32(a.q + 32 * (b)))
#define Q5_1_DOT(wb, b) dot_us(_mm256_or_si256(nibbles16((wb) + 8), high_bits32((wb) + 4)), ld32(a.q + 32 * (b)))

/// One block with its scales converted on its own; the offset or minimum term already multiplied out.
#define Q8_0_ONE(acc, c, wb, b) BLOCK32(acc, c, Q8_0_DOT(wb, b), f16_at(wb) * a.d[b], 0.0f)
#define Q4_0_ONE(acc, c, wb, b) BLOCK32(acc, c, Q4_0_DOT(wb, b), f16_at(wb) * a.d[b], -8.0f * f16_at(wb) * a.ds[b])
#define Q4_1_ONE(acc, c, wb, b) BLOCK32(acc, c, Q4_1_DOT(wb, b), f16_at(wb) * a.d[b], f16_at((wb) + 2) * a.ds[b])
#define Q5_0_ONE(acc, c, wb, b) BLOCK32(acc, c, Q5_0_DOT(wb, b), f16_at(wb) * a.d[b], -16.0f * f16_at(wb) * a.ds[b])
#define Q5_1_ONE(acc, c, wb, b) BLOCK32(acc, c, Q5_1_DOT(wb, b), f16_at(wb) * a.d[b], f16_at((wb) + 2) * a.ds[b])

/// The factor of d·Σx in a group of eight blocks' offset (block scale) or minimum (block minimum) term.
#define NO_CFAC(w8) _mm256_setzero_ps()
#define D34(w8) f16x8(w8, 34)
#define D18(w8) f16x8(w8, 18)
#define M20(w8) f16x8((w8) + 2, 20)
#define D22(w8) f16x8(w8, 22)
#define M24(w8) f16x8((w8) + 2, 24)

#if VERBA_HAS_AVX512

/// Sixteen int32 sums of four products each of unsigned bytes u and signed bytes s.
VI __m512i dot_us512(__m512i u, __m512i s) {
#if VERBA_HAS_VNNI
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
#else
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
#endif
}

VI __m512i join2(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
VI __m512i ld64(const void *p) { return _mm512_loadu_si512(p); }

/// Two consecutive blocks' integer products (weights at wb, activation blocks b and b + 1), one block per
/// 256-bit half.
#if VERBA_HAS_VNNI
// Levels + 128 (unsigned), so the products carry 128·Σx, taken off with the offset term (no saturation:
// vpdpbusd sums in 32 bits).
#define Q8_0_DOT2(wb, b) dot_us512(_mm512_xor_si512(join2(ld32((wb) + 2), ld32((wb) + 36)), _mm512_set1_epi8((char)0x80)), ld64(a.q + 32 * (b)))
#define Q8_0_OFFSET8 (-128.0f)
#define Q8_0_CFAC D34
#else
// |q| × (x negated where q < 0).
#define Q8_0_DOT2(wb, b) ({ __m512i q_ = join2(ld32((wb) + 2), ld32((wb) + 36)), x_ = ld64(a.q + 32 * (b)); \
    dot_us512(_mm512_abs_epi8(q_), _mm512_mask_sub_epi8(x_, _mm512_movepi8_mask(q_), _mm512_setzero_si512(), x_)); })
#define Q8_0_OFFSET8 0.0f
#define Q8_0_CFAC NO_CFAC
#endif
#define NIB2(wb, bytes, off) _mm512_and_si512(join2(_mm256_set_m128i(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)((wb) + (off))), 4), \
    _mm_loadu_si128((const __m128i *)((wb) + (off)))), _mm256_set_m128i(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)((wb) + (bytes) + (off))), 4), \
    _mm_loadu_si128((const __m128i *)((wb) + (bytes) + (off))))), _mm512_set1_epi8(0x0F))
#define Q4_0_DOT2(wb, b) dot_us512(NIB2(wb, 18, 2), ld64(a.q + 32 * (b)))
#define Q4_1_DOT2(wb, b) dot_us512(NIB2(wb, 20, 4), ld64(a.q + 32 * (b)))
#define Q5_0_DOT2(wb, b) dot_us512(_mm512_or_si512(NIB2(wb, 22, 6), join2(high_bits32((wb) + 2), high_bits32((wb) + 24))), ld64(a.q + 32 * (b)))
#define Q5_1_DOT2(wb, b) dot_us512(_mm512_or_si512(NIB2(wb, 24, 8), join2(high_bits32((wb) + 4), high_bits32((wb) + 28))), ld64(a.q + 32 * (b)))
#define Q4_0_OFFSET8 (-8.0f)
#define Q4_1_OFFSET8 1.0f
#define Q5_0_OFFSET8 (-16.0f)
#define Q5_1_OFFSET8 1.0f

/// The loop over a row of 32-value blocks. Eight blocks at a time: their scales converted together, two blocks per 512-bit product, each pair scaled by its two lanes of the scale vector, and
/// the offset or minimum term CFAC · d·Σx accumulated eight at a time; the remaining blocks one at a time.
#define ROW32(BYTES, DOT2, OFFSET8, CFAC, ONE)                                           \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                      \
    __m256 rest = _mm256_setzero_ps(), cv = _mm256_setzero_ps();                          \
    float c0 = 0;                                                                        \
    long b = 0;                                                                          \
    for (; b + 8 <= nb; b += 8) {                                                        \
        const uint8_t *w8 = w + b * (BYTES);                                             \
        __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(f16x8(w8, BYTES), _mm256_loadu_ps(a.d + b))); \
        if ((OFFSET8) != 0.0f) cv = _mm256_fmadd_ps(CFAC(w8), _mm256_loadu_ps(a.ds + b), cv); \
        __m512i p0 = DOT2(w8, b), p1 = DOT2(w8 + 2 * (BYTES), b + 2);                      \
        __m512i p2 = DOT2(w8 + 4 * (BYTES), b + 4), p3 = DOT2(w8 + 6 * (BYTES), b + 6);    \
        acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), s), _mm512_cvtepi32_ps(p0), acc0); \
        acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3), s), _mm512_cvtepi32_ps(p1), acc1); \
        acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5), s), _mm512_cvtepi32_ps(p2), acc0); \
        acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_setr_epi32(6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7), s), _mm512_cvtepi32_ps(p3), acc1); \
    }                                                                                    \
    for (; b < nb; b++) ONE(rest, c0, w + b * (BYTES), b);                               \
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + hsum8(rest) + c0 + (OFFSET8) * hsum8(cv);

static float dot_q8_0(const uint8_t *w, qact a, long nb) { ROW32(34, Q8_0_DOT2, Q8_0_OFFSET8, Q8_0_CFAC, Q8_0_ONE) }
static float dot_q4_0(const uint8_t *w, qact a, long nb) { ROW32(18, Q4_0_DOT2, Q4_0_OFFSET8, D18, Q4_0_ONE) }
static float dot_q4_1(const uint8_t *w, qact a, long nb) { ROW32(20, Q4_1_DOT2, Q4_1_OFFSET8, M20, Q4_1_ONE) }
static float dot_q5_0(const uint8_t *w, qact a, long nb) { ROW32(22, Q5_0_DOT2, Q5_0_OFFSET8, D22, Q5_0_ONE) }
static float dot_q5_1(const uint8_t *w, qact a, long nb) { ROW32(24, Q5_1_DOT2, Q5_1_OFFSET8, M24, Q5_1_ONE) }

#else

/// The loop over a row of 32-value blocks. Eight blocks at a time: their scales converted together, each block's integer products scaled by its lane of the scale vector into one of two
/// accumulators, and the offset or minimum term CFAC · d·Σx accumulated eight at a time; the remaining
/// blocks one at a time.
#define ROW32(BYTES, DOT, OFFSET8, CFAC, ONE)                                            \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), cv = _mm256_setzero_ps(); \
    float c0 = 0;                                                                        \
    long b = 0;                                                                          \
    for (; b + 8 <= nb; b += 8) {                                                        \
        const uint8_t *w8 = w + b * (BYTES);                                             \
        __m256 s = _mm256_mul_ps(f16x8(w8, BYTES), _mm256_loadu_ps(a.d + b));            \
        if ((OFFSET8) != 0.0f) cv = _mm256_fmadd_ps(CFAC(w8), _mm256_loadu_ps(a.ds + b), cv); \
        for (int k = 0; k < 8; k += 2) {                                                 \
            __m256i p0 = DOT(w8 + k * (BYTES), b + k), p1 = DOT(w8 + (k + 1) * (BYTES), b + k + 1); \
            acc0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, _mm256_set1_epi32(k)), _mm256_cvtepi32_ps(p0), acc0); \
            acc1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, _mm256_set1_epi32(k + 1)), _mm256_cvtepi32_ps(p1), acc1); \
        }                                                                                \
    }                                                                                    \
    for (; b < nb; b++) ONE(acc0, c0, w + b * (BYTES), b);                               \
    return hsum8(_mm256_add_ps(acc0, acc1)) + c0 + (OFFSET8) * hsum8(cv);

static float dot_q8_0(const uint8_t *w, qact a, long nb) { ROW32(34, Q8_0_DOT, 0.0f, NO_CFAC, Q8_0_ONE) }
static float dot_q4_0(const uint8_t *w, qact a, long nb) { ROW32(18, Q4_0_DOT, -8.0f, D18, Q4_0_ONE) }
static float dot_q4_1(const uint8_t *w, qact a, long nb) { ROW32(20, Q4_1_DOT, 1.0f, M20, Q4_1_ONE) }
static float dot_q5_0(const uint8_t *w, qact a, long nb) { ROW32(22, Q5_0_DOT, -16.0f, D22, Q5_0_ONE) }
static float dot_q5_1(const uint8_t *w, qact a, long nb) { ROW32(24, Q5_1_DOT, 1.0f, M24, Q5_1_ONE) }

#endif

/// The eight 6-bit scales (bytes 0-7 of *sc) and minimums (*mn) of a Q4_K / Q5_K block's 12 scale
/// bytes, unpacked with 32-bit word operations.
VI void k4_scale_bytes(const uint8_t *q, uint64_t *sc, uint64_t *mn) {
    uint32_t u0, u1, u2;
    memcpy(&u0, q, 4);
    memcpy(&u1, q + 4, 4);
    memcpy(&u2, q + 8, 4);
    const uint32_t six = 0x3f3f3f3f, four = 0x0f0f0f0f, two = 0x03030303;
    *sc = (uint64_t)(u0 & six) | (uint64_t)((u2 & four) | ((u0 >> 6) & two) << 4) << 32;
    *mn = (uint64_t)(u1 & six) | (uint64_t)(((u2 >> 4) & four) | ((u1 >> 6) & two) << 4) << 32;
}

/// Q4_K (five = 0) and Q5_K: eight sub-blocks of 32, each d·scale_j·q − dmin·min_j. The sub-blocks'
/// factors d·scale_j·dx_j and the minimum terms min_j·dx_j·Σx_j are computed eight at a time.
VI float dot_k4_k5(const uint8_t *w, long block_bytes, long qs_offset, int five, qact a, long nb) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 mins = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    for (long b = 0; b < nb; b++, w += block_bytes) {
        uint64_t scb, mnb;
        k4_scale_bytes(w + 4, &scb, &mnb);
        __m256 scf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)scb)));
        __m256 mnf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mnb)));
        __m256 factor = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(f16_at(w)), scf), _mm256_loadu_ps(a.d + 8 * b));
        mins = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(f16_at(w + 2)), mnf), _mm256_loadu_ps(a.ds + 8 * b), mins);
        const uint8_t *qs = w + qs_offset;
        __m256i hb = five ? ld32(w + 16) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i raw = ld32(qs + 32 * c);
            __m256i lo = _mm256_and_si256(raw, low), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
            if (five) {
                // Bit 2c of each qh byte is the fifth bit of the low-nibble sub-block, bit 2c + 1 the other's.
                __m256i h = _mm256_srli_epi16(hb, 2 * c);
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4));
            }
            long j = 8 * b + 2 * c;
            __m256i p0 = dot_us(lo, ld32(a.q + 32 * j)), p1 = dot_us(hi, ld32(a.q + 32 * (j + 1)));
            __m256 f0 = _mm256_permutevar8x32_ps(factor, _mm256_set1_epi32(2 * c));
            __m256 f1 = _mm256_permutevar8x32_ps(factor, _mm256_set1_epi32(2 * c + 1));
            acc[c & 1] = _mm256_fmadd_ps(f0, _mm256_cvtepi32_ps(p0), acc[c & 1]);
            acc[2 + (c & 1)] = _mm256_fmadd_ps(f1, _mm256_cvtepi32_ps(p1), acc[2 + (c & 1)]);
        }
    }
    __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    return hsum8(_mm256_sub_ps(sum, mins));
}

static float dot_q4_k(const uint8_t *w, qact a, long nb) { return dot_k4_k5(w, 144, 16, 0, a, nb); }
static float dot_q5_k(const uint8_t *w, qact a, long nb) { return dot_k4_k5(w, 176, 48, 1, a, nb); }

/// Q6_K: sixteen sub-blocks of 16 with int8 scales, levels 0..63 offset by −32. The 16-bit pair sums of
/// vpmaddubsw are scaled per 16 values by vpmaddwd (the two 128-bit lanes hold two sub-blocks); the
/// offsets are 32·d·Σ dx·(scale · Σx) over the block, eight activation blocks at a time.
static float dot_q6_k(const uint8_t *w, qact a, long nb) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 offsets = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
    // Per 128-bit lane: the scale of sub-block 2k repeated for the low lane, of 2k + 1 for the high lane.
    const __m256i spread[4] = {
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3),
        _mm256_setr_epi8(4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5),
        _mm256_setr_epi8(6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7),
    };
    for (long b = 0; b < nb; b++, w += 210) {
        float d = f16_at(w + 208);
        __m128i sc8 = _mm_loadu_si128((const __m128i *)(w + 192));
        __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        // Σ over each 32-value activation block of scale · (sum of 16) for its two sub-blocks.
        __m256i sx = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)(a.s + 16 * b)));
        offsets = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(d), _mm256_loadu_ps(a.d + 8 * b)), _mm256_cvtepi32_ps(sx), offsets);
        __m256 factor = _mm256_mul_ps(_mm256_set1_ps(d), _mm256_loadu_ps(a.d + 8 * b));
        for (int half = 0; half < 2; half++) {
            __m256i l0 = ld32(w + 64 * half), l1 = ld32(w + 64 * half + 32), h = ld32(w + 128 + 32 * half);
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_and_si256(_mm256_slli_epi16(h, 4), top)),
                _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_and_si256(_mm256_slli_epi16(h, 2), top)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_and_si256(h, top)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), _mm256_and_si256(_mm256_srli_epi16(h, 2), top)),
            };
            // This half's eight scales, sign-extended to 16 bits in both lanes.
            __m128i half8 = _mm_cvtepi8_epi16(half ? _mm_unpackhi_epi64(sc8, sc8) : sc8);
            __m256i both = _mm256_set_m128i(half8, half8);
            for (int k = 0; k < 4; k++) {
                long j = 8 * b + 4 * half + k;              // activation block of these 32 values
                __m256i scales = _mm256_shuffle_epi8(both, _mm256_add_epi8(_mm256_add_epi8(spread[k], spread[k]),
                                                                           _mm256_set1_epi16(0x0100)));
                __m256i p16 = _mm256_maddubs_epi16(q[k], ld32(a.q + 32 * j));
                __m256i p = _mm256_madd_epi16(p16, scales);
                __m256 f = _mm256_permutevar8x32_ps(factor, _mm256_set1_epi32(4 * half + k));
                acc[k] = _mm256_fmadd_ps(f, _mm256_cvtepi32_ps(p), acc[k]);
            }
        }
    }
    __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    return hsum8(_mm256_fnmadd_ps(_mm256_set1_ps(32.0f), offsets, sum));
}

#else

// MARK: Plain C

/// Σ q[i]·x[i] over 32 values.
VI int idot32(const uint8_t *q, const int8_t *x) {
    int s = 0;
    for (int i = 0; i < 32; i++) s += q[i] * x[i];
    return s;
}

VI void unpack_nibbles(const uint8_t *p, uint8_t *q) {
    for (int i = 0; i < 16; i++) {
        q[i] = p[i] & 0xF;
        q[i + 16] = p[i] >> 4;
    }
}

VI void add_high_bits(const uint8_t *p, uint8_t *q) {
    uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    for (int i = 0; i < 32; i++) q[i] |= (uint8_t)(((bits >> i) & 1) << 4);
}

static float dot_q8_0(const uint8_t *w, qact a, long nb) {
    float acc = 0;
    for (long b = 0; b < nb; b++, w += 34) {
        int s = 0;
        for (int i = 0; i < 32; i++) s += (int8_t)w[2 + i] * a.q[32 * b + i];
        acc += f16_at(w) * a.d[b] * (float)s;
    }
    return acc;
}

/// Q4_0, Q4_1, Q5_0, Q5_1: levels unpacked to bytes, then d·dx·(Σ q·x − offset·Σx) (+ m·dx·Σx).
VI float dot_32(const uint8_t *w, qact a, long nb, long bytes, int has_min, int five, int offset) {
    float acc = 0;
    uint8_t q[32];
    for (long b = 0; b < nb; b++, w += bytes) {
        long qs = 2 + 2 * has_min + 4 * five;
        unpack_nibbles(w + qs, q);
        if (five) add_high_bits(w + qs - 4, q);
        int sx = sum32(a, b);
        acc += f16_at(w) * a.d[b] * (float)(idot32(q, a.q + 32 * b) - offset * sx);
        if (has_min) acc += f16_at(w + 2) * a.d[b] * (float)sx;
    }
    return acc;
}

static float dot_q4_0(const uint8_t *w, qact a, long nb) { return dot_32(w, a, nb, 18, 0, 0, 8); }
static float dot_q4_1(const uint8_t *w, qact a, long nb) { return dot_32(w, a, nb, 20, 1, 0, 0); }
static float dot_q5_0(const uint8_t *w, qact a, long nb) { return dot_32(w, a, nb, 22, 0, 1, 16); }
static float dot_q5_1(const uint8_t *w, qact a, long nb) { return dot_32(w, a, nb, 24, 1, 1, 0); }

VI float dot_k4_k5(const uint8_t *w, long block_bytes, long qs_offset, int five, qact a, long nb) {
    float acc = 0;
    uint8_t q[32];
    for (long b = 0; b < nb; b++, w += block_bytes) {
        float d = f16_at(w), dmin = f16_at(w + 2);
        int sc[8], m[8];
        k4_scales(w + 4, sc, m);
        for (int j = 0; j < 8; j++) {
            const uint8_t *p = w + qs_offset + 32 * (j / 2);
            for (int l = 0; l < 32; l++) {
                q[l] = (j & 1) ? p[l] >> 4 : p[l] & 0xF;
                if (five) q[l] |= (uint8_t)(((w[16 + l] >> j) & 1) << 4);
            }
            long k = 8 * b + j;
            acc += d * (float)sc[j] * a.d[k] * (float)idot32(q, a.q + 32 * k);
            acc -= dmin * (float)m[j] * a.d[k] * (float)sum32(a, k);
        }
    }
    return acc;
}

static float dot_q4_k(const uint8_t *w, qact a, long nb) { return dot_k4_k5(w, 144, 16, 0, a, nb); }
static float dot_q5_k(const uint8_t *w, qact a, long nb) { return dot_k4_k5(w, 176, 48, 1, a, nb); }

static float dot_q6_k(const uint8_t *w, qact a, long nb) {
    float acc = 0;
    uint8_t q[32];
    for (long b = 0; b < nb; b++, w += 210) {
        float d = f16_at(w + 208);
        const int8_t *sc = (const int8_t *)(w + 192);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = w + 64 * half, *qh = w + 128 + 32 * half;
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) {
                    int lo = (k & 1) ? ql[l + 32] : ql[l];
                    lo = (k & 2) ? lo >> 4 : lo & 0xF;
                    q[l] = (uint8_t)(lo | ((qh[l] >> (2 * k)) & 3) << 4);
                }
                long j = 8 * b + 4 * half + k;
                int s0 = sc[8 * half + 2 * k], s1 = sc[8 * half + 2 * k + 1];
                int p0 = 0, p1 = 0;
                for (int l = 0; l < 16; l++) {
                    p0 += q[l] * a.q[32 * j + l];
                    p1 += q[l + 16] * a.q[32 * j + l + 16];
                }
                acc += d * a.d[j] * (float)(s0 * (p0 - 32 * a.s[2 * j]) + s1 * (p1 - 32 * a.s[2 * j + 1]));
            }
        }
    }
    return acc;
}

#endif

// MARK: Rows × activations

typedef float (*quant_dot_fn)(const uint8_t *w, qact a, long nb);

static void K_quant_matmul(uint32_t type, const void *w, long row_bytes, long r0, long r1, long cols,
                           const void *act, long nx, float *y, long ldy) {
    quant_dot_fn f;
    long nb;
    switch (type) {
    case 2: f = dot_q4_0; nb = cols / 32; break;
    case 3: f = dot_q4_1; nb = cols / 32; break;
    case 6: f = dot_q5_0; nb = cols / 32; break;
    case 7: f = dot_q5_1; nb = cols / 32; break;
    case 8: f = dot_q8_0; nb = cols / 32; break;
    case 12: f = dot_q4_k; nb = cols / 256; break;
    case 13: f = dot_q5_k; nb = cols / 256; break;
    case 14: f = dot_q6_k; nb = cols / 256; break;
    default: return;
    }
    const uint8_t *wb = w;
    long act_bytes = verba_quant_act_bytes(cols);
    if (nx == 1) {
        qact a = act_view(act, cols);
        for (long r = r0; r < r1; r++) y[r] = f(wb + r * row_bytes, a, nb);
        return;
    }
    // Several activation rows: a tile of weight rows that stays in L2 (about 256 KB) against every
    // activation row in turn, one row at a time.
    long tile = 262144 / (row_bytes > 0 ? row_bytes : 1);
    if (tile < 4) tile = 4;
    for (long r = r0; r < r1; r += tile) {
        long re = r + tile < r1 ? r + tile : r1;
        for (long i = 0; i < nx; i++) {
            qact a = act_view((const char *)act + i * act_bytes, cols);
            for (long k = r; k < re; k++) y[i * ldy + k] = f(wb + k * row_bytes, a, nb);
        }
    }
}
