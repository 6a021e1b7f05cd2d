// Encoding the pieces of many texts with a BPE model: the ids-only fast path of `Tokenizer`.
//
// Looking a piece up in the shared piece table is a random read in a table of megabytes, and waiting
// for it was the largest cost of encoding. With the pieces of a whole batch of lines split ahead, the
// loop asks the CPU to start loading the cache set of the piece `lookahead` places further on while it
// encodes the current one, across line ends, so the waits overlap even for lines of two or three
// pieces. (Prefetching the vocabulary slot too, for the ~10% of pieces the cache misses, measured no
// faster: it doubles the memory traffic.)

extension BPE {
    /// How many pieces ahead the table lines are prefetched (a power of two).
    static let lookahead = 8

    /// Encodes each piece `text[r]` for `r` in `pieces`, in order, appending the ids to `ids`: the same
    /// ids as `encode(piece:ids:ranges:)` on each piece.
    /// - Complexity: O(total bytes) for pieces found whole or cached; merging as `encode(piece:)`.
    package func encode(pieces: UnsafeBufferPointer<Range<Int>>, in text: UnsafeBufferPointer<UInt8>, ids: inout [Int]) {
        var idEnds: [Int] = []
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { ends in
            ends[0] = pieces.count
            encode(pieces: pieces, lineEnds: UnsafeBufferPointer(ends), in: text, prefix: [], suffix: [],
                   ids: &ids, idEnds: &idEnds)
        }
    }

    /// A piece that stands for a token already identified (an added token found in the text): it
    /// encodes to `id`. Only `encode(pieces:lineEnds:in:prefix:suffix:ids:idEnds:)` takes such pieces.
    static func literalPiece(id: Int) -> Range<Int> { -(id + 1) ..< -(id + 1) }

    /// The token id `literalPiece(id:)` stands for; nil for a piece of the text.
    @inline(__always)
    static func literalId(_ piece: Range<Int>) -> Int? { piece.lowerBound < 0 ? -piece.lowerBound - 1 : nil }

    /// Encodes the pieces of several texts: text `i` is made of the pieces `lineEnds[i-1]..<lineEnds[i]`
    /// (from 0 for the first). Appends, for each text, `prefix`, its pieces' ids and `suffix` to `ids`,
    /// and then the count of `ids` to `idEnds`. A piece may be a `literalPiece(id:)` standing for a token
    /// found in the text (at least one byte of it), so the text's bytes still bound the ids.
    /// - Complexity: O(total bytes) for pieces found whole or cached; merging as `encode(piece:)`.
    package func encode(pieces: UnsafeBufferPointer<Range<Int>>, lineEnds: UnsafeBufferPointer<Int>,
                       in text: UnsafeBufferPointer<UInt8>, prefix: [Int], suffix: [Int],
                       ids: inout [Int], idEnds: inout [Int]) {
        precondition(lineEnds.last ?? 0 <= pieces.count, "line ends past the pieces")
        guard fastBytes, let cache = caches?.current(), let base = text.baseAddress else {
            var k = 0
            for end in lineEnds {
                ids += prefix
                while k < end {
                    let r = pieces[k]
                    if let id = BPE.literalId(r) {
                        ids.append(id)
                    } else {
                        encode(piece: UnsafeBufferPointer(rebasing: text[r]), ids: &ids, ranges: nil)
                    }
                    k += 1
                }
                ids += suffix
                idEnds.append(ids.count)
            }
            return
        }
        // Byte-level tokens cover at least one byte each and a literal piece stands for one token: the
        // ids are at most the pieces' bytes plus the literal pieces (not the whole text: these lines
        // are usually a few hundred of a batch of megabytes; nor the span of the pieces, which bounds
        // nothing when a caller passes them out of order).
        let count = pieces.count
        let first = ids.count
        var bound = lineEnds.count * (prefix.count + suffix.count)
        for r in pieces { bound &+= BPE.literalId(r) == nil ? r.upperBound &- r.lowerBound : 1 }  // sorted or not
        let out = cache.output(capacity: bound)
        // The first word and hash of piece k, computed when it is prefetched, wait in slot k % lookahead.
        let hashes = cache.hashes
        @inline(__always) func prefetch(_ k: Int) {
            let r = pieces[k]
            let n = r.count
            if n < 2 { return }
            let p = base + r.lowerBound
            let w = firstWord(p, n)
            let h = hashBytes(p, n, firstWord: w)
            hashes[k & (BPE.lookahead - 1)] = (w, h)
            if n <= PieceCache.maxKey { cache.prefetch(h) }
        }
        for k in 0..<min(BPE.lookahead, count) { prefetch(k) }
        var written = 0
        var k = 0
        for end in lineEnds {
            for id in prefix {
                out[written] = id
                written += 1
            }
            while k < end {
                let r = pieces[k]
                let (w, h) = hashes[k & (BPE.lookahead - 1)]  // read before prefetch(k + lookahead) reuses the slot
                if k + BPE.lookahead < count { prefetch(k + BPE.lookahead) }
                k += 1
                let n = r.count
                let p = base + r.lowerBound
                if n == 1 {
                    out[written] = Int(byteIds[Int(p[0])])
                    written += 1
                    continue
                }
                if n == 0 {
                    if let id = BPE.literalId(r) {
                        out[written] = id
                        written += 1
                    }
                    continue
                }
                if n <= PieceCache.maxKey {
                    let found = cache.find(p, n, w, h, into: out + written)
                    if found > 0 {
                        written += found
                        continue
                    }
                }
                cache.spill.removeAll(keepingCapacity: true)
                if n <= PieceCache.maxKey || cache.findLong(p, n, h, &cache.spill) < 0 {
                    encodeUncached(p, n, w, h, cache, &cache.spill, nil)
                }
                for id in cache.spill {
                    out[written] = id
                    written += 1
                }
            }
            for id in suffix {
                out[written] = id
                written += 1
            }
            idEnds.append(first + written)
        }
        ids.append(contentsOf: UnsafeBufferPointer(start: out, count: written))
    }
}
