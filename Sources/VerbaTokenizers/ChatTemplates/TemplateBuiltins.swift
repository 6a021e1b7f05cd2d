import Foundation
import VerbaSupport

// Operators, tests, filters, methods and global functions of chat templates, with Python's behaviour.

/// Python's `==`.
func templateEqual(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
    let a = a.unmarked, b = b.unmarked
    switch (a, b) {
    case (.undefined, .undefined), (.none, .none): return true
    case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
    case (.list(let x), .list(let y)): return x.count == y.count && zip(x, y).allSatisfy { templateEqual($0, $1) }
    case (.dict(let x), .dict(let y)):
        return x.count == y.count && x.allSatisfy { kv in y.contains { templateEqual($0.0, kv.0) && templateEqual($0.1, kv.1) } }
    case (.namespace(let x), .namespace(let y)): return x === y
    default:
        if let x = numeric(a), let y = numeric(b) { return x == y }
        return false
    }
}

private func numeric(_ v: TemplateValue) -> Double? {
    switch v {
    case .int(let i): return Double(i)
    case .double(let d): return d
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
}

private func intValue(_ v: TemplateValue) -> Int? {
    switch v {
    case .int(let i): return i
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
}

/// Python's ordering (`<`), or nil when the two values are not ordered.
func templateLess(_ a: TemplateValue, _ b: TemplateValue) -> Bool? {
    let a = a.unmarked, b = b.unmarked
    switch (a, b) {
    case (.string(let x), .string(let y)):
        return x.unicodeScalars.map(\.value).lexicographicallyPrecedes(y.unicodeScalars.map(\.value))
    case (.list(let x), .list(let y)):
        for (p, q) in zip(x, y) where !templateEqual(p, q) { return templateLess(p, q) }
        return x.count < y.count
    default:
        if let i = intValue(a), let j = intValue(b) { return i < j }
        if let x = numeric(a), let y = numeric(b) { return x < y }
        return nil
    }
}

/// The scalars of `s` with those in `set` (or Python whitespace) stripped from the chosen ends.
func pythonStrip(_ s: String, _ chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
    let set = chars.map { Set($0.unicodeScalars) }
    func strip(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isPythonSpace(c) }
    let u = Array(s.unicodeScalars)
    var lo = 0, hi = u.count
    if leading { while lo < hi, strip(u[lo]) { lo += 1 } }
    if trailing { while hi > lo, strip(u[hi - 1]) { hi -= 1 } }
    return String(String.UnicodeScalarView(u[lo..<hi]))
}

/// Python's `str.split(sep, maxsplit)`.
func pythonSplit(_ s: String, _ sep: String?, _ maxSplit: Int) -> [String] {
    let u = Array(s.unicodeScalars)
    var parts: [String] = []
    func str(_ r: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(r)) }
    guard let sep else {
        var i = 0
        while true {
            while i < u.count, isPythonSpace(u[i]) { i += 1 }
            if i == u.count { break }
            if maxSplit >= 0, parts.count == maxSplit {
                var end = u.count
                while end > i, isPythonSpace(u[end - 1]) { end -= 1 }
                parts.append(str(u[i..<end])); break
            }
            let start = i
            while i < u.count, !isPythonSpace(u[i]) { i += 1 }
            parts.append(str(u[start..<i]))
        }
        return parts
    }
    let p = Array(sep.unicodeScalars)
    var start = 0, i = 0
    while i + p.count <= u.count, maxSplit < 0 || parts.count < maxSplit {
        if u[i..<i + p.count].elementsEqual(p) { parts.append(str(u[start..<i])); i += p.count; start = i } else { i += 1 }
    }
    parts.append(str(u[start...]))
    return parts
}

/// Python's `str.replace(old, new, count)`.
func pythonReplace(_ s: String, _ old: String, _ new: String, _ count: Int) -> String {
    let u = Array(s.unicodeScalars), o = Array(old.unicodeScalars)
    var out = String.UnicodeScalarView()
    var done = 0, i = 0
    if o.isEmpty {
        for c in u {
            if count < 0 || done < count { out.append(contentsOf: new.unicodeScalars); done += 1 }
            out.append(c)
        }
        if count < 0 || done < count { out.append(contentsOf: new.unicodeScalars) }
        return String(out)
    }
    while i < u.count {
        if (count < 0 || done < count), i + o.count <= u.count, u[i..<i + o.count].elementsEqual(o) {
            out.append(contentsOf: new.unicodeScalars); i += o.count; done += 1
        } else { out.append(u[i]); i += 1 }
    }
    return String(out)
}

extension TemplateRenderer {
    func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue, _ p: TemplatePosition) throws -> TemplateValue {
        if op == "+" {
            switch (a, b) {
            case (.markup(let x), .markup(let y)): return .markup(x + y)
            case (.markup(let x), .string(let y)): return .markup(x + escapeMarkup(y))
            case (.string(let x), .markup(let y)): return .markup(escapeMarkup(x) + y)
            default: break
            }
        }
        let a = a.unmarked, b = b.unmarked
        func fail() -> ChatTemplateError {
            if case .undefined(let n) = a { return .runtime(message: "'\(n)' is undefined", position: p) }
            if case .undefined(let n) = b { return .runtime(message: "'\(n)' is undefined", position: p) }
            return .runtime(message: "unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'", position: p)
        }
        switch op {
        case "~": return .string(a.printed + b.printed)
        case "==": return .bool(templateEqual(a, b))
        case "!=": return .bool(!templateEqual(a, b))
        case "<", ">", "<=", ">=":
            let (x, y) = op == "<" || op == ">=" ? (a, b) : (b, a)
            guard let less = templateLess(x, y) else { throw fail() }
            return .bool(op == "<" || op == ">" ? less : !less)
        case "in":
            switch b {
            case .string(let s):
                guard case .string(let needle) = a else { throw fail() }
                return .bool(needle.isEmpty || pythonSplit(s, needle, 1).count == 2)
            case .list(let l), .generator(let l): return .bool(l.contains { templateEqual($0, a) })
            case .dict(let d): return .bool(d.contains { templateEqual($0.0, a) })
            case .namespace(let ns): return .bool(ns[a.printed] != nil)
            case .undefined: return .bool(false)
            default: throw fail()
            }
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.list(let x), .list(let y)): return .list(x + y)
            default: break
            }
        case "*":
            // Repetition is bounded so a template cannot ask for more memory than a prompt could use.
            if case .string(let s) = a, let n = intValue(b) {
                guard n <= 0 || s.utf8.count.multipliedReportingOverflow(by: n).partialValue <= 1 << 26 else {
                    throw ChatTemplateError.runtime(message: "string repetition too large", position: p)
                }
                return .string(String(repeating: s, count: max(n, 0)))
            }
            if case .list(let l) = a, let n = intValue(b) {
                guard n <= 0 || l.count.multipliedReportingOverflow(by: n).partialValue <= 1 << 22 else {
                    throw ChatTemplateError.runtime(message: "list repetition too large", position: p)
                }
                return .list(Array([[TemplateValue]](repeating: l, count: max(n, 0)).joined()))
            }
        default: break
        }
        if let i = intValue(a), let j = intValue(b) {
            switch op {
            case "+": return .int(i &+ j)
            case "-": return .int(i &- j)
            case "*": return .int(i &* j)
            case "/":
                guard j != 0 else { throw ChatTemplateError.runtime(message: "division by zero", position: p) }
                return .double(Double(i) / Double(j))
            case "//", "%":
                guard j != 0 else { throw ChatTemplateError.runtime(message: "integer division or modulo by zero", position: p) }
                var q = i / j
                if (i % j != 0) && ((i < 0) != (j < 0)) { q -= 1 }
                return .int(op == "//" ? q : i - q * j)
            case "**":
                if j >= 0 { var r = 1; for _ in 0..<j { r &*= i }; return .int(r) }
                return .double(pow(Double(i), Double(j)))
            default: break
            }
        }
        if let x = numeric(a), let y = numeric(b) {
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/":
                guard y != 0 else { throw ChatTemplateError.runtime(message: "division by zero", position: p) }
                return .double(x / y)
            case "//": return .double((x / y).rounded(.down))
            case "%": let r = x.truncatingRemainder(dividingBy: y); return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**": return .double(pow(x, y))
            default: break
            }
        }
        if op == "%", case .string = a {
            throw ChatTemplateError.unsupported(construct: "printf-style string formatting (%)", position: p)
        }
        throw fail()
    }

    func applyTest(_ name: String, _ v: TemplateValue, _ args: [TemplateValue], _ p: TemplatePosition) throws -> Bool {
        let v = v.unmarked
        let arg = args.first ?? .undefined("argument")
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": if case .none = v { return true }; return false
        case "string": if case .string = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "number": switch v { case .int, .double, .bool: return true; default: return false }
        case "mapping": if case .dict = v { return true }; return false
        case "sequence", "iterable": switch v { case .list, .string, .dict: return true; default: return false }
        case "callable": if case .callable = v { return true }; return false
        case "odd", "even":
            guard let i = intValue(v) else { throw ChatTemplateError.runtime(message: "'\(name)' needs an integer", position: p) }
            return (abs(i) % 2 == 1) == (name == "odd")
        case "divisibleby":
            guard let i = intValue(v), let j = intValue(arg), j != 0 else { throw ChatTemplateError.runtime(message: "bad divisibleby", position: p) }
            return i % j == 0
        case "eq", "equalto", "==": return templateEqual(v, arg)
        case "ne", "!=": return !templateEqual(v, arg)
        case "lt", "<", "gt", ">", "le", "<=", "ge", ">=":
            let ops = ["lt": "<", "gt": ">", "le": "<=", "ge": ">="]
            return try binary(ops[name] ?? name, v, arg, p).truthy
        case "in": return try binary("in", v, arg, p).truthy
        case "sameas":
            switch (v, arg) {
            case (.none, .none): return true
            case (.bool(let x), .bool(let y)): return x == y
            default: return templateEqual(v, arg)
            }
        case "lower": if case .string(let s) = v { return s == s.lowercased() }; return false
        case "upper": if case .string(let s) = v { return s == s.uppercased() }; return false
        default: throw ChatTemplateError.unsupported(construct: "test '\(name)'", position: p)
        }
    }

    /// A method call `value.name(args)`, or nil when `value` has no such method (a key of a dict then).
    func callMethod(_ v: TemplateValue, _ name: String, _ args: [TemplateValue], _ kwargs: [(String, TemplateValue)],
                    _ p: TemplatePosition) throws -> TemplateValue? {
        let v = v.unmarked
        func str(_ i: Int) -> String? { if i < args.count, case .string(let s) = args[i] { return s }; return nil }
        func int(_ i: Int, _ def: Int) -> Int { i < args.count ? (intValue(args[i]) ?? def) : def }
        switch v {
        case .string(let s):
            switch name {
            case "strip": return .string(pythonStrip(s, str(0)))
            case "lstrip": return .string(pythonStrip(s, str(0), trailing: false))
            case "rstrip": return .string(pythonStrip(s, str(0), leading: false))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(s.capitalized)
            case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
            case "startswith", "endswith":
                var prefixes: [String] = []
                if case .list(let l) = args.first ?? .none { prefixes = l.map(\.printed) } else if let x = str(0) { prefixes = [x] }
                let u = Array(s.unicodeScalars)
                return .bool(prefixes.contains { x in
                    let q = Array(x.unicodeScalars)
                    guard q.count <= u.count else { return false }
                    return name == "startswith" ? u.prefix(q.count).elementsEqual(q) : u.suffix(q.count).elementsEqual(q)
                })
            case "split":
                let sep = str(0) ?? kwargs.first(where: { $0.0 == "sep" })?.1.printed
                if sep == "" { throw ChatTemplateError.runtime(message: "empty separator", position: p) }
                return .list(pythonSplit(s, sep, int(1, -1)).map { .string($0) })
            case "replace":
                guard let old = str(0), let new = str(1) else { throw ChatTemplateError.runtime(message: "replace() takes two strings", position: p) }
                return .string(pythonReplace(s, old, new, int(2, -1)))
            case "format": return .string(try pythonFormat(s, args, kwargs, p))
            case "join":
                guard let first = args.first else { return nil }
                return .string(try iterate(first, p).map { item in
                    guard case .string(let x) = item else {
                        throw ChatTemplateError.runtime(message: "sequence item: expected str instance, \(item.typeName) found", position: p)
                    }
                    return x
                }.joined(separator: s))
            case "splitlines": return .list(pythonSplitLines(s).map { .string($0) })
            case "isdigit", "isspace", "isalpha", "isalnum":
                let u = s.unicodeScalars
                guard !u.isEmpty else { return .bool(false) }
                return .bool(u.allSatisfy { c in
                    switch name {
                    case "isdigit": return c.properties.numericType == .digit || c.properties.numericType == .decimal
                    case "isspace": return isPythonSpace(c)
                    case "isalpha": return c.properties.isAlphabetic
                    default: return c.properties.isAlphabetic || c.properties.numericType != nil
                    }
                })
            case "find", "count":
                guard let x = str(0) else { return nil }
                let parts = pythonSplit(s, x, -1)
                if name == "count" { return .int(parts.count - 1) }
                return .int(parts.count == 1 ? -1 : parts[0].unicodeScalars.count)
            default: return nil
            }
        case .dict(let d):
            switch name {
            case "items": return .list(d.map { .list([$0.0, $0.1]) })
            case "keys": return .list(d.map { $0.0 })
            case "values": return .list(d.map { $0.1 })
            case "get":
                let key = args.first ?? .none
                return d.first(where: { templateEqual($0.0, key) })?.1 ?? (args.count > 1 ? args[1] : .none)
            default: return nil
            }
        case .undefined(let n):
            throw ChatTemplateError.runtime(message: "'\(n)' is undefined", position: p)
        default: return nil
        }
    }
}

/// Python's `str.format` with `{}`, `{0}` and `{name}` fields (no conversions or format specs).
func pythonFormat(_ s: String, _ args: [TemplateValue], _ kwargs: [(String, TemplateValue)], _ p: TemplatePosition) throws -> String {
    let u = Array(s.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0, next = 0
    while i < u.count {
        let c = u[i]
        if c == "{", i + 1 < u.count, u[i + 1] == "{" { out.append("{"); i += 2; continue }
        if c == "}", i + 1 < u.count, u[i + 1] == "}" { out.append("}"); i += 2; continue }
        if c == "{" {
            var j = i + 1
            while j < u.count, u[j] != "}" { j += 1 }
            guard j < u.count else { throw ChatTemplateError.runtime(message: "format: unmatched '{'", position: p) }
            let field = String(String.UnicodeScalarView(u[i + 1..<j]))
            let value: TemplateValue?
            if field.isEmpty { value = next < args.count ? args[next] : nil; next += 1 }
            else if let k = Int(field) { value = k < args.count ? args[k] : nil }
            else if field.unicodeScalars.allSatisfy({ $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }) {
                value = kwargs.first(where: { $0.0 == field })?.1
            } else {
                throw ChatTemplateError.unsupported(construct: "str.format field {\(field)}", position: p)
            }
            guard let value else { throw ChatTemplateError.runtime(message: "format: no value for {\(field)}", position: p) }
            out.append(contentsOf: value.printed.unicodeScalars)
            i = j + 1
            continue
        }
        if c == "}" { throw ChatTemplateError.runtime(message: "format: single '}'", position: p) }
        out.append(c); i += 1
    }
    return String(out)
}

/// Python's `str.splitlines()` (line breaks dropped, no empty last line).
func pythonSplitLines(_ s: String) -> [String] {
    var lines: [String] = []
    var cur = String.UnicodeScalarView()
    let u = Array(s.unicodeScalars)
    var i = 0
    while i < u.count {
        switch u[i].value {
        case 0x0D:
            lines.append(String(cur)); cur = String.UnicodeScalarView()
            if i + 1 < u.count, u[i + 1] == "\n" { i += 1 }
        case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
            lines.append(String(cur)); cur = String.UnicodeScalarView()
        default: cur.append(u[i])
        }
        i += 1
    }
    if !cur.isEmpty { lines.append(String(cur)) }
    return lines
}
