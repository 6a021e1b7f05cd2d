// The WordPiece model (BERT): greedy longest-match-first over each pre-tokenized word, continuation
// pieces spelled with a prefix ("##"), and the unknown token for a word that cannot be covered or is
// too long. Identical to Hugging Face `tokenizers`' WordPiece model.
//
// Lookups never build Swift Strings: the vocabulary lives in two open-addressing tables keyed by UTF-8
// bytes (one for word-initial tokens, one for continuation tokens with the prefix removed), probed with
// FNV-1a hashes computed incrementally over each candidate prefix.

import Foundation

/// A hash table from byte strings to ids: open addressing with linear probing over 16-byte slots that
/// hold the key's first 8 bytes inline, so a lookup of a short key touches one cache line of the table
/// (longer keys compare their tail in a byte arena). A blocked Bloom filter in front answers most failed
/// lookups from a table small enough to stay in cache. FNV-1a hashes, computable incrementally.
/// Immutable after init; its raw storage is freed with the object.
final class ByteTable: @unchecked Sendable {
    struct Slot {
        var head: UInt64 = 0        // first min(8, length) key bytes, little-endian, zero-padded
        var id: Int32 = -1          // -1: empty
        var lengthAndOffset: UInt32 = 0   // length (8 bits) << 24 | offset of bytes 8... in `arena`
    }

    let slots: UnsafeMutablePointer<Slot>
    let mask: Int
    let arena: UnsafeMutablePointer<UInt8>
    let shift: UInt64
    /// Keys of 255 bytes or more (never in practice): a plain dictionary.
    private var long: [[UInt8]: Int32] = [:]
    /// Blocked Bloom filter over the keys' hashes (about 16 bits per key, two bits per key in one
    /// 64-byte block).
    let bloom: UnsafeMutablePointer<UInt64>
    let bloomBlockMask: Int
    /// Longest key, in bytes.
    let maxKeyLength: Int

    static let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325
    static let fnvPrime: UInt64 = 0x0000_0100_0000_01B3

    @inline(__always)
    static func step(_ h: UInt64, _ b: UInt8) -> UInt64 { (h ^ UInt64(b)) &* fnvPrime }

    static func hash<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        bytes.reduce(fnvOffset) { step($0, $1) }
    }

    /// The first min(8, n) bytes at `p`, little-endian, zero-padded.
    @inline(__always)
    static func head(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        if n >= 8 { return UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) }
        var h: UInt64 = 0
        for k in 0 ..< n { h |= UInt64(p[k]) << UInt64(8 * k) }
        return h
    }

    /// One key of a table: bytes `start..<end` of a text, and its id.
    struct Key {
        var start: Int
        var end: Int
        var id: Int
    }

    /// Whether a key of `init` replaced an earlier equal key (its id then no longer looks up).
    let replacedKeys: Bool

    /// The keys `text[key.start..<key.end]` with their ids; for a repeated key the last id wins.
    /// - Throws: `TokenizerError.invalidInput` when the keys hold more than 16 MB of text.
    /// - Complexity: O(total key bytes).
    init(text: UnsafeBufferPointer<UInt8>, keys: [Key]) throws {
        var capacity = 16
        while capacity < keys.count * 2 + 1 { capacity <<= 1 }
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        let arenaCount = keys.reduce(0) { $0 + max($1.end - $1.start - 8, 0) }
        guard arenaCount < 1 << 24 else {
            throw TokenizerError.invalidInput("vocabulary too large: \(arenaCount) bytes of long tokens")
        }
        slots = UnsafeMutablePointer<Slot>.allocate(capacity: capacity)
        slots.initialize(repeating: Slot(), count: capacity)
        arena = UnsafeMutablePointer<UInt8>.allocate(capacity: max(arenaCount, 1))
        maxKeyLength = keys.reduce(0) { max($0, $1.end - $1.start) }
        var blocks = 1
        while blocks * 512 < keys.count * 16 { blocks <<= 1 }
        bloomBlockMask = blocks - 1
        bloom = UnsafeMutablePointer<UInt64>.allocate(capacity: blocks * 8)
        bloom.initialize(repeating: 0, count: blocks * 8)
        var used = 0
        var replacedAny = false
        let base = text.baseAddress ?? UnsafePointer(arena)  // only an empty text has none: every key is empty
        for key in keys {
            let p = base + key.start, n = key.end - key.start
            precondition(key.start >= 0 && n >= 0 && key.end <= text.count, "ByteTable: key outside its text")
            var h = ByteTable.fnvOffset
            for k in 0 ..< n { h = ByteTable.step(h, p[k]) }
            let (w1, b1, w2, b2) = ByteTable.bloomBits(h, bloomBlockMask)
            bloom[w1] |= b1
            bloom[w2] |= b2
            if n >= 255 {
                let bytes = Array(UnsafeBufferPointer(start: p, count: n))
                if long[bytes] != nil { replacedAny = true }
                long[bytes] = Int32(key.id)
                continue
            }
            let head = ByteTable.head(p, n)
            var at = ByteTable.index(h, shift: shift)
            var replaced = false
            while slots[at].id >= 0 {
                let existing = slots[at]
                if existing.head == head && Int(existing.lengthAndOffset >> 24) == n
                    && (n <= 8 || ByteTable.equal(arena + Int(existing.lengthAndOffset & 0xFF_FFFF), p + 8, n - 8)) {
                    slots[at].id = Int32(key.id)
                    replaced = true
                    break
                }
                at = (at + 1) & mask
            }
            if replaced {
                replacedAny = true
            } else {
                slots[at] = Slot(head: head, id: Int32(key.id), lengthAndOffset: UInt32(n) << 24 | UInt32(used))
                if n > 8 {
                    (arena + used).update(from: p + 8, count: n - 8)
                    used += n - 8
                }
            }
        }
        replacedKeys = replacedAny
    }

    deinit {
        bloom.deallocate()
        slots.deallocate()
        arena.deallocate()
    }

    /// The first slot to probe for hash `h` in a table of `1 << (64 - shift)` slots.
    @inline(__always)
    static func index(_ h: UInt64, shift: UInt64) -> Int { Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// Byte equality of `n` bytes, 8 at a time.
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var k = 0
        while k + 8 <= n {
            if UnsafeRawPointer(a + k).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + k).loadUnaligned(as: UInt64.self) {
                return false
            }
            k += 8
        }
        while k < n {
            if a[k] != b[k] { return false }
            k += 1
        }
        return true
    }

    /// Word indices and bit masks of hash `h` in the Bloom filter: bits from disjoint parts of the hash.
    @inline(__always)
    static func bloomBits(_ h: UInt64, _ blockMask: Int) -> (Int, UInt64, Int, UInt64) {
        let block = Int(truncatingIfNeeded: h >> 40) & blockMask
        let x = Int(truncatingIfNeeded: h) & 511, y = Int(truncatingIfNeeded: h >> 9) & 511
        return (block << 3 | x >> 6, 1 << UInt64(x & 63), block << 3 | y >> 6, 1 << UInt64(y & 63))
    }

    /// The table's lookup state as plain values (see `ByteTableView`).
    var view: ByteTableView {
        ByteTableView(slots: slots, mask: mask, arena: arena, shift: shift, bloom: bloom,
                      bloomBlockMask: bloomBlockMask, maxKeyLength: maxKeyLength, table: self)
    }

    /// The id of the `length` bytes at `p`, whose FNV-1a hash is `h` and whose first min(8, length)
    /// bytes are `head` (see `head(_:_:)`), or -1. `filter`: consult the Bloom filter first (worth it
    /// when the key is likely absent; a likely hit goes straight to the table).
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, length: Int, hash h: UInt64, head: UInt64, filter: Bool = true) -> Int32 {
        view.lookup(p, length: length, hash: h, head: head, filter: filter)
    }

    @inline(never)
    func lookupLong(_ p: UnsafePointer<UInt8>, _ length: Int) -> Int32 {
        long[Array(UnsafeBufferPointer(start: p, count: length))] ?? -1
    }

    /// Plain lookup of a byte array (reference path).
    func lookup(_ key: [UInt8]) -> Int32 {
        if key.isEmpty {
            var zero: UInt8 = 0
            return lookup(&zero, length: 0, hash: ByteTable.fnvOffset, head: 0)
        }
        return key.withUnsafeBufferPointer { k in
            lookup(k.baseAddress!, length: k.count, hash: ByteTable.hash(key), head: ByteTable.head(k.baseAddress!, k.count))
        }
    }
}

/// The lookup state of a `ByteTable` as plain values. Copying it touches no reference count: the
/// threads of a batch encode all read the same tables, and retaining a shared table for every word made
/// its count's cache line bounce between the cores (a third of the CPU time on two threads).
/// Sendable: it only reads memory the table owns and never changes.
struct ByteTableView: @unchecked Sendable {
    let slots: UnsafeMutablePointer<ByteTable.Slot>
    let mask: Int
    let arena: UnsafeMutablePointer<UInt8>
    let shift: UInt64
    let bloom: UnsafeMutablePointer<UInt64>
    let bloomBlockMask: Int
    let maxKeyLength: Int
    /// The owner (kept alive by whoever holds the view's source), for keys of 255 bytes or more.
    unowned(unsafe) let table: ByteTable

    /// See `ByteTable.lookup`.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, length: Int, hash h: UInt64, head: UInt64, filter: Bool = true) -> Int32 {
        if filter {
            let (w1, b1, w2, b2) = ByteTable.bloomBits(h, bloomBlockMask)
            if bloom[w1] & b1 == 0 || bloom[w2] & b2 == 0 { return -1 }
        }
        if length >= 255 { return table.lookupLong(p, length) }
        let want = UInt32(length) << 24
        var at = ByteTable.index(h, shift: shift)
        while true {
            let slot = slots[at]
            if slot.id < 0 { return -1 }
            if slot.head == head && slot.lengthAndOffset & 0xFF00_0000 == want
                && (length <= 8 || ByteTable.equal(arena + Int(slot.lengthAndOffset & 0xFF_FFFF), p + 8, length - 8)) {
                return slot.id
            }
            at = (at + 1) & mask
        }
    }
}

/// The WordPiece model (tokenizer.json `"model": {"type": "WordPiece", ...}`, BERT's `vocab.txt`).
///
/// Each pre-tokenized word is covered greedily from the left by the longest vocabulary entry; pieces
/// after the first are looked up with `continuingSubwordPrefix` in front. A word longer than
/// `maxInputCharsPerWord` Unicode scalars, or with a part that no entry covers, becomes the single
/// `unkToken` spanning the whole word.
package final class WordPiece: TokenizationModel {
    package let unkToken: String
    /// Id of `unkToken`.
    package let unkId: Int
    package let continuingSubwordPrefix: String
    /// Longest word, in Unicode scalars, that is not mapped straight to `unkToken`.
    package let maxInputCharsPerWord: Int
    package let vocabSize: Int

    /// The vocabulary as given: UTF-8 keys and their ids, a later key replacing an earlier equal one.
    private let keys: ByteStringTable.PackedKeys
    /// For each id, the index in `keys` of its token, or -1 when no token has it.
    private let tokenKeys: [Int32]
    private let initial: ByteTable
    private let continuation: ByteTable
    /// `initial` and `continuation` as views, for the encoding loop (no reference counting).
    private let initialView: ByteTableView
    private let continuationView: ByteTableView

    /// Token string to id, as given (canonically equivalent tokens, distinct for `tokenToId`, are
    /// one key of a Swift dictionary).
    /// - Complexity: O(vocabulary): built on each call (the model itself keeps packed bytes, so that a
    ///   load creates no string per token); `tokenToId` looks one token up.
    package var vocab: [String: Int] { keys.dictionary }

    /// Builds the model from a vocabulary. Several tokens with one id: `idToToken` gives the least.
    /// Keys are compared as bytes, as in Hugging Face's map (a Swift dictionary cannot hold two
    /// canonically equivalent strings, so `vocab` merges such tokens; `tokenToId` does not).
    /// - Throws: `TokenizerError.invalidInput` when `unkToken` is not in `vocab` or an id is negative.
    package convenience init(vocab: [String: Int], unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                            maxInputCharsPerWord: Int = 100) throws {
        // Any order: the keys of a dictionary are distinct, and a shared id resolves to its least token.
        try self.init(keys: ByteStringTable.PackedKeys(vocab), unkToken: unkToken,
                      continuingSubwordPrefix: continuingSubwordPrefix, maxInputCharsPerWord: maxInputCharsPerWord)
    }

    /// Builds the model from packed keys in the order given (a tokenizer.json object, vocab.txt lines):
    /// a later key replaces an earlier one with the same bytes, as in Hugging Face's map (keys are
    /// bytes: "é" and "e\u{301}" are two tokens); ill-formed UTF-8 is repaired as a Swift `String`
    /// would. Several tokens with one id: `idToToken` gives the least (`String` order).
    /// - Throws: `TokenizerError.invalidInput` when `unkToken` is not in the vocabulary or the id of a
    ///   token is negative or too large (checked in that order, ids of replaced keys not at all).
    /// - Complexity: O(total key bytes); no string is created per token.
    init(keys given: ByteStringTable.PackedKeys, unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
         maxInputCharsPerWord: Int = 100) throws {
        var keys = WordPiece.repairingUTF8(given)
        let unkBytes = Array(unkToken.utf8)
        if keys.ids.contains(where: { $0 < 0 || $0 >= Int(Int32.max) }) {
            keys = try WordPiece.validatedKeys(keys, unk: unkBytes, unkToken: unkToken)
        }
        let prefix = Array(continuingSubwordPrefix.utf8)
        var initialKeys: [ByteTable.Key] = []
        var continuationKeys: [ByteTable.Key] = []
        initialKeys.reserveCapacity(keys.count)
        continuationKeys.reserveCapacity(keys.count / 4)
        keys.bytes.withUnsafeBufferPointer { text in
            for k in 0 ..< keys.count {
                let start = keys.starts[k], end = keys.starts[k + 1], id = keys.ids[k]
                initialKeys.append(ByteTable.Key(start: start, end: end, id: id))
                if end - start >= prefix.count
                    && (prefix.isEmpty || memcmp(text.baseAddress! + start, prefix, prefix.count) == 0) {
                    continuationKeys.append(ByteTable.Key(start: start + prefix.count, end: end, id: id))
                }
            }
        }
        let text = keys.bytes
        initial = try text.withUnsafeBufferPointer { try ByteTable(text: $0, keys: initialKeys) }
        continuation = try text.withUnsafeBufferPointer { try ByteTable(text: $0, keys: continuationKeys) }
        initialView = initial.view
        continuationView = continuation.view
        let unk = initial.lookup(unkBytes)
        guard unk >= 0 else {
            throw TokenizerError.invalidInput("WordPiece: the unknown token \(unkToken) is not in the vocabulary")
        }
        // The keys that count: all, unless a later key replaced an earlier one with the same bytes
        // (then those whose bytes still look up to their id).
        let initialTable = initial
        let counts: [Bool]? = initialTable.replacedKeys ? text.withUnsafeBufferPointer { t in
            (0 ..< keys.count).map { k in
                initialTable.lookup(Array(t[keys.range(k)])) == Int32(keys.ids[k])
            }
        } : nil
        var maxId = -1
        for k in 0 ..< keys.count where counts?[k] ?? true { maxId = max(maxId, keys.ids[k]) }
        // Each id's token: its least key (almost always its only one).
        var tokenKeys = [Int32](repeating: -1, count: maxId + 1)
        func string(_ k: Int) -> String { String(decoding: keys.bytes[keys.range(k)], as: UTF8.self) }
        for k in 0 ..< keys.count where counts?[k] ?? true {
            let id = keys.ids[k], other = Int(tokenKeys[id])
            if other < 0 || string(k) < string(other) { tokenKeys[id] = Int32(k) }
        }
        self.keys = keys
        self.tokenKeys = tokenKeys
        self.unkToken = unkToken
        self.unkId = Int(unk)
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        vocabSize = maxId + 1
    }

    /// The keys of a vocabulary with an id out of range, as a map keeps them (the last of equal keys),
    /// after the checks the map was given: the unknown token first, then each id.
    /// - Throws: `TokenizerError.invalidInput`.
    private static func validatedKeys(_ keys: ByteStringTable.PackedKeys, unk: [UInt8], unkToken: String) throws
        -> ByteStringTable.PackedKeys {
        var seen = Set<ArraySlice<UInt8>>()
        var last = [Bool](repeating: false, count: keys.count)
        for k in stride(from: keys.count - 1, through: 0, by: -1) {
            last[k] = seen.insert(keys.bytes[keys.range(k)]).inserted
        }
        guard seen.contains(unk[...]) else {
            throw TokenizerError.invalidInput("WordPiece: the unknown token \(unkToken) is not in the vocabulary")
        }
        var kept = ByteStringTable.PackedKeys()
        try keys.bytes.withUnsafeBufferPointer { text in
            for k in 0 ..< keys.count where last[k] {
                let id = keys.ids[k]
                guard id >= 0 && id < Int(Int32.max) else {
                    throw TokenizerError.invalidInput("WordPiece: token id \(id) out of range")
                }
                kept.append(id: id, UnsafeBufferPointer(rebasing: text[keys.range(k)]))
            }
        }
        return kept
    }

    /// `keys` with every key that is not well-formed UTF-8 repaired (U+FFFD per ill-formed subpart),
    /// as reading them into Swift strings did; `keys` itself when all are well-formed (the usual case).
    private static func repairingUTF8(_ keys: ByteStringTable.PackedKeys) -> ByteStringTable.PackedKeys {
        let valid = keys.bytes.withUnsafeBufferPointer { text in
            (0 ..< keys.count).allSatisfy { isValidUTF8(UnsafeBufferPointer(rebasing: text[keys.range($0)])) }
        }
        if valid { return keys }
        var repaired = ByteStringTable.PackedKeys()
        keys.bytes.withUnsafeBufferPointer { text in
            for k in 0 ..< keys.count {
                let key = UnsafeBufferPointer(rebasing: text[keys.range(k)])
                if isValidUTF8(key) {
                    repaired.append(id: keys.ids[k], key)
                } else {
                    replacingInvalidUTF8(key).withUnsafeBufferPointer { repaired.append(id: keys.ids[k], $0) }
                }
            }
        }
        return repaired
    }

    /// Parses BERT's `vocab.txt`: one token per line, the id is the line number, trailing whitespace
    /// is trimmed (as `tokenizers` reads it); a repeated token keeps its last line.
    /// - Throws: `TokenizerError.malformed` naming `path` when the text is not UTF-8.
    package static func parseVocabTxt(_ contents: [UInt8], path: String) throws -> [String: Int] {
        try parseVocabTxtKeys(contents, path: path).dictionary
    }

    /// `parseVocabTxt` as packed keys, one per line in order.
    static func parseVocabTxtKeys(_ contents: [UInt8], path: String) throws -> ByteStringTable.PackedKeys {
        var keys = ByteStringTable.PackedKeys()
        keys.reserve(count: contents.count / 8, bytes: contents.count)
        try contents.withUnsafeBufferPointer { text in
            guard let base = text.baseAddress else { return }
            try Tokenizer.forEachLine(text) { lineNumber, range in
                let (start, end) = (range.lowerBound, range.upperBound)
                // Trim trailing whitespace (Rust `trim_end`): ASCII bytes directly, other scalars decoded.
                var stop = end
                while stop > start {
                    let b = base[stop - 1]
                    if b == 0x20 || (0x09 ... 0x0D).contains(b) { stop -= 1; continue }
                    if b < 0x80 { break }
                    var lead = stop - 1
                    while lead > start && base[lead] & 0xC0 == 0x80 && stop - lead < 4 { lead -= 1 }
                    let (s, len) = UTF8Codec.decode(base, at: lead, end: stop)
                    guard lead + len == stop, UnicodeProperties.isWhitespace(s) else { break }
                    stop = lead
                }
                let line = UnsafeBufferPointer(rebasing: text[start ..< stop])
                guard isValidUTF8(line) else {
                    throw TokenizerError.malformed(path: path, reason: "line \(lineNumber) is not valid UTF-8")
                }
                keys.append(id: lineNumber - 1, line)
            }
        }
        return keys
    }

    /// Reads BERT's `vocab.txt` and builds the model.
    /// - Throws: `TokenizerError.unreadable` / `.malformed` naming `path`.
    package convenience init(vocabTxtPath path: String, unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharsPerWord: Int = 100) throws {
        let keys = try WordPiece.parseVocabTxtKeys(try Tokenizer.readFile(path), path: path)
        do {
            try self.init(keys: keys, unkToken: unkToken, continuingSubwordPrefix: continuingSubwordPrefix,
                          maxInputCharsPerWord: maxInputCharsPerWord)
        } catch let error as TokenizerError {
            throw TokenizerError.malformed(path: path, reason: error.description)
        }
    }

    package func tokenToId(_ token: String) -> Int? {
        let id = initial.lookup(Array(token.utf8))
        return id < 0 ? nil : Int(id)
    }

    package func idToToken(_ id: Int) -> String? {
        guard id >= 0 && id < tokenKeys.count, tokenKeys[id] >= 0 else { return nil }
        let k = Int(tokenKeys[id])
        return keys.bytes.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[keys.range(k)]), as: UTF8.self)
        }
    }

    /// The vocabulary as tokens ordered by id (nil for unused ids), e.g. to write `vocab.txt`.
    package var tokensById: [String?] { (0 ..< vocabSize).map { idToToken($0) } }

    /// - Complexity: O(L · m) for a word of L bytes, m the longest vocabulary entry in bytes; each
    ///   candidate costs one probe, hashes are computed incrementally.
    package func encode(piece: UnsafeBufferPointer<UInt8>, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        guard let p = piece.baseAddress, !piece.isEmpty else { return }
        let n = piece.count
        if n > maxInputCharsPerWord && UTF8Codec.scalarCount(piece) > maxInputCharsPerWord {
            ids.append(unkId)
            ranges?.pointee.append(0 ..< n)
            return
        }
        let initial = initialView, continuation = continuationView
        // Fast path: the whole word is a vocabulary entry (most words).
        let probedWhole = n <= initial.maxKeyLength
        if probedWhole {
            var h = ByteTable.fnvOffset
            for k in 0 ..< n { h = ByteTable.step(h, p[k]) }
            let id = initial.lookup(p, length: n, hash: h, head: ByteTable.head(p, n), filter: false)
            if id >= 0 {
                ids.append(Int(id))
                ranges?.pointee.append(0 ..< n)
                return
            }
        }
        let firstId = ids.count
        let firstRange = ranges?.pointee.count ?? 0
        let capacity = max(initial.maxKeyLength, continuation.maxKeyLength) + 1
        let ok = withUnsafeTemporaryAllocation(of: (end: Int, hash: UInt64).self, capacity: capacity) { cand -> Bool in
            var start = 0
            while start < n {
                let table = start == 0 ? initial : continuation
                let limit = min(n, start + table.maxKeyLength)
                // Candidate ends at scalar boundaries, each with the hash of p[start..<end].
                var count = 0
                var h = ByteTable.fnvOffset
                var i = start
                while i < limit {
                    let len = p[i] < 0x80 ? 1 : UTF8Codec.decode(p, at: i, end: n).length
                    if i + len > limit { break }
                    for k in i ..< i + len { h = ByteTable.step(h, p[k]) }
                    i += len
                    cand[count] = (i, h)
                    count += 1
                }
                let head8 = ByteTable.head(p + start, min(8, n - start))
                var found: Int32 = -1
                var end = start
                if start == 0 && probedWhole && count > 0 && cand[count - 1].end == n { count -= 1 }
                while count > 0 {
                    count -= 1
                    let (e, hh) = cand[count]
                    let len = e - start
                    let head = len >= 8 ? head8 : head8 & ((1 << UInt64(8 * len)) &- 1)
                    found = table.lookup(p + start, length: len, hash: hh, head: head)
                    if found >= 0 {
                        end = e
                        break
                    }
                }
                if found < 0 { return false }
                ids.append(Int(found))
                ranges?.pointee.append(start ..< end)
                start = end
            }
            return true
        }
        if !ok {
            ids.removeLast(ids.count - firstId)
            if let ranges { ranges.pointee.removeLast(ranges.pointee.count - firstRange) }
            ids.append(unkId)
            ranges?.pointee.append(0 ..< n)
        }
    }

    /// Plain reference implementation of `encode`, written like `tokenizers` (substrings, String lookups).
    /// Used by tests to check the fast path.
    package func referenceEncode(piece: [UInt8]) -> (ids: [Int], ranges: [Range<Int>]) {
        let (scalars, spans) = piece.withUnsafeBufferPointer { UTF8Codec.decodeScalars($0) }
        if scalars.count > maxInputCharsPerWord { return ([unkId], [0 ..< piece.count]) }
        var ids: [Int] = []
        var ranges: [Range<Int>] = []
        var start = 0   // in scalars
        while start < scalars.count {
            var end = scalars.count
            var match: Int?
            while start < end {
                var key = Array(piece[spans[start].lowerBound ..< spans[end - 1].upperBound])
                if start > 0 { key = Array(continuingSubwordPrefix.utf8) + key }
                let id = initial.lookup(key)
                if id >= 0 { match = Int(id); break }
                end -= 1
            }
            guard let id = match else { return ([unkId], [0 ..< piece.count]) }
            ids.append(id)
            ranges.append(spans[start].lowerBound ..< spans[end - 1].upperBound)
            start = end
        }
        return (ids, ranges)
    }
}
