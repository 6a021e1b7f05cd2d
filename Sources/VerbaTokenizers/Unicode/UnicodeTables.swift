// The character property tables behind `UnicodeProperties`: flags (whitespace, control, punctuation,
// marks, CJK, word, numeric, decompositions), canonical combining class and simple lowercase of every
// code point, from utf8proc with the differences of Hugging Face `tokenizers` (UnicodeExceptions.swift),
// in blocks of 256 code points built as text first needs them.

import CUTF8Proc
import CVerbaSupport
import Foundation

/// Two-stage lookup tables from utf8proc plus the measured differences from `tokenizers`: flags,
/// combining class and lowercase of every code point, in blocks of 256 code points built on first use.
/// Text touches a few dozen blocks; building all 4,352 at start took about 12 ms of every BERT run, on
/// one thread while the others waited.
/// Sendable: `built`, the `index` entries and the value arrays are written only under `lock` (in
/// `build(block:)`); lock-free readers acquire-load a block's `index` entry, which is release-stored
/// after the block's values; the pointers and `noCanonical` are immutable after init.
@usableFromInline
final class PropertyTable: @unchecked Sendable {
    @usableFromInline static let shared = PropertyTable()

    /// `index` value of a block not built yet.
    @usableFromInline static let unbuilt = UInt32.max
    /// Blocks of 256 code points (0x1100 of them), plus the all-zero block at offset 0.
    private static let blockCount = 0x1100
    /// The blocks of planes 4 to 13, which hold no assigned code point in Unicode 15: they all share
    /// the zero block.
    private static let zeroBlocks = 0x400 ..< 0xE00

    /// Per block (`cp >> 8`): the offset of its 256 values in the value arrays, or `unbuilt`. Read
    /// with acquire loads without a lock; written with release stores under `lock`, after the block's
    /// values, so a reader that sees an offset sees the values.
    @usableFromInline let index: UnsafeMutablePointer<UInt32>
    /// Flags (`UnicodeProperties.Flags`), canonical combining class, lowercase(cp) - cp (for every
    /// code point but U+0130); 256 per built block, in the order blocks were built. Allocated for
    /// every block at once (never moved, so readers need no lock); pages never written cost nothing.
    @usableFromInline let flagValues: UnsafeMutablePointer<UInt16>
    @usableFromInline let cccValues: UnsafeMutablePointer<UInt8>
    @usableFromInline let lowerValues: UnsafeMutablePointer<Int32>
    private let lock = NSLock()
    /// Blocks in the value arrays (block 0 is the zero block: planes 4 to 13 hold no assigned code
    /// point in Unicode 15, all of them share it).
    private var built = 1
    let noCanonical: Set<UInt32>

    private init() {
        // No exception may fall in the blocks that share the zero block.
        let zero = UInt32(PropertyTable.zeroBlocks.lowerBound << 8) ... UInt32((PropertyTable.zeroBlocks.upperBound << 8) - 1)
        let o = UnicodeExceptions.flagOverrideData
        precondition(stride(from: 0, to: o.count, by: 3).allSatisfy { o[$0 + 1] < zero.lowerBound || o[$0] > zero.upperBound }
            && (UnicodeExceptions.noCanonicalData + UnicodeExceptions.noCompatibilityData + UnicodeExceptions.starterData
                + UnicodeExceptions.lowercaseData).allSatisfy { !zero.contains($0) },
            "UnicodeExceptions has data in planes 4 to 13, which PropertyTable leaves zero")
        noCanonical = Set(UnicodeExceptions.noCanonicalData)
        let n = PropertyTable.blockCount
        index = .allocate(capacity: n)
        index.initialize(repeating: PropertyTable.unbuilt, count: n)
        flagValues = .allocate(capacity: (n + 1) * 256)
        cccValues = .allocate(capacity: (n + 1) * 256)
        lowerValues = .allocate(capacity: (n + 1) * 256)
        flagValues.initialize(repeating: 0, count: 256)
        cccValues.initialize(repeating: 0, count: 256)
        lowerValues.initialize(repeating: 0, count: 256)
    }

    /// Where the values of `cp` (< 0x110000) are, building its block if needed.
    @inlinable @inline(__always)
    func offset(_ cp: UInt32) -> Int {
        let o = verba_load_acquire_u32(index + Int(cp >> 8))
        if _fastPath(o != PropertyTable.unbuilt) { return Int(o) &+ Int(cp & 0xFF) }
        return build(block: Int(cp >> 8)) &+ Int(cp & 0xFF)
    }

    /// Builds block `hi` (code points `hi << 8 ..< (hi + 1) << 8`) unless another thread has; returns
    /// its offset.
    @usableFromInline @inline(never)
    func build(block hi: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let existing = index[hi]  // only written under the lock
        if existing != PropertyTable.unbuilt { return Int(existing) }
        var offset = 0
        if !PropertyTable.zeroBlocks.contains(hi) {
            offset = built * 256
            built += 1
            fill(block: hi, at: offset)
        }
        verba_store_release_u32(index + hi, UInt32(offset))
        return offset
    }

    /// Computes the values of block `hi` into the value arrays at `offset`: utf8proc's, then the
    /// differences of `tokenizers` (`UnicodeExceptions`) in the order they override each other.
    private func fill(block hi: Int, at offset: Int) {
        let lo = UInt32(hi << 8), last = lo + 255
        let flags = flagValues + offset, ccc = cccValues + offset, lower = lowerValues + offset
        for k in 0 ..< 256 {
            let cp = lo + UInt32(k)
            let (f, c, l) = PropertyTable.compute(cp)
            flags[k] = f
            ccc[k] = c
            lower[k] = l &- Int32(bitPattern: cp)
        }
        let o = UnicodeExceptions.flagOverrideData
        for k in stride(from: 0, to: o.count, by: 3) where o[k] <= last && o[k + 1] >= lo {
            let mask = UInt16(o[k + 2] >> 8), value = UInt16(o[k + 2] & 0xFF)
            for cp in max(o[k], lo) ... min(o[k + 1], last) {
                let i = Int(cp - lo)
                flags[i] = (flags[i] & ~mask) | (value & mask)
            }
        }
        for cp in UnicodeExceptions.noCanonicalData where cp >= lo && cp <= last {
            flags[Int(cp - lo)] &= ~UnicodeProperties.Flags.canonicalDecomposition.rawValue
        }
        for cp in UnicodeExceptions.noCompatibilityData where cp >= lo && cp <= last {
            flags[Int(cp - lo)] &= ~UnicodeProperties.Flags.compatibilityDecomposition.rawValue
        }
        for cp in UnicodeExceptions.starterData where cp >= lo && cp <= last { ccc[Int(cp - lo)] = 0 }
        let l = UnicodeExceptions.lowercaseData
        for k in stride(from: 0, to: l.count, by: 2) where l[k] >= lo && l[k] <= last {
            lower[Int(l[k] - lo)] = Int32(bitPattern: l[k + 1]) &- Int32(bitPattern: l[k])
        }
    }

    @inlinable @inline(__always)
    func flags(_ s: UInt32) -> UInt16 { flagValues[offset(s)] }

    /// Flags, combining class and simple lowercase of one code point from utf8proc.
    static func compute(_ cp: UInt32) -> (UInt16, UInt8, Int32) {
        typealias F = UnicodeProperties.Flags
        var f: F = []
        let cat = UnicodeProperties.generalCategory(cp)
        switch cp {
        case 0x09 ... 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000 ... 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            f.insert(.whitespace)
        default: break
        }
        switch cat {
        case .cc, .cf, .co:
            if cp != 0x09 && cp != 0x0A && cp != 0x0D { f.insert(.control) }
        case .pc, .pd, .ps, .pe, .pi, .pf, .po:
            f.insert(.punctuation)
        case .mn: f.formUnion([.nonspacingMark, .mark])
        case .mc, .me: f.insert(.mark)
        case .nd, .nl, .no: f.insert(.numeric)
        default: break
        }
        if (33 ... 47).contains(cp) || (58 ... 64).contains(cp) || (91 ... 96).contains(cp) || (123 ... 126).contains(cp) {
            f.insert(.punctuation)
        }
        if UnicodeProperties.isChineseRange(cp) { f.insert(.chinese) }
        switch cat {
        case .lu, .ll, .lt, .lm, .lo, .mn, .mc, .me, .nd, .nl, .pc: f.insert(.word)
        default: if cp == 0x200C || cp == 0x200D { f.insert(.word) }
        }
        let c = Int32(bitPattern: cp)
        guard let prop = utf8proc_get_property(c)?.pointee else { return (f.rawValue, 0, c) }
        if (0xAC00 ... 0xD7A3).contains(cp) {
            f.formUnion([.canonicalDecomposition, .compatibilityDecomposition])
        } else if prop.decomp_seqindex != UInt16.max {
            // decomp_type 0: canonical mapping; otherwise a compatibility tag.
            f.insert(prop.decomp_type == 0 ? [.canonicalDecomposition, .compatibilityDecomposition] : .compatibilityDecomposition)
        }
        let lower = prop.lowercase_seqindex != UInt16.max ? utf8proc_tolower(c) : c
        return (f.rawValue, UInt8(truncatingIfNeeded: prop.combining_class), lower)
    }

    @inlinable @inline(__always)
    func combiningClass(_ s: UInt32) -> UInt8 { cccValues[offset(s)] }

    @inlinable @inline(__always)
    func lowercaseNonASCII(_ s: UInt32) -> (first: UInt32, second: UInt32?) {
        if s >= UTF8Codec.rawByteBase { return (s, nil) }
        if s == 0x130 { return (0x69, 0x307) }
        return (UInt32(bitPattern: Int32(bitPattern: s) &+ lowerValues[offset(s)]), nil)
    }

    /// Writes the full decomposition of `s` (itself when it has none) to `out`, which has room for 32
    /// scalars; returns the count.
    @usableFromInline
    func decompose(_ s: UInt32, compatibility: Bool, to out: UnsafeMutablePointer<UInt32>) -> Int {
        let f = UnicodeProperties.Flags(rawValue: s < UTF8Codec.rawByteBase ? flags(s) : 0)
        if !f.contains(compatibility ? .compatibilityDecomposition : .canonicalDecomposition) {
            out[0] = s
            return 1
        }
        var opts = UTF8PROC_DECOMPOSE.rawValue
        if compatibility { opts |= UTF8PROC_COMPAT.rawValue }
        var boundclass: Int32 = 0
        let n = out.withMemoryRebound(to: Int32.self, capacity: 32) {
            utf8proc_decompose_char(Int32(bitPattern: s), $0, 32, utf8proc_option_t(rawValue: opts), &boundclass)
        }
        if n <= 0 || n > 32 {
            out[0] = s
            return 1
        }
        return n
    }

    /// Full decomposition of a code point that has one (flags say so).
    @usableFromInline
    func decompose(_ s: UInt32, compatibility: Bool, into out: inout [UInt32]) {
        var opts = UTF8PROC_DECOMPOSE.rawValue
        if compatibility { opts |= UTF8PROC_COMPAT.rawValue }
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 32) { buf in
            var boundclass: Int32 = 0
            let n = utf8proc_decompose_char(Int32(bitPattern: s), buf.baseAddress, 32,
                                            utf8proc_option_t(rawValue: opts), &boundclass)
            if n <= 0 || n > 32 {
                out.append(s)
                return
            }
            for k in 0 ..< n { out.append(UInt32(bitPattern: buf[k])) }
        }
    }

    /// The primary composite of `a` + `b`, if any (Hangul included, composition exclusions respected).
    func composePair(_ a: UInt32, _ b: UInt32) -> UInt32? {
        if a >= UTF8Codec.rawByteBase || b >= UTF8Codec.rawByteBase { return nil }
        var buf: [Int32] = [Int32(bitPattern: a), Int32(bitPattern: b)]
        let opts = UTF8PROC_COMPOSE.rawValue | UTF8PROC_STABLE.rawValue
        let n = utf8proc_normalize_utf32(&buf, 2, utf8proc_option_t(rawValue: opts))
        guard n == 1 else { return nil }
        let c = UInt32(bitPattern: buf[0])
        if noCanonical.contains(c) { return nil }
        return c
    }
}
