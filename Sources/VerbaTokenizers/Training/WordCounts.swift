import CVerbaSupport
import Foundation

/// Counts of distinct words (pre-tokenized pieces), keyed by their bytes: the input of the trainers.
///
/// An open-addressing hash table over an arena of bytes, so that counting a 2 GB corpus costs memory
/// in proportion to the number of distinct words, not to the corpus. Counts are 64-bit.
/// - Complexity: `add` is O(length of the word) expected.
///
/// ```swift
/// let trainer = TokenizerTrainer(options: TokenizerTrainingOptions())
/// let counts = try trainer.countWords(paths: ["corpus.txt"])
/// print("\(counts.count) distinct words, \(counts.total) in all")
/// let trained = try trainer.train(counts: counts)
/// ```
public struct WordCounts: Sendable {
    /// One distinct word: where its bytes are in `arena`, its first (up to) 8 bytes packed, its count.
    /// One record per word, so a probe that matches touches one cache line (and the arena only for
    /// words longer than 8 bytes).
    struct Entry {
        var hash: UInt64
        var head: UInt64
        var start: Int
        var count: Int
        var length: Int32
    }
    /// All distinct words' bytes, back to back.
    private var arena: [UInt8] = []
    private var entries: [Entry] = []
    /// Open-addressing slots: the hash's high 32 bits, then the index into `entries` plus one (0 = empty).
    private var slots: [UInt64]
    private var mask: Int
    /// `addAll`'s hashes of the words of a batch (scratch, kept between calls).
    private var hashes: [UInt64] = []

    package init() {
        slots = [UInt64](repeating: 0, count: 1024)
        mask = 1023
    }

    /// Number of distinct words.
    public var count: Int { entries.count }

    /// Total number of words counted (with repetitions).
    public var total: Int { entries.reduce(0) { $0 + $1.count } }

    /// How many times the word at `index` (first-seen order) was counted.
    package func count(at index: Int) -> Int { entries[index].count }

    /// Bytes held by the table (arena and index), for progress reports.
    package var memoryBytes: Int { arena.capacity + entries.capacity * MemoryLayout<Entry>.stride + slots.capacity * 8 }

    @inline(__always)
    private static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
        // FNV-1a over 8-byte words then a final mix: fast and good enough for word keys.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = 0
        let n = p.count
        if let base = p.baseAddress {
            while i + 8 <= n {
                let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                h = (h ^ w) &* 0x0000_0100_0000_01b3
                h ^= h >> 29
                i += 8
            }
            while i < n {
                h = (h ^ UInt64(base[i])) &* 0x0000_0100_0000_01b3
                i += 1
            }
        }
        h ^= UInt64(n)
        h = (h ^ (h >> 33)) &* 0xff51_afd7_ed55_8ccd
        h = (h ^ (h >> 33)) &* 0xc4ce_b9fe_1a85_ec53
        return h ^ (h >> 33)
    }

    /// The first (up to) 8 bytes of `p`, little-endian.
    @inline(__always)
    private static func head(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
        guard let base = p.baseAddress else { return 0 }
        if p.count >= 8 { return UnsafeRawPointer(base).loadUnaligned(as: UInt64.self) }
        var v: UInt64 = 0
        for i in 0..<p.count { v |= UInt64(base[i]) << (8 * UInt64(i)) }
        return v
    }

    /// Adds `count` occurrences of the word `word`.
    package mutating func add(_ word: UnsafeBufferPointer<UInt8>, count: Int = 1) {
        add(word, hash: WordCounts.hash(word), count: count)
    }

    /// Adds one occurrence of each word `base[r]`, `r` in `ranges`, in order: the same as `add` on each,
    /// with the table lines of later words prefetched while earlier ones are added (a large table is
    /// bound by memory latency: the slot, then the record it points to). Each word's slot is fetched
    /// `2 * ahead` words early, its record `ahead` words early (the slot then in cache says which).
    package mutating func addAll(_ base: UnsafePointer<UInt8>, _ ranges: [Range<Int>]) {
        let n = ranges.count
        guard n > 0 else { return }
        let ahead = 8
        if hashes.count < n { hashes = [UInt64](repeating: 0, count: n) }
        for k in 0..<n { hashes[k] = WordCounts.hash(UnsafeBufferPointer(start: base + ranges[k].lowerBound, count: ranges[k].count)) }
        @inline(__always) func prefetchSlot(_ k: Int) {
            slots.withUnsafeBufferPointer { verba_prefetch($0.baseAddress! + (Int(truncatingIfNeeded: hashes[k]) & mask)) }
        }
        @inline(__always) func prefetchRecord(_ k: Int) {
            let v = slots[Int(truncatingIfNeeded: hashes[k]) & mask]
            guard v != 0, v >> 32 == hashes[k] >> 32 else { return }
            entries.withUnsafeBufferPointer { verba_prefetch($0.baseAddress! + (Int(v & 0xffff_ffff) - 1)) }
        }
        for k in 0..<min(2 * ahead, n) { prefetchSlot(k) }
        for k in 0..<min(ahead, n) { prefetchRecord(k) }
        for k in 0..<n {
            if k + 2 * ahead < n { prefetchSlot(k + 2 * ahead) }
            if k + ahead < n { prefetchRecord(k + ahead) }
            add(UnsafeBufferPointer(start: base + ranges[k].lowerBound, count: ranges[k].count), hash: hashes[k], count: 1)
        }
    }

    private mutating func add(_ word: UnsafeBufferPointer<UInt8>, hash h: UInt64, count: Int) {
        let tag = h >> 32
        let n = word.count
        let head = WordCounts.head(word)
        var slot = Int(truncatingIfNeeded: h) & mask
        let found: Int = slots.withUnsafeBufferPointer { sl in
            entries.withUnsafeBufferPointer { es in
                arena.withUnsafeBufferPointer { a in
                    while true {
                        let v = sl[slot]
                        if v == 0 { return -1 }
                        if v >> 32 == tag {
                            let e = Int(v & 0xffff_ffff) - 1
                            let r = es[e]
                            if r.head == head && Int(r.length) == n && r.hash == h
                                && (n <= 8 || WordCounts.equal(a.baseAddress! + r.start + 8, word.baseAddress! + 8, n - 8)) {
                                return e
                            }
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
        if found >= 0 { entries[found].count += count; return }
        entries.append(Entry(hash: h, head: head, start: arena.count, count: count, length: Int32(n)))
        arena.append(contentsOf: word)
        slots[slot] = tag << 32 | UInt64(entries.count)
        if entries.count * 2 > mask { grow() }
    }

    /// Whether the `n` bytes at `a` and `b` are equal (8 bytes at a time: words are short).
    @inline(__always)
    private static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i + 8 <= n {
            if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) { return false }
            i += 8
        }
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    private mutating func grow() {
        let newSize = (mask + 1) * 2
        var newSlots = [UInt64](repeating: 0, count: newSize)
        let newMask = newSize - 1
        for (e, r) in entries.enumerated() {
            var slot = Int(truncatingIfNeeded: r.hash) & newMask
            while newSlots[slot] != 0 { slot = (slot + 1) & newMask }
            newSlots[slot] = (r.hash >> 32) << 32 | UInt64(e + 1)
        }
        slots = newSlots
        mask = newMask
    }

    /// Adds every word of `other` to this table.
    package mutating func merge(_ other: WordCounts) {
        other.arena.withUnsafeBufferPointer { a in
            for r in other.entries {
                add(UnsafeBufferPointer(rebasing: a[r.start..<(r.start + Int(r.length))]), hash: r.hash, count: r.count)
            }
        }
    }

    /// Calls `body` with each distinct word's bytes and its count, in first-seen order.
    package func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) rethrows {
        try arena.withUnsafeBufferPointer { a in
            for r in entries {
                try body(UnsafeBufferPointer(rebasing: a[r.start..<(r.start + Int(r.length))]), r.count)
            }
        }
    }

    /// The word at `index` (in first-seen order) as bytes.
    package func word(at index: Int) -> [UInt8] {
        let r = entries[index]
        return Array(arena[r.start..<(r.start + Int(r.length))])
    }

    /// Calls `body` with the word at `index` (in first-seen order).
    package func withWord<T>(at index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let r = entries[index]
        return try arena.withUnsafeBufferPointer { a in try body(UnsafeBufferPointer(rebasing: a[r.start..<(r.start + Int(r.length))])) }
    }

    /// Word indices sorted by the words' bytes.
    package func sortedIndices() -> [Int] {
        var order = Array(0..<entries.count)
        entries.withUnsafeBufferPointer { es in
            arena.withUnsafeBufferPointer { a in
                order.sort { x, y in
                    let rx = es[x], ry = es[y]
                    // The heads hold the first bytes little-endian: compare them byte-swapped.
                    let hx = rx.head.byteSwapped, hy = ry.head.byteSwapped
                    let nx = Int(rx.length), ny = Int(ry.length)
                    if hx != hy { return hx < hy }
                    let m = min(nx, ny)
                    if m > 8 {
                        let c = memcmp(a.baseAddress! + rx.start + 8, a.baseAddress! + ry.start + 8, m - 8)
                        if c != 0 { return c < 0 }
                    }
                    return nx < ny
                }
            }
        }
        return order
    }
}

