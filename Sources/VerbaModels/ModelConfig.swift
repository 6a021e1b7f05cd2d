// Reading Hugging Face `config.json` files (and sentence-transformers' small JSON files) with typed
// accessors that throw a `ModelError` naming the file and the field, shared by every architecture.
import Foundation

/// A parsed JSON object from a model folder, with typed, throwing accessors.
///
/// ```swift
/// let config = try ConfigJSON(path: "model/config.json")
/// let hidden = try config.int("hidden_size")              // throws missingConfigField / badConfigValue
/// let eps = try config.double("layer_norm_eps", default: 1e-12)
/// ```
public struct ConfigJSON: @unchecked Sendable {
    /// The file the object came from (used in every error message).
    public let path: String
    /// The raw object as `JSONSerialization` produced it.
    public let object: [String: Any]

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
    public init(path: String, data: Data) throws {
        self.path = path
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ModelError.malformed(path: path, reason: "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw ModelError.malformed(path: path, reason: "expected a JSON object at the top level")
        }
        self.object = object
    }

    /// Wraps an already parsed object (a nested section of a config).
    public init(path: String, object: [String: Any]) {
        self.path = path
        self.object = object
    }

    /// True when `key` is present and not `null`.
    public func has(_ key: String) -> Bool {
        guard let v = object[key] else { return false }
        return !(v is NSNull)
    }

    // MARK: Integers

    /// The integer at `key`; throws when absent, not a number, or not integral.
    public func int(_ key: String) throws -> Int {
        guard let v = try optionalInt(key) else { throw ModelError.missingConfigField(path: path, field: key) }
        return v
    }

    /// The integer at `key`, or `defaultValue` when absent or null.
    public func int(_ key: String, default defaultValue: Int) throws -> Int {
        try optionalInt(key) ?? defaultValue
    }

    /// The integer at `key`, nil when absent or null; throws when present with another type.
    public func optionalInt(_ key: String) throws -> Int? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let d = ConfigJSON.number(raw) else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an integer, found \(ConfigJSON.describe(raw))")
        }
        guard d.isFinite, d == d.rounded(), abs(d) < 9.0e15 else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an integer, found \(d)")
        }
        return Int(d)
    }

    /// The integer at `key`, which must be at least `minimum` (sizes, counts).
    public func int(_ key: String, atLeast minimum: Int) throws -> Int {
        let v = try int(key)
        guard v >= minimum else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "must be at least \(minimum), found \(v)")
        }
        return v
    }

    /// The integer under the first of `keys` that is present (architectures spell fields differently:
    /// `hidden_size` / `n_embd`); throws naming the first key when none is present.
    public func int(anyOf keys: [String]) throws -> Int {
        precondition(!keys.isEmpty, "int(anyOf:) needs at least one key")
        for k in keys { if let v = try optionalInt(k) { return v } }
        throw ModelError.missingConfigField(path: path, field: keys[0])
    }

    // MARK: Floating point

    /// The number at `key`; throws when absent or not a number.
    public func double(_ key: String) throws -> Double {
        guard let v = try optionalDouble(key) else { throw ModelError.missingConfigField(path: path, field: key) }
        return v
    }

    /// The number at `key`, or `defaultValue` when absent or null.
    public func double(_ key: String, default defaultValue: Double) throws -> Double {
        try optionalDouble(key) ?? defaultValue
    }

    /// The number at `key`, nil when absent or null; throws when present with another type or not finite.
    public func optionalDouble(_ key: String) throws -> Double? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let d = ConfigJSON.number(raw), d.isFinite else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected a number, found \(ConfigJSON.describe(raw))")
        }
        return d
    }

    // MARK: Strings, booleans, nested values

    /// The string at `key`; throws when absent or not a string.
    public func string(_ key: String) throws -> String {
        guard let v = try optionalString(key) else { throw ModelError.missingConfigField(path: path, field: key) }
        return v
    }

    /// The string at `key`, or `defaultValue` when absent or null.
    public func string(_ key: String, default defaultValue: String) throws -> String {
        try optionalString(key) ?? defaultValue
    }

    /// The string at `key`, nil when absent or null; throws when present with another type.
    public func optionalString(_ key: String) throws -> String? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let s = raw as? String else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected a string, found \(ConfigJSON.describe(raw))")
        }
        return s
    }

    /// The boolean at `key`, or `defaultValue` when absent or null; throws when present with another type.
    public func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let raw = object[key], !(raw is NSNull) else { return defaultValue }
        if let b = ConfigJSON.boolean(raw) { return b }
        throw ModelError.badConfigValue(path: path, field: key, reason: "expected true or false, found \(ConfigJSON.describe(raw))")
    }

    /// The array of strings at `key`, nil when absent or null.
    public func optionalStringArray(_ key: String) throws -> [String]? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let a = raw as? [Any] else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an array of strings")
        }
        var out: [String] = []
        for item in a {
            guard let s = item as? String else {
                throw ModelError.badConfigValue(path: path, field: key, reason: "expected an array of strings, found \(ConfigJSON.describe(item))")
            }
            out.append(s)
        }
        return out
    }

    /// The nested object at `key`, nil when absent or null.
    public func optionalObject(_ key: String) throws -> ConfigJSON? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let o = raw as? [String: Any] else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an object, found \(ConfigJSON.describe(raw))")
        }
        return ConfigJSON(path: path, object: o)
    }

    /// Hugging Face's `id2label` map (`{"0": "NEGATIVE", "1": "POSITIVE"}`) as an array indexed by class id,
    /// nil when the field is absent. Throws when keys are not the integers 0..<n or values are not strings.
    public func labels(_ key: String = "id2label") throws -> [String]? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let map = raw as? [String: Any] else {
            throw ModelError.badConfigValue(path: path, field: key, reason: "expected an object mapping class ids to names")
        }
        var names = [String?](repeating: nil, count: map.count)
        for (k, v) in map {
            guard let id = Int(k), id >= 0, id < map.count else {
                throw ModelError.badConfigValue(path: path, field: key, reason: "class ids must be 0..<\(map.count), found \"\(k)\"")
            }
            guard let name = v as? String else {
                throw ModelError.badConfigValue(path: path, field: key, reason: "class \(k): expected a string name")
            }
            names[id] = name
        }
        return names.map { $0 ?? "" }
    }

    // MARK: Helpers

    /// A JSON number as Double (booleans are not numbers here).
    private static func number(_ raw: Any) -> Double? {
        if raw is String { return nil }
        if boolean(raw) != nil { return nil }
        if let n = raw as? NSNumber { return n.doubleValue }
        if let i = raw as? Int { return Double(i) }
        if let d = raw as? Double { return d }
        return nil
    }

    /// A JSON boolean, telling `true` apart from the number 1 (Foundation stores both as NSNumber).
    private static func boolean(_ raw: Any) -> Bool? {
        if let n = raw as? NSNumber {
            #if canImport(Darwin)
            if CFGetTypeID(n) == CFBooleanGetTypeID() { return n.boolValue }
            return nil
            #else
            let t = String(cString: n.objCType)
            if t == "c" || t == "B" { return n.boolValue }
            return nil
            #endif
        }
        if let b = raw as? Bool { return b }
        return nil
    }

    private static func describe(_ raw: Any) -> String {
        if raw is String { return "a string" }
        if let b = boolean(raw) { return b ? "true" : "false" }
        if raw is [Any] { return "an array" }
        if raw is [String: Any] { return "an object" }
        if let n = raw as? NSNumber { return "\(n)" }
        return "\(type(of: raw))"
    }

    private static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain, ns.code == NSFileReadNoSuchFileError { return "no such file" }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           let s = strerror(Int32(underlying.code)) { return String(cString: s) }
        return ns.localizedDescription
    }
}
