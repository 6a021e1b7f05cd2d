// CVerbaSupport: inline helpers in include/CVerbaSupport.h, and the few functions too long to inline.
#include "CVerbaSupport.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// One byte of the container walk: updates the string state and depth; true when the container ends.
/// `skip` is set when the byte is a backslash inside a string (the next byte is escaped).
static inline int step(uint8_t c, int *in_string, long *depth, int *skip) {
    if (*in_string) {
        if (c == '\\') *skip = 1;
        else if (c == '"') *in_string = 0;
        return 0;
    }
    switch (c) {
    case '"': *in_string = 1; return 0;
    case '{': case '[': (*depth)++; return 0;
    case '}': case ']': return --(*depth) == 0;
    default: return 0;
    }
}

size_t verba_json_skip_container(const uint8_t *p, size_t n) {
    int in_string = 0;
    long depth = 0;
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i open1 = _mm_set1_epi8('{'), close1 = _mm_set1_epi8('}');
    const __m128i open2 = _mm_set1_epi8('['), close2 = _mm_set1_epi8(']');
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                 _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, open1), _mm_cmpeq_epi8(v, close1)),
                                              _mm_or_si128(_mm_cmpeq_epi8(v, open2), _mm_cmpeq_epi8(v, close2))));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        size_t next = i + 16;
        while (mask) {
            unsigned k = (unsigned)__builtin_ctz(mask);
            int skip = 0;
            if (step(p[i + k], &in_string, &depth, &skip)) return i + k + 1;
            if (skip) {
                // The escaped byte is not looked at: it may be the first of the next block.
                if (k + 2 >= 16) { next = i + k + 2; mask = 0; }
                else mask &= ~0u << (k + 2);
            } else {
                mask &= mask - 1;
            }
        }
        i = next;
    }
#endif
    while (i < n) {
        int skip = 0;
        if (step(p[i], &in_string, &depth, &skip)) return i + 1;
        i += skip ? 2 : 1;
    }
    return SIZE_MAX;
}
