// Encoding a batch of texts to ids at once (`verba tokenize` hands over its lines a chunk at a time).
// For byte-level BPE with a native split pattern and nothing before it (no normalizer, no prefix space,
// added tokens matched in the original text only), every line of the batch is split first (around its
// added tokens, each becoming a literal piece) and the BPE model then encodes all the pieces in one pass,
// prefetching its table lines ahead across line ends; any other tokenizer encodes the lines one by one.
// Both give exactly `encodeIds(bytes:addSpecialTokens:into:)`'s ids.

extension Tokenizer {
    /// Encodes the texts `text[start..<ends[0]]`, `text[ends[0]..<ends[1]]`, ... (the first from byte
    /// `start`): appends each text's ids to `ids` (as `encodeIds(bytes:addSpecialTokens:into:)` gives
    /// them) and then the count of `ids` to `idEnds`, one entry per text.
    /// - Complexity: O(total bytes) for texts of cached or whole-token pieces.
    package func encodeIds(lines text: UnsafeBufferPointer<UInt8>, start: Int, ends: UnsafeBufferPointer<Int>,
                          addSpecialTokens: Bool, into ids: inout [Int], idEnds: inout [Int],
                          scratch: inout EncodeScratch) {
        precondition(start >= 0 && (ends.last ?? start) <= text.count, "line ends outside the text")
        // The special ids around each line, taken from the layout once for all the lines: the layout's
        // arrays belong to the tokenizer, and reading them for every line made all the threads write
        // their reference counts (a cache line bouncing between the cores, 4-5% of the time of two
        // threads with BERT).
        let around = surroundingIds(addSpecialTokens)
        guard let bpe = bpeModel, let pattern = splitPattern, let (prefix, suffix) = around,
              byteLevel, normalizer == nil, !addPrefixSpace, !addedVocabulary.hasNormalizedTokens else {
            // One line at a time.
            var from = start
            for end in ends {
                let line = UnsafeBufferPointer(rebasing: text[from..<end])
                if let (prefix, suffix) = around {
                    ids += prefix
                    encodeTextIds(repairing: line, into: &ids, scratch: &scratch)
                    ids += suffix
                } else {
                    encodeIds(bytes: line, addSpecialTokens: addSpecialTokens, into: &ids, scratch: &scratch)
                }
                idEnds.append(ids.count)
                from = end
            }
            return
        }
        let splitter = PatternSplitter(pattern)
        scratch.pieces.removeAll(keepingCapacity: true)
        scratch.pieceEnds.removeAll(keepingCapacity: true)
        var from = start
        if let base = text.baseAddress {
            // Added tokens (e.g. <|endoftext|>) are found in each line first, as the one-line path does;
            // the text between them is split on its own.
            let added = addedVocabulary.hasRawTokens ? addedVocabulary : nil
            var splits = scratch.takeSplits()
            for end in ends {
                if let added {
                    splits.removeAll(keepingCapacity: true)
                    added.split(UnsafeBufferPointer(rebasing: text[from..<end]), normalized: false, into: &splits)
                    for s in splits {
                        if s.id >= 0 {
                            scratch.pieces.append(BPE.literalPiece(id: s.id))
                        } else {
                            splitter.split(base, from: from + s.range.lowerBound, to: from + s.range.upperBound, into: &scratch.pieces)
                        }
                    }
                } else {
                    splitter.split(base, from: from, to: end, into: &scratch.pieces)
                }
                scratch.pieceEnds.append(scratch.pieces.count)
                from = end
            }
            scratch.giveBack(splits: splits)
        } else {
            for _ in ends { scratch.pieceEnds.append(0) }
        }
        scratch.pieces.withUnsafeBufferPointer { pieces in
            scratch.pieceEnds.withUnsafeBufferPointer { lineEnds in
                bpe.encode(pieces: pieces, lineEnds: lineEnds, in: text, prefix: prefix, suffix: suffix,
                           ids: &ids, idEnds: &idEnds)
            }
        }
    }

    /// The fixed ids before and after a single text's own, when the post-processor only surrounds it.
    private func surroundingIds(_ addSpecialTokens: Bool) -> ([Int], [Int])? {
        guard let layout = addSpecialTokens ? layoutWith : layoutWithout else { return nil }
        var prefix: [Int] = [], suffix: [Int] = []
        var seenText = false
        for piece in layout {
            switch piece {
            case .text:
                if seenText { return nil }
                seenText = true
            case let .ids(special):
                if seenText { suffix += special } else { prefix += special }
            }
        }
        return seenText ? (prefix, suffix) : nil
    }
}
