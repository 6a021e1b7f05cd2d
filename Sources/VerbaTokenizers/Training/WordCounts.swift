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
    /// Open-addressing slots: index into `starts` plus one (0 = empty).
    private var slots: [Int32]
    private var hashes: [UInt64] = []
    private var mask: Int

    package init() {
        slots = [Int32](repeating: 0, count: 1024)
        mask = 1023
    }

    /// Number of distinct words.
    public var count: Int { starts.count }

    /// Total number of words counted (with repetitions).
    public var total: Int { counts.reduce(0, +) }

    /// Bytes held by the table (arena and index), for progress reports.
    package var memoryBytes: Int { arena.capacity + starts.capacity * 8 + lengths.capacity * 4 + counts.capacity * 8 + slots.capacity * 4 + hashes.capacity * 8 }

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
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = Int(slots[slot])
            if s == 0 { break }
            let e = s - 1
            if hashes[e] == h && Int(lengths[e]) == word.count {
                let start = starts[e]
                let same = arena.withUnsafeBufferPointer { a in
                    word.count == 0 || memcmp(a.baseAddress! + start, word.baseAddress!, word.count) == 0
                }
                if same { counts[e] += count; return }
            }
            slot = (slot + 1) & mask
        }
        let e = starts.count
        starts.append(arena.count)
        lengths.append(Int32(word.count))
        counts.append(count)
        hashes.append(h)
        arena.append(contentsOf: word)
        slots[slot] = Int32(e + 1)
        if starts.count * 2 > mask { grow() }
    }

    private mutating func grow() {
        let newSize = (mask + 1) * 2
        var newSlots = [Int32](repeating: 0, count: newSize)
        let newMask = newSize - 1
        for e in 0..<starts.count {
            var slot = Int(truncatingIfNeeded: hashes[e]) & newMask
            while newSlots[slot] != 0 { slot = (slot + 1) & newMask }
            newSlots[slot] = Int32(e + 1)
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
