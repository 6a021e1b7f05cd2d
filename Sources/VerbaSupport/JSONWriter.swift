// The one JSON writer of the package: string literals, decimals, and whole `JSONValue` documents.

/// Appends the UTF-8 encoding of scalar value `code` (assumed valid) to `out`.
@inlinable @inline(__always)
package func appendUTF8(_ code: UInt32, to out: inout [UInt8]) {
    if code < 0x80 {
        out.append(UInt8(code))
    } else if code < 0x800 {
        out.append(UInt8(0xC0 | (code >> 6)))
        out.append(UInt8(0x80 | (code & 0x3F)))
    } else if code < 0x10000 {
        out.append(UInt8(0xE0 | (code >> 12)))
        out.append(UInt8(0x80 | ((code >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (code & 0x3F)))
    } else {
        out.append(UInt8(0xF0 | (code >> 18)))
        out.append(UInt8(0x80 | ((code >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((code >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (code & 0x3F)))
    }
}

/// Appends `s` as a JSON string literal (quotes included) to `out`.
package func appendJSONString(_ s: String, to out: inout [UInt8]) {
    out.append(0x22)
    for b in s.utf8 {
        switch b {
        case 0x22: out.append(0x5C); out.append(0x22)
        case 0x5C: out.append(0x5C); out.append(0x5C)
        case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
        case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
        case 0..<0x20, 0x7F:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
        default: out.append(b)
        }
    }
    out.append(0x22)
}

/// Appends `value` in decimal (a minus sign for negatives) to `out`.
package func appendDecimal(_ value: Int, to out: inout [UInt8]) {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
        let n = writeDecimal(value, to: buf.baseAddress!)
        out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[0..<n]))
    }
}

/// Writes `value` in decimal (a minus sign for negatives) at `p`, which has room for 20 bytes, and
/// returns the number of bytes written. Two digits a step from a table: `verba tokenize` writes every id
/// through this.
@inlinable @inline(__always)
package func writeDecimal(_ value: Int, to p: UnsafeMutablePointer<UInt8>) -> Int {
    var k = 0
    var v = value.magnitude
    if value < 0 {
        p[0] = 45
        k = 1
    }
    let digits: Int
    if v < 100_000 {
        digits = v < 100 ? (v < 10 ? 1 : 2) : v < 1000 ? 3 : v < 10000 ? 4 : 5
    } else {
        var d = 6
        var limit: UInt = 1_000_000
        while v >= limit && d < 20 {
            d += 1
            let (next, overflow) = limit.multipliedReportingOverflow(by: 10)
            if overflow { break }
            limit = next
        }
        digits = d
    }
    let pairs = decimalDigitPairs.utf8Start
    var at = k + digits
    while v >= 100 {
        let q = v / 100
        let r = Int(v - q * 100)
        at -= 2
        p[at] = pairs[2 * r]
        p[at + 1] = pairs[2 * r + 1]
        v = q
    }
    if v >= 10 {
        p[at - 2] = pairs[2 * Int(v)]
        p[at - 1] = pairs[2 * Int(v) + 1]
    } else {
        p[at - 1] = UInt8(truncatingIfNeeded: 48 + v)
    }
    return k + digits
}

/// "00" "01" ... "99": two digits per entry. A string literal, so the table is in the binary and reading
/// it needs no lazy initialization.
@usableFromInline package let decimalDigitPairs: StaticString = """
    00010203040506070809101112131415161718192021222324252627282930313233343536373839\
    40414243444546474849505152535455565758596061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899
    """

extension JSONValue {
    /// The value as JSON text. Objects and arrays holding containers are indented by two spaces per
    /// level; arrays of scalars stay on one line. A NaN or infinite number is written as null.
    public func serialized(indent: Int = 0) -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out, indent: indent)
        return out
    }

    package func write(to out: inout [UInt8], indent: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case let .bool(b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case let .int(i): appendDecimal(i, to: &out)
        case let .double(d) where !d.isFinite:  // JSON has no NaN or infinity
            out.append(contentsOf: "null".utf8)
        case let .double(d):
            if d == d.rounded() && abs(d) < 1e15 { out.append(contentsOf: "\(Int(d)).0".utf8) } else { out.append(contentsOf: "\(d)".utf8) }
        case let .string(s): appendJSONString(s, to: &out)
        case let .array(items):
            let flat = items.allSatisfy { if case .array = $0 { return false }; if case .object = $0 { return false }; return true }
            if items.isEmpty { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")); if flat { out.append(32) } }
                if !flat { newline(&out, indent + 1) }
                item.write(to: &out, indent: indent + 1)
            }
            if !flat { newline(&out, indent) }
            out.append(UInt8(ascii: "]"))
        case let .object(pairs):
            if pairs.isEmpty { out.append(contentsOf: "{}".utf8); return }
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(&out, indent + 1)
                appendJSONString(k, to: &out)
                out.append(contentsOf: ": ".utf8)
                v.write(to: &out, indent: indent + 1)
            }
            newline(&out, indent)
            out.append(UInt8(ascii: "}"))
        }
    }

    private func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(10)
        for _ in 0..<indent { out.append(32); out.append(32) }
    }
}

extension JSONValue {
    /// The value as JSON text on one line with no spaces (HTTP bodies, one server-sent event per line).
    package func compactSerialized() -> [UInt8] {
        var out: [UInt8] = []
        writeCompact(to: &out)
        return out
    }

    private func writeCompact(to out: inout [UInt8]) {
        switch self {
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.writeCompact(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONString(k, to: &out)
                out.append(UInt8(ascii: ":"))
                v.writeCompact(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        default:
            write(to: &out, indent: 0)
        }
    }
}
