import VerbaSupport

// The values a chat template computes with, and how Python prints, compares and serialises them.

/// A `namespace(...)` object: the one mutable value of a template, shared by reference.
final class TemplateNamespace {
    var attributes: [(String, TemplateValue)]
    init(_ attributes: [(String, TemplateValue)]) { self.attributes = attributes }
    subscript(key: String) -> TemplateValue? {
        get { attributes.first(where: { $0.0 == key })?.1 }
        set {
            if let i = attributes.firstIndex(where: { $0.0 == key }) { attributes[i].1 = newValue ?? .none }
            else { attributes.append((key, newValue ?? .none)) }
        }
    }
}

/// A macro or a built-in function bound to a name.
struct TemplateCallable {
    var name: String
    var call: ([TemplateValue], [(String, TemplateValue)]) throws -> TemplateValue
}

enum TemplateValue {
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([TemplateValue])
    /// Keys are strings, numbers, booleans or none, compared as Python compares them.
    case dict([(TemplateValue, TemplateValue)])
    /// What Jinja's map/select filters return: a lazy iterator, truthy even when empty, without a length.
    case generator([TemplateValue])
    /// A string marked safe (`|safe`): adding a plain string to it HTML-escapes that string, as markupsafe does.
    case markup(String)
    case namespace(TemplateNamespace)
    case callable(TemplateCallable)

    init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(TemplateValue.init))
        case .object(let o): self = .dict(o.map { (.string($0.0), TemplateValue($0.1)) })
        }
    }

    /// A marked-safe string as a plain one; every other value unchanged.
    var unmarked: TemplateValue { if case .markup(let s) = self { return .string(s) }; return self }

    var isUndefined: Bool { if case .undefined = self { return true }; return false }

    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.isEmpty
        case .dict(let d): return !d.isEmpty
        case .generator, .namespace, .callable: return true
        case .markup(let s): return !s.isEmpty
        }
    }

    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .dict: return "dict"
        case .generator: return "generator"
        case .markup: return "Markup"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    /// `str(value)` as Python (and Jinja's output) prints it.
    var printed: String {
        switch self {
        case .undefined: return ""
        case .string(let s), .markup(let s): return s
        default: return repr
        }
    }

    /// `repr(value)` as Python prints it.
    var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return pythonFloat(d)
        case .string(let s): return pythonStringRepr(s)
        case .list(let l): return "[" + l.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let d): return "{" + d.map { $0.0.repr + ": " + $0.1.repr }.joined(separator: ", ") + "}"
        case .namespace(let n): return "<Namespace " + TemplateValue.dict(n.attributes.map { (.string($0.0), $0.1) }).repr + ">"
        case .callable(let c): return "<function \(c.name)>"
        case .generator: return "<generator object>"
        case .markup(let s): return "Markup(" + pythonStringRepr(s) + ")"
        }
    }
}

/// Python's `repr` of a float: the shortest digits that read back (Swift finds the same ones), placed
/// as Python places them: an exponent when the point falls 4 or more places before the first digit or
/// more than 16 after it, otherwise positional with at least one digit after the point.
func pythonFloat(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    let sign = d.sign == .minus ? "-" : ""
    if d == 0 { return sign + "0.0" }
    // Swift writes either "123.456" or "1.2345e-07"; read its digits and the point's place.
    let text = "\(abs(d))"
    var digits = "", decpt = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        let mantissa = text[..<e], exponent = Int(text[text.index(after: e)...]) ?? 0
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        decpt = parts[0].count + exponent
    } else {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts[0]), fraction = parts.count > 1 ? String(parts[1]) : ""
        digits = whole + fraction
        decpt = whole.count
    }
    while digits.hasPrefix("0") { digits.removeFirst(); decpt -= 1 }
    while digits.hasSuffix("0") { digits.removeLast() }
    if digits.isEmpty { return sign + "0.0" }
    let n = digits.count
    if decpt <= -4 || decpt > 16 {
        let exp = decpt - 1
        let mantissa = n == 1 ? digits : String(digits.prefix(1)) + "." + String(digits.dropFirst())
        let e = String(abs(exp))
        return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + (e.count < 2 ? "0" + e : e)
    }
    if decpt <= 0 { return sign + "0." + String(repeating: "0", count: -decpt) + digits }
    if decpt < n { return sign + String(digits.prefix(decpt)) + "." + String(digits.dropFirst(decpt)) }
    return sign + digits + String(repeating: "0", count: decpt - n) + ".0"
}

/// Python's `repr` of a string: single quotes unless the text holds a single quote and no double one.
func pythonStringRepr(_ s: String) -> String {
    let q: Character = (s.contains("'") && !s.contains("\"")) ? "\"" : "'"
    var out = String(q)
    for c in s.unicodeScalars {
        switch c {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(c) == q { out += "\\" + String(q) }
            else if c.value < 0x20 || c.value == 0x7F { out += "\\x" + hex2(c.value) }
            else { out.unicodeScalars.append(c) }
        }
    }
    out.append(q)
    return out
}

private func hex2(_ v: UInt32) -> String { let h = String(v, radix: 16); return h.count < 2 ? "0" + h : h }
private func hex4(_ v: UInt16) -> String { let h = String(v, radix: 16); return String(repeating: "0", count: 4 - h.count) + h }

/// `json.dumps(value, ensure_ascii=False, indent=indent, separators=…, sort_keys=…)` as transformers' `tojson` does.
func pythonJSON(_ v: TemplateValue, indent: Int?, separators: (String, String)? = nil, ensureASCII: Bool = false,
                sortKeys: Bool, level: Int = 0) throws -> String {
    let itemSep = separators?.0 ?? (indent == nil ? ", " : ",")
    let keySep = separators?.1 ?? ": "
    func sub(_ x: TemplateValue) throws -> String {
        try pythonJSON(x, indent: indent, separators: separators, ensureASCII: ensureASCII, sortKeys: sortKeys, level: level + 1)
    }
    func jsonString(_ s: String) -> String { jsonStringLiteral(s, ensureASCII: ensureASCII) }
    func pad(_ l: Int) -> String { indent.map { "\n" + String(repeating: " ", count: $0 * l) } ?? "" }
    switch v {
    case .none: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .int(let i): return String(i)
    case .double(let d):
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return pythonFloat(d)
    case .string(let s), .markup(let s): return jsonString(s)
    case .list(let l):
        if l.isEmpty { return "[]" }
        return "[" + (try l.map { pad(level + 1) + (try sub($0)) })
            .joined(separator: itemSep) + pad(level) + "]"
    case .dict(let entries):
        if entries.isEmpty { return "{}" }
        // json.dumps writes non-string keys as their JSON text, quoted.
        var d = try entries.map { (k, v) -> (String, TemplateValue) in
            switch k {
            case .string(let s): return (s, v)
            case .int, .double, .bool, .none: return (try pythonJSON(k, indent: nil, sortKeys: false), v)
            default: throw ChatTemplateError.runtime(message: "keys must be str, int, float, bool or None", position: TemplatePosition?.none)
            }
        }
        if sortKeys { d.sort { Array($0.0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.0.unicodeScalars.map(\.value)) } }
        return "{" + (try d.map { pad(level + 1) + jsonString($0.0) + keySep + (try sub($0.1)) })
            .joined(separator: itemSep) + pad(level) + "}"
    case .undefined, .generator, .namespace, .callable:
        throw ChatTemplateError.runtime(message: "Object of type \(v.typeName) is not JSON serializable", position: TemplatePosition?.none)
    }
}

private func jsonStringLiteral(_ s: String, ensureASCII: Bool) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        default:
            if c.value < 0x20 { out += "\\u00" + hex2(c.value) }
            else if ensureASCII, c.value > 0x7E { for unit in String(c).utf16 { out += "\\u" + hex4(unit) } }
            else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

