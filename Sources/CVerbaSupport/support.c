// CVerbaSupport: inline helpers in include/CVerbaSupport.h, and the few functions too long to inline.
#include "CVerbaSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/// The folder of `path` ("." for a bare name, "/" for a file in the root) into `out`; returns the
/// file's name within it, or NULL (errno ENAMETOOLONG) when the folder does not fit in `size` bytes.
static const char *split_path(const char *path, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    int n = slash ? snprintf(out, size, "%.*s", slash == path ? 1 : (int)(slash - path), path) : snprintf(out, size, ".");
    if (n < 0 || (size_t)n >= size) { errno = ENAMETOOLONG; return NULL; }
    return slash ? slash + 1 : path;
}

int verba_atomic_begin(const char *path, char *temp, size_t temp_size) {
    char dir[4096];
    const char *base = split_path(path, dir, sizeof dir);
    if (!base) return -1;
    const char *sep = strcmp(dir, "/") == 0 ? "" : "/";
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        unsigned tag = (unsigned)now.tv_nsec ^ ((unsigned)attempt * 2654435761u);
        // At most 200 bytes of the name: the file system's limit (255) must leave room for the tag.
        int n = snprintf(temp, temp_size, "%s%s.%.200s.tmp-%ld-%08x", dir, sep, base, (long)getpid(), tag);
        if (n < 0 || (size_t)n >= temp_size) { errno = ENAMETOOLONG; return -1; }
        int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            // A file replaced keeps its permissions.
            struct stat st;
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) (void)fchmod(fd, st.st_mode & 07777);
            return fd;
        }
        if (errno != EEXIST) return -1;
    }
    errno = EEXIST;
    return -1;
}

int verba_atomic_write(int fd, const void *bytes, size_t count) {
    const char *p = bytes;
    while (count > 0) {
        ssize_t w = write(fd, p, count);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) { errno = EIO; return -1; }
        p += w;
        count -= (size_t)w;
    }
    return 0;
}

int verba_atomic_commit(int fd, const char *temp, const char *path) {
    // A file system that cannot sync (EINVAL, ENOTSUP) still gets the rename.
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) { verba_atomic_abort(fd, temp); return -1; }
    if (close(fd) != 0) { int e = errno; unlink(temp); errno = e; return -1; }
    if (rename(temp, path) != 0) { int e = errno; unlink(temp); errno = e; return -1; }
    // The rename itself reaches the disk with the folder (best effort: the file is in place).
    char dir[4096];
    if (split_path(path, dir, sizeof dir)) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
    }
    return 0;
}

void verba_atomic_abort(int fd, const char *temp) {
    int e = errno;
    close(fd);
    unlink(temp);
    errno = e;
}

int verba_write_file_atomically(const char *path, const void *bytes, size_t count) {
    char temp[4096];
    int fd = verba_atomic_begin(path, temp, sizeof temp);
    if (fd < 0) return -1;
    if (verba_atomic_write(fd, bytes, count) != 0) { verba_atomic_abort(fd, temp); return -1; }
    return verba_atomic_commit(fd, temp, path);
}
