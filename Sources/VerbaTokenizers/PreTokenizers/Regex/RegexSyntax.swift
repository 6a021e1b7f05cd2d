// The regex dialect of tokenizer split patterns, parsed to a syntax tree.
//
// Hugging Face `tokenizers` compiles `Split` patterns with Oniguruma (Ruby syntax, UTF-8); tiktoken with
// fancy-regex. Both read the constructs today's patterns use: literals and escapes, `.`, classes with
// ranges, negation, nesting, `&&` and Unicode properties, groups, `(?i)`, alternation, greedy, lazy and
// possessive quantifiers, lookahead, atomic groups, anchors. Everything else (backreferences,
// lookbehind, scripts and blocks in `\p{..}`, POSIX brackets, subexpression calls...) is a
// `RegexError.unsupported` naming the construct, never a silently different pattern.

/// Why a pattern cannot be compiled.
enum RegexError: Error, CustomStringConvertible, Equatable {
    /// A construct this engine does not implement, with its position (in Unicode scalars).
    case unsupported(construct: String, at: Int)
    /// A pattern that is not a valid regex, with its position.
    case syntax(reason: String, at: Int)

    var description: String {
        switch self {
        case let .unsupported(construct, at): return "regex construct \(construct) (at character \(at))"
        case let .syntax(reason, at): return "regex syntax: \(reason) (at character \(at))"
        }
    }
}

/// Whose reading of the few constructs the two engines disagree on.
enum RegexDialect: Sendable {
    /// Oniguruma, Ruby syntax (Hugging Face `tokenizers`): `^`/`$` match at line boundaries, `(?m)` makes
    /// `.` match newlines, `a{1,3}+` is `(?:a{1,3})+`, `(?i)` inside a group covers the rest of the group.
    case oniguruma
    /// fancy-regex (tiktoken): `^`/`$` match at the ends of the text, `(?s)` makes `.` match newlines,
    /// `a{1,3}+` is possessive.
    case fancy
}

enum RegexAssertion: Equatable {
    case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline, wordBoundary, notWordBoundary
}

enum RegexRepeatKind: Equatable {
    case greedy, lazy, possessive
}

/// A parsed pattern.
indirect enum RegexNode: Equatable {
    case empty
    /// One character from the set.
    case set(RegexSetTerm)
    case concat([RegexNode])
    /// Alternatives, tried in order.
    case alternation([RegexNode])
    /// `max` is nil for no upper bound.
    case repetition(RegexNode, min: Int, max: Int?, RegexRepeatKind)
    case lookahead(RegexNode, negated: Bool)
    /// `(?>...)`: once matched, never backtracked into.
    case atomic(RegexNode)
    case assertion(RegexAssertion)
}

/// Recursive-descent parser over the pattern's Unicode scalars.
struct RegexParser {
    private let s: [UInt32]
    private var i = 0
    private let dialect: RegexDialect

    private struct Flags {
        var caseInsensitive = false
        var dotAll = false
        var multiline = false
    }

    /// Parses `pattern`; a literal pattern (tokenizer.json `{"String": ...}`) when `literal` is set.
    static func parse(_ pattern: String, dialect: RegexDialect = .oniguruma, literal: Bool = false) throws -> RegexNode {
        if literal {
            let chars = pattern.unicodeScalars.map { RegexNode.set(.range($0.value, $0.value)) }
            return chars.isEmpty ? .empty : .concat(chars)
        }
        var p = RegexParser(s: pattern.unicodeScalars.map(\.value), dialect: dialect)
        let node = try p.alternation(Flags(multiline: dialect == .oniguruma))
        if p.i < p.s.count { throw RegexError.syntax(reason: "unmatched )", at: p.i) }
        return node
    }

    private init(s: [UInt32], dialect: RegexDialect) {
        self.s = s
        self.dialect = dialect
    }

    private var atEnd: Bool { i >= s.count }
    private func peek(_ k: Int = 0) -> UInt32? { i + k < s.count ? s[i + k] : nil }
    private func isNext(_ text: String) -> Bool {
        var k = 0
        for c in text.unicodeScalars {
            guard peek(k) == c.value else { return false }
            k += 1
        }
        return true
    }

    private func unsupported(_ what: String, at: Int? = nil) -> RegexError { .unsupported(construct: what, at: at ?? i) }
    private func syntax(_ what: String) -> RegexError { .syntax(reason: what, at: i) }

    // MARK: Structure

    private mutating func alternation(_ flags: Flags) throws -> RegexNode {
        var flags = flags
        var branches: [RegexNode] = []
        while true {
            branches.append(try concat(&flags))
            if peek() == 0x7C {  // |
                i += 1
                continue
            }
            break
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    /// A sequence up to `|`, `)` or the end. An option group `(?i)` changes `flags` for what follows
    /// (in fancy-regex also for the later branches); in Oniguruma it takes the rest of the group as
    /// its body, alternatives included.
    private mutating func concat(_ flags: inout Flags) throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek(), c != 0x7C, c != 0x29 {
            if c == 0x28, peek(1) == 0x3F, let (newFlags, length) = try optionsOnly(flags) {  // (?flags)
                i += length
                if dialect == .oniguruma {
                    items.append(try alternation(newFlags))
                    break
                }
                flags = newFlags
                continue
            }
            items.append(try quantified(flags))
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    /// `(?imsx-imsx)` at `i`: the new flags and the length of the group, or nil if it is no such group.
    private func optionsOnly(_ flags: Flags) throws -> (Flags, Int)? {
        var k = 2
        var on = true
        var f = flags
        while let c = peek(k) {
            switch c {
            case 0x29: return k == 2 ? nil : (f, k + 1)  // )
            case 0x2D: on = false  // -
            case 0x69: f.caseInsensitive = on  // i
            case 0x6D where dialect == .oniguruma: f.dotAll = on  // m
            case 0x6D: f.multiline = on
            case 0x73 where dialect == .fancy: f.dotAll = on  // s
            case 0x78: throw unsupported("extended mode (?x)", at: i)
            default: return nil
            }
            k += 1
        }
        return nil
    }

    private mutating func quantified(_ flags: Flags) throws -> RegexNode {
        let start = i
        var node = try atom(flags)
        while let c = peek() {
            var min = 0, max: Int? = nil
            var brace = false
            switch c {
            case 0x2A: i += 1  // *
            case 0x2B: min = 1; i += 1  // +
            case 0x3F: max = 1; i += 1  // ?
            case 0x7B:  // {
                guard let (lo, hi, length) = braces() else { return node }
                min = lo; max = hi; brace = true
                i += length
            default: return node
            }
            switch node {
            case .assertion, .lookahead, .empty: throw syntax("quantifier without a target")
            default: break
            }
            var kind = RegexRepeatKind.greedy
            if peek() == 0x3F {  // ?
                i += 1
                if brace && dialect == .oniguruma && min == max {
                    // Ruby reads `a{n}?` as `(?:a{n})?`.
                    node = .repetition(.repetition(node, min: min, max: max, .greedy), min: 0, max: 1, .greedy)
                    continue
                }
                kind = .lazy
            } else if peek() == 0x2B && !(brace && dialect == .oniguruma) {  // + (Oniguruma: `{n,m}+` repeats again)
                i += 1
                kind = .possessive
            }
            if let max, max < min { throw RegexError.syntax(reason: "repeat range {\(min),\(max)} out of order", at: start) }
            node = .repetition(node, min: min, max: max, kind)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}` or `{,m}` at `i`: bounds and length; nil when the brace is a literal.
    private func braces() -> (Int, Int?, Int)? {
        var k = 1
        func number() -> Int? {
            var v: Int? = nil
            while let c = peek(k), c >= 0x30, c <= 0x39 {
                v = (v ?? 0) * 10 + Int(c - 0x30)
                if v! > 100_000 { return nil }
                k += 1
            }
            return v
        }
        let lo = number()
        if peek(k) == 0x7D { return lo.map { ($0, $0, k + 1) } }
        guard peek(k) == 0x2C else { return nil }
        k += 1
        let hi = number()
        guard peek(k) == 0x7D, lo != nil || hi != nil else { return nil }
        return (lo ?? 0, hi, k + 1)
    }

    private mutating func atom(_ flags: Flags) throws -> RegexNode {
        let c = s[i]
        switch c {
        case 0x28: return try group(flags)
        case 0x5B:  // [
            i += 1
            return .set(try classBody(flags))
        case 0x2E:  // .
            i += 1
            return .set(flags.dotAll ? .not(.union([])) : .not(.range(0x0A, 0x0A)))
        case 0x5E:  // ^
            i += 1
            return .assertion(flags.multiline ? .lineStart : .textStart)
        case 0x24:  // $
            i += 1
            return .assertion(flags.multiline ? .lineEnd : .textEnd)
        case 0x5C:  // backslash
            switch try escape(flags, inClass: false) {
            case let .scalar(v): return .set(literal(v, flags))
            case let .set(t): return .set(t)
            case let .assertion(a): return .assertion(a)
            }
        case 0x2A, 0x2B, 0x3F: throw syntax("quantifier without a target")
        default:
            i += 1
            return .set(literal(c, flags))
        }
    }

    private func literal(_ c: UInt32, _ flags: Flags) -> RegexSetTerm {
        flags.caseInsensitive ? RegexUnicode.caseInsensitive(.range(c, c)) : .range(c, c)
    }

    private mutating func group(_ flags: Flags) throws -> RegexNode {
        let start = i
        i += 1
        var inner = flags
        var wrap: (RegexNode) -> RegexNode = { $0 }
        if peek() == 0x3F {  // (?
            i += 1
            guard let c = peek() else { throw syntax("unterminated group") }
            switch c {
            case 0x3A: i += 1  // (?:
            case 0x3D: i += 1; wrap = { .lookahead($0, negated: false) }  // (?=
            case 0x21: i += 1; wrap = { .lookahead($0, negated: true) }  // (?!
            case 0x3E: i += 1; wrap = { .atomic($0) }  // (?>
            case 0x23:  // (?# comment )
                while let d = peek(), d != 0x29 { i += 1 }
                guard peek() == 0x29 else { throw syntax("unterminated comment") }
                i += 1
                return .empty
            case 0x3C where peek(1) == 0x3D || peek(1) == 0x21:
                throw unsupported(peek(1) == 0x3D ? "lookbehind (?<=...)" : "negative lookbehind (?<!...)", at: start)
            case 0x3C, 0x27, 0x50:  // (?<name> (?'name' (?P<name>
                if c == 0x50 {
                    i += 1
                    guard peek() == 0x3C else { throw unsupported("(?P", at: start) }
                }
                let close: UInt32 = peek() == 0x27 ? 0x27 : 0x3E
                i += 1
                while let d = peek(), d != close { i += 1 }
                guard peek() == close else { throw syntax("unterminated group name") }
                i += 1
            case 0x7E: throw unsupported("absent operator (?~...)", at: start)
            case 0x28: throw unsupported("conditional (?(...)", at: start)
            default:
                // (?imsx-imsx:...)
                var on = true
                loop: while let d = peek() {
                    switch d {
                    case 0x3A: i += 1; break loop
                    case 0x2D: on = false
                    case 0x69: inner.caseInsensitive = on
                    case 0x6D where dialect == .oniguruma: inner.dotAll = on
                    case 0x6D: inner.multiline = on
                    case 0x73 where dialect == .fancy: inner.dotAll = on
                    case 0x78: throw unsupported("extended mode (?x)", at: start)
                    default:
                        throw unsupported("group (?\(String(decoding: [UInt8(truncatingIfNeeded: d)], as: UTF8.self))", at: start)
                    }
                    i += 1
                }
            }
        }
        let body = try alternation(inner)
        guard peek() == 0x29 else { throw RegexError.syntax(reason: "unmatched (", at: start) }
        i += 1
        return wrap(body)
    }

    // MARK: Escapes and classes

    private enum Escaped {
        case scalar(UInt32)
        case set(RegexSetTerm)
        case assertion(RegexAssertion)
    }

    private mutating func escape(_ flags: Flags, inClass: Bool) throws -> Escaped {
        let start = i
        i += 1
        guard let c = peek() else { throw syntax("pattern ends with a backslash") }
        i += 1
        switch c {
        case 0x6E: return .scalar(0x0A)  // n
        case 0x74: return .scalar(0x09)  // t
        case 0x72: return .scalar(0x0D)  // r
        case 0x66: return .scalar(0x0C)  // f
        case 0x76: return .scalar(0x0B)  // v
        case 0x61: return .scalar(0x07)  // a
        case 0x65: return .scalar(0x1B)  // e
        case 0x64: return .set(.categories(1 << UInt32(GeneralCategory.nd.rawValue)))  // d
        case 0x44: return .set(.not(.categories(1 << UInt32(GeneralCategory.nd.rawValue))))  // D
        case 0x77: return .set(inClass ? .word : .union([.word, RegexUnicode.latin1WordExtras]))  // w
        case 0x57: return .set(.not(inClass ? .word : .union([.word, RegexUnicode.latin1WordExtras])))  // W
        case 0x73: return .set(.space)  // s
        case 0x53: return .set(.not(.space))  // S
        case 0x68 where dialect == .oniguruma: return .set(hexDigit)  // h
        case 0x48 where dialect == .oniguruma: return .set(.not(hexDigit))  // H
        case 0x70, 0x50:  // p P
            var t = try property(negated: c == 0x50, start: start)
            if !inClass, t == .word { t = .union([.word, RegexUnicode.latin1WordExtras]) }
            if !inClass, t == .not(.word) { t = .not(.union([.word, RegexUnicode.latin1WordExtras])) }
            return .set(t)
        case 0x78: return .scalar(try hex(start: start, fixed: 2))  // x
        case 0x75: return .scalar(try hex(start: start, fixed: 4))  // u
        case 0x30:  // \0 and up to two more octal digits
            var v: UInt32 = 0
            var k = 0
            while k < 2, let d = peek(), d >= 0x30, d <= 0x37 {
                v = v * 8 + d - 0x30
                i += 1
                k += 1
            }
            return .scalar(v)
        case 0x62 where inClass: return .scalar(0x08)  // \b in a class is backspace
        case 0x62: return .assertion(.wordBoundary)
        case 0x42 where !inClass: return .assertion(.notWordBoundary)
        case 0x41 where !inClass: return .assertion(.textStart)
        case 0x7A where !inClass: return .assertion(.textEnd)
        case 0x5A where !inClass: return .assertion(dialect == .oniguruma ? .textEndBeforeNewline : .textEnd)
        case 0x31...0x39, 0x6B, 0x67: throw unsupported("backreference or subexpression call \\\(Character(Unicode.Scalar(c)!))", at: start)
        default:
            if let u = Unicode.Scalar(c), u.properties.isAlphabetic || (0x30...0x39).contains(c) {
                throw unsupported("escape \\\(Character(u))", at: start)
            }
            return .scalar(c)
        }
    }

    private var hexDigit: RegexSetTerm { .union([.range(0x30, 0x39), .range(0x41, 0x46), .range(0x61, 0x66)]) }

    /// `\xHH`, `\x{H...}`, `\uHHHH` (the escape letter already read).
    private mutating func hex(start: Int, fixed: Int) throws -> UInt32 {
        func digit(_ c: UInt32?) -> UInt32? {
            guard let c else { return nil }
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var v: UInt32 = 0
        if peek() == 0x7B {  // {
            i += 1
            var k = 0
            while let d = digit(peek()) {
                v = v * 16 + d
                i += 1
                k += 1
                if k > 8 { throw RegexError.syntax(reason: "hex escape too long", at: start) }
            }
            guard k > 0, peek() == 0x7D else { throw RegexError.syntax(reason: "bad \\x{...} escape", at: start) }
            i += 1
        } else {
            var k = 0
            while k < fixed, let d = digit(peek()) {
                v = v * 16 + d
                i += 1
                k += 1
            }
            if k == 0 || (fixed == 4 && k < 4) { throw RegexError.syntax(reason: "bad hex escape", at: start) }
        }
        guard v <= 0x10FFFF, !(0xD800...0xDFFF).contains(v) else {
            throw RegexError.syntax(reason: "code point \(v) out of range", at: start)
        }
        return v
    }

    /// `\p{Name}`, `\p{^Name}`, `\pL` (the letter already read).
    private mutating func property(negated: Bool, start: Int) throws -> RegexSetTerm {
        var name = ""
        var negate = negated
        if peek() == 0x7B {
            i += 1
            if peek() == 0x5E { negate.toggle(); i += 1 }
            while let c = peek(), c != 0x7D {
                name.unicodeScalars.append(Unicode.Scalar(c) ?? "?")
                i += 1
            }
            guard peek() == 0x7D else { throw RegexError.syntax(reason: "unterminated \\p{", at: start) }
            i += 1
        } else if let c = peek(), let u = Unicode.Scalar(c) {
            name = String(Character(u))
            i += 1
        }
        guard let t = RegexSetTerm.property(name) else { throw unsupported("Unicode property \\p{\(name)}", at: start) }
        return negate ? .not(t) : t
    }

    /// A bracketed class, `[` already read, through its `]`.
    private mutating func classBody(_ flags: Flags) throws -> RegexSetTerm {
        let start = i - 1
        var negated = false
        if peek() == 0x5E { negated = true; i += 1 }
        var items: [RegexSetTerm] = []
        var intersected: [RegexSetTerm] = []
        var first = true
        while true {
            guard let c = peek() else { throw RegexError.syntax(reason: "unterminated [", at: start) }
            if c == 0x5D && !first { i += 1; break }  // ]
            first = false
            if c == 0x26 && peek(1) == 0x26 {  // &&
                i += 2
                intersected.append(.union(items))
                items = []
                continue
            }
            if c == 0x5B {  // nested [
                if peek(1) == 0x3A { throw unsupported("POSIX bracket [:...:]") }
                i += 1
                items.append(try classBody(Flags()))
                continue
            }
            // One element: a scalar (possibly a range start) or a set.
            var lo: UInt32
            if c == 0x5C {
                switch try escape(flags, inClass: true) {
                case let .set(t): items.append(t); continue
                case let .scalar(v): lo = v
                case .assertion: throw syntax("assertion in a class")
                }
            } else {
                lo = c
                i += 1
            }
            if peek() == 0x2D, let next = peek(1), next != 0x5D {  // a range lo-hi
                let save = i
                i += 1
                var hi: UInt32
                if next == 0x5C {
                    switch try escape(flags, inClass: true) {
                    case let .scalar(v): hi = v
                    default:
                        i = save  // `[a-\w]`: the dash is a literal
                        items.append(.range(lo, lo))
                        continue
                    }
                } else if next == 0x5B {
                    i = save
                    items.append(.range(lo, lo))
                    continue
                } else {
                    hi = next
                    i += 1
                }
                guard lo <= hi else { throw RegexError.syntax(reason: "class range out of order", at: save) }
                items.append(.range(lo, hi))
            } else {
                items.append(.range(lo, lo))
            }
        }
        var term: RegexSetTerm = items.count == 1 ? items[0] : .union(items)
        if !intersected.isEmpty { term = .intersection(intersected + [term]) }
        if flags.caseInsensitive { term = RegexUnicode.caseInsensitive(term) }
        return negated ? .not(term) : term
    }
}
