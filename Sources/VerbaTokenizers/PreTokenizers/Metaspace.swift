// HF's `Metaspace` pre-tokenizer (SentencePiece's whitespace handling): spaces become the mark `▁`, a
// mark is prepended to the text, and with `split` each word starts at a mark.
//
// Verba leaves the text as it is: the prepended mark is the tokenizer's prefix space (`addPrefixSpace`,
// as for ByteLevel), and the model reads each space as the mark (`Unigram.spaceMark`). So offsets stay
// those of the original spaces, and the words are found here by splitting before every space or mark.

/// The split of HF's `Metaspace` pre-tokenizer: with `split`, a new piece before each space and each
/// mark (`MergedWithNext`); without, the whole text.
struct MetaspacePreTokenizer: PreTokenizer {
    let replacement: Unicode.Scalar
    /// `always`, `first` or `never`.
    let prependScheme: String
    let split: Bool
    /// The mark goes before each piece (not starting with one) rather than once per text segment: the
    /// model does it (`Unigram.prefixEachPiece`). Set when Metaspace follows another pre-tokenizer.
    let prependEachPiece: Bool
    private let mark: [UInt8]

    init(replacement: Unicode.Scalar, prependScheme: String, split: Bool, prependEachPiece: Bool = false) {
        self.replacement = replacement
        self.prependScheme = prependScheme
        self.split = split
        self.prependEachPiece = prependEachPiece
        var mark: [UInt8] = []
        appendUTF8(replacement.value, to: &mark)
        self.mark = mark
    }

    /// The Metaspace pre-tokenizer of `pre`, alone or in a Sequence, if there is one.
    static func find(in pre: (any PreTokenizer)?) -> MetaspacePreTokenizer? {
        if let m = pre as? MetaspacePreTokenizer { return m }
        if let s = pre as? SequencePreTokenizer {
            for p in s.preTokenizers { if let m = find(in: p) { return m } }
        }
        return nil
    }

    /// The mark's UTF-8 bytes.
    var markBytes: [UInt8] { mark }

    func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        let n = text.count
        guard n > 0 else { return }
        guard split else { pieces.append(0..<n); return }
        let m = mark.count, first = mark[0]
        var start = 0, i = 0
        while i < n {
            let b = text[i]
            var width = 0
            if b == 0x20 {
                width = 1
            } else if b == first && i + m <= n && UnsafeBufferPointer(rebasing: text[i..<(i + m)]).elementsEqual(mark) {
                width = m
            }
            if width > 0 {
                if i > start { pieces.append(start..<i) }
                start = i
                i += width
            } else {
                i += 1
            }
        }
        if n > start { pieces.append(start..<n) }
    }
}

extension Tokenizer {
    /// Whether `text` starts with the Metaspace mark (false without a Metaspace pre-tokenizer).
    func startsWithMark(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let mark = prefixMark, text.count >= mark.count else { return false }
        return UnsafeBufferPointer(rebasing: text[0..<mark.count]).elementsEqual(mark)
    }
}
