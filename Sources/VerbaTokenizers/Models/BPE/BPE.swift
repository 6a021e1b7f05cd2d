// Byte-pair encoding, id for id with Hugging Face `tokenizers` (BPE model) and `tiktoken`.
//
// Two ways to build one:
// - `BPE(vocab:merges:options:path:)`: a tokenizer.json / vocab.json + merges.txt model. Merges are
//   integer pairs -> (rank, merged id) in a flat hash table.
// - `BPE(tiktokenRanks:)` / `BPE(tiktokenFile:)`: a tiktoken rank file; token id = rank, and a pair
//   merges into the token its bytes spell (rank = that token's rank), found by hashing the byte slice.
//
// Byte-level models (`options.byteLevel`, always true for tiktoken) take raw piece bytes: the
// GPT-2 byte->character mapping is folded into the tables (byte b starts as the id of the token that
// spells b), so no strings are built while encoding.

import CVerbaSupport

/// A byte-pair-encoding model.
///
/// Thread safety: `encode` may run on many threads at once. After `init` only caches change (the
/// shared piece table, the learned `selfMerging` flags), each made safe for concurrent use.
/// Sendable: every stored property is a `let`, and the memory behind `byteIds` and `bytePairRanks` is
/// written only in init; `selfMerging` bytes are read and written with relaxed atomics and every writer
/// stores the same value for an id; `caches` (`PieceCaches`) and `strings` (`VocabularyStrings`, behind
/// its `lock`) are Sendable themselves; `table` and `pairs` are immutable after init.
package final class BPE: TokenizationModel, @unchecked Sendable {
    /// Settings of a Hugging Face BPE model (tokenizer.json `model` fields).
    package struct Options: Sendable, Equatable {
        /// Pieces are raw bytes and vocabulary strings spell bytes with GPT-2's byte characters (the
        /// tokenizer has a ByteLevel pre-tokenizer). When false, pieces are UTF-8 characters.
        package var byteLevel: Bool
        /// Look the whole piece up before merging (`ignore_merges`; tiktoken always does).
        package var ignoreMerges: Bool
        /// Encode characters missing from the vocabulary as `<0xXX>` byte tokens (`byte_fallback`).
        package var byteFallback: Bool
        /// Token for characters missing from the vocabulary (`unk_token`); without one they are dropped.
        package var unkToken: String?
        /// Merge consecutive unknown characters into one `unk_token` (`fuse_unk`).
        package var fuseUnk: Bool
        /// Prefix of vocabulary strings for characters that do not start a piece (`continuing_subword_prefix`).
        package var continuingSubwordPrefix: String?
        /// Suffix of vocabulary strings for the last character of a piece (`end_of_word_suffix`).
        package var endOfWordSuffix: String?
        /// BPE dropout probability; only nil or 0 is supported (Verba encodes deterministically).
        package var dropout: Double?

        package init(byteLevel: Bool = true, ignoreMerges: Bool = false, byteFallback: Bool = false,
                    unkToken: String? = nil, fuseUnk: Bool = false, continuingSubwordPrefix: String? = nil,
                    endOfWordSuffix: String? = nil, dropout: Double? = nil) {
            self.byteLevel = byteLevel
            self.ignoreMerges = ignoreMerges
            self.byteFallback = byteFallback
            self.unkToken = unkToken
            self.fuseUnk = fuseUnk
            self.continuingSubwordPrefix = continuingSubwordPrefix
            self.endOfWordSuffix = endOfWordSuffix
            self.dropout = dropout
        }
    }

    /// The settings this model was built with (tiktoken models: byte-level, ignoring merges).
    package let options: Options
    /// Number of ids: the largest id plus one.
    package let vocabSize: Int
    /// Whether this model came from a tiktoken rank file (ids are ranks, merges implied by ranks).
    package let isTiktoken: Bool
    /// Id of `options.unkToken`, if it is in the vocabulary.
    package let unkId: Int?

    /// Pieces at most this long merge with the O(n^2) array scan; longer ones with the heap.
    package static let smallPieceLimit = 128

    let table: ByteStringTable
    let pairs: PairTable?
    /// `table` and `pairs` unretained, for the merge loops' rankers (see BPEMerge.swift).
    private let tableRef: Unmanaged<ByteStringTable>
    private let pairsRef: Unmanaged<PairTable>?
    let byteIds: UnsafeMutablePointer<UInt32>  // 256: id of the token spelling one byte (fast path)
    let fallbackIds: [Int]  // 256: id of "<0xXX>", or -1
    let fastBytes: Bool
    let prefix: [UInt8]
    let suffix: [UInt8]
    /// Vocabulary strings (UTF-8) by id, and back; nil for tiktoken models (their strings are the
    /// byte-level spelling of `table`'s bytes).
    let strings: VocabularyStrings?
    /// Whether id has a vocabulary string (ids may have gaps).
    let hasString: [Bool]
    /// String -> id for the strings `strings` cannot give: a vocabulary with two strings for one id or
    /// an empty string keeps its whole dictionary here; empty otherwise.
    let aliases: [String: Int]
    /// The merges as the model was built from them (saved back to tokenizer.json); empty for tiktoken.
    let merges: PackedMerges
    /// Per id: whether encoding the token's own bytes by merges gives back just that token, which makes
    /// the whole-piece lookup exact even without `ignoreMerges`: 0 not known yet, 1 yes, 2 no. Learned
    /// the first time a piece spelling the token is merged (by any thread: whoever learns it stores the
    /// same value), so loading a model does not merge its whole vocabulary. Nil when the lookup is not
    /// used.
    let selfMerging: UnsafeMutablePointer<UInt8>?
    /// Fast byte-level models: the rank of every pair of single bytes, indexed `a << 8 | b`.
    let bytePairRanks: UnsafeMutablePointer<UInt64>?
    /// Fast byte-level models: the piece table shared by the threads, and each thread's scratch (see
    /// BPECache.swift).
    let caches: PieceCaches?
    /// SentencePiece-style models (pieces are characters, spaces written as the Metaspace mark `▁`)
    /// whose merges never join a mark to a character before it: the mark's UTF-8, where a piece may be
    /// cut into words (each mark that follows another character starts one) encoded one by one through
    /// the piece cache. No token spans such a cut, so the words merge as the whole piece would (see
    /// `wordMark(_:)`). Nil for other models.
    let segmentMark: [UInt8]?

    struct Parts {
        var options: Options
        var vocabSize: Int
        var isTiktoken: Bool
        var table: ByteStringTable
        var pairs: PairTable?
        var strings: VocabularyStrings? = nil
        var hasString: [Bool] = []
        var aliases: [String: Int] = [:]
        var merges = PackedMerges()
        var prefix: [UInt8] = []
        var suffix: [UInt8] = []
    }

    init(parts: Parts) {
        options = parts.options
        vocabSize = parts.vocabSize
        isTiktoken = parts.isTiktoken
        table = parts.table
        pairs = parts.pairs
        tableRef = .passUnretained(parts.table)
        pairsRef = parts.pairs.map { .passUnretained($0) }
        strings = parts.strings
        hasString = parts.hasString
        aliases = parts.aliases
        merges = parts.merges
        prefix = parts.prefix
        suffix = parts.suffix
        unkId = parts.options.unkToken.flatMap { BPE.id(ofString: $0, parts.strings, parts.aliases) }
        byteIds = .allocate(capacity: 256)
        var all = true
        var fb = [Int](repeating: -1, count: 256)
        for b in 0..<256 {
            let id = parts.options.byteLevel ? parts.table.find([UInt8(b)]) : -1
            byteIds[b] = id < 0 ? 0 : UInt32(id)
            if id < 0 { all = false }
            let hex = Array("0123456789ABCDEF".utf8)
            fb[b] = parts.table.find(Array("<0x".utf8) + [hex[b >> 4], hex[b & 15], UInt8(ascii: ">")])
        }
        fallbackIds = fb
        fastBytes = parts.options.byteLevel && all && parts.prefix.isEmpty && parts.suffix.isEmpty
        if !parts.options.ignoreMerges && parts.prefix.isEmpty && parts.suffix.isEmpty && parts.vocabSize > 0 {
            selfMerging = .allocate(capacity: parts.vocabSize)
            selfMerging!.initialize(repeating: 0, count: parts.vocabSize)
        } else {
            selfMerging = nil
        }
        if fastBytes {
            let ranks = UnsafeMutablePointer<UInt64>.allocate(capacity: 1 << 16)
            if let pairs = parts.pairs, let byteOf = BPE.bytesOfIds(byteIds, count: parts.vocabSize) {
                // The merges of two single-byte tokens: a pass over the pair table, not 65,536 lookups.
                ranks.initialize(repeating: UInt64.max, count: 1 << 16)
                pairs.forEach { a, b, merge in
                    let x = byteOf[Int(a)], y = byteOf[Int(b)]
                    if x >= 0 && y >= 0 { ranks[Int(x) << 8 | Int(y)] = merge }
                }
            } else {
                BPE.fillBytePairRanks(ranks, byteIds, parts)
            }
            bytePairRanks = ranks
            caches = PieceCaches()
            segmentMark = nil
        } else {
            bytePairRanks = nil
            segmentMark = BPE.wordMark(parts)
            // Words, not pieces of a regex split: more of them are distinct, and a miss costs a merge
            // by characters; 64 MiB of table (pages taken as lines are first written).
            caches = segmentMark == nil ? nil : PieceCaches(slotCount: PieceCaches.wordSlotCount)
        }
    }

    /// The Metaspace mark if `parts` is a character model whose pieces may be cut before each mark that
    /// follows another character: the mark is a token of its own (so it never joins an unknown run), no
    /// merge has a right token starting with the mark and a left one not ending with it (so no token
    /// holds a character then the mark: the merge that made it would be such a merge, as a single
    /// character cannot hold both), and merges are not skipped for whole-piece tokens, nor affixes
    /// added. Merging then never crosses a cut: the pairs across it never merge, whatever the merges
    /// on either side, so each side merges in the same order alone.
    private static func wordMark(_ parts: Parts) -> [UInt8]? {
        let mark: [UInt8] = [0xE2, 0x96, 0x81]
        guard !parts.options.byteLevel, !parts.options.ignoreMerges, parts.prefix.isEmpty, parts.suffix.isEmpty,
              let pairs = parts.pairs, parts.table.find(mark) >= 0 else { return nil }
        var crosses = false
        pairs.forEach { a, b, _ in
            let right = parts.table.bytes(of: Int(b))
            guard right.count >= 3, right[0] == mark[0], right[1] == mark[1], right[2] == mark[2] else { return }
            let left = parts.table.bytes(of: Int(a))
            let n = left.count
            if !(n >= 3 && left[n - 3] == mark[0] && left[n - 2] == mark[1] && left[n - 1] == mark[2]) { crosses = true }
        }
        return crosses ? nil : mark
    }

    /// The byte each id stands for (-1 for ids that are not a byte's), from the ids of the 256 bytes;
    /// nil if two bytes share an id.
    private static func bytesOfIds(_ byteIds: UnsafeMutablePointer<UInt32>, count: Int) -> [Int16]? {
        var byteOf = [Int16](repeating: -1, count: count)
        for b in 0..<256 {
            let id = Int(byteIds[b])
            guard id < count, byteOf[id] < 0 else { return nil }
            byteOf[id] = Int16(b)
        }
        return byteOf
    }

    /// `bytePairRanks` by looking up each of the 65,536 pairs of bytes; without merges (tiktoken), only
    /// the pairs that some two-byte token spells are looked up (a few thousand).
    private static func fillBytePairRanks(_ ranks: UnsafeMutablePointer<UInt64>, _ byteIds: UnsafeMutablePointer<UInt32>,
                                          _ parts: Parts) {
        guard let pairs = parts.pairs else {
            // A pair no token spells is not found; a pair some token spells is found as the table says.
            ranks.initialize(repeating: UInt64.max, count: 1 << 16)
            for id in 0..<parts.table.count where parts.table.length(of: id) == 2 {
                let pair = parts.table.bytes(of: id)
                let found = parts.table.find(pair.baseAddress!, 2)
                if found >= 0 { ranks[Int(pair[0]) << 8 | Int(pair[1])] = UInt64(found) << 32 | UInt64(found) }
            }
            return
        }
        for a in 0..<256 {
            for b in 0..<256 { ranks[a << 8 | b] = pairs.lookup(byteIds[a], byteIds[b]) }
        }
    }

    deinit {
        byteIds.deallocate()
        selfMerging?.deallocate()
        bytePairRanks?.deallocate()
    }

    // MARK: Vocabulary

    /// The id of vocabulary string `token` (tiktoken: the byte-level spelling of its bytes).
    package func tokenToId(_ token: String) -> Int? {
        if isTiktoken {
            guard let bytes = ByteLevel.decode(token) else { return nil }
            let id = table.find(bytes)
            return id < 0 ? nil : id
        }
        return BPE.id(ofString: token, strings, aliases)
    }

    /// The id of vocabulary string `s`: from the string table, else from the aliases.
    static func id(ofString s: String, _ strings: VocabularyStrings?, _ aliases: [String: Int]) -> Int? {
        var s = s
        let table = strings?.table
        let found = s.withUTF8 { b in b.baseAddress.map { table?.find($0, b.count) ?? -1 } ?? -1 }
        return found >= 0 ? found : aliases[s]
    }

    /// The vocabulary string of `id` (tiktoken: its bytes spelled with GPT-2's byte characters).
    package func idToToken(_ id: Int) -> String? {
        guard id >= 0, id < vocabSize else { return nil }
        if isTiktoken {
            let b = table.bytes(of: id)
            return b.isEmpty ? nil : ByteLevel.encode(b)
        }
        guard hasString[id], let strings else { return nil }
        return String(decoding: strings.table.bytes(of: id), as: UTF8.self)
    }

    /// The bytes token `id` stands for: byte-level tokens decoded from their spelling (or, for a string
    /// that is not byte-level, its UTF-8, as Hugging Face's ByteLevel decoder does), tiktoken tokens'
    /// bytes, other tokens' UTF-8. Nil for an id out of range or without a token.
    package func tokenBytes(_ id: Int) -> [UInt8]? {
        guard id >= 0, id < vocabSize else { return nil }
        let b = table.bytes(of: id)
        if b.isEmpty && (isTiktoken || !hasString[id]) { return nil }
        return Array(b)
    }

    /// Appends the bytes of token `id` (see `tokenBytes`) to `out`; false if there is no such token.
    @inline(__always)
    package func appendTokenBytes(_ id: Int, to out: inout [UInt8]) -> Bool {
        guard id >= 0, id < vocabSize else { return false }
        let b = table.bytes(of: id)
        if b.isEmpty && (isTiktoken || !hasString[id]) { return false }
        out.append(contentsOf: b)
        return true
    }

    // MARK: Encoding

    /// Encodes one piece: appends its token ids to `ids` and, when `ranges` is non-nil, each token's
    /// byte range within `piece`. Byte-level models take the piece's raw bytes (any bytes, valid
    /// UTF-8 or not); character models take UTF-8 (an ill-formed byte is an unknown character).
    /// With `ranges` nil nothing is allocated beyond growing `ids` (and, once per thread, its cache).
    /// - Complexity: O(n) for a piece found whole or cached; O(n^2) merging up to `smallPieceLimit`
    ///   bytes, O(n log n) beyond.
    package func encode(piece: UnsafeBufferPointer<UInt8>, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        if let mark = segmentMark, ranges == nil, let cache = caches?.current(), let p = piece.baseAddress {
            encodeWords(p, piece.count, mark, cache, &ids)
            return
        }
        encode(piece: piece, cache: fastBytes ? caches?.current() : nil, ids: &ids, ranges: ranges)
    }

    /// A character model's piece cut into words before each mark that follows another character (see
    /// `segmentMark`), each word's ids from the cache or merged and cached.
    private func encodeWords(_ p: UnsafePointer<UInt8>, _ n: Int, _ mark: [UInt8], _ cache: PieceCache, _ ids: inout [Int]) {
        let m0 = mark[0], m1 = mark[1], m2 = mark[2]
        /// The first cut after `start`: a mark at i > start whose three bytes before are not a mark
        /// (the word's first mark is at `start`), else the end.
        @inline(__always) func cut(after start: Int) -> Int {
            var i = start + (start == 0 ? 1 : 3)
            while i + 2 < n {
                if p[i] == m0 && p[i + 1] == m1 && p[i + 2] == m2
                    && !(i >= 3 && p[i - 3] == m0 && p[i - 2] == m1 && p[i - 1] == m2) {
                    return i
                }
                i += 1
            }
            return n
        }
        /// The first word and hash of `start..<end`; its line of the cache starts loading.
        @inline(__always) func key(_ start: Int, _ end: Int) -> (w: UInt64, h: UInt64) {
            let w = firstWord(p + start, end - start)
            let h = hashBytes(p + start, end - start, firstWord: w)
            if end - start <= PieceCache.maxKey { cache.prefetch(h) }
            return (w, h)
        }
        var start = 0
        var end = cut(after: 0)
        var (w, h) = key(start, end)
        while start < n {
            // The next word's line loads while this word is encoded.
            let next = end < n ? cut(after: end) : n
            let nextKey: (w: UInt64, h: UInt64) = end < n ? key(end, next) : (0, 0)
            encodeWord(p + start, end - start, w, h, cache, &ids)
            (start, end, w, h) = (end, next, nextKey.w, nextKey.h)
        }
    }

    /// One word of `encodeWords` (first word `w`, hash `h`): the cache, else the merges (then cached).
    @inline(__always)
    private func encodeWord(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, _ cache: PieceCache, _ ids: inout [Int]) {
        if n <= PieceCache.maxKey {
            let found = withUnsafeTemporaryAllocation(of: Int.self, capacity: PieceCache.maxTokens) { out in
                let c = cache.find(p, n, w, h, into: out.baseAddress!)
                if c > 0 { ids.append(contentsOf: UnsafeBufferPointer(rebasing: out[0..<c])) }
                return c > 0
            }
            if found { return }
        } else if cache.findLong(p, n, h, &ids) > 0 {
            return
        }
        let before = ids.count
        encodeUncached(p, n, w, h, nil, &ids, nil)
        let count = ids.count - before
        if n <= PieceCache.maxKey {
            guard count > 0, count <= PieceCache.maxTokens else { return }
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: count) { t in
                for k in 0..<count { t[k] = UInt32(truncatingIfNeeded: ids[before + k]) }
                cache.insert(p, n, w, h, t.baseAddress!, count)
            }
        } else if count > 0 {
            cache.insertLong(p, n, h, ids[before...])
        }
    }

    /// `encode(piece:ids:ranges:)` with this thread's cache (`caches?.current()`) already in hand.
    @inline(__always)
    func encode(piece: UnsafeBufferPointer<UInt8>, cache: PieceCache?, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        let n = piece.count
        guard n > 0, let p = piece.baseAddress else { return }
        if fastBytes && n == 1 {
            ids.append(Int(byteIds[Int(p[0])]))
            ranges?.pointee.append(0..<1)
            return
        }
        let w = firstWord(p, n)
        let h = hashBytes(p, n, firstWord: w)
        // Fast byte-level models look in the shared piece table first: it holds the recent pieces, whole
        // tokens included, in far fewer cache lines than the vocabulary table.
        if let cache {
            let count: Int
            if n <= PieceCache.maxKey {
                count = withUnsafeTemporaryAllocation(of: Int.self, capacity: PieceCache.maxTokens) { out in
                    let c = cache.find(p, n, w, h, into: out.baseAddress!)
                    if c > 0 { ids.append(contentsOf: UnsafeBufferPointer(rebasing: out[0..<c])) }
                    return c
                }
            } else {
                count = cache.findLong(p, n, h, &ids)
            }
            if count > 0 {
                if let ranges { appendRanges(ids, count, ranges) }
                return
            }
        }
        encodeUncached(p, n, w, h, cache, &ids, ranges)
    }

    /// A piece of two or more bytes not in the cache: the whole-piece lookup, then merges; the result
    /// goes to the cache.
    @inline(never)
    func encodeUncached(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, _ cache: PieceCache?,
                        _ ids: inout [Int], _ ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        var unknownWhole = -1  // a token spelled by the piece, not yet known to merge to itself
        if let cache, n <= PieceCache.maxKey { cache.prepareInsert(h) }
        if options.ignoreMerges || selfMerging != nil {
            let id = table.find(p, n, firstWord: w, hash: h, filtered: false)
            let known: UInt8 = id < 0 ? 2 : options.ignoreMerges ? 1 : verba_load_relaxed_u8(selfMerging! + id)
            if known == 1 {
                ids.append(id)
                ranges?.pointee.append(0..<n)
                if let cache, n <= PieceCache.maxKey {
                    var one = UInt32(truncatingIfNeeded: id)
                    cache.insert(p, n, w, h, &one, 1)
                }
                return
            }
            if known == 0 { unknownWhole = id }
        }
        let piece = UnsafeBufferPointer(start: p, count: n)
        let before = ids.count
        if let cache {
            if n <= PieceCache.maxKey {
                mergeBytesSmall(p, n, cache.memo) { s, t, m in
                    if m <= PieceCache.maxTokens { cache.insert(p, n, w, h, s, m) }
                    BPE.emit(s, t, m, &ids, ranges)
                }
            } else {
                encodeByMerges(piece, &ids, ranges, memo: cache.memo)
                cache.insertLong(p, n, h, ids[before...])
            }
        } else {
            encodeByMerges(piece, &ids, ranges)
        }
        if unknownWhole >= 0, let flags = selfMerging {
            let merged = ids.count == before + 1 && ids[before] == unknownWhole
            verba_store_relaxed_u8(flags + unknownWhole, merged ? 1 : 2)
        }
    }

    /// Appends the byte ranges of the last `count` ids, the cached tokens of one piece (they spell it).
    @inline(never)
    private func appendRanges(_ ids: [Int], _ count: Int, _ ranges: UnsafeMutablePointer<[Range<Int>]>) {
        var at = 0
        for id in ids[(ids.count - count)...] {
            let len = table.length(of: id)
            ranges.pointee.append(at..<(at + len))
            at += len
        }
    }

    /// Convenience: the ids of one piece.
    package func encode(piece: [UInt8]) -> [Int] {
        var ids: [Int] = []
        piece.withUnsafeBufferPointer { encode(piece: $0, ids: &ids, ranges: nil) }
        return ids
    }

    /// Merges a byte-level piece of at most `smallPieceLimit` bytes in stack buffers and hands the
    /// symbols (ids, starts, count) to `body`.
    @inline(__always)
    private func mergeBytesSmall(_ p: UnsafePointer<UInt8>, _ n: Int, _ memo: UnsafeMutablePointer<UInt64>?,
                                 _ body: (UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<Int32>, Int) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: n) { sym in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: n + 1) { st in
                withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n) { rk in
                    let s = sym.baseAddress!, t = st.baseAddress!, r = rk.baseAddress!
                    let pairRanks = bytePairRanks!
                    for i in 0..<n {
                        s[i] = byteIds[Int(p[i])]
                        t[i] = Int32(truncatingIfNeeded: i)
                    }
                    t[n] = Int32(truncatingIfNeeded: n)
                    for i in 0..<(n - 1) { r[i] = pairRanks[Int(p[i]) << 8 | Int(p[i + 1])] }
                    let m: Int
                    switch (pairsRef, memo) {
                    case let (pairs?, memo?): m = mergeSmall(s, t, r, n, MemoRanker(base: PairTableRanker(table: pairs), memo: memo))
                    case let (pairs?, nil): m = mergeSmall(s, t, r, n, PairTableRanker(table: pairs))
                    case let (nil, memo?): m = mergeSmall(s, t, r, n, MemoRanker(base: SliceRanker(table: tableRef, base: p), memo: memo))
                    case (nil, nil): m = mergeSmall(s, t, r, n, SliceRanker(table: tableRef, base: p))
                    }
                    body(s, t, m)
                }
            }
        }
    }

    /// Encodes `piece` by merging from its bytes or characters, without the whole-piece lookup.
    func encodeByMerges(_ piece: UnsafeBufferPointer<UInt8>, _ ids: inout [Int], _ ranges: UnsafeMutablePointer<[Range<Int>]>?,
                        memo: UnsafeMutablePointer<UInt64>? = nil) {
        let n = piece.count
        guard n > 0, let p = piece.baseAddress else { return }
        precondition(n < Int(Int32.max), "BPE piece over 2 GiB")
        if !fastBytes {
            encodeCharacters(p, n, &ids, ranges)
            return
        }
        if n <= BPE.smallPieceLimit {
            mergeBytesSmall(p, n, memo) { s, t, m in BPE.emit(s, t, m, &ids, ranges) }
        } else {
            let s = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
            let t = UnsafeMutablePointer<Int32>.allocate(capacity: n + 1)
            defer {
                s.deallocate()
                t.deallocate()
            }
            for i in 0..<n {
                s[i] = byteIds[Int(p[i])]
                t[i] = Int32(truncatingIfNeeded: i)
            }
            t[n] = Int32(truncatingIfNeeded: n)
            let m: Int
            if let pairs = pairsRef {
                m = mergeLarge(s, t, n, PairTableRanker(table: pairs))
            } else {
                m = mergeLarge(s, t, n, SliceRanker(table: tableRef, base: p))
            }
            BPE.emit(s, t, m, &ids, ranges)
        }
    }

    /// Appends merged symbols' ids (and byte ranges). Static, so the merge callbacks capture no model.
    @inline(__always)
    private static func emit(_ s: UnsafeMutablePointer<UInt32>, _ t: UnsafeMutablePointer<Int32>, _ m: Int,
                      _ ids: inout [Int], _ ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        for i in 0..<m { ids.append(Int(s[i])) }
        if let ranges {
            for i in 0..<m { ranges.pointee.append(Int(t[i])..<Int(t[i + 1])) }
        }
    }

    /// The general path (Hugging Face `merge_word`): one initial symbol per character (per byte for
    /// byte-level models) with prefix/suffix, byte fallback and unknown handling, then merges.
    private func encodeCharacters(_ p: UnsafePointer<UInt8>, _ n: Int, _ ids: inout [Int],
                                  _ ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        if prefix.isEmpty && suffix.isEmpty {
            // At most one symbol per byte: the buffers on the stack, no array per piece.
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: n) { sym in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: n + 1) { st in
                    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n) { rk in
                        let s = sym.baseAddress!, t = st.baseAddress!, r = rk.baseAddress!
                        let count = initialSymbols(p, n, s, t)
                        if count == 0 { return }
                        let m: Int
                        if let pairs = pairsRef {
                            fillRanks(s, t, r, count, PairTableRanker(table: pairs))
                            m = count <= BPE.smallPieceLimit ? mergeSmall(s, t, r, count, PairTableRanker(table: pairs))
                                : mergeLarge(s, t, count, PairTableRanker(table: pairs))
                        } else {
                            fillRanks(s, t, r, count, SliceRanker(table: tableRef, base: p))
                            m = count <= BPE.smallPieceLimit ? mergeSmall(s, t, r, count, SliceRanker(table: tableRef, base: p))
                                : mergeLarge(s, t, count, SliceRanker(table: tableRef, base: p))
                        }
                        BPE.emit(s, t, m, &ids, ranges)
                    }
                }
            }
            return
        }
        var sym: [UInt32] = []
        var lens: [Int] = []
        initialSymbols(p, n, &sym, &lens)
        let count = sym.count
        if count == 0 { return }
        var starts = [Int32](repeating: 0, count: count + 1)
        var at = 0
        for i in 0..<count {
            starts[i] = Int32(min(at, n))
            at += lens[i]
        }
        starts[count] = Int32(min(at, n))
        var ranks = [UInt64](repeating: 0, count: count)
        sym.withUnsafeMutableBufferPointer { s in
            starts.withUnsafeMutableBufferPointer { t in
                ranks.withUnsafeMutableBufferPointer { rk in
                    let m: Int
                    if let pairs = pairsRef {
                        fillRanks(s.baseAddress!, t.baseAddress!, rk.baseAddress!, count, PairTableRanker(table: pairs))
                        m = count <= BPE.smallPieceLimit
                            ? mergeSmall(s.baseAddress!, t.baseAddress!, rk.baseAddress!, count, PairTableRanker(table: pairs))
                            : mergeLarge(s.baseAddress!, t.baseAddress!, count, PairTableRanker(table: pairs))
                    } else {
                        fillRanks(s.baseAddress!, t.baseAddress!, rk.baseAddress!, count, SliceRanker(table: tableRef, base: p))
                        m = count <= BPE.smallPieceLimit
                            ? mergeSmall(s.baseAddress!, t.baseAddress!, rk.baseAddress!, count, SliceRanker(table: tableRef, base: p))
                            : mergeLarge(s.baseAddress!, t.baseAddress!, count, SliceRanker(table: tableRef, base: p))
                    }
                    BPE.emit(s.baseAddress!, t.baseAddress!, m, &ids, ranges)
                }
            }
        }
    }
}
