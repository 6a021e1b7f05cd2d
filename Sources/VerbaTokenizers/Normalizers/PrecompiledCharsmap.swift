// sentencepiece's precompiled normalization rules (`normalizer_spec.precompiled_charsmap`, e.g.
// nmt_nfkc): a double-array trie (darts-clone layout) from input byte strings to offsets of
// NUL-terminated replacements that follow it.
//
// Layout: a little-endian UInt32 with the trie's size in bytes, the trie's 32-bit units, then the
// replacement strings. Normalizing takes, at each position, the longest input prefix the trie holds
// and writes its replacement; where none matches, the next UTF-8 character is copied (an ill-formed
// byte becomes U+FFFD), as sentencepiece's `Normalizer::NormalizePrefix` does.

/// sentencepiece's charsmap normalizer; each replacement's characters map to the matched input range.
struct PrecompiledCharsmapNormalizer: BuilderNormalizer {
    private let units: [UInt32]
    let replacements: [UInt8]
    /// What each ASCII byte becomes when it begins the text to map, for the one-pass normalizer
    /// (`SentencePieceNormalizer`): `asciiCopied` (no key starts with it: copied), `asciiComplex`
    /// (a longer key starts with it: take `longestMatch`), else the offset of its replacement.
    let asciiMap: [Int32]
    static let asciiCopied: Int32 = -1
    static let asciiComplex: Int32 = -2

    struct Malformed: Error { let reason: String }

    init(_ blob: [UInt8]) throws {
        guard blob.count >= 4 else { throw Malformed(reason: "the precompiled charsmap is shorter than its 4-byte header") }
        let trieBytes = Int(blob[0]) | Int(blob[1]) << 8 | Int(blob[2]) << 16 | Int(blob[3]) << 24
        guard trieBytes % 4 == 0, trieBytes >= 4, trieBytes <= blob.count - 4 else {
            throw Malformed(reason: "the precompiled charsmap's trie size \(trieBytes) does not fit its \(blob.count) bytes")
        }
        var units: [UInt32] = []
        units.reserveCapacity(trieBytes / 4)
        var k = 4
        while k < 4 + trieBytes {
            units.append(UInt32(blob[k]) | UInt32(blob[k + 1]) << 8 | UInt32(blob[k + 2]) << 16 | UInt32(blob[k + 3]) << 24)
            k += 4
        }
        self.units = units
        let replacements = Array(blob[(4 + trieBytes)...])
        self.replacements = replacements
        asciiMap = Self.asciiMap(units, replacements.count)
    }

    /// `asciiMap` of a trie: per ASCII byte, its one-byte key's replacement offset, or whether a longer
    /// key starts with it (any labelled child of the node it reaches).
    private static func asciiMap(_ units: [UInt32], _ replacementBytes: Int) -> [Int32] {
        (0 ..< 128).map { (b: Int) -> Int32 in
            var node = offset(units[0]) ^ b
            guard node < units.count, units[node] & 0x8000_00FF == UInt32(b) else { return asciiCopied }
            let unit = units[node]
            node ^= offset(unit)
            for c in 1 ..< 256 {
                let child = node ^ c
                if child < units.count && units[child] & 0x8000_00FF == UInt32(c) { return asciiComplex }
            }
            guard (unit >> 8) & 1 == 1, node < units.count else { return asciiCopied }
            let value = Int(units[node] & 0x7FFF_FFFF)
            return value < replacementBytes ? Int32(value) : asciiCopied
        }
    }

    /// The longest key at `p[i..<n]`: its length and the offset of its NUL-terminated replacement
    /// (inside `replacements`), or nil (then the character is copied).
    @inline(__always)
    func match(_ p: UnsafePointer<UInt8>, at i: Int, end n: Int) -> (length: Int, value: Int)? {
        guard let m = longestMatch(p, at: i, end: n), m.value < replacements.count else { return nil }
        return m
    }

    /// The replacement of the shortest key that begins `bytes` (HF's `Precompiled::transform`), nil
    /// when no key does.
    func shortestPrefixReplacement(_ bytes: UnsafeBufferPointer<UInt8>) -> ArraySlice<UInt8>? {
        guard let p = bytes.baseAddress, let m = longestMatch(p, at: 0, end: bytes.count, shortest: true),
              m.value < replacements.count else { return nil }
        var end = m.value
        while end < replacements.count && replacements[end] != 0 { end += 1 }
        return replacements[m.value ..< end]
    }

    /// The longest match at `p[i..<n]` (with `shortest`, the first one): its length and replacement
    /// offset, or nil.
    private func longestMatch(_ p: UnsafePointer<UInt8>, at i: Int, end n: Int, shortest: Bool = false) -> (length: Int, value: Int)? {
        var best: (Int, Int)?
        var node = 0
        var unit = units[0]
        node ^= Self.offset(unit)
        var k = i
        while k < n {
            node ^= Int(p[k])
            guard node < units.count else { break }
            unit = units[node]
            // The label: the unit's low byte, with bit 31 set on a leaf unit (never equal to a byte).
            guard unit & 0x8000_00FF == UInt32(p[k]) else { break }
            node ^= Self.offset(unit)
            if (unit >> 8) & 1 == 1, node < units.count {
                best = (k - i + 1, Int(units[node] & 0x7FFF_FFFF))
                if shortest { return best }
            }
            k += 1
        }
        return best
    }

    @inline(__always)
    private static func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }

    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText { normalizeWithBuilder(text) }

    func fill(_ b: inout NormalizedBuilder, _ text: UnsafeBufferPointer<UInt8>) {
        guard let p = text.baseAddress, !text.isEmpty else { return }
        let n = text.count
        var i = 0
        while i < n {
            if let m = longestMatch(p, at: i, end: n), m.value < replacements.count {
                let r = i ..< i + m.length
                var v = m.value
                var end = v
                while end < replacements.count && replacements[end] != 0 { end += 1 }
                replacements.withUnsafeBufferPointer { rep in
                    while v < end {
                        let (s, len) = UTF8Codec.decode(rep.baseAddress!, at: v, end: end)
                        b.append(s, from: r)
                        v += len
                    }
                }
                i += m.length
                continue
            }
            let (s, len) = UTF8Codec.decode(p, at: i, end: n)
            b.append(s, from: i ..< i + len)
            i += len
        }
    }
}
