/// `text` with the characters that are markup in HTML and XML replaced by entities (`&`, `<`, `>`, `"`,
/// `'`), as Python's markupsafe escapes them (Jinja's `escape` filter), which SVG reads as well.
package func escapeMarkup(_ text: String) -> String {
    var out = ""
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&#34;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}
