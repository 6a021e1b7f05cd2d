// Hugging Face's `Unigram` model (SentencePiece's unigram language model): each pre-tokenized word is
// cut into the pieces whose summed log-probability scores are highest (Viterbi over a trie of the
// pieces), as `tokenizers` does it, id for id.

/// A Unigram model: pieces with their scores, the unknown piece, and byte fallback.
///
/// Segmentation, as HF's `Unigram::encode`: at each character boundary `i` (in order), every piece
/// starting at `i` extends the best path ending at `i`; a path ending at `j` is replaced only by a
/// strictly higher score (so on ties the earlier start, then the shorter piece, wins). A character
/// that no single piece covers gets an unknown node scored `minScore - 10`. The best path ending at the
/// end is read back; consecutive unknown nodes are fused into one token. A token whose text is not a
/// piece becomes, with `byteFallback`, one `<0xXX>` piece per UTF-8 byte (when all exist), else `unkId`.
/// Without `unkId`, HF refuses to encode a word with an unknown character; here its unknown runs are
/// left out (encoding cannot fail).
///
/// With `spaceMark` (the Metaspace replacement, `▁`), the text the model receives keeps its spaces
/// and each space is read as the mark: pieces are stored with the mark written as a space, so a word
/// is matched where it lies, without a copy. A literal mark in the text is first written as a space
/// (the Metaspace pre-tokenizer makes the two the same).
struct Unigram: TokenizationModel {
    let pieces: [String]
    let scores: [Double]
    let unkId: Int?
    let byteFallback: Bool
    let spaceMark: [UInt8]?
    /// Each piece not starting with a space or the mark is encoded as if the mark preceded it (HF's
    /// Metaspace after another pre-tokenizer, as T5's after WhitespaceSplit); that mark's tokens take
    /// the piece's first character as their offsets, as HF aligns a prepended mark.
    let prefixEachPiece: Bool
    let minScore: Double
    /// Path scores are summed in single precision, as sentencepiece sums them (HF sums in double):
    /// ties and near-ties then fall as sentencepiece's do.
    let floatScores: Bool
    private let ids: [String: Int]
    /// `scores` in single precision (read by the Viterbi with `floatScores`).
    let floatScoreTable: [Float]
    let trie: PieceTrie
    /// The id of `<0xXX>` for each byte, or -1 (only read with `byteFallback`).
    private let byteIds: [Int32]
    /// sentencepiece models (`floatScores`, no `spaceMark`) whose text may be cut before each mark:
    /// the largest magnitude of a node's score (a matchable piece's or the unknown one's), else nil.
    /// See UnigramWords.swift.
    let wordCutScoreBound: Double?
    /// The cache of words' segmentations (with `wordCutScoreBound`).
    let wordCaches: PieceCaches?

    /// - Throws: `TokenizerError.malformed` (path "") when the vocabulary is empty or `unkId` is out of
    ///   range; the caller names the file.
    /// `matchable[id]` false leaves piece `id` out of segmentation (sentencepiece's control, unknown,
    /// byte and unused pieces); nil matches every piece, as HF does.
    init(pieces: [String], scores: [Double], unkId: Int?, byteFallback: Bool, spaceMark: [UInt8]? = nil,
         prefixEachPiece: Bool = false, matchable: [Bool]? = nil, floatScores: Bool = false) throws {
        precondition(!prefixEachPiece || spaceMark != nil, "the prefix is the mark")
        precondition(pieces.count == scores.count, "one score per piece")
        guard !pieces.isEmpty else { throw TokenizerError.malformed(path: "", reason: "model.vocab is empty") }
        if let unkId, !(0..<pieces.count).contains(unkId) {
            throw TokenizerError.malformed(path: "", reason: "model.unk_id \(unkId) is not an index of model.vocab (\(pieces.count) pieces)")
        }
        self.pieces = pieces
        self.scores = scores
        self.unkId = unkId
        self.byteFallback = byteFallback
        self.spaceMark = spaceMark
        self.prefixEachPiece = prefixEachPiece
        self.floatScores = floatScores
        var ids: [String: Int] = [:]
        ids.reserveCapacity(pieces.count)
        // A repeated piece means its last id, as HF's map from pieces to ids keeps the last insert.
        for (i, p) in pieces.enumerated() { ids[p] = i }
        self.ids = ids
        minScore = scores.min() ?? 0
        floatScoreTable = scores.map { Float($0) }
        var keys: [[UInt8]] = []
        keys.reserveCapacity(pieces.count)
        var keyIds: [Int32] = []
        for (piece, id) in ids where matchable?[id] ?? true {
            let bytes = Array(piece.utf8)
            guard let mark = spaceMark else { keys.append(bytes); keyIds.append(Int32(id)); continue }
            // After Metaspace the text has no spaces: a piece holding one can never match.
            if bytes.contains(0x20) { continue }
            keys.append(replaceAll(bytes, mark, [0x20]))
            keyIds.append(Int32(id))
        }
        trie = PieceTrie(keys: keys, ids: keyIds)
        wordCutScoreBound = floatScores && spaceMark == nil
            ? Unigram.wordCutBound(keys: keys, ids: keyIds, scores: floatScoreTable, unknownScore: minScore - Unigram.unknownPenalty) : nil
        wordCaches = wordCutScoreBound == nil ? nil : PieceCaches(slotCount: PieceCaches.wordSlotCount)
        var byteIds = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let id = ids["<0x" + hex2(UInt8(b)) + ">"] { byteIds[b] = Int32(id) }
        }
        self.byteIds = byteIds
    }

    var vocabSize: Int { pieces.count }
    func tokenToId(_ token: String) -> Int? { ids[token] }
    func idToToken(_ id: Int) -> String? { pieces.indices.contains(id) ? pieces[id] : nil }

    /// HF's penalty below the lowest score for an unknown character (`K_UNK_PENALTY`).
    static let unknownPenalty = 10.0

    func encode(piece: UnsafeBufferPointer<UInt8>, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        guard !piece.isEmpty else { return }
        if ranges == nil, let bound = wordCutScoreBound, let caches = wordCaches {
            encodeWords(piece, bound: bound, cache: caches.current(), ids: &ids)
            return
        }
        if let mark = spaceMark, prefixEachPiece, piece[0] != 0x20, !startsWith(piece, mark) {
            // Encode " " + piece; byte 0 stands for the first character.
            var spaced: [UInt8] = [0x20]
            spaced.append(contentsOf: piece)
            let firstLength = UTF8Codec.decode(piece.baseAddress!, at: 0, end: piece.count).length
            var local: [Range<Int>] = []
            spaced.withUnsafeBufferPointer { s in
                withUnsafeMutablePointer(to: &local) { encodeUnprefixed(s, ids: &ids, ranges: ranges == nil ? nil : $0) }
            }
            if let ranges {
                for r in local {
                    ranges.pointee.append(r.lowerBound == 0 ? 0..<max(r.upperBound - 1, firstLength) : (r.lowerBound - 1)..<(r.upperBound - 1))
                }
            }
            return
        }
        encodeUnprefixed(piece, ids: &ids, ranges: ranges)
    }

    private func startsWith(_ piece: UnsafeBufferPointer<UInt8>, _ mark: [UInt8]) -> Bool {
        piece.count >= mark.count && UnsafeBufferPointer(rebasing: piece[0..<mark.count]).elementsEqual(mark)
    }

    private func encodeUnprefixed(_ piece: UnsafeBufferPointer<UInt8>, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        if let mark = spaceMark, containsMark(piece, mark) {
            // Rare: the text holds the mark itself. Encode it written as a space, ranges mapped back.
            var rewritten: [UInt8] = []
            var origin: [Int] = []  // original offset of each rewritten byte, and of the end
            var i = 0
            while i < piece.count {
                if i + mark.count <= piece.count && piece[i] == mark[0]
                    && UnsafeBufferPointer(rebasing: piece[i..<(i + mark.count)]).elementsEqual(mark) {
                    rewritten.append(0x20); origin.append(i); i += mark.count
                } else {
                    rewritten.append(piece[i]); origin.append(i); i += 1
                }
            }
            origin.append(piece.count)
            var local: [Range<Int>] = []
            rewritten.withUnsafeBufferPointer { r in
                withUnsafeMutablePointer(to: &local) { _ = encodeMarked(r, ids: &ids, ranges: ranges == nil ? nil : $0) }
            }
            if let ranges { for r in local { ranges.pointee.append(origin[r.lowerBound]..<origin[r.upperBound]) } }
            return
        }
        encodeMarked(piece, ids: &ids, ranges: ranges)
    }

    private func containsMark(_ piece: UnsafeBufferPointer<UInt8>, _ mark: [UInt8]) -> Bool {
        guard let first = mark.first, piece.count >= mark.count else { return false }
        var i = 0
        while i + mark.count <= piece.count {
            if piece[i] == first && UnsafeBufferPointer(rebasing: piece[i..<(i + mark.count)]).elementsEqual(mark) { return true }
            i += 1
        }
        return false
    }

    /// Viterbi over `text`, in which a space stands for the mark (see `spaceMark`), its paths starting
    /// from the score `start`; returns the best path's score.
    @discardableResult
    func encodeMarked(_ text: UnsafeBufferPointer<UInt8>, start: Double = 0, ids out: inout [Int],
                      ranges: UnsafeMutablePointer<[Range<Int>]>?) -> Double {
        let n = text.count
        guard text.baseAddress != nil else { return start }
        // The best path ending at each byte (on the stack for words of usual length).
        return withUnsafeTemporaryAllocation(of: PathEnd.self, capacity: n + 1) { ends in
            ends.initialize(repeating: PathEnd(score: 0, from: -1, node: -1))
            ends[0].score = start
            viterbi(text, ends, ids: &out, ranges: ranges)
            return ends[n].score
        }
    }

    /// The best path into byte `i`: its score, where its last token starts (-1: none yet), its id.
    private struct PathEnd {
        var score: Double
        var from: Int32
        var node: Int32
    }

    private func viterbi(_ text: UnsafeBufferPointer<UInt8>, _ ends: UnsafeMutableBufferPointer<PathEnd>,
                         ids out: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        let n = text.count
        precondition(ends.count == n + 1, "one path end per byte boundary")
        let base = text.baseAddress!
        let unkScore = minScore - Unigram.unknownPenalty
        let unk = Int32(unkId ?? -1)
        scores.withUnsafeBufferPointer { scores in
          floatScoreTable.withUnsafeBufferPointer { floats in
            let floatScores = self.floatScores
            var start = 0
            while start < n {
                let here = ends[start].score
                let hereFloat = Float(here)
                // An ASCII byte is one character; others are decoded.
                let charLength = base[start] < 0x80 ? 1 : min(UTF8Codec.decode(base, at: start, end: n).length, n - start)
                var single = false
                trie.forEachPrefix(of: text, at: start) { end, id in
                    let candidate = floatScores ? Double(floats[Int(id)] + hereFloat) : scores[Int(id)] + here
                    if ends[end].from < 0 || candidate > ends[end].score {
                        ends[end] = PathEnd(score: candidate, from: Int32(start), node: id)
                    }
                    if end - start == charLength { single = true }
                }
                if !single {
                    let end = start + charLength
                    let candidate = floatScores ? Double(Float(unkScore) + Float(here)) : unkScore + here
                    if ends[end].from < 0 || candidate > ends[end].score {
                        ends[end] = PathEnd(score: candidate, from: Int32(start), node: unk)
                    }
                }
                start += charLength
            }
          }
        }
        // Back from the end: (start, end, id) of each token, unknown runs fused (id -2 marks a fused
        // run); at most one token per byte, on the stack for words of usual length.
        withUnsafeTemporaryAllocation(of: (start: Int, end: Int, id: Int32).self, capacity: n) { tokens in
            var count = 0
            var end = n
            while end > 0 {
                let s = Int(ends[end].from)
                let id = ends[end].node
                if id == unk, count > 0, tokens[count - 1].id == -2 {
                    tokens[count - 1].start = s
                } else {
                    tokens[count] = (s, end, id == unk ? -2 : id)
                    count += 1
                }
                end = s
            }
            while count > 0 {
                count -= 1
                let t = tokens[count]
                if t.id >= 0 {
                    out.append(Int(t.id)); ranges?.pointee.append(t.start..<t.end)
                    continue
                }
                if t.id == -2 && unk < 0 { continue }  // HF fails on an unknown character without unk_id
                // An unknown run: its text may still be a piece; else bytes, else the unknown piece.
                if let id = trie.exactMatch(UnsafeBufferPointer(rebasing: text[t.start..<t.end])) {
                    out.append(Int(id)); ranges?.pointee.append(t.start..<t.end)
                } else if byteFallback, let bytes = fallbackIds(UnsafeBufferPointer(rebasing: text[t.start..<t.end])) {
                    out += bytes
                    if let ranges { for _ in bytes { ranges.pointee.append(t.start..<t.end) } }
                } else {
                    out.append(Int(unk)); ranges?.pointee.append(t.start..<t.end)
                }
            }
        }
    }

    /// The `<0xXX>` ids of the bytes of `text` as HF sees it (a space as the mark), nil unless all exist.
    private func fallbackIds(_ text: UnsafeBufferPointer<UInt8>) -> [Int]? {
        var result: [Int] = []
        for b in text {
            for byte in (b == 0x20 && spaceMark != nil) ? spaceMark! : [b] {
                let id = byteIds[Int(byte)]
                if id < 0 { return nil }
                result.append(Int(id))
            }
        }
        return result
    }
}

/// Two uppercase hexadecimal digits, as in `<0x0A>`.
func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}
