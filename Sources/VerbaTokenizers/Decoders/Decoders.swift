// Decoders: token strings back to text, as Hugging Face `tokenizers` chains them (ByteLevel, WordPiece,
// Metaspace, Replace, Fuse, Strip, ByteFallback, BPE suffix, Sequence), and an incremental decoder for
// streaming that never emits half a UTF-8 character.
//
// Tokens travel as UTF-8 byte arrays, not Strings: a byte-level token may hold part of a character,
// and only the final text is checked (invalid sequences become U+FFFD, as HF's `from_utf8_lossy`).

/// Turns the tokens of an id sequence into pieces of text (HF's `decode_chain`); the text is their
/// concatenation.
package protocol TokenDecoder: Sendable {
    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]]
    /// As `decodeChain`, but bytes that do not form valid UTF-8 stay as they are instead of becoming
    /// U+FFFD (for streaming, where a character may be completed by the next token).
    func rawDecodeChain(_ tokens: [[UInt8]]) -> [[UInt8]]
    /// The decoder as a `tokenizer.json` `decoder` value.
    var json: JSONValue { get }
}

extension TokenDecoder {
    /// The decoded bytes of `tokens` (possibly ill-formed UTF-8 when tokens hold partial characters).
    package func decodeBytes(_ tokens: [[UInt8]]) -> [UInt8] { Array(decodeChain(tokens).joined()) }
    package func rawDecodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] { decodeChain(tokens) }
}

/// The GPT-2 byte-to-unicode table, reversed: scalar value → byte, for the 256 printable stand-ins.
let byteLevelCharToByte: [UInt32: UInt8] = {
    var table: [UInt32: UInt8] = [:]
    var n: UInt32 = 0
    for b in 0..<256 {
        let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
        if printable {
            table[UInt32(b)] = UInt8(b)
        } else {
            table[256 + n] = UInt8(b)
            n += 1
        }
    }
    return table
}()

/// HF's `ByteLevel` decoder: maps each character of the tokens back to the byte it stands for.
package struct ByteLevelDecoder: TokenDecoder {
    package init() {}
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var out: [UInt8] = []
        for t in tokens {
            let start = out.count
            var ok = true
            t.withUnsafeBufferPointer { p in
                var i = 0
                while i < p.count {
                    let d = UTF8Codec.decode(p.baseAddress!, at: i, end: p.count)
                    if let b = byteLevelCharToByte[d.scalar] { out.append(b) } else { ok = false; return }
                    i += d.length
                }
            }
            if !ok {
                // A token with characters outside the table (an added token) stands for its own bytes.
                out.removeSubrange(start...)
                out.append(contentsOf: t)
            }
        }
        return [out]
    }
    package var json: JSONValue {
        .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)),
                 ("use_regex", .bool(true))])
    }
}

/// HF's `WordPiece` decoder: joins words with spaces, glues `##` continuations, and optionally cleans up
/// spaces before punctuation and English contractions.
package struct WordPieceDecoder: TokenDecoder {
    package var prefix: String
    package var cleanup: Bool
    package init(prefix: String = "##", cleanup: Bool = true) { self.prefix = prefix; self.cleanup = cleanup }

    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        let p = Array(prefix.utf8)
        return tokens.enumerated().map { i, token in
            var t = token
            if i != 0 {
                if !p.isEmpty && t.starts(with: p) { t.removeFirst(p.count) } else { t.insert(32, at: 0) }
            }
            if cleanup { t = WordPieceDecoder.cleanup(t) }
            return t
        }
    }

    /// HF's `cleanup`: the replacements applied in order.
    static let replacements: [([UInt8], [UInt8])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.utf8), Array($0.1.utf8)) }

    static func cleanup(_ s: [UInt8]) -> [UInt8] {
        var s = s
        for (from, to) in replacements { s = replaceAll(s, from, to) }
        return s
    }

    package var json: JSONValue {
        .object([("type", .string("WordPiece")), ("prefix", .string(prefix)), ("cleanup", .bool(cleanup))])
    }
}

/// Replaces every non-overlapping occurrence of `from` (scanning left to right) by `to`.
func replaceAll(_ s: [UInt8], _ from: [UInt8], _ to: [UInt8]) -> [UInt8] {
    guard !from.isEmpty, s.count >= from.count else { return s }
    var out: [UInt8] = []
    out.reserveCapacity(s.count)
    var i = 0
    let n = s.count, m = from.count
    while i < n {
        if i + m <= n && s[i] == from[0] && s[i..<(i + m)].elementsEqual(from) {
            out.append(contentsOf: to)
            i += m
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}

/// HF's `Metaspace` decoder: `▁` back to a space; in the first token it is dropped (unless the
/// prepend scheme is `never`).
package struct MetaspaceDecoder: TokenDecoder {
    package var replacement: Unicode.Scalar
    package var prependScheme: String
    package var split: Bool
    package init(replacement: Unicode.Scalar = "\u{2581}", prependScheme: String = "always", split: Bool = true) {
        self.replacement = replacement; self.prependScheme = prependScheme; self.split = split
    }
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var rep: [UInt8] = []
        appendUTF8(replacement.value, to: &rep)
        return tokens.enumerated().map { i, t in replaceAll(t, rep, i == 0 && prependScheme != "never" ? [] : [32]) }
    }
    package var json: JSONValue {
        .object([("type", .string("Metaspace")), ("replacement", .string(String(Character(replacement)))),
                 ("prepend_scheme", .string(prependScheme)), ("split", .bool(split))])
    }
}

/// HF's `Replace` decoder with a string pattern.
package struct ReplaceDecoder: TokenDecoder {
    package var pattern: String
    package var content: String
    /// The compiled pattern of a `{"Regex": ...}` Replace; nil for a plain string.
    private var regex: CompiledRegex? = nil
    package init(pattern: String, content: String) { self.pattern = pattern; self.content = content }
    /// Replaces the matches of the regex `pattern` in each token (an unsupported construct throws).
    init(regex pattern: String, content: String) throws {
        self.init(pattern: pattern, content: content)
        regex = try CompiledRegex(pattern)
    }
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        let f = Array(pattern.utf8), c = Array(content.utf8)
        guard let regex else { return tokens.map { replaceAll($0, f, c) } }
        return tokens.map { token in
            var out: [UInt8] = []
            var i = 0
            token.withUnsafeBufferPointer { buffer in
                regex.forEachMatch(in: buffer) { s, e in
                    guard e > s, s >= i else { return }
                    out.append(contentsOf: buffer[i ..< s])
                    out.append(contentsOf: c)
                    i = e
                }
            }
            out.append(contentsOf: token[i...])
            return out
        }
    }
    package var json: JSONValue {
        .object([("type", .string("Replace")), ("pattern", .object([(regex == nil ? "String" : "Regex", .string(pattern))])),
                 ("content", .string(content))])
    }
}

/// HF's `Fuse` decoder: all tokens into one piece.
package struct FuseDecoder: TokenDecoder {
    package init() {}
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] { [Array(tokens.joined())] }
    package var json: JSONValue { .object([("type", .string("Fuse"))]) }
}

/// HF's `Strip` decoder: removes up to `start` leading and `stop` trailing `content` characters of
/// each token.
package struct StripDecoder: TokenDecoder {
    package var content: Unicode.Scalar
    package var start: Int
    package var stop: Int
    package init(content: Unicode.Scalar, start: Int, stop: Int) { self.content = content; self.start = start; self.stop = stop }
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var c: [UInt8] = []
        appendUTF8(content.value, to: &c)
        return tokens.map { t in
            var lo = 0, hi = t.count
            for _ in 0..<start {
                if hi - lo >= c.count && t[lo..<(lo + c.count)].elementsEqual(c) { lo += c.count } else { break }
            }
            for _ in 0..<stop {
                if hi - lo >= c.count && t[(hi - c.count)..<hi].elementsEqual(c) { hi -= c.count } else { break }
            }
            return Array(t[lo..<hi])
        }
    }
    package var json: JSONValue {
        .object([("type", .string("Strip")), ("content", .string(String(Character(content)))),
                 ("start", .int(start)), ("stop", .int(stop))])
    }
}

/// HF's `ByteFallback` decoder: runs of `<0xAB>` tokens become their bytes when they form valid UTF-8,
/// else one U+FFFD per byte.
package struct ByteFallbackDecoder: TokenDecoder {
    package init() {}
    static func byteValue(_ t: [UInt8]) -> UInt8? {
        guard t.count == 6, t[0] == 60, t[1] == 48, t[2] == 120, t[5] == 62 else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c { case 48...57: return c - 48; case 65...70: return c - 55; case 97...102: return c - 87; default: return nil }
        }
        guard let h = hex(t[3]), let l = hex(t[4]) else { return nil }
        return h << 4 | l
    }
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] { chain(tokens, raw: false) }
    package func rawDecodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] { chain(tokens, raw: true) }
    func chain(_ tokens: [[UInt8]], raw: Bool) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var run: [UInt8] = []
        func flush() {
            if run.isEmpty { return }
            if raw || String(validating: run, as: UTF8.self) != nil { out.append(run) } else {
                for _ in run { out.append([0xEF, 0xBF, 0xBD]) }
            }
            run.removeAll()
        }
        for t in tokens {
            if let b = Self.byteValue(t) { run.append(b) } else { flush(); out.append(t) }
        }
        flush()
        return out
    }
    package var json: JSONValue { .object([("type", .string("ByteFallback"))]) }
}

/// HF's `BPEDecoder`: the end-of-word `suffix` becomes a space (none after the last token).
package struct BPESuffixDecoder: TokenDecoder {
    package var suffix: String
    package init(suffix: String = "</w>") { self.suffix = suffix }
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        let s = Array(suffix.utf8)
        return tokens.enumerated().map { i, t in replaceAll(t, s, i == tokens.count - 1 ? [] : [32]) }
    }
    package var json: JSONValue { .object([("type", .string("BPEDecoder")), ("suffix", .string(suffix))]) }
}

/// HF's `Sequence` decoder: each decoder works on the previous one's pieces.
package struct SequenceDecoder: TokenDecoder {
    package var decoders: [TokenDecoder]
    package init(_ decoders: [TokenDecoder]) { self.decoders = decoders }
    package func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var t = tokens
        for d in decoders { t = d.decodeChain(t) }
        return t
    }
    package func rawDecodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var t = tokens
        for d in decoders { t = d.rawDecodeChain(t) }
        return t
    }
    package var json: JSONValue { .object([("type", .string("Sequence")), ("decoders", .array(decoders.map { $0.json }))]) }
}

/// Decodes a stream of ids as they arrive (token by token generation), emitting only complete UTF-8
/// characters: bytes of a character split across tokens wait for the token that completes it.
///
/// Decoders that look at neighbouring tokens (WordPiece's `##`, Metaspace's first token) are handled
/// by re-decoding a short window: the text of `ids[prefix...]` minus that of `ids[prefix..<read]`.
///
/// ```swift
/// var decoder = tokenizer.incrementalDecoder(skipSpecialTokens: true)
/// for id in generatedIds {
///     print(decoder.push(id), terminator: "")   // only whole characters, never half an emoji
/// }
/// print(decoder.finish())
/// ```
public struct IncrementalDecoder {
    package let tokenizer: Tokenizer
    package let skipSpecialTokens: Bool
    private var ids: [Int] = []
    private var prefixOffset = 0
    private var readOffset = 0
    /// Bytes decoded but not yet emitted because they end in an incomplete character.
    private var pending: [UInt8] = []

    package init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds `id` and returns the text that became complete (possibly empty).
    public mutating func push(_ id: Int) -> String {
        ids.append(id)
        let before = tokenizer.decodeBytes(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens, raw: true)
        let after = tokenizer.decodeBytes(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens, raw: true)
        if after.count >= before.count && after.starts(with: before) {
            pending += after[before.count...]
        } else {
            pending += after  // a decoder rewrote earlier text: none of HF's do
        }
        let complete = IncrementalDecoder.completePrefixLength(pending)
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        // The previous token stays as context for decoders that look at it (WordPiece's `##`).
        prefixOffset = readOffset
        readOffset = ids.count
        if prefixOffset > 1024 {
            ids.removeFirst(prefixOffset)
            readOffset -= prefixOffset
            prefixOffset = 0
        }
        return text
    }

    /// Whatever is still pending (an incomplete character becomes U+FFFD); call at the end of a stream.
    public mutating func finish() -> String {
        let text = String(decoding: pending, as: UTF8.self)
        pending.removeAll()
        return text
    }

    /// Length of the longest prefix of `b` that does not end inside a possibly incomplete character.
    /// A trailing sequence that can no longer become valid is released (it will show as U+FFFD).
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        let n = b.count
        var i = n - 1
        var back = 0
        while i >= 0 && back < 3 && b[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
        guard i >= 0 else { return n }
        let lead = b[i]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return n
        }
        let have = n - i
        if have >= need { return n }
        // Incomplete: hold it back only if it can still become valid.
        if have >= 2 {
            let b1 = b[i + 1]
            if lead == 0xE0 && b1 < 0xA0 { return n }
            if lead == 0xED && b1 > 0x9F { return n }
            if lead == 0xF0 && b1 < 0x90 { return n }
            if lead == 0xF4 && b1 > 0x8F { return n }
        }
        return i
    }
}
