// GPT-2's reversible mapping between bytes and printable Unicode characters ("bytes_to_unicode").
//
// Byte-level BPE vocabularies spell every token as a string of these 256 characters: printable bytes
// ('!'...'~', '¡'...'¬', '®'...'ÿ') stand for themselves, and the other 68 bytes (controls, space,
// 0x7F-0xA0, 0xAD) take U+0100, U+0101, ... in byte order, so a space is 'Ġ' (U+0120) and '\n' is 'Ċ'.

/// GPT-2's byte <-> character table, and conversions between raw bytes and vocabulary strings.
package enum ByteLevel {
    /// `byteToScalar[b]`: the Unicode scalar value that spells byte `b` in a vocabulary string.
    package static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if isPrintable(UInt8(b)) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar` over scalars 0..<324: the byte, or -1.
    static let scalarToByteTable: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in byteToScalar.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// UTF-8 of each byte's character (1 or 2 bytes), packed little-endian with the length in the top byte.
    static let byteToUTF8: [UInt32] = byteToScalar.map { s in
        s < 0x80 ? (s | 1 << 24) : ((0xC0 | s >> 6) | (0x80 | s & 0x3F) << 8 | 2 << 24)
    }

    @inline(__always)
    static func isPrintable(_ b: UInt8) -> Bool {
        (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE
    }

    /// The byte that scalar `s` spells, or nil if `s` is not one of the 256 byte characters.
    package static func byte(forScalar s: UInt32) -> UInt8? {
        guard s < 324 else { return nil }
        let b = scalarToByteTable[Int(s)]
        return b < 0 ? nil : UInt8(b)
    }

    /// Appends to `out` the UTF-8 of the vocabulary spelling of `bytes` (one character per byte).
    /// - Complexity: O(n).
    package static func appendEncoded<C: Sequence>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        for b in bytes {
            let packed = byteToUTF8[Int(b)]
            out.append(UInt8(truncatingIfNeeded: packed))
            if packed >> 24 == 2 { out.append(UInt8(truncatingIfNeeded: packed >> 8)) }
        }
    }

    /// The vocabulary spelling of raw `bytes`: `encode([0x20, 0x61]) == "Ġa"`.
    package static func encode<C: Sequence>(_ bytes: C) -> String where C.Element == UInt8 {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.underestimatedCount * 2)
        appendEncoded(bytes, to: &utf8)
        return String(decoding: utf8, as: UTF8.self)
    }

    /// The raw bytes that a vocabulary string spells, or nil if some character of `token` is not one of
    /// the 256 byte characters (an added token such as "<|endoftext|>" decodes; "\n" does not).
    package static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard let b = byte(forScalar: s.value) else { return nil }
            out.append(b)
        }
        return out
    }

    /// Writes to `out` (room for `utf8.count` bytes) the raw bytes that the UTF-8 vocabulary string
    /// `utf8` spells, and returns their number; nil if some character is not one of the 256 byte
    /// characters or the UTF-8 is ill-formed.
    /// - Complexity: O(n), no allocation.
    static func decode(utf8: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int? {
        var i = 0, o = 0
        let n = utf8.count
        while i < n {
            let b0 = utf8[i]
            if b0 < 0x80 {
                // ASCII: printable characters spell themselves; the others are not byte characters.
                guard b0 >= 0x21 && b0 <= 0x7E else { return nil }
                out[o] = b0
                o += 1
                i += 1
                continue
            }
            // The byte characters above ASCII are U+00A1...U+0143: two-byte sequences C2...C5.
            guard b0 >= 0xC2 && b0 <= 0xC5, i + 1 < n, utf8[i + 1] & 0xC0 == 0x80 else { return nil }
            let s = UInt32(b0 & 0x1F) << 6 | UInt32(utf8[i + 1] & 0x3F)
            guard let b = byte(forScalar: s) else { return nil }
            out[o] = b
            o += 1
            i += 2
        }
        return o
    }

    /// Appends the bytes of `token` as Hugging Face's ByteLevel decoder does: the bytes its characters
    /// spell, or, if any character is not a byte character, the token's own UTF-8 unchanged.
    package static func appendDecoded(_ token: String, to out: inout [UInt8]) {
        if let bytes = decode(token) {
            out.append(contentsOf: bytes)
        } else {
            out.append(contentsOf: token.utf8)
        }
    }
}
