// Splits a chat template into text and tags as Jinja does with the environment `transformers` builds
// (`trim_blocks=True`, `lstrip_blocks=True`, no trailing newline kept), then splits each tag's inside
// into expression tokens.

/// A position in the template source, 1-based, for error messages.
struct TemplatePosition: Sendable, Equatable, CustomStringConvertible {
    var line: Int
    var column: Int
    var description: String { "line \(line), column \(column)" }
}

/// One piece of the template: literal text, an output tag `{{ … }}`, or a statement tag `{% … %}`.
enum TemplateSegment {
    case text(String)
    case output([TemplateToken], TemplatePosition)
    case statement([TemplateToken], TemplatePosition)
}

/// A token inside a tag.
struct TemplateToken: Equatable {
    enum Kind: Equatable { case name, string, integer, float, op, end }
    var kind: Kind
    var text: String
    var position: TemplatePosition
}

/// Jinja's source normalisation: every line break (as Python's `splitlines` knows them) becomes "\n" and
/// one trailing line break is dropped.
func normalizeTemplateNewlines(_ source: String) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    let scalars = Array(source.unicodeScalars)
    var i = 0
    while i < scalars.count {
        let c = scalars[i]
        switch c.value {
        case 0x0D:
            out.append("\n")
            if i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
        case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
            out.append("\n")
        default:
            out.append(c)
        }
        i += 1
    }
    if out.last == "\n" { out.removeLast() }
    return out
}

/// Whether `c` is whitespace as Python's `str.isspace` (and the regex `\s`) has it.
func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

struct TemplateLexer {
    let src: [Unicode.Scalar]
    var lineStarts: [Int] = [0]

    init(_ source: String) {
        src = normalizeTemplateNewlines(source)
        for (i, c) in src.enumerated() where c == "\n" { lineStarts.append(i + 1) }
    }

    func position(_ offset: Int) -> TemplatePosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return TemplatePosition(line: lo + 1, column: offset - lineStarts[lo] + 1)
    }

    func at(_ i: Int, _ c: Unicode.Scalar) -> Bool { i < src.count && src[i] == c }

    /// The segments of the template, with the whitespace control of `-`/`+` markers, `trim_blocks` and
    /// `lstrip_blocks` applied to the text between tags.
    func segments() throws -> [TemplateSegment] {
        var out: [TemplateSegment] = []
        var text: [Unicode.Scalar] = []
        var i = 0
        var lineStarting = true      // the previous tag ended with a newline (or this is the start)
        func flushText(into out: inout [TemplateSegment], _ text: inout [Unicode.Scalar]) {
            if !text.isEmpty {
                var s = String.UnicodeScalarView()
                s.append(contentsOf: text)
                out.append(.text(String(s)))
            }
            text.removeAll()
        }
        while i < src.count {
            let opens = src[i] == "{" && i + 1 < src.count && (src[i + 1] == "{" || src[i + 1] == "%" || src[i + 1] == "#")
            if !opens {
                text.append(src[i]); i += 1
                continue
            }
            let kind = src[i + 1]
            let tagStart = i
            var j = i + 2
            let leftMarker: Unicode.Scalar? = (j < src.count && (src[j] == "-" || src[j] == "+")) ? src[j] : nil
            if leftMarker != nil { j += 1 }
            // Whitespace control on the text before the tag.
            if leftMarker == "-" {
                while let last = text.last, isPythonSpace(last) { text.removeLast() }
            } else if kind != "{" && leftMarker != "+" {
                var k = text.count
                while k > 0, text[k - 1] == " " || text[k - 1] == "\t" { k -= 1 }
                if (k > 0 && text[k - 1] == "\n") || (k == 0 && lineStarting) { text.removeSubrange(k...) }
            }
            flushText(into: &out, &text)
            if kind == "%" {
                // `{% raw %}…{% endraw %}` (a body kept as text) is not implemented.
                var r = j
                while r < src.count, isPythonSpace(src[r]) { r += 1 }
                if r + 3 <= src.count, String(String.UnicodeScalarView(src[r..<r + 3])) == "raw" {
                    throw ChatTemplateError.unsupported(construct: "{% raw %}", position: position(tagStart))
                }
            }
            // Find the closing delimiter, skipping string literals.
            let closer: Unicode.Scalar = kind == "{" ? "}" : (kind == "%" ? "%" : "#")
            var end = -1
            var quote: Unicode.Scalar? = nil
            var k = j
            while k + 1 < src.count {
                let c = src[k]
                if kind != "#" {
                    if let q = quote {
                        if c == "\\" { k += 2; continue }
                        if c == q { quote = nil }
                        k += 1; continue
                    }
                    if c == "'" || c == "\"" { quote = c; k += 1; continue }
                }
                if c == closer && src[k + 1] == "}" { end = k; break }
                k += 1
            }
            guard end >= 0 else {
                throw ChatTemplateError.syntax(message: "unclosed tag", position: position(tagStart))
            }
            var innerEnd = end
            var rightMarker: Unicode.Scalar? = nil
            if innerEnd > j, src[innerEnd - 1] == "-" || src[innerEnd - 1] == "+" {
                rightMarker = src[innerEnd - 1]; innerEnd -= 1
            }
            i = end + 2
            if kind != "#" {
                let tokens = try tokenize(j, innerEnd)
                out.append(kind == "{" ? .output(tokens, position(tagStart)) : .statement(tokens, position(tagStart)))
            }
            // After the tag: `-` eats all following whitespace (Jinja's `-%}\s*`), trim_blocks one newline
            // after a statement or comment; a text that then starts a line may have lstrip_blocks applied.
            lineStarting = false
            if rightMarker == "-" {
                while i < src.count, isPythonSpace(src[i]) { lineStarting = src[i] == "\n"; i += 1 }
            } else if rightMarker == nil && kind != "{" && at(i, "\n") {
                i += 1; lineStarting = true
            }
        }
        flushText(into: &out, &text)
        return out
    }

    /// The tokens of a tag's inside `src[from..<to]`.
    func tokenize(_ from: Int, _ to: Int) throws -> [TemplateToken] {
        var tokens: [TemplateToken] = []
        var i = from
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
        func isNameChar(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || ("0"..."9").contains(c) }
        while i < to {
            let c = src[i]
            if isPythonSpace(c) { i += 1; continue }
            let pos = position(i)
            if isNameStart(c) {
                var j = i
                while j < to, isNameChar(src[j]) { j += 1 }
                tokens.append(TemplateToken(kind: .name, text: String(String.UnicodeScalarView(src[i..<j])), position: pos))
                i = j
            } else if ("0"..."9").contains(c) {
                var j = i
                while j < to, ("0"..."9").contains(src[j]) || src[j] == "_" { j += 1 }
                var isFloat = false
                if j + 1 < to, src[j] == ".", ("0"..."9").contains(src[j + 1]) {
                    isFloat = true; j += 1
                    while j < to, ("0"..."9").contains(src[j]) { j += 1 }
                }
                if j + 1 < to, src[j] == "e" || src[j] == "E" {
                    var k = j + 1
                    if k < to, src[k] == "+" || src[k] == "-" { k += 1 }
                    if k < to, ("0"..."9").contains(src[k]) {
                        isFloat = true
                        j = k
                        while j < to, ("0"..."9").contains(src[j]) { j += 1 }
                    }
                }
                let text = String(String.UnicodeScalarView(src[i..<j])).replacingOccurrences(of: "_", with: "")
                tokens.append(TemplateToken(kind: isFloat ? .float : .integer, text: text, position: pos))
                i = j
            } else if c == "'" || c == "\"" {
                var j = i + 1
                var value = String.UnicodeScalarView()
                var closed = false
                while j < to {
                    let d = src[j]
                    if d == c { closed = true; j += 1; break }
                    if d == "\\", j + 1 < to {
                        let (scalars, next) = try unescape(j, to)
                        value.append(contentsOf: scalars); j = next; continue
                    }
                    value.append(d); j += 1
                }
                guard closed else { throw ChatTemplateError.syntax(message: "unterminated string", position: pos) }
                tokens.append(TemplateToken(kind: .string, text: String(value), position: pos))
                i = j
            } else {
                let two = i + 1 < to ? String(String.UnicodeScalarView([c, src[i + 1]])) : ""
                if ["==", "!=", "<=", ">=", "//", "**"].contains(two) {
                    tokens.append(TemplateToken(kind: .op, text: two, position: pos)); i += 2
                } else if "+-*/%~<>=()[]{},.:|".unicodeScalars.contains(c) {
                    tokens.append(TemplateToken(kind: .op, text: String(c), position: pos)); i += 1
                } else {
                    throw ChatTemplateError.syntax(message: "unexpected character '\(c)'", position: pos)
                }
            }
        }
        tokens.append(TemplateToken(kind: .end, text: "", position: position(to)))
        return tokens
    }

    /// A backslash escape in a string literal at `src[i]`, as Python's `unicode-escape` decodes it.
    func unescape(_ i: Int, _ to: Int) throws -> ([Unicode.Scalar], Int) {
        let e = src[i + 1]
        switch e {
        case "n": return (["\n"], i + 2)
        case "t": return (["\t"], i + 2)
        case "r": return (["\r"], i + 2)
        case "\\": return (["\\"], i + 2)
        case "'": return (["'"], i + 2)
        case "\"": return (["\""], i + 2)
        case "a": return (["\u{07}"], i + 2)
        case "b": return (["\u{08}"], i + 2)
        case "f": return (["\u{0C}"], i + 2)
        case "v": return (["\u{0B}"], i + 2)
        case "0": return (["\u{00}"], i + 2)
        case "\n": return ([], i + 2)
        case "x", "u", "U":
            let n = e == "x" ? 2 : (e == "u" ? 4 : 8)
            guard i + 2 + n <= to, let v = UInt32(String(String.UnicodeScalarView(src[i + 2..<i + 2 + n])), radix: 16),
                  let s = Unicode.Scalar(v) else {
                throw ChatTemplateError.syntax(message: "bad \\\(e) escape", position: position(i))
            }
            return ([s], i + 2 + n)
        default: return (["\\", e], i + 2)
        }
    }
}
