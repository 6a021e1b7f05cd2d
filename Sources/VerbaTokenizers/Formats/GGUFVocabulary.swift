// The tokenizer vocabulary of a GGUF file (llama.cpp's format): only the header and the key/value
// metadata are read; tensors are skipped. Every length is checked against the file's size.

/// The `tokenizer.ggml.*` metadata of a GGUF file.
struct GGUFVocabulary {
    var model: String = ""
    var pre: String?
    var tokens: [String] = []
    var merges: [String] = []
    var tokenTypes: [Int] = []
    var scores: [Float] = []
    /// sentencepiece's normalization rules (`tokenizer.ggml.precompiled_charsmap`), empty when absent.
    var precompiledCharsmap: [UInt8] = []
    var ids: [String: Int] = [:]
    var flags: [String: Bool] = [:]

    /// Parses the metadata of `data`; `path` names the file in errors.
    init(_ data: [UInt8], path: String) throws {
        var r = GGUFReader(data: data, path: path)
        guard try r.u32() == 0x4655_4747 else { throw r.fail("not a GGUF file (bad magic)") }
        let version = try r.u32()
        guard version == 2 || version == 3 else { throw TokenizerError.unsupported(path: path, what: "GGUF version \(version)") }
        _ = try r.u64()  // tensor count
        let kvCount = try r.u64()
        guard kvCount < 1 << 20 else { throw r.fail("implausible metadata count \(kvCount)") }
        for _ in 0..<kvCount {
            let key = try r.string()
            let type = try r.u32()
            switch key {
            case "tokenizer.ggml.model": model = try r.stringValue(type, key)
            case "tokenizer.ggml.pre": pre = try r.stringValue(type, key)
            case "tokenizer.ggml.tokens": tokens = try r.stringArray(type, key)
            case "tokenizer.ggml.merges": merges = try r.stringArray(type, key)
            case "tokenizer.ggml.token_type": tokenTypes = try r.intArray(type, key)
            case "tokenizer.ggml.scores": scores = try r.floatArray(type, key)
            case "tokenizer.ggml.precompiled_charsmap": precompiledCharsmap = try r.intArray(type, key).map { UInt8(truncatingIfNeeded: $0) }
            default:
                if key.hasPrefix("tokenizer.ggml."), let v = try r.scalarInt(type) {
                    if type == 7 { flags[key] = v != 0 } else { ids[key] = v }
                } else {
                    try r.skip(type)
                }
            }
        }
        guard !model.isEmpty else { throw r.fail("no tokenizer.ggml.model: the file has no tokenizer vocabulary") }
        guard !tokens.isEmpty else { throw r.fail("no tokenizer.ggml.tokens") }
        if !tokenTypes.isEmpty && tokenTypes.count != tokens.count {
            throw r.fail("tokenizer.ggml.token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        if !scores.isEmpty && scores.count != tokens.count {
            throw r.fail("tokenizer.ggml.scores has \(scores.count) entries for \(tokens.count) tokens")
        }
    }

    /// The boolean `tokenizer.ggml.<key>`, nil when absent.
    func flag(_ key: String) -> Bool? { flags["tokenizer.ggml." + key] }

    /// The type of token `i` (llama.cpp's: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
    /// 6 byte); normal when the file has no types.
    func type(_ i: Int) -> Int { tokenTypes.isEmpty ? 1 : tokenTypes[i] }

    func id(_ key: String) -> Int? {
        guard let v = ids["tokenizer.ggml." + key], v >= 0, v < tokens.count else { return nil }
        return v
    }
}

/// A bounds-checked little-endian reader over the bytes of a GGUF file.
private struct GGUFReader {
    let data: [UInt8]
    let path: String
    var pos = 0

    func fail(_ reason: String) -> TokenizerError { .malformed(path: path, reason: "GGUF: \(reason)") }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= data.count - pos else { throw fail("truncated at byte \(pos) (\(n) more bytes needed)") }
    }

    mutating func u32() throws -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(data[pos + i]) << (8 * i) }
        pos += 4
        return v
    }

    mutating func u64() throws -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(data[pos + i]) << (8 * i) }
        pos += 8
        return v
    }

    mutating func string() throws -> String {
        let n = try u64()
        guard n <= UInt64(data.count - pos) else { throw fail("a string of \(n) bytes at byte \(pos) runs past the end") }
        let s = String(decoding: data[pos..<(pos + Int(n))], as: UTF8.self)
        pos += Int(n)
        return s
    }

    /// Size in bytes of a fixed-size value type, nil for strings and arrays.
    func width(_ type: UInt32) throws -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        case 8, 9: return nil
        default: throw fail("unknown value type \(type) at byte \(pos)")
        }
    }

    /// Reads an integer or bool value (nil, and nothing read, for other types).
    mutating func scalarInt(_ type: UInt32) throws -> Int? {
        switch type {
        case 0, 7: try need(1); defer { pos += 1 }; return Int(data[pos])
        case 1: try need(1); defer { pos += 1 }; return Int(Int8(bitPattern: data[pos]))
        case 2: try need(2); defer { pos += 2 }; return Int(UInt16(data[pos]) | UInt16(data[pos + 1]) << 8)
        case 3: try need(2); defer { pos += 2 }; return Int(Int16(bitPattern: UInt16(data[pos]) | UInt16(data[pos + 1]) << 8))
        case 4: return Int(try u32())
        case 5: return Int(Int32(bitPattern: try u32()))
        case 10: return Int(truncatingIfNeeded: try u64())
        case 11: return Int(Int64(bitPattern: try u64()))
        default: return nil
        }
    }

    mutating func skip(_ type: UInt32) throws {
        if let w = try width(type) { try need(w); pos += w; return }
        if type == 8 { _ = try string(); return }
        let itemType = try u32()
        let count = try u64()
        if let w = try width(itemType) {
            guard count <= UInt64(data.count - pos) / UInt64(w) else { throw fail("an array of \(count) items runs past the end") }
            pos += Int(count) * w
            return
        }
        guard count <= UInt64(data.count - pos) / 8 else { throw fail("an array of \(count) items runs past the end") }
        for _ in 0..<count { try skip(itemType) }
    }

    mutating func stringValue(_ type: UInt32, _ key: String) throws -> String {
        guard type == 8 else { throw fail("\(key) is not a string") }
        return try string()
    }

    mutating func arrayHeader(_ type: UInt32, _ key: String) throws -> (itemType: UInt32, count: Int) {
        guard type == 9 else { throw fail("\(key) is not an array") }
        let itemType = try u32()
        let count = try u64()
        guard count <= UInt64(data.count - pos) else { throw fail("\(key): \(count) items run past the end of the file") }
        return (itemType, Int(count))
    }

    mutating func stringArray(_ type: UInt32, _ key: String) throws -> [String] {
        let (itemType, count) = try arrayHeader(type, key)
        guard itemType == 8 else { throw fail("\(key) is not an array of strings") }
        var out: [String] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try string()) }
        return out
    }

    mutating func floatArray(_ type: UInt32, _ key: String) throws -> [Float] {
        let (itemType, count) = try arrayHeader(type, key)
        guard itemType == 6 else { throw fail("\(key) is not an array of 32-bit floats") }
        guard count <= (data.count - pos) / 4 else { throw fail("\(key): \(count) items run past the end of the file") }
        var out: [Float] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(Float(bitPattern: try u32())) }
        return out
    }

    mutating func intArray(_ type: UInt32, _ key: String) throws -> [Int] {
        let (itemType, count) = try arrayHeader(type, key)
        var out: [Int] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            guard let v = try scalarInt(itemType) else { throw fail("\(key) is not an array of integers") }
            out.append(v)
        }
        return out
    }
}
