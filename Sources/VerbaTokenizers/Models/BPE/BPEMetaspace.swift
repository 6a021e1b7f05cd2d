// A BPE model after HF's `Metaspace` pre-tokenizer (SentencePiece-style BPE: Llama 2, Mistral 7B v0.1,
// TinyLlama with `legacy: false`).
//
// The pipeline leaves the text's spaces in place (the Metaspace pre-tokenizer only splits, and the
// prepended mark is the tokenizer's prefix space), so this model reads each space as the mark `▁`:
// a piece holding a space is encoded with every space written as the mark, its token ranges mapped
// back to the piece's bytes. A piece without a space goes to the BPE model as it is.

/// A BPE model whose pieces are read with each space as the Metaspace mark.
struct MetaspaceBPE: TokenizationModel {
    let bpe: BPE
    /// The mark's UTF-8 bytes (`▁` is E2 96 81).
    let mark: [UInt8]

    init(bpe: BPE, mark: [UInt8]) {
        precondition(!mark.isEmpty, "the mark is at least one byte")
        self.bpe = bpe
        self.mark = mark
    }

    var vocabSize: Int { bpe.vocabSize }
    func tokenToId(_ token: String) -> Int? { bpe.tokenToId(token) }
    func idToToken(_ id: Int) -> String? { bpe.idToToken(id) }

    func encode(piece: UnsafeBufferPointer<UInt8>, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?) {
        guard piece.contains(0x20) else {
            bpe.encode(piece: piece, ids: &ids, ranges: ranges)
            return
        }
        var marked: [UInt8] = []
        marked.reserveCapacity(piece.count + 2 * mark.count)
        // origin[i]: the offset in `piece` of marked byte i; origin[marked.count] is the piece's end.
        var origin: [Int] = []
        if ranges != nil { origin.reserveCapacity(piece.count + 2 * mark.count + 1) }
        for (i, b) in piece.enumerated() {
            if b == 0x20 {
                marked.append(contentsOf: mark)
                if ranges != nil { for _ in mark { origin.append(i) } }
            } else {
                marked.append(b)
                if ranges != nil { origin.append(i) }
            }
        }
        guard let ranges else {
            marked.withUnsafeBufferPointer { bpe.encode(piece: $0, ids: &ids, ranges: nil) }
            return
        }
        origin.append(piece.count)
        var local: [Range<Int>] = []
        marked.withUnsafeBufferPointer { m in
            withUnsafeMutablePointer(to: &local) { bpe.encode(piece: m, ids: &ids, ranges: $0) }
        }
        // A range ending inside the mark (a byte-fallback token of one of its bytes) ends after the space.
        for r in local {
            let b = r.upperBound
            let upper = b > 0 && origin[b] == origin[b - 1] ? origin[b] + 1 : origin[b]
            ranges.pointee.append(origin[r.lowerBound]..<max(upper, origin[r.lowerBound]))
        }
    }
}
