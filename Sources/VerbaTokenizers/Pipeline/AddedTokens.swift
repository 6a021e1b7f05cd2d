// Special and added tokens (`<|endoftext|>`, `[CLS]`, user additions): found in the text before the
// pre-tokenizer splits it, so they are never broken apart, exactly as Hugging Face `tokenizers` does:
// leftmost-longest matching, then the `single_word`, `lstrip` and `rstrip` rules of each token.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One added token as `tokenizer.json`'s `added_tokens` describes it.
package struct AddedToken: Sendable, Hashable {
    /// The token's text.
    package var content: String
    /// Its id.
    package var id: Int
    /// Special tokens are skipped when decoding with `skipSpecialTokens`.
    package var special: Bool
    /// Only match when not surrounded by word characters (regex `\w`).
    package var singleWord: Bool
    /// Also take the whitespace on the left of a match.
    package var lstrip: Bool
    /// Also take the whitespace on the right of a match.
    package var rstrip: Bool
    /// Match in the normalized text (true) or in the original text (false).
    package var normalized: Bool

    /// A token with Hugging Face's defaults: special tokens are matched in the original text, others
    /// in the normalized text.
    package init(content: String, id: Int, special: Bool = true, singleWord: Bool = false, lstrip: Bool = false,
                rstrip: Bool = false, normalized: Bool? = nil) {
        self.content = content
        self.id = id
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized ?? !special
    }
}

/// A piece of text found by `AddedVocabulary.split`: an added token (`id >= 0`) or plain text (`id == -1`).
package struct AddedSplit: Sendable, Equatable {
    /// Byte range in the text that was split.
    package var range: Range<Int>
    /// The added token's id, or -1 for text between tokens.
    package var id: Int
    package init(range: Range<Int>, id: Int) { self.range = range; self.id = id }
}

/// A byte trie over token contents, for leftmost-longest matching.
struct TokenTrie: Sendable {
    /// Child of the root for each first byte (-1: none): lets the scan skip most bytes with one load.
    private var root = [Int32](repeating: -1, count: 256)
    /// Children of the other nodes: (byte, node), unsorted (fan-out is tiny).
    private var children: [[(UInt8, Int32)]] = [[]]
    /// Index of the pattern ending at each node, or -1.
    private var terminal: [Int32] = [-1]

    init(patterns: [[UInt8]]) {
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            var node: Int32 = 0
            for (k, b) in pattern.enumerated() {
                var next: Int32 = -1
                if k == 0 {
                    next = root[Int(b)]
                } else {
                    for (c, n) in children[Int(node)] where c == b { next = n; break }
                }
                if next < 0 {
                    next = Int32(children.count)
                    children.append([])
                    terminal.append(-1)
                    if k == 0 { root[Int(b)] = next } else { children[Int(node)].append((b, next)) }
                }
                node = next
            }
            // The first of several equal contents wins (as a dictionary insert would keep one).
            if terminal[Int(node)] < 0 { terminal[Int(node)] = Int32(index) }
        }
    }

    var isEmpty: Bool { children.count == 1 }

    /// The bytes that can start a pattern.
    var startBytes: ByteSet {
        var set = ByteSet()
        for b in 0...255 where canStart(UInt8(b)) { set.insert(UInt8(b)) }
        return set
    }

    /// The longest pattern that starts at `text[i]`: (pattern index, length), or nil.
    @inline(__always)
    func longestMatch(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> (pattern: Int, length: Int)? {
        var node = root[Int(text[i])]
        if node < 0 { return nil }
        var best: (Int, Int)? = nil
        var j = i + 1
        while true {
            let t = terminal[Int(node)]
            if t >= 0 { best = (Int(t), j - i) }
            if j >= text.count { break }
            let b = text[j]
            var next: Int32 = -1
            for (c, n) in children[Int(node)] where c == b { next = n; break }
            if next < 0 { break }
            node = next
            j += 1
        }
        return best
    }

    /// Whether byte `b` can start a pattern.
    @inline(__always)
    func canStart(_ b: UInt8) -> Bool { root[Int(b)] >= 0 }
}

/// A set of byte values, held inline (no reference to count: threads share it for free).
struct ByteSet: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// The member when there is exactly one (found with memchr), else -1.
    private var single = -1
    private var count = 0

    mutating func insert(_ b: UInt8) {
        withUnsafeMutableBytes(of: &words) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            let bit = UInt64(1) << UInt64(b & 63)
            if p[Int(b >> 6)] & bit == 0 { count += 1 }
            p[Int(b >> 6)] |= bit
        }
        single = count == 1 ? (single < 0 ? Int(b) : single) : -1
    }

    /// Whether some byte of `text` is in the set.
    @inline(__always)
    func containsAny(of text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard count > 0, let base = text.baseAddress else { return false }
        if single >= 0 { return memchr(base, Int32(single), text.count) != nil }
        var w = words
        return withUnsafeBytes(of: &w) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            for b in text where p[Int(b >> 6)] >> UInt64(b & 63) & 1 != 0 { return true }
            return false
        }
    }
}

/// The added tokens of a tokenizer and the two matchers Hugging Face uses: one over the original text
/// (tokens with `normalized: false`) and one over the normalized text (`normalized: true`, whose contents
/// are normalized too).
package struct AddedVocabulary: Sendable {
    /// The tokens, in the order given.
    package let tokens: [AddedToken]
    private let byId: [Int: Int]
    private let byContent: [String: Int]
    private let rawTrie: TokenTrie
    private let rawTokens: [Int]
    private let normalizedTrie: TokenTrie
    private let normalizedTokens: [Int]
    /// The bytes that can start a token of each matcher: a text with none of them is looked at without
    /// touching the matchers' arrays, whose reference counts the threads encoding at once would
    /// otherwise all write, line after line (the cache line bouncing between the cores).
    private let rawStarts: ByteSet
    private let normalizedStarts: ByteSet

    /// When true, special tokens are not looked for in text (HF's `encode_special_tokens`, tiktoken's
    /// `encode_ordinary`): they only exist as ids.
    package let encodeSpecialTokens: Bool

    /// Builds the matchers; `normalizer` normalizes the contents of `normalized` tokens.
    package init(tokens: [AddedToken], normalizer: Normalizer? = nil, encodeSpecialTokens: Bool = false) {
        self.tokens = tokens
        self.encodeSpecialTokens = encodeSpecialTokens
        var byId: [Int: Int] = [:], byContent: [String: Int] = [:]
        var rawPatterns: [[UInt8]] = [], rawTokens: [Int] = []
        var normPatterns: [[UInt8]] = [], normTokens: [Int] = []
        for (i, t) in tokens.enumerated() {
            byId[t.id] = byId[t.id] ?? i
            byContent[t.content] = byContent[t.content] ?? i
            if encodeSpecialTokens && t.special { continue }
            if t.normalized {
                var content = Array(t.content.utf8)
                if let normalizer {
                    content = content.withUnsafeBufferPointer { normalizer.normalize($0).bytes }
                }
                normPatterns.append(content)
                normTokens.append(i)
            } else {
                rawPatterns.append(Array(t.content.utf8))
                rawTokens.append(i)
            }
        }
        self.byId = byId
        self.byContent = byContent
        let rawTrie = TokenTrie(patterns: rawPatterns), normalizedTrie = TokenTrie(patterns: normPatterns)
        self.rawTrie = rawTrie
        self.rawTokens = rawTokens
        self.normalizedTrie = normalizedTrie
        self.normalizedTokens = normTokens
        rawStarts = rawTrie.startBytes
        normalizedStarts = normalizedTrie.startBytes
    }

    package var isEmpty: Bool { tokens.isEmpty }
    /// Whether some tokens are matched in the original text.
    package var hasRawTokens: Bool { !rawTrie.isEmpty }
    /// Whether some tokens are matched in the normalized text.
    package var hasNormalizedTokens: Bool { !normalizedTrie.isEmpty }

    /// The added token with id `id`.
    package func token(id: Int) -> AddedToken? { byId[id].map { tokens[$0] } }
    /// The id of the added token whose content is `content`.
    package func id(of content: String) -> Int? { byContent[content].map { tokens[$0].id } }
    /// Whether `id` is an added token marked special.
    package func isSpecial(id: Int) -> Bool { byId[id].map { tokens[$0].special } ?? false }

    /// Splits `text` around the added tokens it contains (the original-text matcher when `normalized`
    /// is false, the normalized-text matcher otherwise), appending the pieces in order to `out`.
    /// Text without matches gives one text piece covering all of it (none for empty text).
    ///
    /// - Complexity: O(n) table loads, plus the trie walk at bytes that can start a token.
    @inline(__always)
    package func split(_ text: UnsafeBufferPointer<UInt8>, normalized: Bool, into out: inout [AddedSplit]) {
        if !(normalized ? normalizedStarts : rawStarts).containsAny(of: text) {
            if !text.isEmpty { out.append(AddedSplit(range: 0..<text.count, id: -1)) }
            return
        }
        splitMatching(text, normalized: normalized, into: &out)
    }

    @inline(never)
    private func splitMatching(_ text: UnsafeBufferPointer<UInt8>, normalized: Bool, into out: inout [AddedSplit]) {
        let trie = normalized ? normalizedTrie : rawTrie
        let indices = normalized ? normalizedTokens : rawTokens
        let n = text.count
        if trie.isEmpty || n == 0 {
            if n > 0 { out.append(AddedSplit(range: 0..<n, id: -1)) }
            return
        }
        var startOffset = 0
        var i = 0
        while i < n {
            if !trie.canStart(text[i]) { i += 1; continue }
            guard let m = trie.longestMatch(text, at: i) else { i += 1; continue }
            let token = tokens[indices[m.pattern]]
            var start = i
            var stop = i + m.length
            i = stop  // the search resumes after the match, whatever the rules below decide
            if token.singleWord {
                let startSpace = start == 0 || !Self.endsWithWord(text, before: start)
                let stopSpace = stop == n || !Self.startsWithWord(text, at: stop)
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                start = max(Self.whitespaceStart(text, before: start), startOffset)
            }
            if token.rstrip {
                stop = Self.whitespaceEnd(text, from: stop)
            }
            if startOffset < start { out.append(AddedSplit(range: startOffset..<start, id: -1)) }
            out.append(AddedSplit(range: start..<stop, id: token.id))
            startOffset = stop
        }
        if startOffset < n { out.append(AddedSplit(range: startOffset..<n, id: -1)) }
    }

    // MARK: Character tests at a byte position

    /// The scalar that ends right before byte `end`.
    private static func scalar(_ text: UnsafeBufferPointer<UInt8>, endingAt end: Int) -> (scalar: UInt32, start: Int) {
        var s = end - 1
        while s > 0 && end - s < 4 && text[s] & 0xC0 == 0x80 { s -= 1 }
        let base = text.baseAddress!
        let d = UTF8Codec.decode(base, at: s, end: text.count)
        if s + d.length == end { return (d.scalar, s) }
        return (UTF8Codec.rawByteBase + UInt32(text[end - 1]), end - 1)
    }

    private static func endsWithWord(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> Bool {
        end > 0 && UnicodeProperties.isWord(scalar(text, endingAt: end).scalar)
    }

    private static func startsWithWord(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        i < text.count && UnicodeProperties.isWord(UTF8Codec.decode(text.baseAddress!, at: i, end: text.count).scalar)
    }

    /// Start of the run of whitespace that ends at `end` (`end` itself when there is none).
    private static func whitespaceStart(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> Int {
        var e = end
        while e > 0 {
            let (s, start) = scalar(text, endingAt: e)
            if !UnicodeProperties.isWhitespace(s) { break }
            e = start
        }
        return e
    }

    /// End of the run of whitespace that starts at `i`.
    private static func whitespaceEnd(_ text: UnsafeBufferPointer<UInt8>, from i: Int) -> Int {
        var j = i
        while j < text.count {
            let d = UTF8Codec.decode(text.baseAddress!, at: j, end: text.count)
            if !UnicodeProperties.isWhitespace(d.scalar) { break }
            j += d.length
        }
        return j
    }
}
