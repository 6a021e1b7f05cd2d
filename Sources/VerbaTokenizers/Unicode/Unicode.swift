// The Unicode layer of the tokenizers: UTF-8 decoding/encoding that survives invalid bytes, character
// properties as Hugging Face `tokenizers` defines them, lowercasing, and the four normalization forms.
//
// Everything works on Unicode scalars held as `UInt32`. An ill-formed UTF-8 byte `b` decodes to the
// pseudo-scalar `UTF8Codec.rawByteBase + b` (above U+10FFFF), which every stage passes through unchanged
// and which encodes back to the single byte `b`: text round-trips byte for byte.
//
// Properties come from utf8proc (Unicode 15.0 in Debian's 2.8.0), corrected where the reference
// implementation uses other Unicode versions (see `UnicodeProperties`).

import CUTF8Proc

/// UTF-8 decoding and encoding of Unicode scalars, with ill-formed bytes carried as raw-byte pseudo-scalars.
@usableFromInline package enum UTF8Codec {
    /// Scalars at or above this value stand for one ill-formed input byte: `rawByteBase + byte`.
    @usableFromInline package static let rawByteBase: UInt32 = 0x11_0000

    /// Whether `s` is a raw-byte pseudo-scalar rather than a Unicode scalar.
    @inlinable @inline(__always)
    package static func isRawByte(_ s: UInt32) -> Bool { s >= rawByteBase }

    /// Decodes the scalar that starts at byte `i` of `p[..<end]` (`i < end`).
    ///
    /// Returns the scalar and its length in bytes. A byte that does not start a well-formed UTF-8
    /// sequence (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF, no truncation)
    /// decodes alone to `rawByteBase + byte` with length 1.
    @inlinable @inline(__always)
    package static func decode(_ p: UnsafePointer<UInt8>, at i: Int, end: Int) -> (scalar: UInt32, length: Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        let raw = (rawByteBase + b0, 1)
        if b0 < 0xC2 { return raw }
        if b0 < 0xE0 {
            guard i + 1 < end else { return raw }
            let b1 = UInt32(p[i + 1])
            guard b1 & 0xC0 == 0x80 else { return raw }
            return ((b0 & 0x1F) << 6 | (b1 & 0x3F), 2)
        }
        if b0 < 0xF0 {
            guard i + 2 < end else { return raw }
            let b1 = UInt32(p[i + 1]), b2 = UInt32(p[i + 2])
            let lo: UInt32 = b0 == 0xE0 ? 0xA0 : 0x80
            let hi: UInt32 = b0 == 0xED ? 0x9F : 0xBF
            guard b1 >= lo, b1 <= hi, b2 & 0xC0 == 0x80 else { return raw }
            return ((b0 & 0x0F) << 12 | (b1 & 0x3F) << 6 | (b2 & 0x3F), 3)
        }
        if b0 < 0xF5 {
            guard i + 3 < end else { return raw }
            let b1 = UInt32(p[i + 1]), b2 = UInt32(p[i + 2]), b3 = UInt32(p[i + 3])
            let lo: UInt32 = b0 == 0xF0 ? 0x90 : 0x80
            let hi: UInt32 = b0 == 0xF4 ? 0x8F : 0xBF
            guard b1 >= lo, b1 <= hi, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80 else { return raw }
            return ((b0 & 0x07) << 18 | (b1 & 0x3F) << 12 | (b2 & 0x3F) << 6 | (b3 & 0x3F), 4)
        }
        return raw
    }

    /// Number of bytes `s` takes in UTF-8 (1 for a raw-byte pseudo-scalar).
    @inlinable @inline(__always)
    package static func encodedLength(_ s: UInt32) -> Int {
        if s < 0x80 { return 1 }
        if s < 0x800 { return 2 }
        if s < 0x1_0000 { return 3 }
        if s < rawByteBase { return 4 }
        return 1
    }

    /// Appends the UTF-8 encoding of `s` (or the raw byte it stands for) to `out`.
    @inlinable @inline(__always)
    package static func encode(_ s: UInt32, into out: inout [UInt8]) {
        if s < 0x80 {
            out.append(UInt8(truncatingIfNeeded: s))
        } else if s < 0x800 {
            out.append(UInt8(truncatingIfNeeded: 0xC0 | s >> 6))
            out.append(UInt8(truncatingIfNeeded: 0x80 | s & 0x3F))
        } else if s < 0x1_0000 {
            out.append(UInt8(truncatingIfNeeded: 0xE0 | s >> 12))
            out.append(UInt8(truncatingIfNeeded: 0x80 | (s >> 6) & 0x3F))
            out.append(UInt8(truncatingIfNeeded: 0x80 | s & 0x3F))
        } else if s < rawByteBase {
            out.append(UInt8(truncatingIfNeeded: 0xF0 | s >> 18))
            out.append(UInt8(truncatingIfNeeded: 0x80 | (s >> 12) & 0x3F))
            out.append(UInt8(truncatingIfNeeded: 0x80 | (s >> 6) & 0x3F))
            out.append(UInt8(truncatingIfNeeded: 0x80 | s & 0x3F))
        } else {
            out.append(UInt8(truncatingIfNeeded: s - rawByteBase))
        }
    }

    /// Writes the UTF-8 encoding of `s` (or its raw byte) at `p`, which must have room for 4 bytes;
    /// returns the number of bytes written.
    @inlinable @inline(__always)
    package static func encode(_ s: UInt32, to p: UnsafeMutablePointer<UInt8>) -> Int {
        if s < 0x80 {
            p[0] = UInt8(truncatingIfNeeded: s)
            return 1
        } else if s < 0x800 {
            p[0] = UInt8(truncatingIfNeeded: 0xC0 | s >> 6)
            p[1] = UInt8(truncatingIfNeeded: 0x80 | s & 0x3F)
            return 2
        } else if s < 0x1_0000 {
            p[0] = UInt8(truncatingIfNeeded: 0xE0 | s >> 12)
            p[1] = UInt8(truncatingIfNeeded: 0x80 | (s >> 6) & 0x3F)
            p[2] = UInt8(truncatingIfNeeded: 0x80 | s & 0x3F)
            return 3
        } else if s < rawByteBase {
            p[0] = UInt8(truncatingIfNeeded: 0xF0 | s >> 18)
            p[1] = UInt8(truncatingIfNeeded: 0x80 | (s >> 12) & 0x3F)
            p[2] = UInt8(truncatingIfNeeded: 0x80 | (s >> 6) & 0x3F)
            p[3] = UInt8(truncatingIfNeeded: 0x80 | s & 0x3F)
            return 4
        }
        p[0] = UInt8(truncatingIfNeeded: s - rawByteBase)
        return 1
    }

    /// Decodes all of `bytes` into scalars, with each scalar's byte range in `bytes`.
    /// - Complexity: O(n).
    package static func decodeScalars(_ bytes: UnsafeBufferPointer<UInt8>) -> (scalars: [UInt32], ranges: [Range<Int>]) {
        var scalars: [UInt32] = []
        var ranges: [Range<Int>] = []
        scalars.reserveCapacity(bytes.count)
        ranges.reserveCapacity(bytes.count)
        guard let p = bytes.baseAddress else { return ([], []) }
        var i = 0
        while i < bytes.count {
            let (s, n) = decode(p, at: i, end: bytes.count)
            scalars.append(s)
            ranges.append(i ..< i + n)
            i += n
        }
        return (scalars, ranges)
    }

    /// Decodes `bytes` into scalars (ill-formed bytes as raw-byte pseudo-scalars).
    package static func decodeScalars(_ bytes: [UInt8]) -> [UInt32] {
        bytes.withUnsafeBufferPointer { decodeScalars($0).scalars }
    }

    /// Encodes scalars (and raw-byte pseudo-scalars) to UTF-8.
    package static func encodeScalars<S: Sequence>(_ scalars: S) -> [UInt8] where S.Element == UInt32 {
        var out: [UInt8] = []
        for s in scalars { encode(s, into: &out) }
        return out
    }

    /// Number of scalars in `bytes` (each ill-formed byte counts as one), as HF counts characters.
    /// - Complexity: O(n); ASCII runs are counted 8 bytes at a time.
    package static func scalarCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let p = bytes.baseAddress else { return 0 }
        let n = bytes.count
        var i = 0, count = 0
        while i < n {
            if i + 8 <= n {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                if w & 0x8080_8080_8080_8080 == 0 { i += 8; count += 8; continue }
            }
            i += decode(p, at: i, end: n).length
            count += 1
        }
        return count
    }
}

/// General category of a code point, in utf8proc's numbering.
package enum GeneralCategory: UInt8, Sendable {
    case cn = 0, lu, ll, lt, lm, lo, mn, mc, me, nd, nl, no, pc, pd, ps, pe, pi, pf, po, sm, sc, sk, so, zs, zl, zp, cc, cf, cs, co
}

/// Character properties as Hugging Face `tokenizers` sees them.
///
/// `tokenizers` mixes Unicode versions: Rust's standard library (whitespace, lowercase, numeric), the
/// `unicode_categories` crate (control, punctuation, nonspacing mark: an old Unicode version, so code
/// points assigned since then are neither punctuation nor marks), `unicode-normalization-alignments`
/// (decompositions, combining marks) and the `regex` crate (`\w`). Each property here starts from
/// utf8proc's Unicode 15.0 data and applies the differences measured against `tokenizers` 0.23.3 over
/// every code point (`scripts/fixtures/wordpiece_cases.py` records them; `NormalizerTests` checks them all).
package enum UnicodeProperties {
    /// Property bits stored per code point.
    package struct Flags: OptionSet, Sendable {
        package let rawValue: UInt16
        package init(rawValue: UInt16) { self.rawValue = rawValue }
        /// Rust `char::is_whitespace` (the White_Space property).
        package static let whitespace = Flags(rawValue: 1)
        /// BERT's control characters: categories Cc, Cf, Co except tab, newline, carriage return.
        package static let control = Flags(rawValue: 2)
        /// BERT's punctuation: ASCII punctuation (33-47, 58-64, 91-96, 123-126) or a P* category.
        package static let punctuation = Flags(rawValue: 4)
        /// Category Mn (nonspacing mark).
        package static let nonspacingMark = Flags(rawValue: 8)
        /// Any mark: Mn, Mc, Me.
        package static let mark = Flags(rawValue: 16)
        /// A CJK ideograph in the ranges BERT surrounds with spaces.
        package static let chinese = Flags(rawValue: 32)
        /// A regex `\w` character (alphabetic, mark, decimal digit, connector punctuation, join control).
        package static let word = Flags(rawValue: 64)
        /// Rust `char::is_numeric` (categories Nd, Nl, No).
        package static let numeric = Flags(rawValue: 128)
        /// Has a canonical decomposition (as `tokenizers` decomposes).
        package static let canonicalDecomposition = Flags(rawValue: 256)
        /// Has a compatibility (or canonical) decomposition (as `tokenizers` decomposes).
        package static let compatibilityDecomposition = Flags(rawValue: 512)
    }

    /// The flags of scalar `s` (none for raw-byte pseudo-scalars).
    /// - Complexity: O(1): two table loads.
    @inlinable @inline(__always)
    package static func flags(_ s: UInt32) -> Flags {
        if s >= UTF8Codec.rawByteBase { return [] }
        return Flags(rawValue: PropertyTable.shared.flags(s))
    }

    /// The flags of scalar `s`, reading tables already at hand (hot loops fetch them once).
    @inlinable @inline(__always)
    static func flags(_ s: UInt32, _ table: PropertyTable) -> Flags {
        if s >= UTF8Codec.rawByteBase { return [] }
        return Flags(rawValue: table.flags(s))
    }

    /// Rust `char::is_whitespace`.
    @inlinable package static func isWhitespace(_ s: UInt32) -> Bool { flags(s).contains(.whitespace) }
    /// BERT's whitespace: tab, newline, carriage return, or `isWhitespace`.
    @inlinable package static func isBertWhitespace(_ s: UInt32) -> Bool { flags(s).contains(.whitespace) }
    /// BERT's control test (Cc, Cf, Co; tab, newline and carriage return excluded).
    @inlinable package static func isBertControl(_ s: UInt32) -> Bool { flags(s).contains(.control) }
    /// BERT's punctuation test.
    @inlinable package static func isPunctuation(_ s: UInt32) -> Bool { flags(s).contains(.punctuation) }
    /// Nonspacing mark (Mn), as BERT's accent stripping uses it.
    @inlinable package static func isNonspacingMark(_ s: UInt32) -> Bool { flags(s).contains(.nonspacingMark) }
    /// Any combining mark (M*), as the `StripAccents` normalizer uses it.
    @inlinable package static func isMark(_ s: UInt32) -> Bool { flags(s).contains(.mark) }
    /// CJK ideograph per BERT's ranges.
    @inlinable package static func isChinese(_ s: UInt32) -> Bool { isChineseRange(s) }
    /// Regex `\w`.
    @inlinable package static func isWord(_ s: UInt32) -> Bool { flags(s).contains(.word) }
    /// Rust `char::is_numeric`.
    @inlinable package static func isNumeric(_ s: UInt32) -> Bool { flags(s).contains(.numeric) }

    /// BERT's CJK ranges, exactly as `tokenizers` lists them.
    @inlinable @inline(__always)
    package static func isChineseRange(_ c: UInt32) -> Bool {
        (0x4E00 ... 0x9FFF).contains(c) || (0x3400 ... 0x4DBF).contains(c) || (0x20000 ... 0x2A6DF).contains(c)
            || (0x2A700 ... 0x2B73F).contains(c) || (0x2B740 ... 0x2B81F).contains(c)
            || (0x2B920 ... 0x2CEAF).contains(c) || (0xF900 ... 0xFAFF).contains(c) || (0x2F800 ... 0x2FA1F).contains(c)
    }

    /// utf8proc's general category of `s` (`.cn` for raw-byte pseudo-scalars).
    package static func generalCategory(_ s: UInt32) -> GeneralCategory {
        guard s < UTF8Codec.rawByteBase else { return .cn }
        return GeneralCategory(rawValue: UInt8(utf8proc_category(Int32(s)).rawValue)) ?? .cn
    }

    /// Canonical combining class of `s` (0 for starters and raw bytes).
    @inlinable @inline(__always)
    package static func combiningClass(_ s: UInt32) -> UInt8 {
        if s < 0x300 || s >= UTF8Codec.rawByteBase { return 0 }
        return PropertyTable.shared.combiningClass(s)
    }

    /// Sets up the property tables now rather than on first use (their blocks are built as text needs
    /// them).
    package static func prepare() { _ = PropertyTable.shared }

    /// Lowercase of `s` as Rust's `char::to_lowercase`: one scalar, or two for U+0130 (`i` + U+0307).
    /// `second` is nil when the mapping is a single scalar. Raw bytes map to themselves.
    @inlinable @inline(__always)
    package static func lowercase(_ s: UInt32) -> (first: UInt32, second: UInt32?) {
        if s < 0x80 { return ((s &- 0x41) < 26 ? s | 0x20 : s, nil) }
        return PropertyTable.shared.lowercaseNonASCII(s)
    }

    /// Appends the full canonical (or, with `compatibility`, compatibility) decomposition of `s`,
    /// before canonical reordering. Hangul syllables decompose to jamo.
    @inlinable
    package static func decompose(_ s: UInt32, compatibility: Bool, into out: inout [UInt32]) {
        let f = flags(s)
        if !f.contains(compatibility ? .compatibilityDecomposition : .canonicalDecomposition) {
            out.append(s)
            return
        }
        PropertyTable.shared.decompose(s, compatibility: compatibility, into: &out)
    }
}

/// Unicode normalization forms.
package enum NormalizationForm: String, Sendable, CaseIterable {
    case nfc = "NFC", nfd = "NFD", nfkc = "NFKC", nfkd = "NFKD"

    var compatibility: Bool { self == .nfkc || self == .nfkd }
    var composes: Bool { self == .nfc || self == .nfkc }
}

extension UnicodeProperties {
    /// Normalizes `scalars` to `form`, with `origins[k]` the original byte range of scalar k, and gives
    /// each output scalar an origin the way `tokenizers` aligns them: every output scalar "consumes"
    /// input positions (the first piece of a decomposition one, later pieces none, a composite the sum
    /// of its parts); replaying the output in order, a scalar that consumes takes the origin of the
    /// next input position, one that consumes nothing the origin of the last position consumed.
    /// So reordered marks trade origins, and a composite takes its starter's origin.
    /// - Complexity: O(n) apart from sorting runs of combining marks.
    package static func normalize(_ scalars: [UInt32], origins: [Range<Int>], form: NormalizationForm)
        -> (scalars: [UInt32], origins: [Range<Int>]) {
        precondition(scalars.count == origins.count, "one origin per scalar")
        var s: [UInt32] = []
        var consumes: [Int32] = []
        s.reserveCapacity(scalars.count + 8)
        consumes.reserveCapacity(scalars.count + 8)
        let compat = form.compatibility
        for c in scalars {
            let before = s.count
            decompose(c, compatibility: compat, into: &s)
            consumes.append(1)
            for _ in before + 1 ..< s.count { consumes.append(0) }
        }
        canonicallyReorder(&s, &consumes)
        if form.composes { compose(&s, &consumes) }
        return (s, replayOrigins(consumes, origins))
    }

    /// Normalizes a scalar array to `form` (no origins).
    package static func normalize(_ scalars: [UInt32], form: NormalizationForm) -> [UInt32] {
        normalize(scalars, origins: [Range<Int>](repeating: 0 ..< 0, count: scalars.count), form: form).scalars
    }

    /// Origins of output scalars from how many input positions each consumes (see `normalize`).
    static func replayOrigins(_ consumes: [Int32], _ sources: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(consumes.count)
        var pos = 0
        for k in consumes {
            if k > 0 {
                out.append(pos < sources.count ? sources[pos] : (sources.last.map { $0.upperBound ..< $0.upperBound } ?? 0 ..< 0))
                pos += Int(k)
            } else {
                out.append(pos > 0 ? sources[min(pos, sources.count) - 1] : 0 ..< 0)
            }
        }
        return out
    }

    /// Stable sort of every run of non-starters by combining class (the Canonical Ordering Algorithm);
    /// `tag` moves with its scalar. Returns whether anything moved.
    @discardableResult
    static func canonicallyReorder<T>(_ s: inout [UInt32], _ tag: inout [T]) -> Bool {
        var moved = false
        var i = 0
        let n = s.count
        while i < n {
            if combiningClass(s[i]) == 0 { i += 1; continue }
            var j = i
            while j < n && combiningClass(s[j]) != 0 { j += 1 }
            if j - i > 1 {
                for a in (i + 1) ..< j {   // insertion sort: equal classes keep their order
                    let v = s[a], t = tag[a], cv = combiningClass(v)
                    var b = a
                    while b > i && combiningClass(s[b - 1]) > cv {
                        s[b] = s[b - 1]
                        tag[b] = tag[b - 1]
                        b -= 1
                    }
                    if b != a { moved = true }
                    s[b] = v
                    tag[b] = t
                }
            }
            i = j
        }
        return moved
    }

    /// The Canonical Composition Algorithm over a decomposed, reordered array; a composite's
    /// `consumes` is the sum of its parts'.
    static func compose(_ s: inout [UInt32], _ consumes: inout [Int32]) {
        guard !s.isEmpty else { return }
        var outS: [UInt32] = []
        var outC: [Int32] = []
        outS.reserveCapacity(s.count)
        outC.reserveCapacity(s.count)
        var starter = -1          // index in outS of the last starter
        var lastClass = -1        // class of the last scalar kept after that starter (-1: none yet)
        for k in 0 ..< s.count {
            let c = s[k]
            let cc = Int(combiningClass(c))
            if starter >= 0, lastClass == -1 || lastClass < cc,
               let composite = PropertyTable.shared.composePair(outS[starter], c) {
                outS[starter] = composite
                outC[starter] += consumes[k]
                continue
            }
            if cc == 0 {
                starter = outS.count
                lastClass = -1
            } else {
                lastClass = cc
            }
            outS.append(c)
            outC.append(consumes[k])
        }
        s = outS
        consumes = outC
    }
}
