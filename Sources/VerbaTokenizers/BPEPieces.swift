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
        let cache = caches?.current()
        let lookupsWhole = options.ignoreMerges || selfMerging != nil
        @inline(__always) func prefetch(_ k: Int) {
            let r = pieces[k]
            let n = r.count
            if n < 2 { return }
            let p = base + r.lowerBound
            let h = hashBytes(p, n, firstWord: firstWord(p, n))
            if let cache, n <= PieceCache.maxKey { cache.prefetch(h) }
            if lookupsWhole { table.prefetch(hash: h) }
        }
        for k in 0..<min(BPE.lookahead, count) { prefetch(k) }
        for k in 0..<count {
            if k + BPE.lookahead < count { prefetch(k + BPE.lookahead) }
            encode(piece: UnsafeBufferPointer(rebasing: text[pieces[k]]), ids: &ids, ranges: nil)
        }
    }
}
