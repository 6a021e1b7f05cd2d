// The one JSON reader of the package. Fast on large vocabularies, keeps the order of object keys (a
// vocabulary's order is meaningful when saving), and says where malformed input breaks (line and
// column). `JSONOptions.strict` holds it to RFC 8259 for untrusted headers (safetensors): duplicate keys,
// invalid UTF-8, lone surrogate escapes, numbers outside the grammar and integers that do not fit `Int`
// are errors there instead of being read leniently.

import CVerbaSupport

/// A parsed JSON value. Objects keep their keys in file order.
///
/// ```swift
/// import VerbaSupport
/// let config = JSONValue.object([("model_type", .string("gpt2")), ("n_layer", .int(12))])
/// print(config["n_layer"]?.intValue ?? 0)          // 12
/// print(config["model_type"]?.stringValue ?? "")   // "gpt2"
/// let text = String(decoding: config.serialized(), as: UTF8.self)   // keys in the order given
/// ```
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer literal (no fraction, no exponent) that fits in `Int`.
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value under `key` of an object (the first one if repeated); nil for other values.
    public subscript(key: String) -> JSONValue? {
        if case let .object(pairs) = self {
            for (k, v) in pairs where k == key { return v }
        }
        return nil
    }

    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var intValue: Int? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var objectValue: [(String, JSONValue)]? { if case let .object(o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
}

/// Why a JSON text could not be parsed, with the place (line and column, 1-based).
///
/// Loaders wrap its message in their own error, which names the file:
///
/// ```swift
/// do {
///     _ = try Tokenizer.fromTokenizerJSON(Array("{\"model\": }".utf8), path: "inline.json")
/// } catch TokenizerError.malformed(let path, let reason) {
///     print(path, reason)   // "inline.json invalid JSON at line 1, column 11: ..."
/// }
/// ```
public struct JSONParseError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    package init(message: String) { self.message = message }
}

/// How strictly `JSONParser` reads.
package struct JSONOptions: Sendable {
    /// RFC 8259 to the letter: object keys unique, strings valid UTF-8 with paired surrogate escapes,
    /// numbers in the grammar (no leading zeros, digits after '.' and 'e'), integer literals within `Int`.
    /// When false, a lone surrogate escape reads as U+FFFD, string bytes are not validated, a repeated
    /// key is kept twice and an integer too large for `Int` reads as a `Double`.
    @usableFromInline package var strict: Bool
    /// Deepest nesting of objects and arrays accepted.
    @usableFromInline package var maxDepth: Int

    package init(strict: Bool, maxDepth: Int) {
        self.strict = strict
        self.maxDepth = maxDepth
    }

    /// For configuration and tokenizer files written by tools.
    package static let lenient = JSONOptions(strict: false, maxDepth: 512)
    /// For headers that bound what is read from a file (safetensors).
    package static let strict = JSONOptions(strict: true, maxDepth: 64)
}

/// Parses JSON text (UTF-8).
///
/// - Complexity: O(n) in the text's length.
package func parseJSON(_ bytes: [UInt8], options: JSONOptions = .lenient) throws -> JSONValue {
    try bytes.withUnsafeBufferPointer { try parseJSON($0, options: options, capturing: []) { _, _ in false } }
}

/// Parses JSON text (UTF-8) in raw memory, such as a file mapping.
package func parseJSON(_ bytes: UnsafeRawBufferPointer, options: JSONOptions = .lenient) throws -> JSONValue {
    try bytes.withMemoryRebound(to: UInt8.self) { try parseJSON($0, options: options, capturing: []) { _, _ in false } }
}

/// Parses JSON text, handing the values at the key paths `capturing` (keys of nested objects from the
/// root, e.g. `["model", "vocab"]`) to `reader` (with the path's index and the parser at the value)
/// instead of building them: a vocabulary of 100,000 strings costs far more as a document of Swift
/// Strings than read straight into a table. A value the reader takes stands as `.null` in the result;
/// if the reader returns false (the value is not of the shape it reads), the value is parsed as usual.
/// Only the first value at a path is offered.
package func parseJSON(_ buffer: UnsafeBufferPointer<UInt8>, options: JSONOptions = .lenient, capturing paths: [[String]],
                       reader: (Int, inout JSONParser) throws -> Bool) throws -> JSONValue {
    var parser = JSONParser(bytes: buffer, options: options)
    parser.capturedPaths = paths
    parser.offered = [Bool](repeating: false, count: paths.count)
    return try withoutActuallyEscaping(reader) { reader in
        parser.reader = reader
        defer { parser.reader = nil }  // the closure must not outlive this block
        parser.skipSpace()
        let value = try parser.parseValue(depth: 0)
        parser.skipSpace()
        if parser.pos < buffer.count { throw parser.failure("unexpected text after the JSON value") }
        return value
    }
}

/// Where the JSON object or array that starts at `bytes[start]` ('{' or '[') ends: the index just
/// past its closing bracket, or nil when the text ends first. Strings are stepped over with their
/// escapes and brackets counted, nothing else is checked: for moving past a value that another thread
/// reads properly.
/// - Complexity: O(n), sixteen bytes a step (`verba_json_skip_container`, SSE2).
package func jsonContainerEnd(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
    precondition(start >= 0 && start < bytes.count && (bytes[start] == UInt8(ascii: "{") || bytes[start] == UInt8(ascii: "[")))
    let end = verba_json_skip_container(bytes.baseAddress! + start, bytes.count - start)
    // size_t arrives as Int: SIZE_MAX (the text ended first) is -1.
    return end > 0 && end <= bytes.count - start ? start + end : nil
}

/// `jsonContainerEnd` a byte at a time: the plain version the fast one is tested against.
package func jsonContainerEndReference(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
    precondition(start >= 0 && start < bytes.count && (bytes[start] == UInt8(ascii: "{") || bytes[start] == UInt8(ascii: "[")))
    var depth = 0
    var inString = false
    var i = start
    while i < bytes.count {
        let b = bytes[i]
        i += 1
        if inString {
            if b == UInt8(ascii: "\\") { i += 1 } else if b == UInt8(ascii: "\"") { inString = false }
            continue
        }
        switch b {
        case UInt8(ascii: "\""): inString = true
        case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            depth -= 1
            if depth == 0 { return i }
        default: break
        }
    }
    return nil
}

/// A JSON reader over UTF-8 bytes; `pos` is the next byte.
package struct JSONParser {
    // The per-value readers below are @inlinable: VerbaTokenizers' vocabulary and merges readers call
    // them for every entry, and across the module boundary they would be calls through generic thunks.
    @usableFromInline package let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline package let options: JSONOptions
    @usableFromInline package var pos = 0
    @usableFromInline package var scratch: [UInt8] = []
    /// Key paths whose values go to `reader` (see `parseJSON(_:capturing:reader:)`), which of them were
    /// offered already, and the keys of the objects being parsed while every level so far is an object
    /// member.
    package var capturedPaths: [[String]] = []
    package var offered: [Bool] = []
    package var reader: ((Int, inout JSONParser) throws -> Bool)? = nil
    private var keyPath: [String] = []

    package init(bytes: UnsafeBufferPointer<UInt8>, options: JSONOptions = .lenient) {
        self.bytes = bytes
        self.options = options
    }

    @usableFromInline package func failure(_ what: String) -> JSONParseError {
        if pos >= bytes.count {
            return JSONParseError(message: "truncated JSON: the text ends (after \(bytes.count) bytes) in the middle of a value")
        }
        var line = 1, column = 1
        for i in 0..<min(pos, bytes.count) {
            if bytes[i] == 10 { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
        }
        return JSONParseError(message: "invalid JSON at line \(line), column \(column): \(what)")
    }

    /// Moves past the object or array at `pos` without building it (see `jsonContainerEnd`). False,
    /// `pos` unmoved, if the value is not an object or an array.
    /// - Throws: `JSONParseError` when the text ends before the value does.
    package mutating func skipContainer() throws -> Bool {
        skipSpace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "{") || bytes[pos] == UInt8(ascii: "[") else { return false }
        guard let end = jsonContainerEnd(bytes, at: pos) else {
            pos = bytes.count
            throw failure("")
        }
        pos = end
        return true
    }

    @inlinable package mutating func skipSpace() {
        while pos < bytes.count {
            let b = bytes[pos]
            if b == 32 || b == 10 || b == 13 || b == 9 { pos += 1 } else { break }
            // Indentation (a pretty-printed file's merges are mostly that): eight spaces at a time.
            while pos + 8 <= bytes.count
                && UnsafeRawPointer(bytes.baseAddress! + pos).loadUnaligned(as: UInt64.self) == 0x2020_2020_2020_2020 {
                pos += 8
            }
        }
    }

    package mutating func expect(_ literal: StaticString, _ value: JSONValue) throws -> JSONValue {
        let n = literal.utf8CodeUnitCount
        let p = literal.utf8Start
        for i in 0..<n {
            guard pos + i < bytes.count else { pos = bytes.count; throw failure("") }
            if bytes[pos + i] != p[i] { throw failure("unknown literal") }
        }
        pos += n
        return value
    }

    package mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < options.maxDepth else { throw failure("nesting deeper than \(options.maxDepth) levels") }
        guard pos < bytes.count else { throw failure("") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            var pairs: [(String, JSONValue)] = []
            var keys = Set<String>()
            skipSpace()
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
            while true {
                skipSpace()
                guard pos < bytes.count else { throw failure("") }
                guard bytes[pos] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
                let keyStart = pos
                let key = try parseString()
                if options.strict && !keys.insert(key).inserted {
                    pos = keyStart
                    throw failure("duplicate key \"\(key)\"")
                }
                skipSpace()
                guard pos < bytes.count else { throw failure("") }
                guard bytes[pos] == UInt8(ascii: ":") else { throw failure("expected ':' after a key") }
                pos += 1
                skipSpace()
                // The key path is followed while every level is an object member (the members of the
                // value are parsed with it in place).
                let tracked = !capturedPaths.isEmpty && keyPath.count == depth
                if tracked { keyPath.append(key) }
                pairs.append((key, try tracked && offerToReader() ? .null : parseValue(depth: depth + 1)))
                if tracked { keyPath.removeLast() }
                skipSpace()
                guard pos < bytes.count else { throw failure("") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
                throw failure("expected ',' or '}' in an object")
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [JSONValue] = []
            skipSpace()
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try parseValue(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw failure("") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw failure("expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw failure("unexpected character")
        }
    }

    /// Hands the value at `pos` to `reader` if `keyPath` is one of `capturedPaths` offered for the first
    /// time; true (and `pos` after the value) if the reader took it, false (`pos` unchanged) otherwise.
    private mutating func offerToReader() throws -> Bool {
        guard let k = capturedPaths.firstIndex(of: keyPath), !offered[k], let reader else { return false }
        offered[k] = true
        var sub = JSONParser(bytes: bytes)
        sub.pos = pos
        guard try reader(k, &sub) else { return false }
        pos = sub.pos
        return true
    }

    @inlinable package mutating func parseNumber() throws -> JSONValue {
        if options.strict { return try parseStrictNumber() }
        let start = pos
        // Fast path: a plain integer of up to 18 digits.
        var i = pos
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var value = 0
        let digitsStart = i
        while i < bytes.count && i - digitsStart < 18, case 48...57 = bytes[i] {
            value = value * 10 + Int(bytes[i] - 48)
            i += 1
        }
        if i > digitsStart && (i == digitsStart + 1 || bytes[digitsStart] != 48) {
            let end = i == bytes.count || !(bytes[i] >= 48 && bytes[i] <= 57 || bytes[i] == UInt8(ascii: ".")
                || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") || bytes[i] == UInt8(ascii: "+")
                || bytes[i] == UInt8(ascii: "-"))
            if end {
                pos = i
                return .int(negative ? -value : value)
            }
        }
        var integral = true
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        while pos < bytes.count {
            let b = bytes[pos]
            if b >= 48 && b <= 57 { pos += 1; continue }
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") {
                integral = false; pos += 1; continue
            }
            break
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if integral, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { pos = start; throw failure("malformed number") }
        return .double(d)
    }

    /// A number in RFC 8259's grammar; an integer literal must fit `Int`.
    @usableFromInline package mutating func parseStrictNumber() throws -> JSONValue {
        let start = pos
        func digits() -> Int {
            let s = pos
            while pos < bytes.count, bytes[pos] >= 48 && bytes[pos] <= 57 { pos += 1 }
            return pos - s
        }
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count else { throw failure("") }
        if bytes[pos] == 48 { pos += 1 } else if digits() == 0 { throw failure("malformed number") }
        var integral = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1; integral = false
            if digits() == 0 { throw failure("malformed number") }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1; integral = false
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            if digits() == 0 { throw failure("malformed number") }
        }
        if pos < bytes.count, bytes[pos] >= 48 && bytes[pos] <= 57 { throw failure("number with a leading zero") }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if integral {
            guard let i = Int(text) else { pos = start; throw failure("integer out of range") }
            return .int(i)
        }
        guard let d = Double(text) else { pos = start; throw failure("malformed number") }
        return .double(d)
    }

    @inlinable package mutating func parseHex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { pos = bytes.count; throw failure("") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case 48...57: d = UInt32(b - 48)
            case 65...70: d = UInt32(b - 55)
            case 97...102: d = UInt32(b - 87)
            default: throw failure("malformed \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    @inlinable package mutating func parseString() throws -> String {
        try withString { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads the string at `pos` (its opening quote) and calls `body` with its unescaped UTF-8 bytes,
    /// valid during the call. Leniently, a lone surrogate escape becomes U+FFFD and the bytes are not
    /// otherwise checked; strictly, both are errors.
    @inlinable package mutating func withString<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> T {
        pos += 1 // opening quote
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<pos])
                if options.strict { try validateUTF8(raw, at: start) }
                let s = try body(raw)
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw failure("control character inside a string") }
            pos += 1
        }
        guard pos < bytes.count else { throw failure("") }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                if options.strict { try scratch.withUnsafeBufferPointer { try validateUTF8($0, at: start) } }
                pos += 1
                return try scratch.withUnsafeBufferPointer { try body($0) }
            }
            if b < 0x20 { throw failure("control character inside a string") }
            if b != UInt8(ascii: "\\") { scratch.append(b); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { throw failure("") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5C)
            case UInt8(ascii: "/"): scratch.append(0x2F)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if code >= 0xD800 && code < 0xDC00 {
                    // A high surrogate: a low one must follow, else it becomes U+FFFD.
                    if pos + 6 <= bytes.count && bytes[pos] == UInt8(ascii: "\\") && bytes[pos + 1] == UInt8(ascii: "u") {
                        let save = pos
                        pos += 2
                        let low = try parseHex4()
                        if low >= 0xDC00 && low < 0xE000 {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            pos = save
                            if options.strict { throw failure("unpaired surrogate escape") }
                            code = 0xFFFD
                        }
                    } else {
                        if options.strict { throw failure("unpaired surrogate escape") }
                        code = 0xFFFD
                    }
                } else if code >= 0xDC00 && code < 0xE000 {
                    if options.strict { throw failure("unpaired surrogate escape") }
                    code = 0xFFFD
                }
                appendUTF8(code, to: &scratch)
            default:
                pos -= 1
                throw failure("unknown escape in a string")
            }
        }
        throw failure("")
    }

    /// Throws unless `text` is well-formed UTF-8; `start` (where the string's text begins) places the error.
    @usableFromInline package mutating func validateUTF8(_ text: UnsafeBufferPointer<UInt8>, at start: Int) throws {
        var decoder = UTF8()
        var iterator = text.makeIterator()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return
            case .error:
                pos = start
                throw failure("invalid UTF-8 in a string")
            }
        }
    }
}
