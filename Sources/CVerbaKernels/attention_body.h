// Packed bidirectional self-attention, included by kernels_body.h (one copy per CPU level).
// qkv (N, 3C) holds every token's query, key and value rows (C = heads·head_dim); sequence s is rows
// offsets[s]..<offsets[s+1]. For each head the keys are transposed into scratch (head_dim, tPad), four
// queries are scored against 16 keys per vector, softmaxed over the t real keys (masked keys get −FLT_MAX
// added, as transformers does), and multiplied by V.

static void K_packed_attention(const float *qkv, float *out, const long *offsets, long s0, long s1,
                               const int32_t *key_mask, long heads, long head_dim, float *scratch,
                               int first_query_only) {
    long c = heads * head_dim, stride = 3 * c;
    float scale = 1.0f / sqrtf((float)head_dim);
    v16i lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    for (long s = s0; s < s1; s++) {
        long start = offsets[s], t = offsets[s + 1] - start;
        if (t == 0) continue;
        long tPad = (t + 15) / 16 * 16;
        float *kT = scratch;                       // (head_dim, tPad): this head's keys, transposed
        float *scores = scratch + head_dim * tPad; // (4, tPad): scores, then probabilities, of 4 queries
        for (long h = 0; h < heads; h++) {
            const float *kBase = qkv + start * stride + c + h * head_dim;
            const float *vBase = qkv + start * stride + 2 * c + h * head_dim;
            for (long j = 0; j < t; j++)
                for (long d = 0; d < head_dim; d++) kT[d * tPad + j] = kBase[j * stride + d];
            if (tPad > t)
                for (long d = 0; d < head_dim; d++) memset(kT + d * tPad + t, 0, (size_t)(tPad - t) * sizeof(float));
            long queries = first_query_only ? 1 : t;
            for (long i = 0; i < queries; i += 4) {
                // Four queries at a time (the last block repeats its last query).
                long rows = queries - i < 4 ? queries - i : 4;
                const float *q[4];
                q[0] = qkv + (start + i) * stride + h * head_dim;
                for (int r = 1; r < 4; r++) q[r] = r < rows ? q[0] + r * stride : q[r - 1];
                for (long jb = 0; jb < tPad; jb += 16) {
                    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                    for (long d = 0; d < head_dim; d++) {
                        v16 kv = ld(kT + d * tPad + jb);
                        a0 = fmav(splat(q[0][d]), kv, a0);
                        a1 = fmav(splat(q[1][d]), kv, a1);
                        a2 = fmav(splat(q[2][d]), kv, a2);
                        a3 = fmav(splat(q[3][d]), kv, a3);
                    }
                    st(scores + jb, a0 * scale);
                    st(scores + tPad + jb, a1 * scale);
                    st(scores + 2 * tPad + jb, a2 * scale);
                    st(scores + 3 * tPad + jb, a3 * scale);
                }
                float inv[4];
                for (int r = 0; r < 4; r++) {
                    float *row = scores + r * tPad;
                    if (key_mask)
                        for (long j = 0; j < t; j++) if (key_mask[start + j] == 0) row[j] += -FLT_MAX;
                    v16 mx = splat(-FLT_MAX);
                    for (long jb = 0; jb < tPad; jb += 16)
                        mx = vmax(mx, sel(lanes + (int32_t)jb >= (int32_t)t, splat(-FLT_MAX), ld(row + jb)));
                    v16 m = splat(hmax(mx)), sum = {0};
                    for (long jb = 0; jb < tPad; jb += 16) {
                        v16 e = sel(lanes + (int32_t)jb >= (int32_t)t, splat(0), vexp(ld(row + jb) - m));
                        st(row + jb, e);
                        sum += e;
                    }
                    inv[r] = 1.0f / hsum(sum);
                }
                // out = P · V, 16 columns of the head at a time.
                float *o0 = out + (start + i) * c + h * head_dim;
                long dBody = head_dim - head_dim % 16;
                for (long d0 = 0; d0 < dBody; d0 += 16) {
                    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                    for (long j = 0; j < t; j++) {
                        v16 v = ld(vBase + j * stride + d0);
                        a0 = fmav(splat(scores[j]), v, a0);
                        a1 = fmav(splat(scores[tPad + j]), v, a1);
                        a2 = fmav(splat(scores[2 * tPad + j]), v, a2);
                        a3 = fmav(splat(scores[3 * tPad + j]), v, a3);
                    }
                    st(o0 + d0, a0 * inv[0]);
                    if (rows > 1) st(o0 + c + d0, a1 * inv[1]);
                    if (rows > 2) st(o0 + 2 * c + d0, a2 * inv[2]);
                    if (rows > 3) st(o0 + 3 * c + d0, a3 * inv[3]);
                }
                for (long r = 0; r < rows; r++) {
                    float *o = o0 + r * c;
                    const float *p = scores + r * tPad;
                    for (long d = dBody; d < head_dim; d++) {
                        float acc = 0;
                        for (long j = 0; j < t; j++) acc += p[j] * vBase[j * stride + d];
                        o[d] = acc * inv[r];
                    }
                }
            }
        }
    }
}
