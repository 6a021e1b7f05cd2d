// Flat hash tables for BPE: byte strings -> ids (vocabulary lookups, tiktoken pair ranks) and integer
// pairs -> (rank, merged id) (Hugging Face merges). Open addressing with linear probing over raw
// memory, so the hot loop does no reference counting and no bounds checks beyond the probes.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hash of a short byte string: 8-byte words, overlapping loads for the tail.
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    let raw = UnsafeRawPointer(p)
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: n &+ 1)
    if n >= 8 {
        var i = 0
        while i + 8 <= n {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        if i < n {
            let w = raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
    } else if n >= 4 {
        let lo = UInt64(raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let hi = UInt64(raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
        h = (h ^ (lo | hi << 32)) &* 0xBF58_476D_1CE4_E5B9
    } else if n > 0 {
        let w = UInt64(p[0]) | UInt64(p[n >> 1]) << 8 | UInt64(p[n - 1]) << 16
        h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
    }
    h ^= h >> 29
    h = h &* 0x94D0_49BB_1331_11EB
    h ^= h >> 32
    return h
}

/// Token byte strings by id, and a map from byte string to id.
///
/// `bytes(of:)` holds every id's bytes (empty for ids without a token); only the entries inserted with
/// `lookup: true` can be found by `find`.
final class ByteStringTable: @unchecked Sendable {
    let count: Int
    private let arena: UnsafeMutablePointer<UInt8>
    private let offsets: UnsafeMutablePointer<Int>  // count + 1
    private let slots: UnsafeMutablePointer<UInt64>  // 0: empty; else hash tag << 32 | (id + 1)
    private let mask: Int

    /// Builds the table from `(id, bytes, lookup)` entries; a later entry with the same bytes replaces an
    /// earlier one in lookups, a later entry with the same id replaces its bytes.
    init(count: Int, entries: [(id: Int, bytes: [UInt8], lookup: Bool)]) {
        precondition(count >= 0 && count < Int(UInt32.max))
        self.count = count
        var byId = [Int](repeating: -1, count: count)
        for (k, e) in entries.enumerated() { byId[e.id] = k }
        var total = 0
        for k in byId where k >= 0 { total += entries[k].bytes.count }
        let arena = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: count + 1)
        var at = 0
        for id in 0..<count {
            offsets[id] = at
            if byId[id] >= 0 {
                let b = entries[byId[id]].bytes
                b.withUnsafeBufferPointer { src in
                    if let s = src.baseAddress { (arena + at).update(from: s, count: b.count) }
                }
                at += b.count
            }
        }
        offsets[count] = at
        self.arena = arena
        self.offsets = offsets
        var cap = 16
        while cap < entries.count * 2 + 16 { cap <<= 1 }
        slots = .allocate(capacity: cap)
        slots.initialize(repeating: 0, count: cap)
        mask = cap - 1
        for e in entries where e.lookup && byId[e.id] >= 0 {
            e.bytes.withUnsafeBufferPointer { b in insert(id: e.id, b) }
        }
    }

    deinit {
        arena.deallocate()
        offsets.deallocate()
        slots.deallocate()
    }

    private func insert(id: Int, _ b: UnsafeBufferPointer<UInt8>) {
        // Entries whose stored bytes differ from `b` (the id was re-assigned) are not inserted.
        let stored = bytes(of: id)
        guard stored.count == b.count, b.count == 0 || memcmp(stored.baseAddress!, b.baseAddress!, b.count) == 0 else { return }
        let base = b.baseAddress ?? UnsafePointer(arena)
        let h = hashBytes(base, b.count)
        let tag = h >> 32
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = slots[s]
            if v == 0 {
                slots[s] = tag << 32 | UInt64(id + 1)
                return
            }
            let other = Int(v & 0xFFFF_FFFF) - 1
            if v >> 32 == tag && equal(other, base, b.count) {
                slots[s] = tag << 32 | UInt64(id + 1)
                return
            }
            s = (s + 1) & mask
        }
    }

    @inline(__always)
    private func equal(_ id: Int, _ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let o = offsets[id]
        return offsets[id + 1] - o == n && (n == 0 || memcmp(arena + o, p, n) == 0)
    }

    /// The id whose bytes are `p[0..<n]`, or -1.
    /// - Complexity: O(n) expected.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        let h = hashBytes(p, n)
        let tag = h >> 32
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = slots[s]
            if v == 0 { return -1 }
            if v >> 32 == tag {
                let id = Int(v & 0xFFFF_FFFF) - 1
                if equal(id, p, n) { return id }
            }
            s = (s + 1) & mask
        }
    }

    /// The id of `bytes`, or -1.
    func find(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return find(UnsafePointer(arena), 0) }
            return find(base, b.count)
        }
    }

    /// The stored bytes of `id` (valid while the table lives).
    @inline(__always)
    func bytes(of id: Int) -> UnsafeBufferPointer<UInt8> {
        let o = offsets[id]
        return UnsafeBufferPointer(start: arena + o, count: offsets[id + 1] - o)
    }
}

/// Map from a pair of ids to its merge: `rank << 32 | mergedId`.
final class PairTable: @unchecked Sendable {
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UInt64>
    private let mask: Int
    static let empty = UInt64.max

    /// Builds the table; a later entry for the same pair replaces an earlier one.
    init(_ entries: [(a: UInt32, b: UInt32, rank: UInt32, merged: UInt32)]) {
        var cap = 16
        while cap < entries.count * 2 + 16 { cap <<= 1 }
        keys = .allocate(capacity: cap)
        keys.initialize(repeating: PairTable.empty, count: cap)
        values = .allocate(capacity: cap)
        values.initialize(repeating: 0, count: cap)
        mask = cap - 1
        for e in entries {
            let key = UInt64(e.a) << 32 | UInt64(e.b)
            var s = PairTable.slot(key) & mask
            while keys[s] != PairTable.empty && keys[s] != key { s = (s + 1) & mask }
            keys[s] = key
            values[s] = UInt64(e.rank) << 32 | UInt64(e.merged)
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    @inline(__always)
    private static func slot(_ key: UInt64) -> Int {
        let h = (key ^ key >> 29) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h >> 20)
    }

    /// `rank << 32 | mergedId` for the pair (a, b), or `UInt64.max` when they do not merge.
    @inline(__always)
    func lookup(_ a: UInt32, _ b: UInt32) -> UInt64 {
        let key = UInt64(a) << 32 | UInt64(b)
        var s = PairTable.slot(key) & mask
        while true {
            let k = keys[s]
            if k == key { return values[s] }
            if k == PairTable.empty { return UInt64.max }
            s = (s + 1) & mask
        }
    }
}
