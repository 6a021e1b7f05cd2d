// The cache of merged pieces: piece bytes -> token ids, whole tokens included. Natural text repeats its
// words, so most pieces have been seen before. One table per model is shared by the threads (lock-free
// reads, see `PieceTable`); each thread keeps its own pair-rank memo, long-piece cache and buffers
// (thread-local storage). Everything is bounded: a new piece takes the place of the one in its slot,
// the long-piece store is emptied when full.

import CVerbaSupport
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Compares `n` bytes without calling memcmp (short keys: a few word loads).
@inline(__always)
func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    if n >= 8 {
        var i = 0
        while i + 8 <= n {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        return i == n || ra.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == rb.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    }
    if n >= 4 {
        return ra.loadUnaligned(as: UInt32.self) == rb.loadUnaligned(as: UInt32.self)
            && ra.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self) == rb.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
    }
    var i = 0
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// The merged pieces of one model, shared by every thread encoding with it: piece bytes -> token ids.
/// Direct-mapped, `slotCount` slots (16 MiB by default), each one 64-byte cache line holding a piece of up to 24
/// bytes, its up to 8 token ids and its meta word; a new piece replaces whatever held its slot.
/// Direct-mapped rather than set-associative because a lookup then reads one cache line, not one per
/// way: with 4 ways in 8 MiB encoding took 4-5% longer on one thread, and on two threads every insert
/// cost the other core a miss in each lookup of that set.
///
/// Shared, so that a piece merged by one thread is a hit for all: with one cache per thread each
/// thread learned the whole vocabulary of the text again, and merging is the costly part of encoding.
/// Threads read without locks: each line's meta word carries a version (a sequence lock, see
/// CVerbaSupport.h) that a writer makes odd while it rewrites the line; a lookup that overlapped a
/// write counts as a miss, and a writer that finds the line busy skips caching its piece. A hit is
/// therefore always a piece and ids that were written together. The version lives in the line it
/// guards: a write costs the other cores that one line, where an array of versions (16 to a cache
/// line) cost them the versions of 15 other slots too.
final class PieceTable: @unchecked Sendable {
    /// The default number of slots (byte-level models: a larger table pushed the other tables out of
    /// the caches for no more hits).
    static let defaultSlotCount = 1 << 18
    /// Slots of this table (a power of two, at most 2^24: the line index stays below the tag's bits).
    let slotCount: Int
    /// Pieces longer than this are not cached.
    static let maxKey = 24
    /// Pieces of more tokens than this are not cached.
    static let maxTokens = 8

    /// Per slot 8 words: key bytes 0..<8, 8..<16, 16..<24 (zero-padded); 8 ids as 4 words (two per word);
    /// meta = tag32 << 32 | version16 << 16 | count8 << 8 | length8 (0 when empty; length 0 and an odd
    /// version while a writer is inside).
    private let lines: UnsafeMutablePointer<UInt64>

    init(slotCount: Int = PieceTable.defaultSlotCount) {
        precondition(slotCount > 0 && slotCount & (slotCount - 1) == 0 && slotCount <= 1 << 24, "a power of two up to 2^24")
        self.slotCount = slotCount
        lines = allocateTable(UInt64.self, count: slotCount * 8)
    }

    deinit {
        freeTable(lines, count: slotCount * 8)
    }

    /// The fields of the meta word a lookup of a piece of `n` bytes with hash `h` compares.
    @inline(__always)
    static func meta(_ n: Int, _ h: UInt64) -> UInt64 { (h >> 32) << 32 | UInt64(n) }

    /// Tag and length: the fields `meta` sets.
    private static let metaMask: UInt64 = 0xFFFF_FFFF_0000_00FF

    /// The line of hash `h` (its bits from 8 on: the tag is bits 32..<64, and the low bits pick
    /// `BPE.lookahead` slots elsewhere).
    @inline(__always)
    private func line(_ h: UInt64) -> UnsafeMutablePointer<UInt64> {
        lines + (Int(truncatingIfNeeded: h >> 8) & (slotCount - 1)) * 8
    }

    /// Starts loading the line of hash `h`.
    @inline(__always)
    func prefetch(_ h: UInt64) { verba_prefetch(line(h)) }

    /// Writes the cached ids of piece `p[0..<n]` (first word `w`, hash `h`, n <= `maxKey`) to `out`
    /// (room for `maxTokens`) and returns their count, or returns -1 when the piece is not cached (or
    /// its line was being rewritten; `out` may then hold anything).
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, into out: UnsafeMutablePointer<Int>) -> Int {
        let e = line(h)
        let m = verba_load_acquire_u64(e + 7)
        guard m & PieceTable.metaMask == PieceTable.meta(n, h), e[0] == w,
              e[1] == (n > 8 ? firstWord(p + 8, min(n - 8, 8)) : 0),
              e[2] == (n > 16 ? firstWord(p + 16, n - 16) : 0) else { return -1 }
        let count = Int((m >> 8) & 0xFF)
        let words = UnsafeRawPointer(e + 3)
        for i in 0..<min(count, PieceTable.maxTokens) { out[i] = Int(words.load(fromByteOffset: 4 * i, as: UInt32.self)) }
        return verba_seq64_same(e + 7, m) != 0 ? count : -1
    }

    /// Starts taking the line a piece of hash `h` goes to, so that the atomic write of `insert` finds
    /// it in this core's cache instead of waiting for another core to give it up (with two threads
    /// that wait was most of the time spent inserting). Call it before merging the piece.
    @inline(__always)
    func prepareInsert(_ h: UInt64) { verba_prefetch_write(line(h) + 7) }

    /// Caches `tokens` (at most `maxTokens`) as the ids of piece `p[0..<n]` (n <= `maxKey`), unless
    /// another thread is writing its line.
    @inline(__always)
    func insert(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, _ tokens: UnsafePointer<UInt32>, _ count: Int) {
        let e = line(h)
        let old = verba_load_acquire_u64(e + 7)
        let version = (old >> 16) & 0xFFFF
        guard version & 1 == 0, verba_cas_u64(e + 7, old, ((version + 1) & 0xFFFF) << 16) != 0 else { return }
        e[0] = w
        e[1] = n > 8 ? firstWord(p + 8, min(n - 8, 8)) : 0
        e[2] = n > 16 ? firstWord(p + 16, n - 16) : 0
        let words = UnsafeMutableRawPointer(e + 3)
        for i in 0..<count { words.storeBytes(of: tokens[i], toByteOffset: 4 * i, as: UInt32.self) }
        verba_store_release_u64(e + 7, PieceTable.meta(n, h) | ((version + 2) & 0xFFFF) << 16 | UInt64(count) << 8)
    }
}

/// One thread's scratch for encoding with one model: the model's shared `PieceTable`, and this
/// thread's pair-rank memo, long-piece cache and buffers.
final class PieceCache {
    /// Pieces longer than this are not cached in the table.
    static let maxKey = PieceTable.maxKey
    /// Pieces of more tokens than this are not cached in the table.
    static let maxTokens = PieceTable.maxTokens

    /// The model's table, shared with the other threads.
    let table: PieceTable
    /// This thread's pair-rank memo (see `MemoRanker`).
    let memo: UnsafeMutablePointer<UInt64>
    /// Pieces longer than `maxKey` (see `findLong`).
    var long = LongPieces()
    /// Ids of pieces encoded outside the cache, before they are copied to `output`.
    var spill: [Int] = []
    /// The first word and hash of the pieces prefetched ahead (`BPE.lookahead` slots).
    let hashes = UnsafeMutablePointer<(w: UInt64, h: UInt64)>.allocate(capacity: BPE.lookahead)
    private var output: UnsafeMutablePointer<Int> = .allocate(capacity: 1024)
    private var outputCapacity = 1024

    init(table: PieceTable) {
        self.table = table
        memo = .allocate(capacity: 2 * MemoRanker<PairTableRanker>.memoSize)
        for i in 0..<MemoRanker<PairTableRanker>.memoSize {
            memo[2 * i] = UInt64.max
            memo[2 * i + 1] = UInt64.max
        }
    }

    deinit {
        memo.deallocate()
        output.deallocate()
        hashes.deallocate()
    }

    /// See `PieceTable.prefetch`.
    @inline(__always)
    func prefetch(_ h: UInt64) { table.prefetch(h) }

    /// See `PieceTable.find`.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, into out: UnsafeMutablePointer<Int>) -> Int {
        table.find(p, n, w, h, into: out)
    }

    /// See `PieceTable.prepareInsert`.
    @inline(__always)
    func prepareInsert(_ h: UInt64) { table.prepareInsert(h) }

    /// See `PieceTable.insert`.
    @inline(__always)
    func insert(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, _ tokens: UnsafePointer<UInt32>, _ count: Int) {
        table.insert(p, n, w, h, tokens, count)
    }

    /// This thread's output buffer of at least `capacity` ids (contents undefined).
    func output(capacity: Int) -> UnsafeMutablePointer<Int> {
        if capacity > outputCapacity {
            output.deallocate()
            outputCapacity = max(capacity, 2 * outputCapacity)
            output = .allocate(capacity: outputCapacity)
        }
        return output
    }
}

extension PieceCache {
    /// Looks up a piece longer than `maxKey` bytes (hash `h`) among the long pieces cached; appends its
    /// ids to `ids` and returns their count, or -1. Long pieces are rare but cost O(n^2) to merge, and
    /// the ones in real text (rules, box drawing, runs of spaces) repeat.
    func findLong(_ p: UnsafePointer<UInt8>, _ n: Int, _ h: UInt64, _ ids: inout [Int]) -> Int {
        guard let e = long.index[h], e.keyLength == n else { return -1 }
        let same = long.keys.withUnsafeBufferPointer { bytesEqual($0.baseAddress! + e.keyStart, p, n) }
        if !same { return -1 }
        for i in e.idStart..<(e.idStart + e.idCount) { ids.append(Int(long.ids[i])) }
        return e.idCount
    }

    /// Caches `tokens` as the ids of the long piece `p[0..<n]` (hash `h`); the long-piece store is
    /// emptied when it holds more than `LongPieces.capacity` bytes.
    func insertLong(_ p: UnsafePointer<UInt8>, _ n: Int, _ h: UInt64, _ tokens: ArraySlice<Int>) {
        if long.keys.count + n > LongPieces.capacity || n > LongPieces.capacity / 4 {
            if n > LongPieces.capacity / 4 { return }
            long = LongPieces()
        }
        long.index[h] = LongPieces.Entry(keyStart: long.keys.count, keyLength: n, idStart: long.ids.count, idCount: tokens.count)
        long.keys.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        for t in tokens { long.ids.append(UInt32(truncatingIfNeeded: t)) }
    }
}

/// One thread's cache of pieces longer than `PieceCache.maxKey`: piece hash -> bytes and ids in arenas.
struct LongPieces {
    /// Bytes of keys kept before the store is emptied.
    static let capacity = 1 << 22
    struct Entry {
        var keyStart: Int
        var keyLength: Int
        var idStart: Int
        var idCount: Int
    }
    var index: [UInt64: Entry] = [:]
    var keys: [UInt8] = []
    var ids: [UInt32] = []
}

/// The thread-local caches of one model, sharing one `PieceTable`. Owns every cache it hands out
/// (threads hold unretained pointers), so they are freed with the model.
/// Sendable: `all` is appended to only while `lock` is held; `key` is set in init and only read after;
/// `table` is a `PieceTable` (sequence-locked lines); each `PieceCache` handed out is reached only
/// through its own thread's thread-local slot.
final class PieceCaches: @unchecked Sendable {
    private var key = pthread_key_t()
    private let lock = NSLock()
    private var all: [PieceCache] = []
    /// The table all the threads' caches share.
    private let table: PieceTable
    /// Slots of the table of a model cached by whole words (SentencePiece BPE and Unigram): a text
    /// holds more distinct words than pieces of a regex split, and 2^18 slots held too few of them.
    static let wordSlotCount = 1 << 20

    /// Caches sharing a table of `slotCount` slots (`PieceTable`). Nil when the system has no
    /// thread-local key left (the model then encodes without a cache).
    init?(slotCount: Int = PieceTable.defaultSlotCount) {
        guard pthread_key_create(&key, nil) == 0 else { return nil }
        table = PieceTable(slotCount: slotCount)
    }

    deinit {
        pthread_key_delete(key)
    }

    /// This thread's cache.
    @inline(__always)
    func current() -> PieceCache {
        if let p = pthread_getspecific(key) {
            return Unmanaged<PieceCache>.fromOpaque(p).takeUnretainedValue()
        }
        return make()
    }

    @inline(never)
    private func make() -> PieceCache {
        let c = PieceCache(table: table)
        lock.lock()
        all.append(c)
        lock.unlock()
        pthread_setspecific(key, Unmanaged.passUnretained(c).toOpaque())
        return c
    }
}
