// The split patterns of GPT-2, cl100k_base, o200k_base and their Hugging Face variants, as hand-written
// scanners over UTF-8 (no regex engine). Each scanner reproduces what the regex engine matches
// (leftmost-first alternation, greedy quantifiers with backtracking, possessive ones without), piece for
// piece, as `tiktoken` (fancy-regex) and `tokenizers` (Oniguruma) report them. Every character of the
// text lands in exactly one piece, so nothing is dropped.

/// A split pattern that Verba scans natively.
package enum SplitPattern: String, Sendable, CaseIterable {
    /// GPT-2, r50k_base, p50k_base and Hugging Face's ByteLevel pre-tokenizer:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// tiktoken's cl100k_base (a whitespace run that ends the text stays whole).
    case cl100k
    /// cl100k as Hugging Face tokenizer.json files spell it (Llama 3): no `\s++$`, so a run of
    /// whitespace that ends the text and holds a newline splits after its last newline.
    case llama3
    /// Qwen2's variant of `llama3`: digits one at a time (`\p{N}` instead of `\p{N}{1,3}`).
    case qwen2
    /// tiktoken's o200k_base (cased words, marks, `\s*[\r\n]+`).
    case o200k

    /// The regex this scanner implements, as tiktoken or tokenizer.json spells it.
    package var regex: String {
        switch self {
        case .gpt2: return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        case .cl100k:
            return #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#
        case .llama3:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .qwen2:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .o200k:
            return [
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
                #"\p{N}{1,3}"#,
                #" ?[^\s\p{L}\p{N}]+[\r\n/]*"#,
                #"\s*[\r\n]+"#,
                #"\s+(?!\S)"#,
                #"\s+"#,
            ].joined(separator: "|")
        }
    }

    /// Other spellings of the same pattern (tiktoken's r50k_base form of GPT-2's pattern).
    var aliases: [String] {
        switch self {
        case .gpt2: return [#"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"#]
        default: return []
        }
    }

    /// Recognizes a regex (tokenizer.json `Split` pattern or tiktoken `pat_str`) that a native scanner
    /// implements exactly; nil for any other pattern.
    package init?(regex: String) {
        for p in SplitPattern.allCases where p.regex == regex || p.aliases.contains(regex) {
            self = p
            return
        }
        return nil
    }

    /// The split pattern of a tiktoken encoding name (`r50k_base`, `p50k_base`, `p50k_edit`,
    /// `cl100k_base`, `o200k_base`, `o200k_harmony`), or nil.
    package init?(tiktokenEncoding name: String) {
        switch name {
        case "gpt2", "r50k_base", "p50k_base", "p50k_edit": self = .gpt2
        case "cl100k_base": self = .cl100k
        case "o200k_base", "o200k_harmony": self = .o200k
        default: return nil
        }
    }
}

/// Splits text with one of the native `SplitPattern` scanners; each match is one piece (Hugging Face's
/// `Split` with behavior `Isolated`, or tiktoken's `find_iter`: the patterns cover every character).
package struct PatternSplitter: PreTokenizer {
    /// The pattern scanned.
    package let pattern: SplitPattern

    package init(_ pattern: SplitPattern) {
        self.pattern = pattern
    }

    /// Appends the byte ranges of the pattern's matches in `text`, in order.
    /// - Complexity: O(n) in the length of `text`.
    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        guard let base = text.baseAddress, text.count > 0 else { return }
        split(base, from: 0, to: text.count, into: &pieces)
    }

    /// Splits the text `base[from..<end]`, appending ranges counted from `base` (not from `from`): a
    /// batch of lines laid end to end is split line by line without re-basing the ranges. The scanners
    /// never look before `from` or at `end` and beyond.
    func split(_ base: UnsafePointer<UInt8>, from: Int, to end: Int, into pieces: inout [Range<Int>]) {
        if from >= end { return }
        let r = CharReader(base, end)
        switch pattern {
        case .gpt2: splitGPT2(r, from: from, &pieces)
        case .cl100k: splitCL100K(r, from: from, maxDigits: 3, wholeTrailingSpace: true, &pieces)
        case .llama3: splitCL100K(r, from: from, maxDigits: 3, wholeTrailingSpace: false, &pieces)
        case .qwen2: splitCL100K(r, from: from, maxDigits: 1, wholeTrailingSpace: false, &pieces)
        case .o200k: splitO200K(r, from: from, &pieces)
        }
    }

    /// Convenience: the pieces of `text` as byte ranges.
    package func split(_ text: [UInt8]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        text.withUnsafeBufferPointer { split($0, into: &pieces) }
        return pieces
    }
}

/// Hugging Face's `ByteLevel` pre-tokenizer: splits with GPT-2's pattern (`useRegex`) or not at all.
///
/// The byte-to-character mapping itself is left to the model: a `BPE` built with `byteLevel: true`
/// encodes raw piece bytes directly. `addPrefixSpace` cannot be applied by `split` (it adds a byte):
/// the pipeline must, for each text segment it splits (each stretch between added tokens), prepend one
/// space (0x20, mapped to no original bytes) when `needsPrefixSpace` says so, as `tokenizers` does.
package struct ByteLevelPreTokenizer: PreTokenizer {
    /// Prepend a space to each segment that does not start with one.
    package var addPrefixSpace: Bool
    /// Split with GPT-2's pattern; when false the whole segment is one piece.
    package var useRegex: Bool
    /// Hugging Face's `trim_offsets` (used by the post-processor; recorded here for round trips).
    package var trimOffsets: Bool

    package init(addPrefixSpace: Bool = false, useRegex: Bool = true, trimOffsets: Bool = true) {
        self.addPrefixSpace = addPrefixSpace
        self.useRegex = useRegex
        self.trimOffsets = trimOffsets
    }

    /// Whether the pipeline must prepend a space to `segment` before splitting it: `addPrefixSpace` is
    /// set and the segment does not start with 0x20 (true for an empty segment, as in `tokenizers`).
    package func needsPrefixSpace(_ segment: UnsafeBufferPointer<UInt8>) -> Bool {
        addPrefixSpace && (segment.isEmpty || segment[0] != 0x20)
    }

    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        if useRegex {
            PatternSplitter(.gpt2).split(text, into: &pieces)
        } else if !text.isEmpty {
            pieces.append(0..<text.count)
        }
    }
}

// MARK: - Scanners

/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
private func splitGPT2(_ r: CharReader, from: Int, _ pieces: inout [Range<Int>]) {
    let n = r.n
    var i = from
    while i < n {
        let start = i
        let k = r.contraction(i, caseInsensitive: false)
        if k > 0 {
            i += k
            pieces.append(start..<i)
            continue
        }
        var c = r.at(i).cls
        var p = i
        if r.p[i] == 0x20 {
            let (c2, _) = r.at(i + 1)
            if c2 & (CharClass.letter | CharClass.number | CharClass.other) != 0 {
                p = i + 1
                c = c2
            }
        }
        if c & CharClass.letter != 0 {
            i = r.run(p, CharClass.letter)
        } else if c & CharClass.number != 0 {
            i = r.run(p, CharClass.number)
        } else if c & CharClass.other != 0 {
            i = r.run(p, CharClass.other)
        } else {
            // \s+(?!\S) backs off one character before a non-space; \s+ takes a lone one.
            let (end, last, _) = r.spaceRun(i)
            i = end == n ? n : (last > start ? last : end)
        }
        pieces.append(start..<i)
    }
}

/// cl100k_base and its Hugging Face forms:
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
/// (`wholeTrailingSpace` is the `\s++$` alternative; `maxDigits` the `{1,3}`).
private func splitCL100K(_ r: CharReader, from: Int, maxDigits: Int, wholeTrailingSpace: Bool, _ pieces: inout [Range<Int>]) {
    let n = r.n
    var i = from
    while i < n {
        let start = i
        let k = r.contraction(i, caseInsensitive: true)
        if k > 0 {
            i += k
            pieces.append(start..<i)
            continue
        }
        let (c, len) = r.at(i)
        if c & CharClass.letter != 0 {
            i = r.run(i, CharClass.letter)
        } else if CharClass.isPrefix(c) && r.at(i + len).cls & CharClass.letter != 0 {
            i = r.run(i + len, CharClass.letter)
        } else if c & CharClass.number != 0 {
            i = r.run(i, CharClass.number, limit: maxDigits)
        } else if c & CharClass.other != 0 {
            i = r.run(r.run(i, CharClass.other), CharClass.newline)
        } else if r.p[i] == 0x20 && r.at(i + 1).cls & CharClass.other != 0 {
            i = r.run(r.run(i + 1, CharClass.other), CharClass.newline)
        } else {
            let (end, last, newline) = r.spaceRun(i)
            if end == n && wholeTrailingSpace {
                i = n  // \s++$
            } else if newline >= 0 {
                i = newline + 1  // \s*[\r\n]: through the run's last newline
            } else if end == n {
                i = n  // \s+(?!\S) at the end
            } else {
                i = last > start ? last : end  // \s+(?!\S) backs off one character; else \s
            }
        }
        pieces.append(start..<i)
    }
}

/// o200k_base (see `SplitPattern.o200k.regex`).
private func splitO200K(_ r: CharReader, from: Int, _ pieces: inout [Range<Int>]) {
    let n = r.n
    var i = from
    while i < n {
        let start = i
        let (c, len) = r.at(i)
        if c & (CharClass.letter | CharClass.other | CharClass.space) != 0, c & CharClass.newline == 0,
           let end = o200kWord(r, i, c, len) {
            i = end
        } else if c & CharClass.number != 0 {
            i = r.run(i, CharClass.number, limit: 3)
        } else if c & CharClass.other != 0 {
            i = runNewlineOrSlash(r, r.run(i, CharClass.other))
        } else if r.p[i] == 0x20 && r.at(i + 1).cls & CharClass.other != 0 {
            i = runNewlineOrSlash(r, r.run(i + 1, CharClass.other))
        } else {
            let (end, last, newline) = r.spaceRun(i)
            if newline >= 0 {
                i = newline + 1  // \s*[\r\n]+
            } else if end == n {
                i = n  // \s+(?!\S)
            } else {
                i = last > start ? last : end  // \s+(?!\S) backs off one character; else \s+ of one
            }
        }
        pieces.append(start..<i)
    }
}

/// `[\r\n/]*` from `i`.
@inline(__always)
private func runNewlineOrSlash(_ r: CharReader, _ i: Int) -> Int {
    var j = i
    while j < r.n, r.p[j] == 0x0A || r.p[j] == 0x0D || r.p[j] == 0x2F { j += 1 }
    return j
}

/// o200k's two word alternatives at `i` (character class `c`, length `len`), with the optional
/// `[^\r\n\p{L}\p{N}]` prefix tried first taken, then not taken; nil if neither matches.
@inline(__always)
private func o200kWord(_ r: CharReader, _ i: Int, _ c: UInt8, _ len: Int) -> Int? {
    let prefixed = CharClass.isPrefix(c)
    if prefixed, let e = o200kLowerTail(r, i + len) { return e }
    if let e = o200kLowerTail(r, i) { return e }
    if prefixed, let e = o200kUpperTail(r, i + len) { return e }
    return o200kUpperTail(r, i)
}

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `p`:
/// the upper run backs off to the last character that can start the lower run.
@inline(__always)
private func o200kLowerTail(_ r: CharReader, _ p: Int) -> Int? {
    var j = p
    var lastLowerEnd = -1
    while true {
        let (c, len) = r.at(j)
        if c & CharClass.upper == 0 { break }
        if c & CharClass.lower != 0 { lastLowerEnd = j + len }
        j += len
    }
    var end: Int
    if r.at(j).cls & CharClass.lower != 0 {
        end = r.run(j, CharClass.lower)
    } else if lastLowerEnd >= 0 {
        end = lastLowerEnd
    } else {
        return nil
    }
    end += r.contraction(end, caseInsensitive: true)
    return end
}

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `p`.
@inline(__always)
private func o200kUpperTail(_ r: CharReader, _ p: Int) -> Int? {
    let u = r.run(p, CharClass.upper)
    if u == p { return nil }
    let w = r.run(u, CharClass.lower)
    return w + r.contraction(w, caseInsensitive: true)
}
