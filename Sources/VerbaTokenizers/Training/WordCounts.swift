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
    /// All distinct words' bytes, back to back.
    fileprivate var arena: [UInt8] = []
    /// Per distinct word: start in `arena`, length, count.
    fileprivate var starts: [Int] = []
    fileprivate var lengths: [Int32] = []
    private(set) var counts: [Int] = []
    /// Open-addressing slots: the hash's high 32 bits, then the index into `starts` plus one (0 = empty).
    private var slots: [UInt64]
    private var hashes: [UInt64] = []
    private var mask: Int

    package init() {
        slots = [UInt64](repeating: 0, count: 1024)
        mask = 1023
    }

    /// Number of distinct words.
    public var count: Int { starts.count }

    /// Total number of words counted (with repetitions).
    public var total: Int { counts.reduce(0, +) }

    /// Bytes held by the table (arena and index), for progress reports.
    package var memoryBytes: Int { arena.capacity + starts.capacity * 8 + lengths.capacity * 4 + counts.capacity * 8 + slots.capacity * 8 + hashes.capacity * 8 }

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

    /// Adds `count` occurrences of the word `word`.
    package mutating func add(_ word: UnsafeBufferPointer<UInt8>, count: Int = 1) {
        let h = WordCounts.hash(word)
        add(word, hash: h, count: count)
    }

    private mutating func add(_ word: UnsafeBufferPointer<UInt8>, hash h: UInt64, count: Int) {
        // The slot holds the hash's high 32 bits beside the index, so most probes that do not match
        // are told apart without touching the words.
        let tag = h >> 32
        let n = word.count
        let found: Int? = slots.withUnsafeBufferPointer { sl in
            hashes.withUnsafeBufferPointer { hs in
                starts.withUnsafeBufferPointer { st in
                    lengths.withUnsafeBufferPointer { ln in
                        arena.withUnsafeBufferPointer { a in
                            var slot = Int(truncatingIfNeeded: h) & mask
                            while true {
                                let v = sl[slot]
                                if v == 0 { return -1 - slot }
                                let e = Int(v & 0xffff_ffff) - 1
                                if v >> 32 == tag && Int(ln[e]) == n && hs[e] == h
                                    && WordCounts.equal(a.baseAddress.map { $0 + st[e] }, word.baseAddress, n) {
                                    return e
                                }
                                slot = (slot + 1) & mask
                            }
                        }
                    }
                }
            }
        }
        if let f = found, f >= 0 { counts[f] += count; return }
        let slot = -1 - (found ?? -1)
        let e = starts.count
        starts.append(arena.count)
        lengths.append(Int32(n))
        counts.append(count)
        hashes.append(h)
        arena.append(contentsOf: word)
        slots[slot] = tag << 32 | UInt64(e + 1)
        if starts.count * 2 > mask { grow() }
    }

    /// Whether the `n` bytes at `a` and `b` are equal (8 bytes at a time: words are short).
    @inline(__always)
    private static func equal(_ a: UnsafePointer<UInt8>?, _ b: UnsafePointer<UInt8>?, _ n: Int) -> Bool {
        guard n > 0, let a, let b else { return true }
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
        for e in 0..<starts.count {
            var slot = Int(truncatingIfNeeded: hashes[e]) & newMask
            while newSlots[slot] != 0 { slot = (slot + 1) & newMask }
            newSlots[slot] = (hashes[e] >> 32) << 32 | UInt64(e + 1)
        }
        slots = newSlots
        mask = newMask
    }

    /// Adds every word of `other` to this table.
    package mutating func merge(_ other: WordCounts) {
        other.arena.withUnsafeBufferPointer { a in
            for e in 0..<other.starts.count {
                let w = UnsafeBufferPointer(rebasing: a[other.starts[e]..<(other.starts[e] + Int(other.lengths[e]))])
                add(w, hash: other.hashes[e], count: other.counts[e])
            }
        }
    }

    /// Calls `body` with each distinct word's bytes and its count, in first-seen order.
    package func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) rethrows {
        try arena.withUnsafeBufferPointer { a in
            for e in 0..<starts.count {
                try body(UnsafeBufferPointer(rebasing: a[starts[e]..<(starts[e] + Int(lengths[e]))]), counts[e])
            }
        }
    }

    /// The word at `index` (in first-seen order) as bytes.
    package func word(at index: Int) -> [UInt8] {
        Array(arena[starts[index]..<(starts[index] + Int(lengths[index]))])
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension WordCounts {
    /// Calls `body` with the word at `index` (in first-seen order).
    package func withWord<T>(at index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        try arena.withUnsafeBufferPointer { a in
            try body(UnsafeBufferPointer(rebasing: a[starts[index]..<(starts[index] + Int(lengths[index]))]))
        }
    }

    /// Calls `body` with the arena, each word's start in it and each word's length.
    package func withArena<T>(_ body: (UnsafeBufferPointer<UInt8>, [Int], [Int32]) throws -> T) rethrows -> T {
        try arena.withUnsafeBufferPointer { a in try body(a, starts, lengths) }
    }
}
