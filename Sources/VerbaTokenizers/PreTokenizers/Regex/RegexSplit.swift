// Hugging Face's `Split` pre-tokenizer with any regex: the pattern's matches and the stretches between
// them, then the delimiter behavior (and `invert`) as `tokenizers` applies them.

/// tokenizer.json `Split` with a pattern compiled by Verba's own regex engine.
struct RegexSplitPreTokenizer: PreTokenizer {
    let regex: CompiledRegex
    let behavior: DelimiterBehavior
    /// Swap matches and the stretches between them before applying `behavior`.
    let invert: Bool

    /// `pattern` is a regex (`{"Regex": ...}`) or, with `literal`, a plain string (`{"String": ...}`).
    init(pattern: String, literal: Bool = false, behavior: DelimiterBehavior, invert: Bool) throws {
        regex = try CompiledRegex(pattern, literal: literal)
        self.behavior = behavior
        self.invert = invert
    }

    func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        let n = text.count
        if behavior == .isolated {
            // Every match and every stretch between matches is a piece.
            var previous = 0
            regex.forEachMatch(in: text) { s, e in
                if s > previous { pieces.append(previous..<s) }
                if e > s { pieces.append(s..<e) }
                previous = e
            }
            if n > previous { pieces.append(previous..<n) }
            return
        }
        var segments: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = 0
        regex.forEachMatch(in: text) { s, e in
            if s != previous { segments.append((previous..<s, invert)) }
            segments.append((s..<e, !invert))
            previous = e
        }
        if n != previous { segments.append((previous..<n, invert)) }
        applyDelimiterBehavior(behavior, to: segments, into: &pieces)
    }
}
