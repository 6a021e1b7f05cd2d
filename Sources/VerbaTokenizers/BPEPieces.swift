// Encoding all the pieces of one text with a BPE model, the ids-only fast path of `Tokenizer`.
//
// Looking a piece up (this thread's piece cache, then the vocabulary table) is one or two random reads
// in tables of megabytes, and waiting for them was the largest cost of encoding. Knowing the pieces
// ahead, the loop asks the CPU to start loading the table lines of the piece `lookahead` places further
// on while it encodes the current one, so the waits overlap.

import CVerbaSupport

extension BPE {
    /// How many pieces ahead the table lines are prefetched.
    static let lookahead = 4

    /// Encodes each piece `text[r]` for `r` in `pieces`, in order, appending the ids to `ids`: the same
    /// ids as `encode(piece:ids:ranges:)` on each piece.
    /// - Complexity: O(total bytes) for pieces found whole or cached; merging as `encode(piece:)`.
    public func encode(pieces: UnsafeBufferPointer<Range<Int>>, in text: UnsafeBufferPointer<UInt8>, ids: inout [Int]) {
        guard let base = text.baseAddress else { return }
        let count = pieces.count
        if !fastBytes || count < 2 {
            for r in pieces { encode(piece: UnsafeBufferPointer(rebasing: text[r]), ids: &ids, ranges: nil) }
            return
        }
        guard let cache = caches?.current() else {
            for r in pieces { encode(piece: UnsafeBufferPointer(rebasing: text[r]), ids: &ids, ranges: nil) }
            return
        }
        // Byte-level tokens cover at least one byte each: the text's length bounds the ids.
        let out = cache.output(capacity: text.count)
        let lookupsWhole = options.ignoreMerges || selfMerging != nil
        @inline(__always) func prefetch(_ k: Int) {
            let r = pieces[k]
            let n = r.count
            if n < 2 { return }
            let p = base + r.lowerBound
            let h = hashBytes(p, n, firstWord: firstWord(p, n))
            if n <= PieceCache.maxKey { cache.prefetch(h) }
            if lookupsWhole { table.prefetch(hash: h) }
        }
        for k in 0..<min(BPE.lookahead, count) { prefetch(k) }
        var written = 0
        for k in 0..<count {
            if k + BPE.lookahead < count { prefetch(k + BPE.lookahead) }
            let r = pieces[k]
            let n = r.count
            let p = base + r.lowerBound
            if n == 1 {
                out[written] = Int(byteIds[Int(p[0])])
                written += 1
                continue
            }
            if n == 0 { continue }
            let w = firstWord(p, n)
            let h = hashBytes(p, n, firstWord: w)
            if n <= PieceCache.maxKey {
                let found = cache.find(p, n, w, h, into: out + written)
                if found > 0 {
                    written += found
                    continue
                }
            }
            cache.spill.removeAll(keepingCapacity: true)
            if n > PieceCache.maxKey && cache.findLong(p, n, h, &cache.spill) > 0 {
                // found among the long pieces
            } else {
                encodeUncached(p, n, w, h, cache, &cache.spill, nil)
            }
            for id in cache.spill {
                out[written] = id
                written += 1
            }
        }
        ids.append(contentsOf: UnsafeBufferPointer(start: out, count: written))
    }
}
