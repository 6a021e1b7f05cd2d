// The WordPiece model (BERT): greedy longest-match-first over each pre-tokenized word, continuation
// pieces spelled with a prefix ("##"), and the unknown token for a word that cannot be covered or is
// too long. Identical to Hugging Face `tokenizers`' WordPiece model.
//
// Lookups never build Swift Strings: the vocabulary lives in two open-addressing tables keyed by UTF-8
// bytes (one for word-initial tokens, one for continuation tokens with the prefix removed), probed with
// FNV-1a hashes computed incrementally over each candidate prefix.

import Foundation

/// A hash table from byte strings to ids, open addressing with linear probing.
struct ByteTable: Sendable {
    struct Slot: Sendable {
        var hash: UInt32 = 0
        var id: Int32 = -1          // -1: empty
        var offset: UInt32 = 0      // key bytes in `arena`
        var length: UInt32 = 0
    }

    private(set) var slots: [Slot]
    private(set) var arena: [UInt8]
    private let shift: UInt64
    /// Longest key, in bytes.
    let maxKeyLength: Int

    static let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325
    static let fnvPrime: UInt64 = 0x0000_0100_0000_01B3

    @inline(__always)
    static func step(_ h: UInt64, _ b: UInt8) -> UInt64 { (h ^ UInt64(b)) &* fnvPrime }

    static func hash<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        bytes.reduce(fnvOffset) { step($0, $1) }
    }

    init(keys: [(key: [UInt8], id: Int)]) {
        var capacity = 16
        while capacity < keys.count * 2 + 1 { capacity <<= 1 }
        slots = [Slot](repeating: Slot(), count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        arena = []
        arena.reserveCapacity(keys.reduce(0) { $0 + $1.key.count })
        maxKeyLength = keys.reduce(0) { max($0, $1.key.count) }
        for (key, id) in keys {
            let h = ByteTable.hash(key)
            var at = index(h)
            let tag = UInt32(truncatingIfNeeded: h >> 32)
            while slots[at].id >= 0 {
                if slots[at].hash == tag && slotKey(at).elementsEqual(key) { break }   // duplicate key: last wins
                at = (at + 1) & (capacity - 1)
            }
            if slots[at].id < 0 {
                slots[at] = Slot(hash: tag, id: Int32(id), offset: UInt32(arena.count), length: UInt32(key.count))
                arena.append(contentsOf: key)
            } else {
                slots[at].id = Int32(id)
            }
        }
    }

    private func slotKey(_ at: Int) -> ArraySlice<UInt8> {
        let s = slots[at]
        return arena[Int(s.offset) ..< Int(s.offset) + Int(s.length)]
    }

    @inline(__always)
    func index(_ h: UInt64) -> Int { Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The id of the `length` bytes at `p`, whose FNV-1a hash is `h`, or -1.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, length: Int, hash h: UInt64,
                slots s: UnsafeBufferPointer<Slot>, arena a: UnsafePointer<UInt8>) -> Int32 {
        let mask = s.count - 1
        var at = index(h)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        while true {
            let slot = s[at]
            if slot.id < 0 { return -1 }
            if slot.hash == tag && Int(slot.length) == length && memcmp(a + Int(slot.offset), p, length) == 0 {
                return slot.id
            }
            at = (at + 1) & mask
        }
    }

    /// Plain lookup of a byte array (reference path).
    func lookup(_ key: [UInt8]) -> Int32 {
        key.withUnsafeBufferPointer { k in
            slots.withUnsafeBufferPointer { s in
                arena.withUnsafeBufferPointer { a in
                    guard let kp = k.baseAddress ?? UnsafePointer(bitPattern: 1),
                          let ap = a.baseAddress ?? UnsafePointer(bitPattern: 1) else { return -1 }
                    return lookup(kp, length: k.count, hash: ByteTable.hash(key), slots: s, arena: ap)
                }
            }
        }
    }
}

/// The WordPiece model (tokenizer.json `"model": {"type": "WordPiece", ...}`, BERT's `vocab.txt`).
///
/// Each pre-tokenized word is covered greedily from the left by the longest vocabulary entry; pieces
/// after the first are looked up with `continuingSubwordPrefix` in front. A word longer than
/// `maxInputCharsPerWord` Unicode scalars, or with a part that no entry covers, becomes the single
/// `unkToken` spanning the whole word.
public struct WordPiece: TokenizationModel {
    /// Token string to id, as given.
    public let vocab: [String: Int]
    public let unkToken: String
    /// Id of `unkToken`.
    public let unkId: Int
    public let continuingSubwordPrefix: String
    /// Longest word, in Unicode scalars, that is not mapped straight to `unkToken`.
    public let maxInputCharsPerWord: Int
    public let vocabSize: Int

    private let tokens: [String?]
    private let initial: ByteTable
    private let continuation: ByteTable

    /// Builds the model from a vocabulary.
    /// - Throws: `TokenizerError.invalidInput` when `unkToken` is not in `vocab` or an id is negative.
    public init(vocab: [String: Int], unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharsPerWord: Int = 100) throws {
        guard let unk = vocab[unkToken] else {
            throw TokenizerError.invalidInput("WordPiece: the unknown token \(unkToken) is not in the vocabulary")
        }
        var maxId = -1
        for (_, id) in vocab {
            guard id >= 0 && id < Int(Int32.max) else {
                throw TokenizerError.invalidInput("WordPiece: token id \(id) out of range")
            }
            maxId = max(maxId, id)
        }
        self.vocab = vocab
        self.unkToken = unkToken
        self.unkId = unk
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        vocabSize = maxId + 1
        var tokens = [String?](repeating: nil, count: maxId + 1)
        // Deterministic: sort by id, so a duplicate id resolves the same way every run.
        let sorted = vocab.sorted { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }
        var initialKeys: [(key: [UInt8], id: Int)] = []
        var continuationKeys: [(key: [UInt8], id: Int)] = []
        initialKeys.reserveCapacity(sorted.count)
        let prefix = Array(continuingSubwordPrefix.utf8)
        for (token, id) in sorted {
            if tokens[id] == nil { tokens[id] = token }
            let bytes = Array(token.utf8)
            initialKeys.append((bytes, id))
            if bytes.count >= prefix.count && bytes.starts(with: prefix) {
                continuationKeys.append((Array(bytes[prefix.count...]), id))
            }
        }
        self.tokens = tokens
        initial = ByteTable(keys: initialKeys)
        continuation = ByteTable(keys: continuationKeys)
    }

    /// Parses BERT's `vocab.txt`: one token per line, the id is the line number, trailing whitespace
    /// is trimmed (as `tokenizers` reads it); a repeated token keeps its last line.
    /// - Throws: `TokenizerError.malformed` naming `path` when the text is not UTF-8.
    public static func parseVocabTxt(_ contents: [UInt8], path: String) throws -> [String: Int] {
        var vocab: [String: Int] = [:]
        var lineNumber = 0
        var start = 0
        let n = contents.count
        while start < n {
            var end = start
            while end < n && contents[end] != 0x0A { end += 1 }
            var line = Array(contents[start ..< end])
            guard let text = String(validating: line, as: UTF8.self) else {
                throw TokenizerError.malformed(path: path, reason: "line \(lineNumber + 1) is not valid UTF-8")
            }
            var scalars = Array(text.unicodeScalars)
            while let last = scalars.last, UnicodeProperties.isWhitespace(last.value) { scalars.removeLast() }
            line = Array(String(String.UnicodeScalarView(scalars)).utf8)
            vocab[String(decoding: line, as: UTF8.self)] = lineNumber
            lineNumber += 1
            start = end + 1
        }
        return vocab
    }

    /// Reads BERT's `vocab.txt` and builds the model.
    /// - Throws: `TokenizerError.unreadable` / `.malformed` naming `path`.
    public init(vocabTxtPath path: String, unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharsPerWord: Int = 100) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.unreadable(path: path, reason: "no such file or not readable")
        }
        let vocab = try WordPiece.parseVocabTxt([UInt8](data), path: path)
        do {
            try self.init(vocab: vocab, unkToken: unkToken, continuingSubwordPrefix: continuingSubwordPrefix,
                          maxInputCharsPerWord: maxInputCharsPerWord)
        } catch let error as TokenizerError {
            throw TokenizerError.malformed(path: path, reason: error.description)
        }
    }

    public func tokenToId(_ token: String) -> Int? { vocab[token] }

    public func idToToken(_ id: Int) -> String? {
        id >= 0 && id < tokens.count ? tokens[id] : nil
    }

    /// The vocabulary as tokens ordered by id (nil for unused ids), e.g. to write `vocab.txt`.
    public var tokensById: [String?] { tokens }

    /// - Complexity: O(L · m) for a word of L bytes, m the longest vocabulary entry in bytes; each
    ///   candidate costs one probe, hashes are computed incrementally.
    public func encode(piece: UnsafeBufferPointer<UInt8>, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        guard let p = piece.baseAddress, !piece.isEmpty else { return }
        let n = piece.count
        if n > maxInputCharsPerWord && UTF8Codec.scalarCount(piece) > maxInputCharsPerWord {
            ids.append(unkId)
            ranges?.pointee.append(0 ..< n)
            return
        }
        let firstId = ids.count
        let firstRange = ranges?.pointee.count ?? 0
        let capacity = max(initial.maxKeyLength, continuation.maxKeyLength) + 1
        let ok = withUnsafeTemporaryAllocation(of: (end: Int, hash: UInt64).self, capacity: capacity) { cand -> Bool in
            initial.slots.withUnsafeBufferPointer { s0 in
                initial.arena.withUnsafeBufferPointer { a0 in
                    continuation.slots.withUnsafeBufferPointer { s1 in
                        continuation.arena.withUnsafeBufferPointer { a1 in
                            // Empty arenas still need a pointer; it is never read (length 0 never matches a key there).
                            let dummy = UnsafePointer<UInt8>(p)
                            var start = 0
                            while start < n {
                                let first = start == 0
                                let maxLen = first ? initial.maxKeyLength : continuation.maxKeyLength
                                let limit = min(n, start + maxLen)
                                // Candidate ends at scalar boundaries, with the hash of p[start..<end].
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
                                var found: Int32 = -1
                                var end = start
                                while count > 0 {
                                    count -= 1
                                    let (e, hh) = cand[count]
                                    found = first
                                        ? initial.lookup(p + start, length: e - start, hash: hh, slots: s0, arena: a0.baseAddress ?? dummy)
                                        : continuation.lookup(p + start, length: e - start, hash: hh, slots: s1, arena: a1.baseAddress ?? dummy)
                                    if found >= 0 { end = e; break }
                                }
                                if found < 0 { return false }
                                ids.append(Int(found))
                                ranges?.pointee.append(start ..< end)
                                start = end
                            }
                            return true
                        }
                    }
                }
            }
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
    public func referenceEncode(piece: [UInt8]) -> (ids: [Int], ranges: [Range<Int>]) {
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
