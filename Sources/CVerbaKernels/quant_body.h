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
    float *ds = (float *)((char *)dst + n);
    int16_t *sums = (int16_t *)((char *)dst + n + 4 * (n / 32));
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
        float dv = d;
        memcpy(ds + b, &dv, 4);
        int16_t s0 = (int16_t)__builtin_reduce_add(ia), s1 = (int16_t)__builtin_reduce_add(ic);
        memcpy(sums + 2 * b, &s0, 2);
        memcpy(sums + 2 * b + 1, &s1, 2);
    }
}

/// A view of quantized activations: values, scales per 32, sums per 16.
typedef struct { const int8_t *q; const float *d; const int16_t *s; } qact;

VI qact act_view(const void *a, long n) {
    qact v = {a, (const float *)((const char *)a + n), (const int16_t *)((const char *)a + n + 4 * (n / 32))};
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

static float dot_q8_0(const uint8_t *w, qact a, long nb) {
    __m256 acc = _mm256_setzero_ps();
    for (long b = 0; b < nb; b++, w += 34) {
        __m256i q = ld32(w + 2), x = ld32(a.q + 32 * b);
        // |q| × (x with q's sign): unsigned × signed, the same products.
        __m256i p = dot_us(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w) * a.d[b]), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static float dot_q4_0(const uint8_t *w, qact a, long nb) {
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (long b = 0; b < nb; b++, w += 18) {
        float s = f16_at(w) * a.d[b];
        __m256i p = dot_us(nibbles16(w + 2), ld32(a.q + 32 * b));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(s), _mm256_cvtepi32_ps(p), acc);
        corr += s * (float)sum32(a, b);
    }
    return hsum8(acc) - 8 * corr;
}

static float dot_q4_1(const uint8_t *w, qact a, long nb) {
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (long b = 0; b < nb; b++, w += 20) {
        __m256i p = dot_us(nibbles16(w + 4), ld32(a.q + 32 * b));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w) * a.d[b]), _mm256_cvtepi32_ps(p), acc);
        corr += f16_at(w + 2) * a.d[b] * (float)sum32(a, b);
    }
    return hsum8(acc) + corr;
}

static float dot_q5_0(const uint8_t *w, qact a, long nb) {
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (long b = 0; b < nb; b++, w += 22) {
        float s = f16_at(w) * a.d[b];
        __m256i q = _mm256_or_si256(nibbles16(w + 6), high_bits32(w + 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(s), _mm256_cvtepi32_ps(dot_us(q, ld32(a.q + 32 * b))), acc);
        corr += s * (float)sum32(a, b);
    }
    return hsum8(acc) - 16 * corr;
}

static float dot_q5_1(const uint8_t *w, qact a, long nb) {
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (long b = 0; b < nb; b++, w += 24) {
        __m256i q = _mm256_or_si256(nibbles16(w + 8), high_bits32(w + 4));
        __m256i p = dot_us(q, ld32(a.q + 32 * b));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(w) * a.d[b]), _mm256_cvtepi32_ps(p), acc);
        corr += f16_at(w + 2) * a.d[b] * (float)sum32(a, b);
    }
    return hsum8(acc) + corr;
}

/// Q4_K (qh NULL) and Q5_K: eight sub-blocks of 32, each d·scale_j·q − dmin·min_j.
VI float dot_k4_k5(const uint8_t *w, long block_bytes, long qs_offset, int five, qact a, long nb) {
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (long b = 0; b < nb; b++, w += block_bytes) {
        float d = f16_at(w), dmin = f16_at(w + 2);
        int sc[8], m[8];
        k4_scales(w + 4, sc, m);
        const uint8_t *qs = w + qs_offset;
        __m256i hb = five ? ld32(w + 16) : _mm256_setzero_si256();
        float mins = 0;
        for (int c = 0; c < 4; c++) {
            __m256i raw = ld32(qs + 32 * c);
            __m256i lo = _mm256_and_si256(raw, low), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
            if (five) {
                // Bit 2c of each qh byte is the fifth bit of the low-nibble sub-block, bit 2c + 1 the other's.
                __m256i h = _mm256_srli_epi16(hb, 2 * c);
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(h, 4), _mm256_set1_epi8(0x10)));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(h, 3), _mm256_set1_epi8(0x10)));
            }
            long j = 8 * b + 2 * c;
            __m256i p0 = dot_us(lo, ld32(a.q + 32 * j)), p1 = dot_us(hi, ld32(a.q + 32 * (j + 1)));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[2 * c] * a.d[j]), _mm256_cvtepi32_ps(p0), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[2 * c + 1] * a.d[j + 1]), _mm256_cvtepi32_ps(p1), acc);
            mins += (float)m[2 * c] * a.d[j] * (float)sum32(a, j) + (float)m[2 * c + 1] * a.d[j + 1] * (float)sum32(a, j + 1);
        }
        corr += dmin * mins;
    }
    return hsum8(acc) - corr;
}

static float dot_q4_k(const uint8_t *w, qact a, long nb) { return dot_k4_k5(w, 144, 16, 0, a, nb); }
static float dot_q5_k(const uint8_t *w, qact a, long nb) { return dot_k4_k5(w, 176, 48, 1, a, nb); }

/// Q6_K: sixteen sub-blocks of 16 with int8 scales, levels 0..63 offset by −32. The 16-bit pair sums of
/// vpmaddubsw are scaled per 16 values by vpmaddwd (the two 128-bit lanes hold two sub-blocks).
static float dot_q6_k(const uint8_t *w, qact a, long nb) {
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    const __m256i low = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
    for (long b = 0; b < nb; b++, w += 210) {
        float d = f16_at(w + 208);
        const int8_t *sc = (const int8_t *)(w + 192);
        float offsets = 0;
        for (int half = 0; half < 2; half++) {
            __m256i l0 = ld32(w + 64 * half), l1 = ld32(w + 64 * half + 32), h = ld32(w + 128 + 32 * half);
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_and_si256(_mm256_slli_epi16(h, 4), top)),
                _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_and_si256(_mm256_slli_epi16(h, 2), top)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_and_si256(h, top)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), _mm256_and_si256(_mm256_srli_epi16(h, 2), top)),
            };
            for (int k = 0; k < 4; k++) {
                long j = 8 * b + 4 * half + k;              // activation block of these 32 values
                int s0 = sc[8 * half + 2 * k], s1 = sc[8 * half + 2 * k + 1];
                __m256i p16 = _mm256_maddubs_epi16(q[k], ld32(a.q + 32 * j));
                __m256i p = _mm256_madd_epi16(p16, _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0)));
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d[j]), _mm256_cvtepi32_ps(p), acc);
                offsets += a.d[j] * (float)(s0 * a.s[2 * j] + s1 * a.s[2 * j + 1]);
            }
        }
        corr += d * offsets;
    }
    return hsum8(acc) - 32 * corr;
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
    // Several activation rows: a few weight rows at a time (they stay in L1) against every activation.
    for (long r = r0; r < r1; r += 4) {
        long re = r + 4 < r1 ? r + 4 : r1;
        for (long i = 0; i < nx; i++) {
            qact a = act_view((const char *)act + i * act_bytes, cols);
            for (long k = r; k < re; k++) y[i * ldy + k] = f(wb + k * row_bytes, a, nb);
        }
    }
}
