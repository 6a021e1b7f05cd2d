// sentencepiece's Unigram segmentation a word at a time, with a cache of words: the same ids as the
// Viterbi over the whole text (`encodeMarked`, the reference), which sentencepiece runs.
//
// Why a text may be cut into words. When no piece holds the mark `▁` past its first byte, no piece
// crosses the start of a mark: every path passes through each position where a mark starts, so the
// best path is the best path to that position followed by the best path of the rest from there. When
// `▁` itself is a piece, no unknown node starts at a mark, so no run of unknown characters (fused into
// one token) crosses a cut either. The text is cut before each mark into words.
//
// Why a word's segmentation may be cached. sentencepiece sums scores in single precision along the
// paths, from the score the word starts with (P, the best path's score up to the word): the sums
// round differently for another P, so a comparison between two paths that nearly tie could fall the
// other way. The cache keeps, with a word's ids, the smallest margin by which each position's best
// path beat the others, computed exactly (in double precision, from 0). Rounding moves a path's sum
// by at most (k + 1) * 2^-24 * M for k additions of values below M in magnitude; two paths through a
// word of n bytes have at most n + 1 additions each, and M <= |P| + n * (the largest node score in
// magnitude). So when the margin exceeds (n + 1) * 2^-22 * M (twice the bound, for slack), every
// comparison inside the word falls as it does exactly, for this P: the cached ids are those of the
// whole-text Viterbi. Otherwise (a margin too small, an unknown character, a word too long for the
// cache) the word is segmented in place, from P, as the whole-text Viterbi would. Either way the score
// at the word's end is the single-precision sum along its path, as sentencepiece has it.

extension Unigram {
    private static let mark: (UInt8, UInt8, UInt8) = (0xE2, 0x96, 0x81)

    /// `wordCutScoreBound` for a model: nil when a piece holds the mark past its first byte or `▁` is
    /// not a piece; else the largest magnitude of a piece's score or the unknown score.
    static func wordCutBound(keys: [[UInt8]], ids: [Int32], scores: [Float], unknownScore: Double) -> Double? {
        var markIsPiece = false
        var bound = abs(Double(Float(unknownScore)))
        for (k, key) in keys.enumerated() {
            if key.count >= 4 {
                for i in 1 ... (key.count - 3) where key[i] == mark.0 && key[i + 1] == mark.1 && key[i + 2] == mark.2 {
                    return nil
                }
            }
            if key == [mark.0, mark.1, mark.2] { markIsPiece = true }
            bound = max(bound, abs(Double(scores[Int(ids[k])])))
        }
        return markIsPiece && bound.isFinite ? bound : nil
    }

    /// The ids of `text` (sentencepiece's normalized text), word by word through `cache` (see the file
    /// comment); the same as `encodeMarked(text)`.
    func encodeWords(_ text: UnsafeBufferPointer<UInt8>, bound: Double, cache: PieceCache, ids: inout [Int]) {
        guard let p = text.baseAddress else { return }
        let n = text.count
        /// The first cut after `start`: a mark at i > start, else the end.
        @inline(__always) func cut(after start: Int) -> Int {
            var i = start + 1
            while i + 2 < n {
                if p[i] == Unigram.mark.0 && p[i + 1] == Unigram.mark.1 && p[i + 2] == Unigram.mark.2 { return i }
                i += 1
            }
            return n
        }
        /// The first word and hash of the word `start..<end` when the cache may hold it; its line of the
        /// cache starts loading.
        @inline(__always) func key(_ start: Int, _ end: Int) -> (w: UInt64, h: UInt64) {
            guard end - start <= PieceCache.maxKey else { return (0, 0) }
            let w = firstWord(p + start, end - start)
            let h = hashBytes(p + start, end - start, firstWord: w)
            cache.prefetch(h)
            return (w, h)
        }
        var score: Float = 0  // the best path's score up to the current word
        var start = 0
        var end = cut(after: 0)
        var (w, h) = key(start, end)
        floatScoreTable.withUnsafeBufferPointer { floats in
            while start < n {
                // The next word's line loads while this word is encoded.
                let next = end < n ? cut(after: end) : n
                let nextKey: (w: UInt64, h: UInt64) = end < n ? key(end, next) : (0, 0)
                score = encodeWord(p + start, end - start, w, h, from: score, bound: bound, floats: floats, cache: cache, ids: &ids)
                (start, end, w, h) = (end, next, nextKey.w, nextKey.h)
            }
        }
    }

    /// One word of `encodeWords` (first word `w` and hash `h` when short enough for the cache), whose
    /// paths start from `score`: appends its ids and returns the score at its end.
    @inline(__always)
    private func encodeWord(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, from score: Float, bound: Double,
                            floats: UnsafeBufferPointer<Float>, cache: PieceCache, ids: inout [Int]) -> Float {
        // The margin a cached segmentation needs from this score (see the file comment).
        let needed = Double(n + 1) * 0x1p-22 * (abs(Double(score)) + Double(n) * bound)
        if n <= PieceCache.maxKey {
            // A cached word: its ids then its margin's bits. Nil: not cached; NaN: cached, with too
            // small a margin for this score.
            let hit: Float? = withUnsafeTemporaryAllocation(of: Int.self, capacity: PieceCache.maxTokens) { out in
                let o = out.baseAddress!
                let c = cache.find(p, n, w, h, into: o)
                guard c > 1 else { return nil }
                guard Double(Float(bitPattern: UInt32(truncatingIfNeeded: o[c - 1]))) > needed else { return .nan }
                var s = score
                for k in 0 ..< (c - 1) {
                    ids.append(o[k])
                    s = floats[o[k]] + s
                }
                return s
            }
            if let hit, !hit.isNaN { return hit }
            if hit == nil {
                if let done = segmentAndCache(p, n, w, h, from: score, needed: needed, floats: floats, cache: cache, ids: &ids) {
                    return done
                }
            }
        }
        return Float(encodeMarked(UnsafeBufferPointer(start: p, count: n), start: Double(score), ids: &ids, ranges: nil))
    }

    /// A word not cached: segmented alone and cached (unless its path holds an unknown node or too
    /// many tokens); its ids appended and the score at its end returned if its margin is enough for
    /// `score`, else nil (nothing appended).
    private func segmentAndCache(_ p: UnsafePointer<UInt8>, _ n: Int, _ w: UInt64, _ h: UInt64, from score: Float, needed: Double,
                                 floats: UnsafeBufferPointer<Float>, cache: PieceCache, ids: inout [Int]) -> Float? {
        cache.prepareInsert(h)
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: PieceCache.maxTokens) { t in
            let path = t.baseAddress!
            guard let (count, margin) = segmentAlone(p, n, floats: floats, into: path) else { return nil }
            path[count] = margin.bitPattern
            cache.insert(p, n, w, h, path, count + 1)
            guard Double(margin) > needed else { return nil }
            var s = score
            for k in 0 ..< count {
                ids.append(Int(path[k]))
                s = floats[Int(path[k])] + s
            }
            return s
        }
    }

    /// A word's best path from score 0, summed in double precision: its ids written to `path` (room
    /// for `PieceCache.maxTokens`), their count and the smallest margin by which a position's best
    /// path beat its others (rounded down to single precision; infinite when none had another). Nil
    /// when the path holds an unknown node or more than `PieceCache.maxTokens - 1` tokens.
    private func segmentAlone(_ p: UnsafePointer<UInt8>, _ n: Int, floats: UnsafeBufferPointer<Float>,
                              into path: UnsafeMutablePointer<UInt32>) -> (count: Int, margin: Float)? {
        let text = UnsafeBufferPointer(start: p, count: n)
        let unknownNode = Double(Float(minScore - Unigram.unknownPenalty))
        return withUnsafeTemporaryAllocation(of: (best: Double, second: Double, from: Int32, node: Int32).self,
                                             capacity: n + 1) { ends in
            ends.initialize(repeating: (0, -.infinity, -1, -1))
            @inline(__always) func offer(_ end: Int, _ candidate: Double, _ from: Int, _ node: Int32) {
                if ends[end].from < 0 {
                    ends[end] = (candidate, -.infinity, Int32(from), node)
                } else if candidate > ends[end].best {
                    ends[end] = (candidate, ends[end].best, Int32(from), node)
                } else if candidate > ends[end].second {
                    ends[end].second = candidate
                }
            }
            var start = 0
            while start < n {
                let here = ends[start].best
                let charLength = p[start] < 0x80 ? 1 : min(UTF8Codec.decode(p, at: start, end: n).length, n - start)
                var single = false
                trie.forEachPrefix(of: text, at: start) { end, id in
                    offer(end, here + Double(floats[Int(id)]), start, id)
                    if end - start == charLength { single = true }
                }
                if !single { offer(start + charLength, here + unknownNode, start, -1) }
                start += charLength
            }
            var margin = Double.infinity
            for e in 1 ... n where ends[e].from >= 0 { margin = min(margin, ends[e].best - ends[e].second) }
            // The path, back from the end, then put in order.
            var count = 0
            var end = n
            while end > 0 {
                let node = ends[end].node
                guard node >= 0, count < PieceCache.maxTokens - 1 else { return nil }
                path[count] = UInt32(bitPattern: node)
                count += 1
                end = Int(ends[end].from)
            }
            var ordered = UnsafeMutableBufferPointer(start: path, count: count)
            ordered.reverse()
            var m = Float(margin)
            if Double(m) > margin { m = m.nextDown }
            return (count, m)
        }
    }
}
