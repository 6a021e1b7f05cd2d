// Character sets of the regex engine: what a class (`[^\r\n\p{L}\p{N}]`), an escape (`\w`, `\s`, `\d`) or a
// literal under `(?i)` matches, as Oniguruma (Hugging Face `tokenizers`) defines them over Unicode 16.
//
// A set is first a term tree (`RegexSetTerm`), then compiled to a bitmap of the Basic Multilingual Plane
// (8 KiB); scalars above U+FFFF and ill-formed bytes (raw-byte pseudo-scalars, which are no letter,
// number, space or word character) are tested on the tree.

import CUTF8Proc

/// A set of scalars as the pattern spells it.
indirect enum RegexSetTerm: Equatable, Sendable {
    /// Scalars `lo...hi`.
    case range(UInt32, UInt32)
    /// Scalars whose general category is in the mask (bit `GeneralCategory.rawValue`).
    case categories(UInt32)
    /// `\s`: the White_Space property.
    case space
    /// `\w` as Oniguruma defines it (see `RegexUnicode.isWord`).
    case word
    case not(RegexSetTerm)
    case union([RegexSetTerm])
    case intersection([RegexSetTerm])
    /// The set closed under simple case folding (`(?i)`).
    case caseInsensitive(RegexSetTerm)

    /// Whether scalar `s` (or raw-byte pseudo-scalar) is in the set.
    func contains(_ s: UInt32) -> Bool {
        switch self {
        case let .range(lo, hi): return s >= lo && s <= hi
        case let .categories(mask): return mask >> UInt32(RegexUnicode.category(s).rawValue) & 1 != 0
        case .space: return RegexUnicode.isSpace(s)
        case .word: return RegexUnicode.isWord(s)
        case let .not(t): return !t.contains(s)
        case let .union(ts): return ts.contains { $0.contains(s) }
        case let .intersection(ts): return ts.allSatisfy { $0.contains(s) }
        case let .caseInsensitive(t):
            if t.contains(s) { return true }
            return RegexUnicode.caseOrbit(s).contains { $0 != s && t.contains($0) }
        }
    }

    /// The one scalar this set holds when it is a single literal, else nil.
    var singleScalar: UInt32? {
        if case let .range(lo, hi) = self, lo == hi { return lo }
        return nil
    }
}

/// Compiled sets: one BMP bitmap of 1024 words per set, laid end to end, and for the scalars above the
/// BMP (and ill-formed bytes) each set's term flattened into `nodes`, read without reference counting.
struct RegexSetTable {
    private(set) var terms: [RegexSetTerm] = []
    private(set) var bits: [UInt64] = []
    /// Root node of each set in `nodes`.
    private(set) var roots: [Int32] = []
    private(set) var nodes: [RegexSetNode] = []
    /// Children of union and intersection nodes.
    private(set) var children: [Int32] = []
    /// Sorted disjoint ranges of range-list nodes.
    private(set) var ranges: [ClosedRange<UInt32>] = []

    /// Index of `term`'s set, compiling it if it is new.
    mutating func index(of term: RegexSetTerm) -> Int {
        if let k = terms.firstIndex(of: term) { return k }
        terms.append(term)
        let plain = RegexSetTable.resolveCase(term)
        bits += RegexSetTable.bitmap(plain)
        roots.append(flatten(plain))
        return terms.count - 1
    }

    /// `term` with each case-insensitive part replaced by the part plus the explicit list of scalars
    /// whose case variants it holds.
    static func resolveCase(_ term: RegexSetTerm) -> RegexSetTerm {
        switch term {
        case .range, .categories, .space, .word: return term
        case let .not(t): return .not(resolveCase(t))
        case let .union(ts): return .union(ts.map(resolveCase))
        case let .intersection(ts): return .intersection(ts.map(resolveCase))
        case let .caseInsensitive(t):
            let inner = resolveCase(t)
            var extra: [RegexSetTerm] = []
            for (fold, members) in RegexUnicode.orbits {
                let group = members.contains(fold) ? members : members + [fold]
                if group.contains(where: { inner.contains($0) }) { extra += group.map { .range($0, $0) } }
            }
            return .union([inner] + extra)
        }
    }

    /// Appends sorted disjoint ranges; returns the index of the first.
    private mutating func addRanges(_ list: [ClosedRange<UInt32>]) -> UInt32 {
        ranges += list
        return UInt32(ranges.count - list.count)
    }

    /// Appends the nodes of `term`; returns its root. Ranges of a union merge into one sorted list.
    private mutating func flatten(_ term: RegexSetTerm) -> Int32 {
        func node(_ n: RegexSetNode) -> Int32 {
            nodes.append(n)
            return Int32(nodes.count - 1)
        }
        switch term {
        case let .range(lo, hi): return node(RegexSetNode(kind: .ranges, a: addRanges([lo...hi]), b: 1))
        case let .categories(mask): return node(RegexSetNode(kind: .categories, a: mask))
        case .space: return node(RegexSetNode(kind: .space))
        case .word: return node(RegexSetNode(kind: .word))
        case let .not(t):
            let child = flatten(t)
            return node(RegexSetNode(kind: .not, a: UInt32(child)))
        case let .union(ts), let .intersection(ts):
            var spans: [ClosedRange<UInt32>] = []
            var kids: [Int32] = []
            let isUnion: Bool
            if case .union = term { isUnion = true } else { isUnion = false }
            for t in ts {
                if isUnion, case let .range(lo, hi) = t { spans.append(lo...hi) } else { kids.append(flatten(t)) }
            }
            if !spans.isEmpty {
                spans.sort { $0.lowerBound < $1.lowerBound }
                var merged: [ClosedRange<UInt32>] = []
                for r in spans {
                    if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                        merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
                    } else {
                        merged.append(r)
                    }
                }
                kids.append(node(RegexSetNode(kind: .ranges, a: addRanges(merged), b: UInt32(merged.count))))
            }
            let first = UInt32(children.count)
            children += kids
            return node(RegexSetNode(kind: isUnion ? .union : .intersection, a: first, b: UInt32(kids.count)))
        case .caseInsensitive: preconditionFailure("case-insensitive terms are resolved before flattening")
        }
    }

    /// The BMP bitmap of `term` (case-insensitive parts resolved), built from its parts: leaves by one
    /// pass over the code points or the ranges, unions, intersections and negations word by word.
    private static func bitmap(_ term: RegexSetTerm) -> [UInt64] {
        var b = [UInt64](repeating: 0, count: 1024)
        func leaf(_ test: (UInt8) -> Bool) {
            RegexUnicode.bmp.withUnsafeBufferPointer { info in
                for s in 0..<0x10000 where test(info[s]) { b[s >> 6] |= 1 << UInt64(s & 63) }
            }
        }
        switch term {
        case let .range(lo, hi):
            if lo < 0x10000 { for s in Int(lo)...Int(min(hi, 0xFFFF)) { b[s >> 6] |= 1 << UInt64(s & 63) } }
        case let .categories(mask): leaf { mask >> UInt32($0 & 31) & 1 != 0 }
        case .space: leaf { $0 & RegexUnicode.spaceBit != 0 }
        case .word: leaf { $0 & RegexUnicode.wordBit != 0 }
        case let .not(t):
            b = bitmap(t).map { ~$0 }
        case let .union(ts):
            for t in ts {
                if case let .range(lo, hi) = t, lo < 0x10000 {
                    for s in Int(lo)...Int(min(hi, 0xFFFF)) { b[s >> 6] |= 1 << UInt64(s & 63) }
                } else if case .range = t {
                } else {
                    let c = bitmap(t)
                    for k in 0..<1024 { b[k] |= c[k] }
                }
            }
        case let .intersection(ts):
            b = [UInt64](repeating: ~0, count: 1024)
            for t in ts {
                let c = bitmap(t)
                for k in 0..<1024 { b[k] &= c[k] }
            }
        case .caseInsensitive: preconditionFailure("case-insensitive terms are resolved before compiling")
        }
        return b
    }
}

/// The Unicode data the engine reads: general categories of Unicode 16 (utf8proc's Unicode 15 with the
/// project's Unicode 16 corrections), White_Space, Oniguruma's `\w`, and simple case folding.
enum RegexUnicode {
    static let spaceBit: UInt8 = 32
    static let wordBit: UInt8 = 64

    /// Per BMP scalar: general category (low 5 bits), `spaceBit`, `wordBit`. Surrogates are Cs.
    static let bmp: [UInt8] = (0..<0x10000).map { s in info(UInt32(s)) }

    static func info(_ s: UInt32) -> UInt8 {
        let c = computeCategory(s)
        var v = c.rawValue
        if CharClass.isWhiteSpace(s) { v |= spaceBit }
        if computeWord(s, c) { v |= wordBit }
        return v
    }

    /// General category of `s`; `.cn` for raw-byte pseudo-scalars.
    @inline(__always)
    static func category(_ s: UInt32) -> GeneralCategory {
        if s < 0x10000 { return GeneralCategory(rawValue: bmp[Int(s)] & 31) ?? .cn }
        return computeCategory(s)
    }

    @inline(__always)
    static func isSpace(_ s: UInt32) -> Bool { s < 0x10000 ? bmp[Int(s)] & spaceBit != 0 : false }

    @inline(__always)
    static func isWord(_ s: UInt32) -> Bool {
        s < 0x10000 ? bmp[Int(s)] & wordBit != 0 : computeWord(s, computeCategory(s))
    }

    private static func computeCategory(_ s: UInt32) -> GeneralCategory {
        if s >= UTF8Codec.rawByteBase { return .cn }
        // Oniguruma keeps U+0295 as Ll, the one category Unicode 16 changed.
        if s == 0x0295 { return .ll }
        // Code points Unicode 16 assigned (SplitterUnicode16.swift).
        var lo = 0, hi = unicode16ClassOverrides.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let r = unicode16ClassOverrides[mid]
            if s < r.lo { hi = mid } else if s > r.hi { lo = mid + 1 } else {
                let letter = CharClass.letter, upper = CharClass.upper, lower = CharClass.lower
                switch r.cls {
                case letter | upper | lower: return .lo
                case letter | upper: return .lu
                case letter | lower: return .ll
                case CharClass.number: return .nd
                default: return .mn
                }
            }
        }
        return GeneralCategory(rawValue: UInt8(utf8proc_category(Int32(bitPattern: s)).rawValue)) ?? .cn
    }

    /// Oniguruma's `\w` in a class: letters, marks, decimal and letter numbers, connector punctuation
    /// and the alphabetic symbols (circled and squared Latin letters).
    private static func computeWord(_ s: UInt32, _ c: GeneralCategory) -> Bool {
        switch c {
        case .lu, .ll, .lt, .lm, .lo, .mn, .mc, .me, .nd, .nl, .pc: return true
        default: break
        }
        switch s {
        case 0x24B6...0x24E9, 0x1F130...0x1F149, 0x1F150...0x1F169, 0x1F170...0x1F189: return true
        default: return false
        }
    }

    /// What `\w` and `\b` outside a class add to the class form: below U+0100 Oniguruma reads its
    /// Latin-1 ctype table, which counts ² ³ ¹ ¼ ½ ¾ as word characters.
    static let latin1WordExtras: RegexSetTerm = .union([.range(0xB2, 0xB3), .range(0xB9, 0xB9), .range(0xBC, 0xBE)])

    /// A word character for `\b`.
    @inline(__always)
    static func isWordForBoundary(_ s: UInt32) -> Bool {
        isWord(s) || s == 0xB2 || s == 0xB3 || s == 0xB9 || (0xBC...0xBE).contains(s)
    }

    /// Simple case folding as `toLower(toUpper(s))` (ſ → s, K (Kelvin) → k, ẞ → ß).
    static func fold(_ s: UInt32) -> UInt32 {
        if s >= UTF8Codec.rawByteBase { return s }
        let u = utf8proc_toupper(Int32(bitPattern: s))
        return UInt32(bitPattern: utf8proc_tolower(u))
    }

    /// Scalars that fold to the same scalar as another one, grouped by their fold: built on first use
    /// (only patterns with `(?i)` need it).
    static let orbits: [UInt32: [UInt32]] = {
        var m: [UInt32: [UInt32]] = [:]
        for s in UInt32(0)..<0x20000 where !(0xD800...0xDFFF).contains(s) {
            let f = fold(s)
            if f != s { m[f, default: [f]].append(s) }
        }
        return m
    }()

    /// Every scalar with the same simple case folding as `s`, `s` included.
    static func caseOrbit(_ s: UInt32) -> [UInt32] { orbits[fold(s)] ?? [s] }

    /// `term` closed under case folding, as explicit ranges when the term is small.
    static func caseInsensitive(_ term: RegexSetTerm) -> RegexSetTerm {
        if let c = term.singleScalar {
            let orbit = caseOrbit(c)
            return orbit.count == 1 ? term : .union(orbit.sorted().map { .range($0, $0) })
        }
        return .caseInsensitive(term)
    }
}

extension RegexSetTerm {
    /// The set of a Unicode property name as Oniguruma spells it (case, spaces, `-` and `_` ignored):
    /// general categories in short or long form, `Any`, `Space`/`White_Space`, `Word`, `Digit`.
    /// Nil for any other name (scripts, blocks, binary properties).
    static func property(_ name: String) -> RegexSetTerm? {
        let key = String(name.lowercased().filter { $0 != " " && $0 != "-" && $0 != "_" })
        func cats(_ cs: [GeneralCategory]) -> RegexSetTerm { .categories(cs.reduce(0) { $0 | 1 << UInt32($1.rawValue) }) }
        let letters: [GeneralCategory] = [.lu, .ll, .lt, .lm, .lo]
        let marks: [GeneralCategory] = [.mn, .mc, .me]
        let numbers: [GeneralCategory] = [.nd, .nl, .no]
        let puncts: [GeneralCategory] = [.pc, .pd, .ps, .pe, .pi, .pf, .po]
        let symbols: [GeneralCategory] = [.sm, .sc, .sk, .so]
        let seps: [GeneralCategory] = [.zs, .zl, .zp]
        let others: [GeneralCategory] = [.cc, .cf, .cs, .co, .cn]
        switch key {
        case "l", "letter": return cats(letters)
        case "lc", "l&", "casedletter": return cats([.lu, .ll, .lt])
        case "lu", "uppercaseletter": return cats([.lu])
        case "ll", "lowercaseletter": return cats([.ll])
        case "lt", "titlecaseletter": return cats([.lt])
        case "lm", "modifierletter": return cats([.lm])
        case "lo", "otherletter": return cats([.lo])
        case "m", "mark", "combiningmark": return cats(marks)
        case "mn", "nonspacingmark": return cats([.mn])
        case "mc", "spacingmark": return cats([.mc])
        case "me", "enclosingmark": return cats([.me])
        case "n", "number": return cats(numbers)
        case "nd", "decimalnumber", "digit": return cats([.nd])
        case "nl", "letternumber": return cats([.nl])
        case "no", "othernumber": return cats([.no])
        case "p", "punctuation", "punct": return cats(puncts)
        case "pc", "connectorpunctuation": return cats([.pc])
        case "pd", "dashpunctuation": return cats([.pd])
        case "ps", "openpunctuation": return cats([.ps])
        case "pe", "closepunctuation": return cats([.pe])
        case "pi", "initialpunctuation": return cats([.pi])
        case "pf", "finalpunctuation": return cats([.pf])
        case "po", "otherpunctuation": return cats([.po])
        case "s", "symbol": return cats(symbols)
        case "sm", "mathsymbol": return cats([.sm])
        case "sc", "currencysymbol": return cats([.sc])
        case "sk", "modifiersymbol": return cats([.sk])
        case "so", "othersymbol": return cats([.so])
        case "z", "separator": return cats(seps)
        case "zs", "spaceseparator": return cats([.zs])
        case "zl", "lineseparator": return cats([.zl])
        case "zp", "paragraphseparator": return cats([.zp])
        case "c", "other": return cats(others)
        case "cc", "control", "cntrl": return cats([.cc])
        case "cf", "format": return cats([.cf])
        case "cs", "surrogate": return cats([.cs])
        case "co", "privateuse": return cats([.co])
        case "cn", "unassigned": return cats([.cn])
        case "any": return .not(.union([]))
        case "space", "whitespace": return .space
        case "word": return .word
        default: return nil
        }
    }
}

/// One node of a flattened set term.
struct RegexSetNode {
    enum Kind: UInt8 { case ranges, categories, space, word, not, union, intersection }
    var kind: Kind
    /// ranges: first index in `ranges`; categories: the mask; not: the child; union/intersection:
    /// first index in `children`.
    var a: UInt32 = 0
    /// ranges, union, intersection: how many.
    var b: UInt32 = 0

    init(kind: Kind, a: UInt32 = 0, b: UInt32 = 0) {
        self.kind = kind
        self.a = a
        self.b = b
    }
}

/// Pointers to a set table's flattened terms, for matching scalars above the BMP.
struct RegexSlowSets {
    let roots: UnsafePointer<Int32>
    let nodes: UnsafePointer<RegexSetNode>
    let children: UnsafePointer<Int32>
    let ranges: UnsafePointer<ClosedRange<UInt32>>

    /// Whether set `k` holds `s`.
    func contains(_ k: Int32, _ s: UInt32) -> Bool { eval(roots[Int(k)], s) }

    private func eval(_ n: Int32, _ s: UInt32) -> Bool {
        let node = nodes[Int(n)]
        switch node.kind {
        case .ranges:
            var lo = Int(node.a), hi = Int(node.a + node.b)
            while lo < hi {
                let mid = (lo + hi) >> 1
                let r = ranges[mid]
                if s < r.lowerBound { hi = mid } else if s > r.upperBound { lo = mid + 1 } else { return true }
            }
            return false
        case .categories: return node.a >> UInt32(RegexUnicode.category(s).rawValue) & 1 != 0
        case .space: return RegexUnicode.isSpace(s)
        case .word: return RegexUnicode.isWord(s)
        case .not: return !eval(Int32(node.a), s)
        case .union:
            for k in Int(node.a)..<Int(node.a + node.b) where eval(children[k], s) { return true }
            return false
        case .intersection:
            for k in Int(node.a)..<Int(node.a + node.b) where !eval(children[k], s) { return false }
            return true
        }
    }
}

/// A compiled program's instructions and sets copied to memory that matching reads through plain
/// pointers; immutable once built, freed with the regex.
final class RegexTables: @unchecked Sendable {
    let code: UnsafeMutablePointer<RegexInst>
    let bits: UnsafeMutablePointer<UInt64>
    let dispatch: UnsafeMutablePointer<Int32>
    let slow: RegexSlowSets
    private let parts: [UnsafeMutableRawPointer]

    init(_ program: RegexProgram) {
        func copy<T>(_ a: [T]) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(a.count, 1))
            a.withUnsafeBufferPointer { if let b = $0.baseAddress { p.initialize(from: b, count: a.count) } }
            return p
        }
        let t = program.sets
        code = copy(program.code)
        bits = copy(t.bits)
        dispatch = copy(program.dispatchTable)
        let roots = copy(t.roots), nodes = copy(t.nodes), children = copy(t.children), ranges = copy(t.ranges)
        slow = RegexSlowSets(roots: roots, nodes: nodes, children: children, ranges: ranges)
        parts = [UnsafeMutableRawPointer(code), UnsafeMutableRawPointer(bits), UnsafeMutableRawPointer(dispatch), UnsafeMutableRawPointer(roots),
                 UnsafeMutableRawPointer(nodes), UnsafeMutableRawPointer(children), UnsafeMutableRawPointer(ranges)]
    }

    deinit {
        for p in parts { p.deallocate() }
    }
}
