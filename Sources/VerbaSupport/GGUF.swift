// The GGUF container (llama.cpp's model format, versions 2 and 3), shared by the tokenizers (which read a
// GGUF's vocabulary) and the models (which read its tensors):
//   "GGUF" magic · u32 version · u64 tensor count · u64 key/value count ·
//   key/value pairs (string key, u32 value type, value) · tensor infos (string name, u32 rank,
//   u64 dims innermost first, u32 ggml type, u64 offset into the data section) ·
//   padding to `general.alignment` (default 32) · the data section.
// Every length and count is checked against the bytes left before anything is allocated for it, so a
// lying file gives a `GGUFError` naming the file and the key or tensor, never a crash or a huge allocation.

/// An error in the container of a GGUF file: the file and what is wrong (naming the key or tensor).
package enum GGUFError: Error, CustomStringConvertible, Equatable {
    /// The bytes are not a GGUF container, or a header field, key or tensor entry is damaged.
    case malformed(path: String, reason: String)
    /// A well-formed file Verba cannot use (another version, an architecture or tensor type it does not run).
    case unsupported(path: String, what: String)
    /// A metadata key the reader needs is absent.
    case missingKey(path: String, key: String)
    /// A metadata key holds another type (or an impossible value) than the one the reader needs.
    case wrongKeyType(path: String, key: String, expected: String)

    package var description: String {
        switch self {
        case let .malformed(path, reason): return "\(path): GGUF: \(reason)"
        case let .unsupported(path, what): return "\(path): GGUF: unsupported \(what)"
        case let .missingKey(path, key): return "\(path): GGUF: missing metadata key \(key)"
        case let .wrongKeyType(path, key, expected): return "\(path): GGUF: metadata key \(key) is not \(expected)"
        }
    }
}

/// The value types of GGUF metadata (`enum gguf_type`).
package enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of a fixed-size value, nil for strings and arrays.
    package var width: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }
}

/// One metadata value, with the type it is stored as (so a file can be rewritten key for key).
package indirect enum GGUFValue: Sendable, Equatable {
    case int(Int64, GGUFValueType)        // every integer type
    case float(Double, GGUFValueType)     // float32 or float64
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])

    /// The value as an integer (integer types only).
    package var intValue: Int? { if case let .int(v, _) = self { return Int(v) }; return nil }
    /// The value as a number (integer or floating-point types).
    package var doubleValue: Double? {
        switch self {
        case let .int(v, _): return Double(v)
        case let .float(v, _): return v
        default: return nil
        }
    }
    package var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    package var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    package var arrayValue: [GGUFValue]? { if case let .array(_, a) = self { return a }; return nil }
}

/// A tensor entry of a GGUF header, as stored: dims innermost (contiguous) first, ggml's order.
package struct GGUFTensorEntry: Sendable, Equatable {
    package let name: String
    package let dims: [Int]
    /// The ggml type id (`enum ggml_type`), not yet checked against the types a reader knows.
    package let type: UInt32
    /// Offset from the start of the data section.
    package let offset: Int

    package init(name: String, dims: [Int], type: UInt32, offset: Int) {
        self.name = name
        self.dims = dims
        self.type = type
        self.offset = offset
    }
}

/// The parsed header of a GGUF file: metadata in file order, tensor entries in file order, and where the
/// data section starts. Only the container is checked here (lengths, counts, alignment of every offset);
/// the byte size of each tensor depends on its type and is checked by the model reader.
package struct GGUFHeader: Sendable {
    package let path: String
    package let version: UInt32
    package let metadata: [(key: String, value: GGUFValue)]
    package let tensors: [GGUFTensorEntry]
    /// `general.alignment` (32 when absent): every tensor offset and the data section are multiples of it.
    package let alignment: Int
    /// Offset of the data section from the start of the file.
    package let dataOffset: Int
    private let index: [String: Int]

    /// Parses the header at the start of `bytes` (the whole file); `path` names the file in errors.
    /// `tensorInfos: false` stops after the metadata (a vocabulary reader needs no more).
    package init(_ bytes: UnsafeRawBufferPointer, path: String, tensorInfos: Bool = true) throws {
        self.path = path
        var r = GGUFByteReader(bytes: bytes, path: path)
        guard try r.u32() == 0x4655_4747 else { throw r.fail("not a GGUF file (bad magic)") }
        version = try r.u32()
        guard version == 2 || version == 3 else { throw GGUFError.unsupported(path: path, what: "GGUF version \(version) (Verba reads 2 and 3)") }
        let tensorCount = try r.u64()
        let kvCount = try r.u64()
        // A key/value pair takes at least 12 bytes, a tensor entry at least 24.
        guard kvCount <= UInt64(r.remaining / 12) else { throw r.fail("\(kvCount) metadata keys claimed in a \(bytes.count)-byte file") }
        guard tensorCount <= UInt64(r.remaining / 24) else { throw r.fail("\(tensorCount) tensors claimed in a \(bytes.count)-byte file") }
        var metadata: [(key: String, value: GGUFValue)] = []
        var index: [String: Int] = [:]
        metadata.reserveCapacity(Int(kvCount))
        for _ in 0..<kvCount {
            let key = try r.string(what: "a metadata key")
            let type = try r.valueType(key)
            let value = try r.value(type, key: key)
            if index[key] != nil { throw r.fail("metadata key \(key) appears twice") }
            index[key] = metadata.count
            metadata.append((key, value))
        }
        self.metadata = metadata
        self.index = index
        var alignment = 32
        if let i = index["general.alignment"] {
            guard let a = metadata[i].value.intValue, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw GGUFError.wrongKeyType(path: path, key: "general.alignment", expected: "a power of two")
            }
            alignment = a
        }
        self.alignment = alignment
        guard tensorInfos else { tensors = []; dataOffset = r.pos; return }
        var tensors: [GGUFTensorEntry] = []
        tensors.reserveCapacity(Int(tensorCount))
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try r.string(what: "a tensor name")
            let rank = try r.u32()
            guard rank >= 1, rank <= 4 else { throw r.fail("tensor \(name) has \(rank) dimensions (1 to 4 allowed)") }
            var dims: [Int] = []
            for _ in 0..<rank {
                let d = try r.u64()
                guard d <= UInt64(Int32.max) else { throw r.fail("tensor \(name) has a dimension of \(d)") }
                dims.append(Int(d))
            }
            let type = try r.u32()
            let offset = try r.u64()
            guard offset <= UInt64(bytes.count) else { throw r.fail("tensor \(name) starts at data offset \(offset), past the end of the file") }
            guard Int(offset) % alignment == 0 else {
                throw r.fail("tensor \(name) data offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            guard names.insert(name).inserted else { throw r.fail("tensor \(name) appears twice") }
            tensors.append(GGUFTensorEntry(name: name, dims: dims, type: type, offset: Int(offset)))
        }
        self.tensors = tensors
        let start = (r.pos + alignment - 1) / alignment * alignment
        guard start <= bytes.count || tensors.isEmpty else { throw r.fail("truncated before the data section") }
        dataOffset = min(start, bytes.count)
    }

    /// The value of `key`, nil when absent.
    package subscript(key: String) -> GGUFValue? { index[key].map { metadata[$0].value } }

    /// The integer at `key`: absent → `missingKey`, another type or below `minimum` → `wrongKeyType`.
    package func int(_ key: String, atLeast minimum: Int = 0) throws -> Int {
        guard let v = try optionalInt(key, atLeast: minimum) else { throw GGUFError.missingKey(path: path, key: key) }
        return v
    }

    /// The integer at `key`, nil when absent.
    package func optionalInt(_ key: String, atLeast minimum: Int = 0) throws -> Int? {
        guard let raw = self[key] else { return nil }
        guard let v = raw.intValue, v >= minimum else {
            throw GGUFError.wrongKeyType(path: path, key: key, expected: "an integer ≥ \(minimum)")
        }
        // A size or count (minimum 1 or more) is checked before it sizes allocations: at most 2^24.
        if minimum >= 1 && v > 1 << 24 {
            throw GGUFError.wrongKeyType(path: path, key: key, expected: "an integer from \(minimum) to \(1 << 24), not \(v)")
        }
        return v
    }

    /// The number at `key`, nil when absent.
    package func optionalDouble(_ key: String) throws -> Double? {
        guard let raw = self[key] else { return nil }
        guard let v = raw.doubleValue, v.isFinite else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "a number") }
        return v
    }

    /// The string at `key`, nil when absent.
    package func optionalString(_ key: String) throws -> String? {
        guard let raw = self[key] else { return nil }
        guard let s = raw.stringValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "a string") }
        return s
    }

    /// The string at `key`.
    package func string(_ key: String) throws -> String {
        guard let s = try optionalString(key) else { throw GGUFError.missingKey(path: path, key: key) }
        return s
    }

    /// The boolean at `key`, nil when absent.
    package func optionalBool(_ key: String) throws -> Bool? {
        guard let raw = self[key] else { return nil }
        guard let b = raw.boolValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "a boolean") }
        return b
    }

    /// The array of strings at `key`, nil when absent.
    package func optionalStrings(_ key: String) throws -> [String]? {
        guard let raw = self[key] else { return nil }
        guard let items = raw.arrayValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "an array of strings") }
        return try items.map { item in
            guard let s = item.stringValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "an array of strings") }
            return s
        }
    }

    /// The array of integers at `key`, nil when absent.
    package func optionalInts(_ key: String) throws -> [Int]? {
        guard let raw = self[key] else { return nil }
        guard let items = raw.arrayValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "an array of integers") }
        return try items.map { item in
            guard let v = item.intValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "an array of integers") }
            return v
        }
    }

    /// The array of numbers at `key`, nil when absent.
    package func optionalDoubles(_ key: String) throws -> [Double]? {
        guard let raw = self[key] else { return nil }
        guard let items = raw.arrayValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "an array of numbers") }
        return try items.map { item in
            guard let v = item.doubleValue else { throw GGUFError.wrongKeyType(path: path, key: key, expected: "an array of numbers") }
            return v
        }
    }
}

/// A bounds-checked little-endian reader over the bytes of a GGUF file.
private struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var pos = 0

    var remaining: Int { bytes.count - pos }

    func fail(_ reason: String) -> GGUFError { .malformed(path: path, reason: reason) }

    func need(_ n: Int, _ what: @autoclosure () -> String = "") throws {
        guard n >= 0, n <= remaining else {
            let w = what()
            throw fail("truncated at byte \(pos)\(w.isEmpty ? "" : " in " + w) (\(n) more bytes needed, \(remaining) left)")
        }
    }

    mutating func u8() throws -> UInt8 { try need(1); defer { pos += 1 }; return bytes[pos] }
    mutating func u16() throws -> UInt16 { try need(2); defer { pos += 2 }; return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: UInt16.self)) }
    mutating func u32() throws -> UInt32 { try need(4); defer { pos += 4 }; return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { try need(8); defer { pos += 8 }; return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: UInt64.self)) }

    mutating func string(what: String) throws -> String {
        let n = try u64()
        guard n <= UInt64(remaining) else { throw fail("\(what) of \(n) bytes at byte \(pos) runs past the end of the file") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + Int(n))]), as: UTF8.self)
        pos += Int(n)
        return s
    }

    mutating func valueType(_ key: String) throws -> GGUFValueType {
        let raw = try u32()
        guard let t = GGUFValueType(rawValue: raw) else { throw fail("metadata key \(key) has unknown value type \(raw)") }
        return t
    }

    mutating func value(_ type: GGUFValueType, key: String) throws -> GGUFValue {
        switch type {
        case .uint8: return .int(Int64(try u8()), type)
        case .int8: return .int(Int64(Int8(bitPattern: try u8())), type)
        case .uint16: return .int(Int64(try u16()), type)
        case .int16: return .int(Int64(Int16(bitPattern: try u16())), type)
        case .uint32: return .int(Int64(try u32()), type)
        case .int32: return .int(Int64(Int32(bitPattern: try u32())), type)
        case .uint64:
            let v = try u64()
            guard v <= UInt64(Int64.max) else { throw fail("metadata key \(key) holds \(v), above the largest signed 64-bit integer") }
            return .int(Int64(v), type)
        case .int64: return .int(Int64(bitPattern: try u64()), type)
        case .float32: return .float(Double(Float(bitPattern: try u32())), type)
        case .float64: return .float(Double(bitPattern: try u64()), type)
        case .bool:
            let b = try u8()
            guard b <= 1 else { throw fail("metadata key \(key) holds \(b), not a boolean 0 or 1") }
            return .bool(b == 1)
        case .string: return .string(try string(what: "the value of \(key)"))
        case .array:
            let itemType = try valueType(key)
            let count = try u64()
            // Every item takes at least one byte (strings at least 8), so a count above what is left lies.
            let least = UInt64(itemType.width ?? 8)
            guard count <= UInt64(remaining) / least else {
                throw fail("metadata key \(key): an array of \(count) items runs past the end of the file")
            }
            guard itemType != .array else { throw GGUFError.unsupported(path: path, what: "nested array in metadata key \(key)") }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<count { items.append(try value(itemType, key: key)) }
            return .array(itemType, items)
        }
    }
}

/// Serializes GGUF headers (the writer side of `GGUFHeader`).
package enum GGUFEncoding {
    package static func append(_ v: UInt32, to out: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    package static func append(_ v: UInt64, to out: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    package static func append(_ s: String, to out: inout [UInt8]) {
        let u = Array(s.utf8)
        append(UInt64(u.count), to: &out)
        out.append(contentsOf: u)
    }

    /// Appends a value's bytes (not its type tag; arrays carry their item type and count).
    package static func append(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case let .int(v, type):
            switch type {
            case .uint8, .int8: out.append(UInt8(truncatingIfNeeded: v))
            case .uint16, .int16: withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) { out.append(contentsOf: $0) }
            case .uint32, .int32: append(UInt32(truncatingIfNeeded: v), to: &out)
            default: append(UInt64(bitPattern: v), to: &out)
            }
        case let .float(v, type):
            if type == .float64 { append(v.bitPattern, to: &out) } else { append(Float(v).bitPattern, to: &out) }
        case let .bool(b): out.append(b ? 1 : 0)
        case let .string(s): append(s, to: &out)
        case let .array(itemType, items):
            append(itemType.rawValue, to: &out)
            append(UInt64(items.count), to: &out)
            for item in items { append(item, to: &out) }
        }
    }

    /// The type tag of a value.
    package static func type(of value: GGUFValue) -> GGUFValueType {
        switch value {
        case let .int(_, t), let .float(_, t): return t
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// The whole header of a version-3 file (magic, counts, metadata, tensor entries), without the
    /// padding before the data section.
    package static func header(metadata: [(key: String, value: GGUFValue)], tensors: [GGUFTensorEntry]) -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        append(UInt32(3), to: &out)
        append(UInt64(tensors.count), to: &out)
        append(UInt64(metadata.count), to: &out)
        for (key, value) in metadata {
            append(key, to: &out)
            append(type(of: value).rawValue, to: &out)
            append(value, to: &out)
        }
        for t in tensors {
            append(t.name, to: &out)
            append(UInt32(t.dims.count), to: &out)
            for d in t.dims { append(UInt64(d), to: &out) }
            append(t.type, to: &out)
            append(UInt64(t.offset), to: &out)
        }
        return out
    }
}
