// Reading Hugging Face `config.json` files (and sentence-transformers' small JSON files) with typed
// accessors that throw a `ModelError` naming the file and the field, shared by every architecture; and
// the weights of a model folder (one `model.safetensors` or a sharded checkpoint with its index).
import Foundation
import VerbaSupport
import VerbaTensor

/// A parsed JSON object from a model folder, with typed, throwing accessors.
///
/// ```swift
/// let config = try ConfigJSON(path: "model/config.json")
/// let hidden = try config.int("hidden_size")              // throws missingConfigField / badConfigValue
/// let eps = try config.double("layer_norm_eps", default: 1e-12)
/// ```
package struct ConfigJSON: Sendable {
    /// The file the object came from (used in every error message).
    package let path: String
    /// The object's members in file order.
    package let members: [(String, JSONValue)]

    /// Reads and parses `path`, which must hold a JSON object.
    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ModelError.unreadable(path: path, reason: ConfigJSON.reason(error))
        }
        try self.init(path: path, data: data)
    }

    /// Parses `data` as a JSON object; `path` is only used to name the source in errors.
    package init(path: String, data: Data) throws {
        self.path = path
        let parsed: JSONValue
        do {
            parsed = try parseJSON(Array(data))
        } catch let error as JSONParseError {
            throw ModelError.malformed(path: path, reason: error.message)
        }
        guard let members = parsed.objectValue else {
            throw ModelError.malformed(path: path, reason: "expected a JSON object at the top level")
        }
        self.members = members
    }

    /// Wraps an already parsed object (a nested section of a config, an entry of `modules.json`).
    package init(path: String, members: [(String, JSONValue)]) {
        self.path = path
        self.members = members
    }

    /// The value at `key` (the last one if the key repeats, as Python's `json` reads it), nil when
    /// absent or null.
    package subscript(key: String) -> JSONValue? {
        guard let v = members.last(where: { $0.0 == key })?.1, !v.isNull else { return nil }
        return v
    }

    /// True when `key` is present and not `null`.
    package func has(_ key: String) -> Bool { self[key] != nil }

    // MARK: Integers

    /// The integer at `key`; throws when absent, not a number, or not integral.
    package func int(_ key: String) throws -> Int {
        guard let v = try optionalInt(key) else { throw ModelError.missingConfigField(path: path, field: key) }
        return v
    }

    /// The integer at `key`, or `defaultValue` when absent or null.
    package func int(_ key: String, default defaultValue: Int) throws -> Int {
        try optionalInt(key) ?? defaultValue
    }

    /// The integer at `key`, nil when absent or null; throws when present with another type.
    package func optionalInt(_ key: String) throws -> Int? {
        guard let raw = self[key] else { return nil }
        if case let .int(i) = raw { return i }
        guard let d = raw.doubleValue else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an integer, found \(ConfigJSON.describe(raw))")
        }
        guard d.isFinite, d == d.rounded(), abs(d) < 9.0e15 else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an integer, found \(d)")
        }
        return Int(d)
    }

    /// The integer at `key`, which must be at least `minimum` (sizes, counts) and at most
    /// `ConfigJSON.largestSize`: sizes from a file are checked before they size allocations or products.
    package func int(_ key: String, atLeast minimum: Int) throws -> Int {
        let v = try int(key)
        guard v >= minimum else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "must be at least \(minimum), found \(v)")
        }
        guard v <= ConfigJSON.largestSize else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "\(v) is implausibly large (at most \(ConfigJSON.largestSize))")
        }
        return v
    }

    /// The largest size or count a config may give (2^24: far above any model's widths, layers,
    /// positions or vocabulary; products of a few such sizes cannot overflow).
    package static let largestSize = 1 << 24

    /// The integer under the first of `keys` that is present (architectures spell fields differently:
    /// `hidden_size` / `n_embd`); throws naming the first key when none is present.
    package func int(anyOf keys: [String]) throws -> Int {
        precondition(!keys.isEmpty, "int(anyOf:) needs at least one key")
        for k in keys { if let v = try optionalInt(k) { return v } }
        throw ModelError.missingConfigField(path: path, field: keys[0])
    }

    // MARK: Floating point

    /// The number at `key`; throws when absent or not a number.
    package func double(_ key: String) throws -> Double {
        guard let v = try optionalDouble(key) else { throw ModelError.missingConfigField(path: path, field: key) }
        return v
    }

    /// The number at `key`, or `defaultValue` when absent or null.
    package func double(_ key: String, default defaultValue: Double) throws -> Double {
        try optionalDouble(key) ?? defaultValue
    }

    /// The number at `key`, nil when absent or null; throws when present with another type or not finite.
    package func optionalDouble(_ key: String) throws -> Double? {
        guard let raw = self[key] else { return nil }
        guard let d = raw.doubleValue, d.isFinite else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected a number, found \(ConfigJSON.describe(raw))")
        }
        return d
    }

    // MARK: Strings, booleans, nested values

    /// The string at `key`; throws when absent or not a string.
    package func string(_ key: String) throws -> String {
        guard let v = try optionalString(key) else { throw ModelError.missingConfigField(path: path, field: key) }
        return v
    }

    /// The string at `key`, or `defaultValue` when absent or null.
    package func string(_ key: String, default defaultValue: String) throws -> String {
        try optionalString(key) ?? defaultValue
    }

    /// The string at `key`, nil when absent or null; throws when present with another type.
    public func optionalString(_ key: String) throws -> String? {
        guard let raw = self[key] else { return nil }
        guard let s = raw.stringValue else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected a string, found \(ConfigJSON.describe(raw))")
        }
        return s
    }

    /// The boolean at `key`, or `defaultValue` when absent or null; throws when present with another type.
    package func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let raw = self[key] else { return defaultValue }
        if let b = raw.boolValue { return b }
        throw ModelError.badConfigValue(path: path, field: key, reason: "expected true or false, found \(ConfigJSON.describe(raw))")
    }

    /// The array of strings at `key`, nil when absent or null.
    public func optionalStringArray(_ key: String) throws -> [String]? {
        guard let raw = self[key] else { return nil }
        guard let a = raw.arrayValue else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an array of strings")
        }
        var out: [String] = []
        for item in a {
            guard let s = item.stringValue else {
                throw ModelError.badConfigValue(path: path, field: key, reason: "expected an array of strings, found \(ConfigJSON.describe(item))")
            }
            out.append(s)
        }
        return out
    }

    /// The nested object at `key`, nil when absent or null.
    package func optionalObject(_ key: String) throws -> ConfigJSON? {
        guard let raw = self[key] else { return nil }
        guard let o = raw.objectValue else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an object, found \(ConfigJSON.describe(raw))")
        }
        return ConfigJSON(path: path, members: o)
    }

    /// Hugging Face's `id2label` map (`{"0": "NEGATIVE", "1": "POSITIVE"}`) as an array indexed by class id,
    /// nil when the field is absent. Throws when keys are not the integers 0..<n or values are not strings.
    package func labels(_ key: String = "id2label") throws -> [String]? {
        guard let raw = self[key] else { return nil }
        guard let map = raw.objectValue else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an object mapping class ids to names")
        }
        var names = [String?](repeating: nil, count: map.count)
        for (k, v) in map {
            guard let id = Int(k), id >= 0, id < map.count else {
                throw ModelError.badConfigValue(path: path, field: key, reason: "class ids must be 0..<\(map.count), found \"\(k)\"")
            }
            guard let name = v.stringValue else {
                throw ModelError.badConfigValue(path: path, field: key, reason: "class \(k): expected a string name")
            }
            names[id] = name
        }
        return names.map { $0 ?? "" }
    }

    // MARK: Helpers

    /// The JSON type of `raw` for error messages, or its value for scalars.
    private static func describe(_ raw: JSONValue) -> String {
        switch raw {
        case .string: return "a string"
        case let .bool(b): return b ? "true" : "false"
        case .array: return "an array"
        case .object: return "an object"
        case let .int(i): return "\(i)"
        case let .double(d): return "\(d)"
        case .null: return "null"
        }
    }

    private static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain, ns.code == NSFileReadNoSuchFileError { return "no such file" }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           let s = strerror(Int32(underlying.code)) { return String(cString: s) }
        return ns.localizedDescription
    }
}

/// The weights of a Hugging Face model folder: `model.safetensors`, or a sharded checkpoint
/// (`model.safetensors.index.json` whose `weight_map` names the shard file of every tensor).
///
/// Tensors are memory-mapped (zero-copy for aligned float32) and checked for shape on access; errors
/// are `ModelError.missingTensor` / `.wrongShape` naming the file, or the `SafeTensorsError` of a
/// damaged file (truncated, lying header...).
/// Sendable: `files` and `location` are filled in init and only read after; `converted` is guarded by
/// `convertedLock`.
package final class ModelWeights: @unchecked Sendable {
    /// The folder (or single file) the weights were opened from.
    package let path: String
    private var files: [String: SafeTensorsFile] = [:]   // shard file name -> file
    private var location: [String: String] = [:]         // tensor name -> shard file name
    /// Float32 copies handed out by `matrix`, kept alive with the weights; guarded by `convertedLock`.
    private var converted: [FloatTensor] = []
    private let convertedLock = NSLock()
    /// The tensors of a GGUF file under their Hugging Face names (nil for safetensors weights).
    private let gguf: GGUFWeights?

    /// The tensors of a GGUF file, named as in the Hugging Face checkpoint (see `GGUFWeights`).
    package init(gguf: GGUFWeights) {
        path = gguf.file.path
        self.gguf = gguf
    }

    /// Opens the weights of the model folder `folder`.
    package init(folder: String) throws {
        path = folder
        gguf = nil
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: folder, isDirectory: &isDir) else {
            throw ModelError.unreadable(path: folder, reason: "no such file or folder")
        }
        guard isDir.boolValue else {
            try open(file: folder, as: (folder as NSString).lastPathComponent)
            return
        }
        let single = (folder as NSString).appendingPathComponent("model.safetensors")
        let index = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: single) {
            try open(file: single, as: "model.safetensors")
        } else if fm.fileExists(atPath: index) {
            let json = try ConfigJSON(path: index)
            guard let map = try json.optionalObject("weight_map") else {
                throw ModelError.missingConfigField(path: index, field: "weight_map")
            }
            for (name, value) in map.members {
                guard let shard = value.stringValue, !shard.contains("/"), !shard.isEmpty else {
                    throw ModelError.badConfigValue(path: index, field: "weight_map", reason: "tensor \(name): expected a file name in the same folder")
                }
                if files[shard] == nil {
                    try open(file: (folder as NSString).appendingPathComponent(shard), as: shard)
                }
                guard files[shard]?.tensors[name] != nil else {
                    throw ModelError.missingTensor(path: (folder as NSString).appendingPathComponent(shard), name: name)
                }
                location[name] = shard
            }
        } else {
            let hint = fm.fileExists(atPath: (folder as NSString).appendingPathComponent("pytorch_model.bin"))
                ? " (pytorch_model.bin is not supported: convert it to safetensors)" : ""
            throw ModelError.unreadable(path: folder, reason: "no model.safetensors or model.safetensors.index.json\(hint)")
        }
    }

    private func open(file: String, as key: String) throws {
        let f = try SafeTensorsFile(path: file)
        files[key] = f
        for name in f.tensors.keys where location[name] == nil { location[name] = key }
    }

    /// Every tensor name.
    package var names: [String] { gguf?.names ?? location.keys.sorted() }

    /// Whether a tensor named `name` exists.
    package func has(_ name: String) -> Bool { gguf?.has(name) ?? (location[name] != nil) }

    /// The path of the file holding `name` (or the folder when it is nowhere).
    package func file(of name: String) -> String {
        if let gguf { return gguf.file.path }
        if let shard = location[name], let f = files[shard] { return f.path }
        return path
    }

    /// The shape of tensor `name`, nil when absent.
    package func shape(of name: String) -> [Int]? {
        if let gguf { return gguf.shape(of: name) }
        guard let shard = location[name] else { return nil }
        return files[shard]?.tensors[name]?.shape
    }

    /// Matrix `name` of shape (rows, cols) as stored — float32, float16 or bfloat16 — borrowed from the
    /// mapping (never copied; this object must outlive it). Other dtypes and unaligned float32 data come
    /// back converted to an owned float32 copy, kept alive by this object.
    package func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        if let gguf { return try gguf.matrix(name, rows: rows, cols: cols) }
        guard let shard = location[name], let f = files[shard] else {
            throw ModelError.missingTensor(path: path, name: name)
        }
        let info = try f.info(name)
        guard info.shape == [rows, cols] else {
            throw ModelError.wrongShape(path: f.path, name: name, expected: [rows, cols], actual: info.shape)
        }
        let raw = try f.rawBytes(name)
        switch info.dtype {
        case .f16: return WeightMatrix(base: raw.baseAddress!, element: .f16, rows: rows, cols: cols)
        case .bf16: return WeightMatrix(base: raw.baseAddress!, element: .bf16, rows: rows, cols: cols)
        default:
            let t = try tensor(name, shape: [rows, cols])
            if t.isOwned { convertedLock.withLock { converted.append(t) } }
            return WeightMatrix(t.pointer, rows: rows, cols: cols)
        }
    }

    /// Tensor `name` as float32 with exactly the shape `shape`.
    package func tensor(_ name: String, shape: [Int]) throws -> FloatTensor {
        if let gguf { return try gguf.tensor(name, shape: shape) }
        guard let shard = location[name], let f = files[shard] else {
            throw ModelError.missingTensor(path: path, name: name)
        }
        do {
            return try f.floats(name, shape: shape)
        } catch let SafeTensorsError.shapeMismatch(p, t, actual, expected) {
            throw ModelError.wrongShape(path: p, name: t, expected: expected, actual: actual)
        } catch let SafeTensorsError.missingTensor(p, t) {
            throw ModelError.missingTensor(path: p, name: t)
        }
    }
}
