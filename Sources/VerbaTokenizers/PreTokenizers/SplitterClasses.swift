// Character classes for the hand-written split-pattern scanners (SplitPatterns.swift).
//
// Each scalar gets one byte of class bits, from utf8proc's general categories (Unicode 15.0) and the
// White_Space property (what `\s` means in Rust's `regex`, fancy-regex and Oniguruma). A byte that does
// not start a well-formed UTF-8 sequence is one character of class `other` (not a letter, number or
// space), so byte-level BPE still sees every byte and decode(encode(x)) == x.

import CUTF8Proc

/// Class bits of one character, as the split patterns test them.
@usableFromInline
enum CharClass {
    /// `\p{L}`.
    static let letter: UInt8 = 1
    /// `\p{N}`.
    static let number: UInt8 = 2
    /// `\s`: the White_Space property.
    static let space: UInt8 = 4
    /// `[^\s\p{L}\p{N}]`: everything else, marks and ill-formed bytes included.
    static let other: UInt8 = 8
    /// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
    static let upper: UInt8 = 16
    /// o200k's `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
    static let lower: UInt8 = 32
    /// `[\r\n]`.
    static let newline: UInt8 = 64
    /// cl100k/o200k's optional prefix `[^\r\n\p{L}\p{N}]`: a space or other character, not \r or \n.
    @inline(__always) static func isPrefix(_ c: UInt8) -> Bool { c & (space | other) != 0 && c & newline == 0 }

    /// The class bits of Unicode scalar `s` (computed, not cached).
    static func compute(_ s: UInt32) -> UInt8 {
        var lo = 0, hi = unicode16ClassOverrides.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let r = unicode16ClassOverrides[mid]
            if s < r.lo { hi = mid } else if s > r.hi { lo = mid + 1 } else { return r.cls }
        }
        if isWhiteSpace(s) {
            return s == 0x0A || s == 0x0D ? space | newline : space
        }
        let cat = utf8proc_category(Int32(bitPattern: s)).rawValue
        switch cat {
        case UTF8PROC_CATEGORY_LU.rawValue, UTF8PROC_CATEGORY_LT.rawValue: return letter | upper
        case UTF8PROC_CATEGORY_LL.rawValue: return letter | lower
        case UTF8PROC_CATEGORY_LM.rawValue, UTF8PROC_CATEGORY_LO.rawValue: return letter | upper | lower
        case UTF8PROC_CATEGORY_MN.rawValue, UTF8PROC_CATEGORY_MC.rawValue, UTF8PROC_CATEGORY_ME.rawValue:
            return other | upper | lower
        case UTF8PROC_CATEGORY_ND.rawValue, UTF8PROC_CATEGORY_NL.rawValue, UTF8PROC_CATEGORY_NO.rawValue: return number
        default: return other
        }
    }

    /// Unicode White_Space (PropList.txt), the set `\s` matches in Unicode mode.
    static func isWhiteSpace(_ s: UInt32) -> Bool {
        switch s {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Class bits for every scalar below U+10000 (64 KiB, never freed). Surrogates get `other`.
    /// nonisolated(unsafe): the table is written only inside this initializer (run once, under the lazy
    /// global's lock) and only read afterwards.
    nonisolated(unsafe) static let bmp: UnsafeMutablePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
        for s in 0..<0x10000 {
            table[s] = (0xD800...0xDFFF).contains(s) ? other : compute(UInt32(s))
        }
        return table
    }()
}

/// Reads characters (class bits and byte length) out of UTF-8 text that may be ill-formed.
@usableFromInline
struct CharReader {
    let p: UnsafePointer<UInt8>
    let n: Int
    let table: UnsafeMutablePointer<UInt8>

    init(_ p: UnsafePointer<UInt8>, _ n: Int) {
        self.p = p
        self.n = n
        self.table = CharClass.bmp
    }

    /// Class bits and length of the character at byte `i`; (0, 0) at or past the end.
    @inline(__always)
    func at(_ i: Int) -> (cls: UInt8, len: Int) {
        if i >= n { return (0, 0) }
        let b = p[i]
        if b < 0x80 { return (table[Int(b)], 1) }
        return nonASCII(i)
    }

    /// The non-ASCII character at byte `i`: decoded per Unicode Table 3-7; an ill-formed byte is
    /// one `other` character of length 1.
    @inline(__always)
    func nonASCII(_ i: Int) -> (cls: UInt8, len: Int) {
        let b0 = UInt32(p[i])
        let bad = (CharClass.other, 1)
        if b0 < 0xC2 { return bad }
        if b0 < 0xE0 {
            guard i + 1 < n else { return bad }
            let b1 = UInt32(p[i + 1])
            guard b1 & 0xC0 == 0x80 else { return bad }
            return (table[Int((b0 & 0x1F) << 6 | (b1 & 0x3F))], 2)
        }
        if b0 < 0xF0 {
            guard i + 2 < n else { return bad }
            let b1 = UInt32(p[i + 1]), b2 = UInt32(p[i + 2])
            let lo: UInt32 = b0 == 0xE0 ? 0xA0 : 0x80
            let hi: UInt32 = b0 == 0xED ? 0x9F : 0xBF
            guard b1 >= lo, b1 <= hi, b2 & 0xC0 == 0x80 else { return bad }
            return (table[Int((b0 & 0x0F) << 12 | (b1 & 0x3F) << 6 | (b2 & 0x3F))], 3)
        }
        if b0 < 0xF5 {
            guard i + 3 < n else { return bad }
            let b1 = UInt32(p[i + 1]), b2 = UInt32(p[i + 2]), b3 = UInt32(p[i + 3])
            let lo: UInt32 = b0 == 0xF0 ? 0x90 : 0x80
            let hi: UInt32 = b0 == 0xF4 ? 0x8F : 0xBF
            guard b1 >= lo, b1 <= hi, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80 else { return bad }
            let s = (b0 & 0x07) << 18 | (b1 & 0x3F) << 12 | (b2 & 0x3F) << 6 | (b3 & 0x3F)
            return (CharClass.compute(s), 4)
        }
        return bad
    }

    /// End of the run of characters from `i` whose class has a bit of `mask`.
    @inline(__always)
    func run(_ i: Int, _ mask: UInt8) -> Int {
        var j = i
        if mask == CharClass.letter {
            // ASCII letters eight at a time: stops at the first byte that is not one (or at the tail).
            while j + 8 <= n {
                let w = UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)
                let notLetters = CharReader.asciiNonLetters(w)
                if notLetters == 0 {
                    j += 8
                    continue
                }
                j += notLetters.trailingZeroBitCount >> 3
                if p[j] < 0x80 { return j }
                break
            }
        }
        while j < n {
            let b = p[j]
            if b < 0x80 {
                if table[Int(b)] & mask == 0 { return j }
                j += 1
            } else {
                let (c, len) = nonASCII(j)
                if c & mask == 0 { return j }
                j += len
            }
        }
        return j
    }

    /// High bit set in each byte of `w` that is not an ASCII letter (A-Z, a-z); zero when all eight are.
    @inline(__always)
    static func asciiNonLetters(_ w: UInt64) -> UInt64 {
        let high: UInt64 = 0x8080_8080_8080_8080
        let lower = w | 0x2020_2020_2020_2020  // A-Z -> a-z; every other byte stays outside a-z
        let atLeastA = (lower & ~high) &+ 0x1F1F_1F1F_1F1F_1F1F  // high bit: byte >= 0x61
        let pastZ = (lower & ~high) &+ 0x0505_0505_0505_0505  // high bit: byte >= 0x7B
        return ~(atLeastA & ~pastZ) & high | w & high
    }

    /// End of the run of at most `limit` characters from `i` whose class has a bit of `mask`.
    @inline(__always)
    func run(_ i: Int, _ mask: UInt8, limit: Int) -> Int {
        var j = i
        var count = 0
        while count < limit {
            let (c, len) = at(j)
            if c & mask == 0 { break }
            j += len
            count += 1
        }
        return j
    }

    /// The whitespace run from `i`: its end, the start of its last character, and the byte index of
    /// its last \r or \n (-1 if none).
    @inline(__always)
    func spaceRun(_ i: Int) -> (end: Int, lastStart: Int, lastNewline: Int) {
        var j = i
        var last = i
        var newline = -1
        while j < n {
            let (c, len) = at(j)
            if c & CharClass.space == 0 { break }
            if c & CharClass.newline != 0 { newline = j }
            last = j
            j += len
        }
        return (j, last, newline)
    }

    /// Length of a contraction at `i` ('s 't 're 've 'm 'll 'd), or 0. Case-insensitive matching
    /// follows Unicode simple case folding, so `s` also matches 'S' and 'ſ' (U+017F).
    @inline(__always)
    func contraction(_ i: Int, caseInsensitive: Bool) -> Int {
        guard i + 1 < n, p[i] == 0x27 else { return 0 }
        var c1 = p[i + 1]
        if caseInsensitive {
            if c1 == 0xC5, i + 2 < n, p[i + 2] == 0xBF { return 3 }  // 'ſ
            c1 |= (c1 &- 0x41) < 26 ? 0x20 : 0
        }
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        case 0x72, 0x76, 0x6C:  // r v l
            guard i + 2 < n else { return 0 }
            var c2 = p[i + 2]
            if caseInsensitive { c2 |= (c2 &- 0x41) < 26 ? 0x20 : 0 }
            if (c1 == 0x72 || c1 == 0x76) && c2 == 0x65 { return 3 }  // re ve
            if c1 == 0x6C && c2 == 0x6C { return 3 }  // ll
            return 0
        default: return 0
        }
    }
}
