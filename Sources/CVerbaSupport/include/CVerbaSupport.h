// Small C helpers Swift has no spelling for. Static inline, so the Swift optimizer inlines them.
#ifndef CVERBASUPPORT_H
#define CVERBASUPPORT_H

/// Asks the CPU to start loading the cache line at `p` (for reading, keep in all levels). Never faults,
/// whatever `p` is: a hint only.
static inline void verba_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
