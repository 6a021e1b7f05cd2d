// Flat hash tables for BPE: byte strings -> ids (vocabulary lookups, tiktoken pair ranks) and integer
// pairs -> (rank, merged id) (Hugging Face merges). Open addressing with linear probing over raw
// memory, so the hot loop does no reference counting and no bounds checks beyond the probes.

import CVerbaSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Allocates `count` zeroed elements of `T`, 64-byte aligned. Blocks of 1 MiB or more are mapped
/// from the system, 2 MiB-aligned, and on Linux marked for transparent huge pages (random lookups in
/// multi-megabyte tables otherwise miss the TLB on almost every probe); their pages arrive zeroed when
/// first touched, so a table costs nothing at load for the parts a run never uses, and the zeroing is
/// spread over the threads that touch it. Free with `freeTable(_:count:)` and the same count.
func allocateTable<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
    let (bytes, big) = tableSize(T.self, count)
    if big {
        let align = 2 << 20
        // Map one alignment more, then give back the unaligned head and the tail.
        guard let raw = mmap(nil, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else { fatalError("out of memory mapping \(bytes) bytes") }
        let start = (Int(bitPattern: raw) + align - 1) & ~(align - 1)
        let head = start - Int(bitPattern: raw)
        if head > 0 { munmap(raw, head) }
        if align - head > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + bytes), align - head) }
        let p = UnsafeMutableRawPointer(bitPattern: start)!
        adviseHugePages(UnsafeMutableRawBufferPointer(start: p, count: bytes))
        return p.bindMemory(to: T.self, capacity: count)
    }
    var raw: UnsafeMutableRawPointer? = nil
    guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory allocating \(bytes) bytes") }
    memset(raw, 0, bytes)
    return raw.bindMemory(to: T.self, capacity: count)
}

/// Asks for transparent huge pages in the 2 MiB-aligned part of `buffer`, fresh memory about to be
/// written: a 3.5 MB file read into small pages took 900 page faults, more time than copying it, and a
/// 2 MB batch of input 512. Only a hint (Linux); memory stays as it was.
package func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
    #if os(Linux)
    let huge = 2 << 20
    guard let base = buffer.baseAddress, buffer.count >= huge else { return }
    let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
    let end = (Int(bitPattern: base) + buffer.count) & ~(huge - 1)
    if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) { _ = madvise(p, end - start, 14 /* MADV_HUGEPAGE */) }
    #endif
}

/// Makes room in `array` for `more` elements; when it has to move, it moves into memory marked for
/// huge pages (with room for one aligned 2 MiB page at least, from a megabyte on): for the tables a
/// load fills and the batches of input, megabytes of fresh pages.
package func reserveHugePages<T>(_ array: inout [T], adding more: Int) {
    let capacity = array.count + more
    guard array.capacity < capacity else { return }
    let extra = capacity >= (1 << 20) / MemoryLayout<T>.stride ? (2 << 20) / MemoryLayout<T>.stride : 0
    var fresh = [T](unsafeUninitializedCapacity: capacity + extra) { buffer, count in
        adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
        count = 0
    }
    fresh.append(contentsOf: array)
    array = fresh
}

/// The bytes `allocateTable` takes for `count` elements, and whether it maps them (1 MiB or more,
/// rounded up to 2 MiB).
private func tableSize<T>(_ type: T.Type, _ count: Int) -> (bytes: Int, big: Bool) {
    let bytes = max(count * MemoryLayout<T>.stride, 64)
    if bytes < 1 << 20 { return (bytes, false) }
    return ((bytes + (2 << 20) - 1) & ~((2 << 20) - 1), true)
}

/// Frees memory from `allocateTable` (with the count it was allocated with).
func freeTable<T>(_ p: UnsafeMutablePointer<T>, count: Int) {
    let (bytes, big) = tableSize(T.self, count)
    if big { munmap(UnsafeMutableRawPointer(p), bytes) } else { free(UnsafeMutableRawPointer(p)) }
}

/// The first (up to) 8 bytes of `p[0..<n]` as a little-endian word, zero-padded; never reads past `n`.
@inline(__always)
func firstWord(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    let raw = UnsafeRawPointer(p)
    if n >= 8 { return raw.loadUnaligned(as: UInt64.self) }
    if n >= 4 {
        let lo = UInt64(raw.loadUnaligned(as: UInt32.self))
        let hi = UInt64(raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
        return lo | hi << UInt64(8 * (n - 4))
    }
    if n == 0 { return 0 }
    var w = UInt64(p[0])
    if n > 1 { w |= UInt64(p[1]) << 8 }
    if n > 2 { w |= UInt64(p[2]) << 16 }
    return w
}

/// Hash of a byte string whose first word (`firstWord`) is `w`.
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int, firstWord w: UInt64) -> UInt64 {
    var h = (w ^ 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: n &+ 1)) &* 0xBF58_476D_1CE4_E5B9
    if n > 8 {
        let raw = UnsafeRawPointer(p)
        var i = 8
        while i + 8 <= n {
            h ^= h >> 31
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            i += 8
        }
        if i < n {
            h ^= h >> 31
            h = (h ^ raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
        }
    }
    h ^= h >> 29
    h = h &* 0x94D0_49BB_1331_11EB
    h ^= h >> 32
    return h
}

/// Hash of a byte string (see `hashBytes(_:_:firstWord:)`).
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    hashBytes(p, n, firstWord: firstWord(p, n))
}

/// Token byte strings by id, and a map from byte string to id.
///
/// `bytes(of:)` holds every id's bytes (empty for ids without a token); only the entries inserted with
/// `lookup: true` can be found by `find`. A slot holds the key's first 8 bytes next to its length, a
/// hash tag and the id, so finding a key of up to 8 bytes touches one cache line.
/// Sendable: immutable after init; the arena, offsets, slots, filter and `replacedKeys` are written only
/// by init (through the private `insert`), afterwards every method only reads.
final class ByteStringTable: @unchecked Sendable {
    let count: Int
    private let arena: UnsafeMutablePointer<UInt8>
    private let arenaCount: Int
    private let offsets: UnsafeMutablePointer<Int>  // count + 1
    /// Pairs of words per slot: [first word of the key, meta]; meta = tag16 << 48 | length16 << 32 | id,
    /// 0 for an empty slot (keys are never empty).
    private let slots: UnsafeMutablePointer<UInt64>
    private let mask: Int
    /// One bit per hash value (about 8 bits per key): a clear bit proves a key absent without touching
    /// the slots, which most candidate pairs of a merge are. Small enough to stay in L2.
    private let filter: UnsafeMutablePointer<UInt64>
    private let filterMask: Int
    /// Keys inserted while a key with the same bytes was already there (the later one won).
    private(set) var replacedKeys = 0

    /// Keys end to end, for building a table without an array per key: key `k` is
    /// `bytes[starts[k]..<starts[k + 1]]`, for id `ids[k]`, findable unless `lookup?[k] == false`.
    struct PackedKeys {
        var bytes: [UInt8] = []
        var starts: [Int] = [0]
        var ids: [Int] = []
        var lookup: [Bool]? = nil

        var count: Int { ids.count }

        /// Where key `k` lies in `bytes`.
        func range(_ k: Int) -> Range<Int> { starts[k] ..< starts[k + 1] }

        /// The keys as strings (ill-formed UTF-8 repaired) to ids; a string given twice keeps its
        /// later id, as a JSON object read into a map does.
        var dictionary: [String: Int] {
            var result: [String: Int] = [:]
            result.reserveCapacity(count)
            for k in 0..<count { result[String(decoding: bytes[range(k)], as: UTF8.self)] = ids[k] }
            return result
        }

        /// Makes room for `count` more keys of `bytes` bytes in all (see `reserveHugePages`).
        mutating func reserve(count: Int, bytes: Int) {
            reserveHugePages(&self.bytes, adding: bytes)
            reserveHugePages(&starts, adding: count)
            reserveHugePages(&ids, adding: count)
        }

        /// Appends a key.
        mutating func append(id: Int, _ key: UnsafeBufferPointer<UInt8>, lookup findable: Bool = true) {
            bytes.append(contentsOf: key)
            starts.append(bytes.count)
            ids.append(id)
            if !findable && lookup == nil { lookup = [Bool](repeating: true, count: ids.count - 1) }
            lookup?.append(findable)
        }
    }

    /// Builds the table from packed keys; a later key with the same bytes replaces an earlier one in
    /// lookups, a later key with the same id replaces its bytes. Empty keys and keys over 65535 bytes
    /// cannot be found.
    /// - Complexity: O(total key bytes); the slot of each key is prefetched a few keys ahead, so the
    ///   random writes into a table of megabytes overlap.
    init(count: Int, keys: PackedKeys) {
        precondition(count >= 0 && count < Int(UInt32.max) && keys.count < Int(Int32.max))
        precondition(keys.starts.count == keys.count + 1 && keys.lookup.map { $0.count == keys.count } ?? true)
        self.count = count
        let n = keys.count
        var byId = [Int32](repeating: -1, count: count)  // the last key of each id
        for k in 0..<n { byId[keys.ids[k]] = Int32(k) }
        var total = 0
        for k in byId where k >= 0 { total += keys.starts[Int(k) + 1] - keys.starts[Int(k)] }
        // allocateTable: huge pages for the megabytes of a large vocabulary (o200k: 800 page faults less).
        let arena = allocateTable(UInt8.self, count: max(total, 1))
        let offsets = allocateTable(Int.self, count: count + 1)
        keys.bytes.withUnsafeBufferPointer { src in
            var at = 0
            for id in 0..<count {
                offsets[id] = at
                let k = Int(byId[id])
                if k >= 0 {
                    let len = keys.starts[k + 1] - keys.starts[k]
                    if len > 0 { (arena + at).update(from: src.baseAddress! + keys.starts[k], count: len) }
                    at += len
                }
            }
            offsets[count] = at
        }
        self.arena = arena
        arenaCount = max(total, 1)
        self.offsets = offsets
        var cap = 16
        while cap < n + n / 4 + 16 { cap <<= 1 }
        slots = allocateTable(UInt64.self, count: 2 * cap)
        mask = cap - 1
        var bits = 1 << 16
        while bits < n * 8 { bits <<= 1 }
        filter = allocateTable(UInt64.self, count: bits / 64)
        filterMask = bits - 1
        // The keys to insert, in order, each slot prefetched `ahead` keys early: a ring of the next
        // keys with their hashes (a whole array of them was megabytes of fresh pages for o200k).
        keys.bytes.withUnsafeBufferPointer { src in
            let ahead = 8
            var ring = [(k: Int, w: UInt64, h: UInt64)](repeating: (0, 0, 0), count: ahead)
            var next = 0  // the next key to consider for the ring
            /// The next insertable key from `next` on, hashed; nil at the end.
            func take() -> (k: Int, w: UInt64, h: UInt64)? {
                while next < n {
                    let k = next
                    next += 1
                    guard keys.lookup?[k] ?? true else { continue }
                    let len = keys.starts[k + 1] - keys.starts[k]
                    guard len > 0, len <= 0xFFFF else { continue }
                    let p = src.baseAddress! + keys.starts[k]
                    let w = firstWord(p, len)
                    return (k, w, hashBytes(p, len, firstWord: w))
                }
                return nil
            }
            var filled = 0
            while filled < ahead, let e = take() {
                ring[filled] = e
                verba_prefetch(slots + 2 * (Int(truncatingIfNeeded: e.h) & mask))
                filled += 1
            }
            var i = 0
            while i < filled {
                let e = ring[i % ahead]
                if let later = take() {
                    ring[i % ahead] = later  // `e` is copied out: its place takes the key `ahead` later
                    verba_prefetch(slots + 2 * (Int(truncatingIfNeeded: later.h) & mask))
                    filled += 1
                }
                let len = keys.starts[e.k + 1] - keys.starts[e.k]
                insert(id: keys.ids[e.k], UnsafeBufferPointer(start: src.baseAddress! + keys.starts[e.k], count: len),
                       firstWord: e.w, hash: e.h)
                i += 1
            }
        }
    }

    deinit {
        freeTable(arena, count: arenaCount)
        freeTable(offsets, count: count + 1)
        freeTable(slots, count: 2 * (mask + 1))
        freeTable(filter, count: (filterMask + 1) / 64)
    }

    /// Inserts key `b` (first word `w`, hash `h`) for `id`.
    @inline(__always)
    private func insert(id: Int, _ b: UnsafeBufferPointer<UInt8>, firstWord w: UInt64, hash h: UInt64) {
        // Entries whose stored bytes differ from `b` (the id was re-assigned) are not inserted.
        let stored = bytes(of: id)
        guard let base = b.baseAddress, stored.count == b.count, memcmp(stored.baseAddress!, base, b.count) == 0 else { return }
        let n = b.count
        let high = (h >> 48) << 16 | UInt64(n)
        let bit = Int(truncatingIfNeeded: h >> 24) & filterMask
        filter[bit >> 6] |= 1 << UInt64(bit & 63)
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let meta = slots[2 * s + 1]
            if meta == 0 || (meta >> 32 == high && slots[2 * s] == w && rest(Int(meta & 0xFFFF_FFFF), base, n)) {
                if meta != 0 { replacedKeys += 1 }
                slots[2 * s] = w
                slots[2 * s + 1] = high << 32 | UInt64(id)
                return
            }
            s = (s + 1) & mask
        }
    }

    /// Whether bytes 8..<n of token `id` equal `p[8..<n]` (true for n <= 8).
    @inline(__always)
    private func rest(_ id: Int, _ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        n <= 8 || bytesEqual(arena + offsets[id] + 8, p + 8, n - 8)
    }

    /// Starts loading the slot where a key of hash `h` is looked for.
    @inline(__always)
    func prefetch(hash h: UInt64) { verba_prefetch(slots + 2 * (Int(truncatingIfNeeded: h) & mask)) }

    /// The id whose bytes are `p[0..<n]`, or -1.
    /// - Complexity: O(n) expected.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        let w = firstWord(p, n)
        return find(p, n, firstWord: w, hash: hashBytes(p, n, firstWord: w))
    }

    /// `find` with the key's first word and hash already computed. `filtered: false` skips the bit
    /// filter (cheaper when the key is probably present).
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int, firstWord w: UInt64, hash h: UInt64, filtered: Bool = true) -> Int {
        if n > 0xFFFF { return -1 }
        if filtered {
            let bit = Int(truncatingIfNeeded: h >> 24) & filterMask
            if filter[bit >> 6] & (1 << UInt64(bit & 63)) == 0 { return -1 }
        }
        let high = (h >> 48) << 16 | UInt64(n & 0xFFFF)
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let meta = slots[2 * s + 1]
            if meta == 0 { return -1 }
            if meta >> 32 == high && slots[2 * s] == w {
                let id = Int(meta & 0xFFFF_FFFF)
                if rest(id, p, n) { return id }
            }
            s = (s + 1) & mask
        }
    }

    /// The id of `bytes`, or -1.
    func find(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return -1 }
            return find(base, b.count)
        }
    }

    /// Byte length of token `id`.
    @inline(__always)
    func length(of id: Int) -> Int { offsets[id + 1] - offsets[id] }

    /// The stored bytes of `id` (valid while the table lives).
    @inline(__always)
    func bytes(of id: Int) -> UnsafeBufferPointer<UInt8> {
        let o = offsets[id]
        return UnsafeBufferPointer(start: arena + o, count: offsets[id + 1] - o)
    }
}

extension ByteStringTable.PackedKeys {
    /// Strings (as UTF-8) with their ids, in the order given.
    init<S: Sequence>(_ entries: S) where S.Element == (key: String, value: Int) {
        self.init()
        for (string, id) in entries {
            var string = string
            string.withUTF8 { append(id: id, $0) }
        }
    }
}

/// Map from a pair of ids to its merge: `rank << 32 | mergedId`.
///
/// Each slot is two words, the key and its value, so a probe reads one cache line, not one in a
/// table of keys and another in a table of values. A key is `a << 32 | b` with the top bit set (ids
/// are below 2^30), so the zeroed memory of `allocateTable` is a table of empty slots.
/// Sendable: immutable after init; `slots` is filled in init and only read afterwards (`lookup`,
/// `forEach`).
final class PairTable: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<UInt64>  // (key, value) per slot
    private let mask: Int
    private static let used: UInt64 = 1 << 63

    /// Builds the table; a later entry for the same pair replaces an earlier one.
    convenience init(_ entries: [(a: UInt32, b: UInt32, rank: UInt32, merged: UInt32)]) {
        self.init(capacity: entries.count)
        for e in entries { insert(e.a, e.b, rank: e.rank, merged: e.merged) }
    }

    /// An empty table with room for `count` entries, filled by `insert` before any lookup. At most two
    /// thirds full (a large model's table is megabytes, zeroed page by page as it fills).
    init(capacity count: Int) {
        var cap = 16
        while cap < count + count / 2 + 16 { cap <<= 1 }
        slots = allocateTable(UInt64.self, count: 2 * cap)
        mask = cap - 1
    }

    /// Starts loading the slot where the pair (a, b) is looked for.
    @inline(__always)
    func prefetch(_ a: UInt32, _ b: UInt32) { verba_prefetch(slots + 2 * (PairTable.slot(PairTable.key(a, b)) & mask)) }

    /// Adds an entry (replacing the pair's earlier one). Only while the table is being built: the
    /// table is immutable once shared.
    func insert(_ a: UInt32, _ b: UInt32, rank: UInt32, merged: UInt32) {
        precondition(a < 1 << 31 && b < 1 << 31)
        let key = PairTable.key(a, b)
        var s = PairTable.slot(key) & mask
        while slots[2 * s] != 0 && slots[2 * s] != key { s = (s + 1) & mask }
        slots[2 * s] = key
        slots[2 * s + 1] = UInt64(rank) << 32 | UInt64(merged)
    }

    deinit {
        freeTable(slots, count: 2 * (mask + 1))
    }

    @inline(__always)
    private static func key(_ a: UInt32, _ b: UInt32) -> UInt64 { used | UInt64(a) << 32 | UInt64(b) }

    @inline(__always)
    private static func slot(_ key: UInt64) -> Int {
        let h = (key ^ key >> 29) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h >> 20)
    }

    /// Calls `body` with every entry: the pair's two ids and `rank << 32 | mergedId`.
    func forEach(_ body: (UInt32, UInt32, UInt64) -> Void) {
        for s in 0...mask where slots[2 * s] != 0 {
            let key = slots[2 * s]
            body(UInt32(truncatingIfNeeded: key >> 32) & 0x7FFF_FFFF, UInt32(truncatingIfNeeded: key), slots[2 * s + 1])
        }
    }

    /// `rank << 32 | mergedId` for the pair (a, b), or `UInt64.max` when they do not merge.
    @inline(__always)
    func lookup(_ a: UInt32, _ b: UInt32) -> UInt64 {
        let key = PairTable.key(a, b)
        var s = PairTable.slot(key) & mask
        while true {
            let k = slots[2 * s]
            if k == key { return slots[2 * s + 1] }
            if k == 0 { return UInt64.max }
            s = (s + 1) & mask
        }
    }
}
