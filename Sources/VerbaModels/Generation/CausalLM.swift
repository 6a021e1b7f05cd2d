// What generation and perplexity need from a decoder, whatever its architecture, and the loader that
// picks the architecture of a Hugging Face model folder from its config.json.
import Foundation
import VerbaTensor

/// A causal language model that runs token ids through a KV cache: GPT-2 (`GPT2Model`) and the
/// Llama family (`LlamaModel`).
///
/// ```swift
/// let model = try loadCausalLM(folder: "models/SmolLM2-135M")
/// let cache = model.makeCache()
/// let logits = try model.logits(for: [1, 2, 3], cache: cache)
/// ```
public protocol CausalLM: AnyObject, Sendable {
    /// Rows of the token embedding: every id must be below it.
    var vocabSize: Int { get }
    /// Positions a sequence may use.
    var contextLength: Int { get }
    /// The id a sequence starts from when there is no prompt, if any.
    var bosTokenId: Int? { get }
    /// Ids that end generation (empty when the model has none).
    var eosTokenIds: [Int] { get }
    /// A KV cache for `contextLength` positions.
    func makeCache() -> KVCache
    /// Runs `ids` after what the cache holds and returns the logits (V) that follow the last of them.
    func logits(for ids: [Int], cache: KVCache) throws -> [Float]
    /// Runs `ids` after what the cache holds and calls `body(position, logits)` for each position in
    /// `from ..< (until ?? ids.count)`, in order.
    func forEachLogits(_ ids: [Int], cache: KVCache, from: Int, until: Int?,
                       _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws
}

extension GPT2Model: CausalLM {
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var bosTokenId: Int? { config.bosTokenId }
    public var eosTokenIds: [Int] { config.eosTokenId.map { [$0] } ?? [] }
}

extension LlamaModel: CausalLM {
    public var vocabSize: Int { config.vocabSize }
    public var bosTokenId: Int? { config.bosTokenId }
    public var eosTokenIds: [Int] { config.eosTokenIds }
}

extension CausalLM {
    /// The logits (V) after every position of `ids`, from an empty cache, in one batched pass (no decode
    /// steps). For tests and short inputs: the result holds ids.count × V floats.
    ///
    /// ```swift
    /// let model = try loadCausalLM(folder: "models/gpt2")
    /// let rows = try model.allLogits([464, 3139, 286])   // 3 rows of vocabSize logits
    /// ```
    public func allLogits(_ ids: [Int]) throws -> [[Float]] {
        var out: [[Float]] = []
        try forEachLogits(ids, cache: makeCache(), from: 0, until: nil) { _, row in out.append(Array(row)) }
        return out
    }
}

/// The head of `forEachLogits`, shared by the architectures: positions `from ..< end` are projected to
/// the vocabulary 32 rows at a time by `project(first, rows, out)` (writing rows × vocabSize logits), and
/// each row is handed to `body` in order, so memory stays at a few MB whatever the length.
func forEachLogitsBlock(from: Int, until end: Int, vocabSize v: Int,
                        _ project: (_ first: Int, _ rows: Int, _ out: UnsafeMutablePointer<Float>) -> Void,
                        _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
    let block = 32
    var rows = [Float](repeating: 0, count: block * v)
    var p = from
    while p < end {
        let n = min(block, end - p)
        try rows.withUnsafeMutableBufferPointer { r in
            project(p, n, r.baseAddress!)
            for q in 0..<n {
                try body(p + q, UnsafeBufferPointer(rebasing: r[(q * v)..<((q + 1) * v)]))
            }
        }
        p += n
    }
}

/// Loads the causal language model of a Hugging Face folder, choosing the architecture from
/// config.json's `architectures` (else `model_type`): `GPT2LMHeadModel` / `gpt2`, or `LlamaForCausalLM`,
/// `Qwen2ForCausalLM`, `Qwen3ForCausalLM`, `MistralForCausalLM`; or of a GGUF file (`loadCausalLM(gguf:)`).
/// - Throws: `ModelError.unsupported` naming config.json for another architecture; the loaders' errors
///   (missing shard or tensor, wrong shape) otherwise.
///
/// ```swift
/// let model = try loadCausalLM(folder: "models/Qwen2.5-0.5B", maxContext: 4096)
/// print(type(of: model), model.contextLength)   // LlamaModel 4096
/// let generator = try TextGenerator(model: model, tokenizer: try Tokenizer.load(path: "models/Qwen2.5-0.5B"))
/// ```
public func loadCausalLM(folder: String, maxContext: Int = LlamaModel.defaultMaxContext) throws -> any CausalLM {
    if isGGUFFile(folder) { return try loadCausalLM(gguf: folder, maxContext: maxContext) }
    let path = (folder as NSString).appendingPathComponent("config.json")
    let json = try ConfigJSON(path: path)
    let names = try json.optionalStringArray("architectures") ?? []
    let type = try json.optionalString("model_type")
    if names.contains("GPT2LMHeadModel") || (names.isEmpty && type == "gpt2") {
        return try GPT2Model(folder: folder)
    }
    if names.contains(where: { LlamaArchitecture(rawValue: $0) != nil })
        || (names.isEmpty && LlamaArchitecture.allCases.contains(where: { $0.modelType == type })) {
        return try LlamaModel(folder: folder, maxContext: maxContext)
    }
    let what = names.first.map { "architecture \($0)" } ?? "model_type \(type ?? "(none)")"
    let known = ["GPT2LMHeadModel"] + LlamaArchitecture.allCases.map(\.rawValue)
    throw ModelError.unsupported(path: path, what: "\(what) (Verba runs \(known.joined(separator: ", ")))")
}
