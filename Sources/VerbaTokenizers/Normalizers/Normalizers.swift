// Normalizers: BERT's normalizer (fast, ASCII fast path) and the generic normalizers that tokenizer.json
// files use (NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, Sequence).
//
// Offsets follow Hugging Face `tokenizers`: every normalized scalar carries the original byte range of
// the character it came from (see `NormalizedText.origins`). While each output scalar sits exactly where
// its source scalar sat (same offset, same length, e.g. ASCII lowercasing), `origins` stays empty.

/// Builds a `NormalizedText`, keeping `origins` empty while output byte i still comes from input byte i.
/// Writes into a growable raw buffer; `finish()` must be called exactly once (it frees the buffer).
struct NormalizedBuilder {
    private(set) var out: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Bytes written so far.
    var count = 0
    var origins: [Range<Int>] = []
    /// True while every output scalar occupies the same byte range as its source scalar.
    var aligned = true
    let input: UnsafeBufferPointer<UInt8>
    /// Whether `origins` is kept (false when writing into a `NormalizedBytes` with `finishBytes`).
    private let tracksOrigins: Bool

    /// Room for the input's length plus 64 bytes (so a 1:1 ASCII pass never needs to grow).
    init(input: UnsafeBufferPointer<UInt8>) {
        self.input = input
        capacity = input.count + 64
        out = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        tracksOrigins = true
    }

    /// Writes into the buffer of `storage` (grown if needed) and keeps no origins: for callers that
    /// want the bytes alone, many texts in a row, without allocating for each (see `finishBytes`).
    init(input: UnsafeBufferPointer<UInt8>, reusing storage: NormalizedBytes) {
        self.input = input
        let (p, c) = storage.take(atLeast: input.count + 64)
        out = p
        capacity = c
        tracksOrigins = false
    }

    /// Whether the next bytes, ASCII copied one for one from input position `i` on to the end `n`, may
    /// go straight to `appendAlignedByte` (room made for them).
    @inline(__always)
    mutating func takesASCIIRun(at i: Int, of n: Int) -> Bool {
        if tracksOrigins { return aligned && count == i }  // capacity >= n + 64 from the start
        reserve(n - i + 64)
        return true
    }

    /// Makes room for `extra` more bytes.
    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(extra) }
    }

    @inline(never)
    private mutating func grow(_ extra: Int) {
        let newCapacity = max(capacity * 2, count + extra)
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        p.moveInitialize(from: out, count: count)
        out.deallocate()
        out = p
        capacity = newCapacity
    }

    /// Fills `origins` for the aligned prefix written so far.
    mutating func materialize() {
        aligned = false
        if !tracksOrigins { return }
        origins.reserveCapacity(max(capacity, input.count + 16))
        guard let p = input.baseAddress else { return }
        var i = 0
        while i < count {
            let len = UTF8Codec.decode(p, at: i, end: input.count).length
            for _ in 0 ..< len { origins.append(i ..< i + len) }
            i += len
        }
    }

    /// Appends byte `b` (aligned ASCII fast path: the caller checked `aligned && count == i` and capacity).
    @inline(__always)
    mutating func appendAlignedByte(_ b: UInt8) {
        out[count] = b
        count += 1
    }

    /// Appends the ASCII byte `c` read at input position `i`: `append(c, from: i ..< i + 1)`, one store
    /// when no origins are kept.
    @inline(__always)
    mutating func appendASCII(_ c: UInt8, at i: Int) {
        if tracksOrigins { return append(UInt32(c), from: i ..< i + 1) }
        reserve(1)
        out[count] = c
        count += 1
    }

    /// Appends scalar `s` that came from the original byte range `r`.
    @inline(__always)
    mutating func append(_ s: UInt32, from r: Range<Int>) {
        reserve(4)
        if aligned {
            if r.lowerBound == count && r.count == UTF8Codec.encodedLength(s) {
                count += UTF8Codec.encode(s, to: out + count)
                return
            }
            materialize()
        }
        let len = UTF8Codec.encode(s, to: out + count)
        count += len
        if tracksOrigins { for _ in 0 ..< len { origins.append(r) } }
    }

    /// The result; `origins` empty when the output stayed aligned with the input. Frees the buffer.
    mutating func finish() -> NormalizedText {
        let bytes = Array(UnsafeBufferPointer(start: out, count: count))
        out.deallocate()
        capacity = 0
        count = 0
        return NormalizedText(bytes: bytes, origins: aligned ? [] : origins)
    }

    /// The bytes written, in the buffer handed back to `storage` (valid until its next use).
    mutating func finishBytes(into storage: NormalizedBytes) -> UnsafeBufferPointer<UInt8> {
        storage.give(out, capacity: capacity)
        return UnsafeBufferPointer(start: out, count: count)
    }
}

/// One thread's buffer for normalized bytes, reused from one text to the next (see
/// `BertNormalizer.normalizedBytes(_:reusing:)`).
final class NormalizedBytes {
    private var buffer: UnsafeMutablePointer<UInt8>?
    private var capacity = 0

    /// The buffer, with room for at least `minimum` bytes; the caller owns it until `give`.
    func take(atLeast minimum: Int) -> (UnsafeMutablePointer<UInt8>, Int) {
        if let b = buffer, capacity >= minimum {
            buffer = nil
            return (b, capacity)
        }
        buffer?.deallocate()
        buffer = nil
        let c = max(minimum, 2 * capacity, 256)
        return (.allocate(capacity: c), c)
    }

    func give(_ b: UnsafeMutablePointer<UInt8>, capacity: Int) {
        buffer?.deallocate()
        buffer = b
        self.capacity = capacity
    }

    deinit { buffer?.deallocate() }
}

/// A normalizer that can also write its bytes alone, without offsets, into a reused buffer: the
/// ids-only encoding path then allocates no offsets.
protocol BytesNormalizer: Normalizer {
    /// The bytes `normalize` gives, written into `storage` (valid until its next use).
    func normalizedBytes(_ text: UnsafeBufferPointer<UInt8>, reusing storage: NormalizedBytes) -> UnsafeBufferPointer<UInt8>
}

/// A normalizer written once against `NormalizedBuilder`: `normalize` (with offsets) and
/// `normalizedBytes` (without) run the same `fill`, so they give the same bytes.
protocol BuilderNormalizer: BytesNormalizer {
    /// Appends the normalized form of non-empty `text` to `b`.
    func fill(_ b: inout NormalizedBuilder, _ text: UnsafeBufferPointer<UInt8>)
}

extension BuilderNormalizer {
    /// `normalize`, for conforming types to return.
    func normalizeWithBuilder(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        guard !text.isEmpty else { return NormalizedText(bytes: []) }
        var b = NormalizedBuilder(input: text)
        fill(&b, text)
        return b.finish()
    }

    func normalizedBytes(_ text: UnsafeBufferPointer<UInt8>, reusing storage: NormalizedBytes) -> UnsafeBufferPointer<UInt8> {
        guard !text.isEmpty else { return UnsafeBufferPointer(start: nil, count: 0) }
        var b = NormalizedBuilder(input: text, reusing: storage)
        fill(&b, text)
        return b.finishBytes(into: storage)
    }
}

/// Text as scalars, each with the original byte range it came from (the slow, general representation).
struct ScalarText {
    var scalars: [UInt32]
    var origins: [Range<Int>]

    init(scalars: [UInt32], origins: [Range<Int>]) {
        self.scalars = scalars
        self.origins = origins
    }

    init(_ text: UnsafeBufferPointer<UInt8>) {
        (scalars, origins) = UTF8Codec.decodeScalars(text)
    }

    func normalized(input: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        if scalars.isEmpty { return NormalizedText(bytes: []) }
        var b = NormalizedBuilder(input: input)
        for k in 0 ..< scalars.count { b.append(scalars[k], from: origins[k]) }
        return b.finish()
    }
}

extension Normalizer {
    /// Normalizes a byte array (convenience for tests and non-hot paths).
    package func normalize(_ bytes: [UInt8]) -> NormalizedText {
        bytes.withUnsafeBufferPointer { normalize($0) }
    }

    /// Normalizes a string (convenience for tests and non-hot paths).
    package func normalize(_ string: String) -> NormalizedText {
        normalize(Array(string.utf8))
    }
}

/// BERT's normalizer, as `tokenizers`' `BertNormalizer`.
///
/// In order: `cleanText` drops NUL, U+FFFD and control characters (Cc, Cf, Co; tab, newline and
/// carriage return excepted) and turns whitespace into ' '; `handleChineseChars` puts a space on each
/// side of CJK ideographs; `stripAccents` (when nil, equal to `lowercase`) decomposes to NFD and drops
/// nonspacing marks (Mn); `lowercase` maps every character with Rust's `char::to_lowercase`.
/// Ill-formed UTF-8 bytes pass through unchanged.
package struct BertNormalizer: BytesNormalizer, Equatable {
    package var cleanText: Bool
    package var handleChineseChars: Bool
    /// nil: follow `lowercase` (tokenizer.json's `"strip_accents": null`).
    package var stripAccents: Bool?
    package var lowercase: Bool

    package init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
        asciiMap = BertNormalizer.makeASCIIMap(cleanText: cleanText, lowercase: lowercase)
    }

    /// Whether accents are stripped (`stripAccents ?? lowercase`).
    package var stripsAccents: Bool { stripAccents ?? lowercase }

    /// Output byte for each ASCII byte, or 0xFF to drop it.
    private let asciiMap: [UInt8]

    package static func == (a: BertNormalizer, b: BertNormalizer) -> Bool {
        a.cleanText == b.cleanText && a.handleChineseChars == b.handleChineseChars
            && a.stripAccents == b.stripAccents && a.lowercase == b.lowercase
    }

    private static func makeASCIIMap(cleanText: Bool, lowercase: Bool) -> [UInt8] {
        (0 ..< 128).map { (c: Int) -> UInt8 in
            var out = UInt8(c)
            if cleanText {
                if c == 0x09 || c == 0x0A || c == 0x0D { return 0x20 }
                if c < 0x20 || c == 0x7F { return 0xFF }   // NUL and the other Cc: dropped
            }
            if lowercase && (0x41 ... 0x5A).contains(c) { out |= 0x20 }
            return out
        }
    }

    /// - Complexity: O(n); runs of ASCII take one table load per byte.
    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        guard !text.isEmpty else { return NormalizedText(bytes: []) }
        var b = NormalizedBuilder(input: text)
        fill(&b, text)
        return b.finish()
    }

    /// The bytes `normalize` gives, without the offsets, written into `storage` (valid until its next
    /// use): encoding ids line after line then allocates nothing here.
    func normalizedBytes(_ text: UnsafeBufferPointer<UInt8>, reusing storage: NormalizedBytes) -> UnsafeBufferPointer<UInt8> {
        guard !text.isEmpty else { return UnsafeBufferPointer(start: nil, count: 0) }
        var b = NormalizedBuilder(input: text, reusing: storage)
        fill(&b, text)
        return b.finishBytes(into: storage)
    }

    private func fill(_ b: inout NormalizedBuilder, _ text: UnsafeBufferPointer<UInt8>) {
        let n = text.count
        guard let p = text.baseAddress else { return }
        let strip = stripsAccents
        let table = PropertyTable.shared
        // Non-starters while stripping accents, waiting for canonical reordering.
        var run: [RunEntry] = []
        asciiMap.withUnsafeBufferPointer { map in
            var i = 0
            while i < n {
                if run.isEmpty && b.takesASCIIRun(at: i, of: n) {
                    // Tight loop over ASCII (while the output stays byte-aligned with the input, when
                    // origins are kept).
                    while i < n {
                        let c = p[i]
                        if c >= 0x80 { break }
                        let m = map[Int(c)]
                        if m == 0xFF { break }
                        b.appendAlignedByte(m)
                        i += 1
                    }
                    if i >= n { break }
                }
                let c = p[i]
                if c < 0x80 {
                    if !run.isEmpty { flush(&run, &b) }
                    let m = map[Int(c)]
                    if m != 0xFF { b.append(UInt32(m), from: i ..< i + 1) }
                    i += 1
                    continue
                }
                let (s, len) = UTF8Codec.decode(p, at: i, end: n)
                let r = i ..< i + len
                i += len
                b.reserve(n - i + 64)
                if UTF8Codec.isRawByte(s) {
                    if !run.isEmpty { flush(&run, &b) }
                    b.append(s, from: r)
                    continue
                }
                let f = UnicodeProperties.flags(s, table)
                if cleanText {
                    if s == 0xFFFD || f.contains(.control) { continue }
                    if f.contains(.whitespace) {
                        if !run.isEmpty { flush(&run, &b) }
                        b.append(0x20, from: r)
                        continue
                    }
                }
                let chinese = handleChineseChars && f.contains(.chinese)
                if chinese {
                    if !run.isEmpty { flush(&run, &b) }
                    b.append(0x20, from: r)
                }
                if !strip {
                    emit(s, r, &b, table)
                } else if !f.contains(.canonicalDecomposition) {
                    stripAccentsStep(s, first: true, r, &run, &b, table)
                } else {
                    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 32) { d in
                        let k = table.decompose(s, compatibility: false, to: d.baseAddress!)
                        for j in 0 ..< k { stripAccentsStep(d[j], first: j == 0, r, &run, &b, table) }
                    }
                }
                if chinese {
                    if !run.isEmpty { flush(&run, &b) }
                    b.append(0x20, from: r)
                }
            }
            if !run.isEmpty { flush(&run, &b) }
        }
    }

    /// One scalar of the NFD sequence: starters go out (unless Mn), non-starters wait in `run`.
    @inline(__always)
    private func stripAccentsStep(_ d: UInt32, first: Bool, _ r: Range<Int>, _ run: inout [RunEntry],
                                  _ b: inout NormalizedBuilder, _ table: PropertyTable) {
        if d < 0x300 || table.combiningClass(d) == 0 {
            if !run.isEmpty { flush(&run, &b) }
            if !UnicodeProperties.flags(d, table).contains(.nonspacingMark) { emit(d, r, &b, table) }
        } else {
            run.append(RunEntry(scalar: d, consumes: first, origin: r))
        }
    }

    @inline(__always)
    private func emit(_ s: UInt32, _ r: Range<Int>, _ b: inout NormalizedBuilder, _ table: PropertyTable) {
        if lowercase {
            let (l, l2) = s < 0x80 ? UnicodeProperties.lowercase(s) : table.lowercaseNonASCII(s)
            b.append(l, from: r)
            if let l2 { b.append(l2, from: r) }
        } else {
            b.append(s, from: r)
        }
    }

    /// Emits a run of non-starters (after canonical reordering, nonspacing marks dropped). When the
    /// order changes, origins are replayed as `tokenizers` aligns them (see `UnicodeProperties.normalize`).
    private func flush(_ run: inout [RunEntry], _ b: inout NormalizedBuilder) {
        if run.count > 1 {
            var scalars = run.map { $0.scalar }
            var order = Array(0 ..< run.count)
            if UnicodeProperties.canonicallyReorder(&scalars, &order) {
                let sources = run.filter { $0.consumes }.map { $0.origin }
                let before = run[0].origin   // a leading inserted piece belongs to the previous position
                var pos = 0
                var replayed: [RunEntry] = []
                for k in order {
                    let e = run[k]
                    let origin: Range<Int>
                    if e.consumes {
                        origin = sources[pos]
                        pos += 1
                    } else {
                        origin = pos > 0 ? sources[pos - 1] : before
                    }
                    replayed.append(RunEntry(scalar: e.scalar, consumes: e.consumes, origin: origin))
                }
                run = replayed
            }
        }
        let table = PropertyTable.shared
        for e in run where !UnicodeProperties.isNonspacingMark(e.scalar) { emit(e.scalar, e.origin, &b, table) }
        run.removeAll(keepingCapacity: true)
    }
}

/// A non-starter waiting for canonical reordering in BERT's accent stripping.
private struct RunEntry {
    var scalar: UInt32
    /// First piece of its character's decomposition (else an inserted piece).
    var consumes: Bool
    var origin: Range<Int>
}

/// Unicode normalization (tokenizer.json `NFC`, `NFD`, `NFKC`, `NFKD`).
package struct UnicodeNormalizer: Normalizer, Equatable {
    package var form: NormalizationForm

    package init(_ form: NormalizationForm) { self.form = form }

    /// - Complexity: O(n); pure-ASCII text is returned as is.
    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        if text.allSatisfy({ $0 < 0x80 }) { return NormalizedText(bytes: Array(text)) }
        let t = ScalarText(text)
        let (s, o) = UnicodeProperties.normalize(t.scalars, origins: t.origins, form: form)
        return ScalarText(scalars: s, origins: o).normalized(input: text)
    }
}

/// Lowercases every character with Rust's `char::to_lowercase` (tokenizer.json `Lowercase`).
package struct LowercaseNormalizer: Normalizer, Equatable {
    package init() {}

    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        let n = text.count
        guard let p = text.baseAddress, n > 0 else { return NormalizedText(bytes: []) }
        var b = NormalizedBuilder(input: text)
        var i = 0
        while i < n {
            let (s, len) = UTF8Codec.decode(p, at: i, end: n)
            let (l, l2) = UnicodeProperties.lowercase(s)
            b.append(l, from: i ..< i + len)
            if let l2 { b.append(l2, from: i ..< i + len) }
            i += len
        }
        return b.finish()
    }
}

/// Drops every combining mark (Mn, Mc, Me) without decomposing first (tokenizer.json `StripAccents`;
/// usually preceded by `NFD` or `NFKD`).
package struct StripAccentsNormalizer: Normalizer, Equatable {
    package init() {}

    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        let n = text.count
        guard let p = text.baseAddress, n > 0 else { return NormalizedText(bytes: []) }
        var b = NormalizedBuilder(input: text)
        var i = 0
        while i < n {
            let (s, len) = UTF8Codec.decode(p, at: i, end: n)
            if !UnicodeProperties.isMark(s) { b.append(s, from: i ..< i + len) }
            i += len
        }
        return b.finish()
    }
}

/// Removes leading and/or trailing whitespace (Rust `char::is_whitespace`) (tokenizer.json `Strip`).
package struct StripNormalizer: Normalizer, Equatable {
    package var left: Bool
    package var right: Bool

    package init(left: Bool = true, right: Bool = true) {
        self.left = left
        self.right = right
    }

    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        let t = ScalarText(text)
        var lo = 0, hi = t.scalars.count
        if left { while lo < hi && UnicodeProperties.isWhitespace(t.scalars[lo]) { lo += 1 } }
        if right { while hi > lo && UnicodeProperties.isWhitespace(t.scalars[hi - 1]) { hi -= 1 } }
        if lo == 0 && hi == t.scalars.count { return NormalizedText(bytes: Array(text)) }
        let start = lo < t.origins.count ? t.origins[lo].lowerBound : text.count
        let end = hi > lo ? t.origins[hi - 1].upperBound : start
        let bytes = Array(text[start ..< end])
        var origins: [Range<Int>] = []
        origins.reserveCapacity(bytes.count)
        for k in lo ..< hi { for _ in t.origins[k] { origins.append(t.origins[k]) } }
        return NormalizedText(bytes: bytes, origins: origins)
    }
}

/// Replaces every occurrence of a literal string (tokenizer.json `Replace` with a `String` pattern).
///
/// Occurrences are found left to right without overlap. As in `tokenizers`, the replacement's
/// characters all map to the original range of the last character of the occurrence. An empty
/// pattern replaces nothing.
package struct ReplaceNormalizer: BuilderNormalizer, Equatable {
    package var pattern: String
    package var content: String
    private let patternBytes: [UInt8]
    private let contentScalars: [UInt32]
    /// The compiled pattern of a `{"Regex": ...}` Replace; nil for a plain string.
    private let regex: CompiledRegex?

    package init(pattern: String, content: String) {
        self.pattern = pattern
        self.content = content
        patternBytes = Array(pattern.utf8)
        contentScalars = content.unicodeScalars.map { $0.value }
        regex = nil
    }

    /// Replaces the matches of the regex `pattern` (Verba's engine; an unsupported construct throws).
    init(regex pattern: String, content: String) throws {
        self.pattern = pattern
        self.content = content
        patternBytes = Array(pattern.utf8)
        contentScalars = content.unicodeScalars.map { $0.value }
        regex = try CompiledRegex(pattern)
    }

    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText { normalizeWithBuilder(text) }

    func fill(_ b: inout NormalizedBuilder, _ text: UnsafeBufferPointer<UInt8>) {
        if let regex { return fill(&b, text, matches: regex) }
        let n = text.count, m = patternBytes.count
        guard let p = text.baseAddress, m > 0, n >= m else {
            // Too short to hold the pattern: the text as it is.
            b.reserve(n)
            for c in text { b.appendAlignedByte(c) }
            return
        }
        let first = patternBytes[0]
        var i = 0
        while i < n {
            if p[i] == first && i + m <= n && patternMatches(p + i) {
                // Original range of the last character of the occurrence.
                var last = i + m - 1
                while last > i && p[last] & 0xC0 == 0x80 { last -= 1 }
                let r = last ..< i + m
                for s in contentScalars { b.append(s, from: r) }
                i += m
                continue
            }
            if p[i] < 0x80 {
                b.appendASCII(p[i], at: i)
                i += 1
                continue
            }
            let (s, len) = UTF8Codec.decode(p, at: i, end: n)
            b.append(s, from: i ..< i + len)
            i += len
        }
    }

    /// The regex form: each non-empty match becomes `content`, aligned as a string occurrence is.
    private func fill(_ b: inout NormalizedBuilder, _ text: UnsafeBufferPointer<UInt8>, matches regex: CompiledRegex) {
        guard let p = text.baseAddress else { return }
        let n = text.count
        var i = 0
        func copy(_ b: inout NormalizedBuilder, upTo end: Int) {
            while i < end {
                let (s, len) = UTF8Codec.decode(p, at: i, end: n)
                b.append(s, from: i ..< i + len)
                i += len
            }
        }
        regex.forEachMatch(in: text) { start, end in
            guard end > start, start >= i else { return }
            copy(&b, upTo: start)
            var last = end - 1
            while last > start && p[last] & 0xC0 == 0x80 { last -= 1 }
            for s in contentScalars { b.append(s, from: last ..< end) }
            i = end
        }
        copy(&b, upTo: n)
    }

    private func patternMatches(_ at: UnsafePointer<UInt8>) -> Bool {
        patternBytes.withUnsafeBufferPointer { pat in
            for k in 0 ..< pat.count where at[k] != pat[k] { return false }
            return true
        }
    }

    package static func == (a: ReplaceNormalizer, b: ReplaceNormalizer) -> Bool {
        a.pattern == b.pattern && a.content == b.content && (a.regex == nil) == (b.regex == nil)
    }
}

/// Puts a string in front of non-empty text (tokenizer.json `Prepend`, e.g. "▁").
/// The prepended characters map to the original range of the first character.
package struct PrependNormalizer: BuilderNormalizer, Equatable {
    package var prepend: String

    package init(prepend: String) { self.prepend = prepend }

    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText { normalizeWithBuilder(text) }

    func fill(_ b: inout NormalizedBuilder, _ text: UnsafeBufferPointer<UInt8>) {
        guard let p = text.baseAddress, !text.isEmpty else { return }
        let firstLen = UTF8Codec.decode(p, at: 0, end: text.count).length
        b.materialize()
        for s in prepend.unicodeScalars { b.append(s.value, from: 0 ..< firstLen) }
        var i = 0
        while i < text.count {
            if p[i] < 0x80 {
                b.appendASCII(p[i], at: i)
                i += 1
                continue
            }
            let (s, len) = UTF8Codec.decode(p, at: i, end: text.count)
            b.append(s, from: i ..< i + len)
            i += len
        }
    }
}

/// Applies normalizers one after the other (tokenizer.json `Sequence`), composing their offsets.
package struct SequenceNormalizer: Normalizer {
    package let normalizers: [any Normalizer]

    package init(_ normalizers: [any Normalizer]) { self.normalizers = normalizers }

    /// The normalizers when every one writes bytes alone (then so does the sequence), else nil.
    var bytesNormalizers: [any BytesNormalizer]? {
        let parts = normalizers.compactMap { $0 as? any BytesNormalizer }
        return parts.count == normalizers.count ? parts : nil
    }

    package func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        var current = NormalizedText(bytes: Array(text))
        for normalizer in normalizers {
            let next = current.bytes.withUnsafeBufferPointer { normalizer.normalize($0) }
            current = SequenceNormalizer.compose(current, then: next)
        }
        return current
    }

    /// Offsets of `second` (computed on `first.bytes`) mapped back to `first`'s original text.
    static func compose(_ first: NormalizedText, then second: NormalizedText) -> NormalizedText {
        if first.origins.isEmpty { return second }
        if second.origins.isEmpty {
            // Byte j of `second` came from byte j of `first.bytes`.
            var origins = first.origins
            if origins.count > second.bytes.count { origins.removeLast(origins.count - second.bytes.count) }
            return NormalizedText(bytes: second.bytes, origins: origins)
        }
        var origins: [Range<Int>] = []
        origins.reserveCapacity(second.origins.count)
        for r in second.origins {
            if r.lowerBound < first.origins.count {
                origins.append(first.origins[r.lowerBound])
            } else {
                let end = first.origins.last?.upperBound ?? 0
                origins.append(end ..< end)
            }
        }
        return NormalizedText(bytes: second.bytes, origins: origins)
    }
}

/// A `SequenceNormalizer` whose normalizers all write bytes alone: the ids-only path chains them
/// through two buffers, no offsets kept (the bytes are those `SequenceNormalizer.normalize` gives).
struct BytesSequenceNormalizer: BytesNormalizer {
    let sequence: SequenceNormalizer
    private let parts: [any BytesNormalizer]

    init?(_ sequence: SequenceNormalizer) {
        guard let parts = sequence.bytesNormalizers, !parts.isEmpty else { return nil }
        self.sequence = sequence
        self.parts = parts
    }

    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText { sequence.normalize(text) }

    func normalizedBytes(_ text: UnsafeBufferPointer<UInt8>, reusing storage: NormalizedBytes) -> UnsafeBufferPointer<UInt8> {
        // Each step reads the buffer the one before wrote; the steps alternate between a local buffer
        // and `storage` so that the last one writes into `storage`.
        let other = NormalizedBytes()
        var current = text
        for (k, part) in parts.enumerated() {
            let intoStorage = (parts.count - 1 - k) % 2 == 0
            current = part.normalizedBytes(current, reusing: intoStorage ? storage : other)
        }
        return current
    }
}
