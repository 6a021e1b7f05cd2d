// Errors from loading and running models. Every case names the file (or folder) and the problem, so the
// CLI can print one clear line: `verba: error: <description>`.

/// An error reading a model folder (config.json, weights, tokenizer files) or running a model on input.
///
/// ```swift
/// do {
///     let model = try GPT2Model(folder: "models/gpt2")
///     _ = try model.logits(for: [999_999], cache: model.makeCache())
/// } catch let error as ModelError {
///     print("verba: error: \(error)")   // e.g. an id out of range: .invalidInput
/// }
/// ```
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// A file or folder cannot be read at all (missing, permission, not a folder).
    case unreadable(path: String, reason: String)
    /// A file cannot be written (missing folder, full disk, permission).
    case unwritable(path: String, reason: String)
    /// A file was read but its content is not what its format requires (not JSON, not an object...).
    case malformed(path: String, reason: String)
    /// A required configuration field is absent.
    case missingConfigField(path: String, field: String)
    /// A configuration field is present but has the wrong type or an impossible value.
    case badConfigValue(path: String, field: String, reason: String)
    /// An architecture, activation or option this implementation does not support.
    case unsupported(path: String, what: String)
    /// The weights file lacks a tensor the architecture needs.
    case missingTensor(path: String, name: String)
    /// A tensor exists but its shape is not the one the configuration implies.
    case wrongShape(path: String, name: String, expected: [Int], actual: [Int])
    /// A model folder holds no tokenizer files.
    case noTokenizerFiles(path: String)
    /// No model was given and no default model is installed.
    case noDefaultModel(String)
    /// Input the model cannot process (empty batch, ids out of range, a sequence over the position limit).
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .unwritable(path, reason):
            return "\(path): cannot write: \(reason)"
        case let .malformed(path, reason):
            return "\(path): \(reason)"
        case let .missingConfigField(path, field):
            return "\(path): missing field \"\(field)\""
        case let .badConfigValue(path, field, reason):
            return "\(path): field \"\(field)\": \(reason)"
        case let .unsupported(path, what):
            return "\(path): unsupported \(what)"
        case let .missingTensor(path, name):
            return "\(path): missing tensor \"\(name)\""
        case let .wrongShape(path, name, expected, actual):
            return "\(path): tensor \"\(name)\" has shape \(actual), expected \(expected)"
        case let .noTokenizerFiles(path):
            return "\(path): no tokenizer files (tokenizer.json, vocab.json + merges.txt, or vocab.txt)"
        case let .noDefaultModel(what):
            return what
        case let .invalidInput(what):
            return what
        }
    }
}
