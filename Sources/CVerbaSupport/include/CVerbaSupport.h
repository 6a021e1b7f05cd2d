// Small C helpers Swift has no spelling for. Static inline, so the Swift optimizer inlines them.
#ifndef CVERBASUPPORT_H
#define CVERBASUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Asks the CPU to start loading the cache line at `p` (for reading, keep in all levels). Never faults,
/// whatever `p` is: a hint only.
static inline void verba_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Asks the CPU to fetch the cache line at `p` for writing (exclusive, taking it from other cores'
/// caches) while it works on something else, so that a later atomic write there does not wait for
/// the other cores. Never faults: a hint only (a no-op on x86 CPUs without PREFETCHW).
static inline void verba_prefetch_write(const void *p) {
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

// A sequence lock over a 64-bit word that holds a version (even: stable, odd: a writer is inside)
// together with other fields (the meta word of a cache line in a table), for tables that threads read
// without locks and write rarely: a reader loads the word, reads the rest of the line, and keeps what
// it read only if `verba_seq64_same` finds the word unchanged; a writer swaps the word for a "busy"
// value with `verba_cas_u64` (skipping its write if that fails), writes the line, and publishes the
// final word with `verba_store_release_u64`.

/// The word, with acquire order: reads after it see at least the writes published before it.
static inline uint64_t verba_load_acquire_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint32_t verba_load_acquire_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void verba_store_release_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/// True when the word still holds `start`: the reads since `verba_load_acquire_u64` returned it saw
/// one consistent line.
static inline int verba_seq64_same(const uint64_t *p, uint64_t start) {
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(p, __ATOMIC_RELAXED) == start;
}

/// Replaces `expected` by `desired` if the word still holds `expected` (true then): the writes after it
/// are not seen before it.
static inline int verba_cas_u64(uint64_t *p, uint64_t expected, uint64_t desired) {
    if (!__atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 0;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return 1;
}

/// Stores the word with release order: the writes before it are seen by whoever sees it.
static inline void verba_store_release_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/// A byte that several threads may read and write (each writer storing the same value), without
/// ordering: for flags learned lazily.
static inline uint8_t verba_load_relaxed_u8(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void verba_store_relaxed_u8(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/// Where the JSON object or array that starts at `p[0]` ('{' or '[') ends: the offset just past its
/// closing bracket, or SIZE_MAX when the `n` bytes end first. Strings are stepped over with their
/// escapes and brackets counted, nothing else checked: for moving past a value another thread reads.
/// Sixteen bytes at a time with SSE2 (the bytes that matter are quotes, backslashes and brackets);
/// `jsonContainerEndReference` in Swift is the plain version it is tested against.
size_t verba_json_skip_container(const uint8_t *p, size_t n);

// Atomic file writes, so that a reader or a crash never sees half a file: the bytes go to a new
// temporary file beside `path`, which is flushed to disk and renamed over `path` once complete.
// Every function returns 0, or -1 with errno set.

/// Creates the temporary file for `path` (mode 0644 less the umask; its name is written to `temp`,
/// `temp_size` bytes of room) and returns its descriptor, or -1 with errno set.
int verba_atomic_begin(const char *path, char *temp, size_t temp_size);
/// Writes all `count` bytes (retrying short and interrupted writes).
int verba_atomic_write(int fd, const void *bytes, size_t count);
/// Flushes the file to disk, closes it and renames it over `path`; on failure the temporary file is
/// removed (errno says why).
int verba_atomic_commit(int fd, const char *temp, const char *path);
/// Closes and removes the temporary file (a write failed or was given up).
void verba_atomic_abort(int fd, const char *temp);
/// `verba_atomic_begin`, `verba_atomic_write` and `verba_atomic_commit` of one buffer.
int verba_write_file_atomically(const char *path, const void *bytes, size_t count);

#endif
