// Pre-tokenizers that split on character classes: BERT's (whitespace and punctuation), WhitespaceSplit,
// Whitespace (`\w+|[^\w\s]+`), Punctuation and Digits, as Hugging Face `tokenizers` defines them.
// Ill-formed UTF-8 bytes count as ordinary (word) characters for BERT and WhitespaceSplit, and as
// symbols (neither word nor space) for Whitespace.

/// What to do with the characters a splitting pre-tokenizer matches (`tokenizers`' SplitDelimiterBehavior).
/// On "the-final--countdown" splitting on "-":
/// `removed` → the final countdown; `isolated` → the - final - - countdown;
/// `mergedWithPrevious` → the- final- - countdown; `mergedWithNext` → the -final - -countdown;
/// `contiguous` → the - final -- countdown.
package enum DelimiterBehavior: String, Sendable, CaseIterable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// Character classes of the ASCII bytes for BERT: 0 word, 1 whitespace, 2 punctuation.
private let bertASCIIClass: [UInt8] = (0 ..< 128).map { c in
    if c == 0x20 || (0x09 ... 0x0D).contains(c) { return 1 }
    if (33 ... 47).contains(c) || (58 ... 64).contains(c) || (91 ... 96).contains(c) || (123 ... 126).contains(c) { return 2 }
    return 0
}

/// BERT's pre-tokenizer (tokenizer.json `BertPreTokenizer`): splits on whitespace (dropped) and makes
/// every punctuation character (ASCII punctuation or a Unicode P* category) a piece of its own.
package struct BertPreTokenizer: PreTokenizer, Equatable {
    package init() {}

    /// - Complexity: O(n); ASCII bytes take one table load each.
    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        guard let p = text.baseAddress else { return }
        let n = text.count
        bertASCIIClass.withUnsafeBufferPointer { cls in
            var start = -1   // start of the current word, -1 if none
            var i = 0
            while i < n {
                let c = p[i]
                var kind: UInt8
                var len = 1
                if c < 0x80 {
                    kind = cls[Int(c)]
                } else {
                    let (s, l) = UTF8Codec.decode(p, at: i, end: n)
                    len = l
                    let f = UnicodeProperties.flags(s)
                    kind = f.contains(.whitespace) ? 1 : f.contains(.punctuation) ? 2 : 0
                }
                if kind == 0 {
                    if start < 0 { start = i }
                } else {
                    if start >= 0 {
                        pieces.append(start ..< i)
                        start = -1
                    }
                    if kind == 2 { pieces.append(i ..< i + len) }
                }
                i += len
            }
            if start >= 0 { pieces.append(start ..< n) }
        }
    }
}

/// Splits on whitespace (Rust `char::is_whitespace`), dropping it (tokenizer.json `WhitespaceSplit`).
package struct WhitespaceSplitPreTokenizer: PreTokenizer, Equatable {
    package init() {}

    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        splitByClass(text, into: &pieces) { s in UnicodeProperties.isWhitespace(s) ? 0 : 1 }
    }
}

/// The `\w+|[^\w\s]+` pre-tokenizer (tokenizer.json `Whitespace`): runs of word characters and runs of
/// other non-space characters; whitespace is dropped.
package struct WhitespacePreTokenizer: PreTokenizer, Equatable {
    package init() {}

    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        splitByClass(text, into: &pieces) { s in
            let f = UnicodeProperties.flags(s)
            return f.contains(.word) ? 1 : f.contains(.whitespace) ? 0 : 2
        }
    }
}

/// Splits on punctuation (BERT's definition) with a delimiter behavior (tokenizer.json `Punctuation`).
package struct PunctuationPreTokenizer: PreTokenizer, Equatable {
    package var behavior: DelimiterBehavior

    package init(behavior: DelimiterBehavior = .isolated) { self.behavior = behavior }

    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        splitOnMatches(text, behavior: behavior, into: &pieces) { UnicodeProperties.isPunctuation($0) }
    }
}

/// Splits numbers off (Rust `char::is_numeric`) (tokenizer.json `Digits`): each digit its own piece
/// when `individualDigits`, else runs of digits together.
package struct DigitsPreTokenizer: PreTokenizer, Equatable {
    package var individualDigits: Bool

    package init(individualDigits: Bool = false) { self.individualDigits = individualDigits }

    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        splitOnMatches(text, behavior: individualDigits ? .isolated : .contiguous, into: &pieces) {
            UnicodeProperties.isNumeric($0)
        }
    }
}

/// Emits maximal runs of scalars of the same nonzero class; class 0 is dropped.
@inline(__always)
func splitByClass(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>], _ classOf: (UInt32) -> UInt8) {
    guard let p = text.baseAddress else { return }
    let n = text.count
    var start = 0
    var current: UInt8 = 0
    var i = 0
    while i < n {
        let (s, len) = UTF8Codec.decode(p, at: i, end: n)
        let k = classOf(s)
        if k != current {
            if current != 0 && i > start { pieces.append(start ..< i) }
            start = i
            current = k
        }
        i += len
    }
    if current != 0 && n > start { pieces.append(start ..< n) }
}

/// `tokenizers`' NormalizedString::split with a per-character pattern: every matching scalar is one
/// match, then `behavior` decides what becomes of it. Empty pieces are dropped.
func splitOnMatches(_ text: UnsafeBufferPointer<UInt8>, behavior: DelimiterBehavior,
                    into pieces: inout [Range<Int>], _ matches: (UInt32) -> Bool) {
    guard let p = text.baseAddress else { return }
    let n = text.count
    // 1. Segments: maximal non-matching runs and single matching scalars.
    var segments: [(range: Range<Int>, isMatch: Bool)] = []
    var start = 0
    var i = 0
    while i < n {
        let (s, len) = UTF8Codec.decode(p, at: i, end: n)
        if matches(s) {
            if i > start { segments.append((start ..< i, false)) }
            segments.append((i ..< i + len, true))
            start = i + len
        }
        i += len
    }
    if n > start { segments.append((start ..< n, false)) }
    applyDelimiterBehavior(behavior, to: segments, into: &pieces)
}

/// `tokenizers`' NormalizedString::split after its pattern has run: `segments` are the matches and the
/// stretches between them, in order; `behavior` decides what each becomes. Empty pieces are dropped.
func applyDelimiterBehavior(_ behavior: DelimiterBehavior, to segments: [(range: Range<Int>, isMatch: Bool)],
                            into pieces: inout [Range<Int>]) {
    var out: [Range<Int>] = []
    switch behavior {
    case .removed:
        for seg in segments where !seg.isMatch { out.append(seg.range) }
    case .isolated:
        out = segments.map { $0.range }
    case .contiguous:
        // Neighbours of the same kind merge (two stretches between matches are neighbours when `invert`
        // turned two adjacent matches into them).
        var previousMatch = false
        for seg in segments {
            if seg.isMatch == previousMatch, let last = out.last {
                out[out.count - 1] = last.lowerBound ..< seg.range.upperBound
            } else {
                out.append(seg.range)
            }
            previousMatch = seg.isMatch
        }
    case .mergedWithPrevious:
        var previousMatch = false
        for seg in segments {
            if seg.isMatch && !previousMatch, let last = out.last {
                out[out.count - 1] = last.lowerBound ..< seg.range.upperBound
            } else {
                out.append(seg.range)
            }
            previousMatch = seg.isMatch
        }
    case .mergedWithNext:
        var previousMatch = false
        for seg in segments.reversed() {
            if seg.isMatch && !previousMatch, let last = out.last {
                out[out.count - 1] = seg.range.lowerBound ..< last.upperBound
            } else {
                out.append(seg.range)
            }
            previousMatch = seg.isMatch
        }
        out.reverse()
    }
    for r in out where !r.isEmpty { pieces.append(r) }
}
