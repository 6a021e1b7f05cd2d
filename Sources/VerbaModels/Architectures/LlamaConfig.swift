// The configuration of a Llama-family decoder (Hugging Face `LlamaForCausalLM`, `Qwen2ForCausalLM`,
// `Qwen3ForCausalLM`, `MistralForCausalLM`), read from `config.json`, and the rotary embedding's inverse
// frequencies as `transformers` computes them (default, `linear`, `dynamic`, `llama3`).
import Foundation

/// How the rotary embedding's frequencies are scaled (`rope_scaling` / `rope_parameters` in config.json).
///
/// ```swift
/// let config = try LlamaConfig(path: "models/Llama-3.2-1B/config.json")
/// if case let .llama3(factor, _, _, originalContext) = config.ropeScaling {
///     print("RoPE scaled \(factor)x from \(originalContext) positions")   // 32.0x from 8192
/// }
/// ```
public enum RopeScaling: Sendable, Equatable {
    /// Plain RoPE: inv_freq[i] = 1 / theta^(2i / d).
    case none
    /// Position interpolation: every frequency divided by `factor`.
    case linear(factor: Double)
    /// Dynamic NTK: the base grows once a sequence passes `max_position_embeddings`. Verba runs at most
    /// that many positions, where the frequencies are the plain ones.
    case dynamic(factor: Double)
    /// Llama 3.1's scaling: low frequencies divided by `factor`, high ones kept, the band between smoothed.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
    /// Each frequency divided by its own factor (headSize / 2 of them): a GGUF file's `rope_freqs.weight`,
    /// where llama.cpp's converter stores Llama 3.1's scaling.
    case factors([Float])
}

/// The Llama-family architectures Verba runs, by their `architectures` name in config.json.
///
/// ```swift
/// let config = try LlamaConfig(path: "models/Qwen2.5-0.5B/config.json")
/// print(config.architecture, config.architecture.modelType)   // qwen2 qwen2
/// let supported = LlamaArchitecture.allCases.map(\.rawValue)  // ["LlamaForCausalLM", "Qwen2ForCausalLM", ...]
/// ```
public enum LlamaArchitecture: String, Sendable, CaseIterable {
    case llama = "LlamaForCausalLM"
    case qwen2 = "Qwen2ForCausalLM"
    case qwen3 = "Qwen3ForCausalLM"
    case mistral = "MistralForCausalLM"

    /// The `model_type` Hugging Face writes for the architecture.
    public var modelType: String {
        switch self {
        case .llama: "llama"
        case .qwen2: "qwen2"
        case .qwen3: "qwen3"
        case .mistral: "mistral"
        }
    }
}

/// A Llama-family configuration, as Hugging Face writes it in `config.json`.
///
/// ```swift
/// let config = try LlamaConfig(path: "models/SmolLM2-135M/config.json")
/// print(config.layerCount, config.headCount, config.kvHeadCount)   // 30 9 3: grouped-query attention
/// print(config.eosTokenIds, config.maxPositions)
/// let model = try LlamaModel(folder: "models/SmolLM2-135M")        // reads the same config.json
/// ```
public struct LlamaConfig: Sendable, Equatable {
    public var architecture: LlamaArchitecture
    /// Rows of the token embedding (`vocab_size`).
    public var vocabSize: Int
    /// Width of the residual stream (`hidden_size`).
    public var hiddenSize: Int
    /// Width of the SwiGLU MLP (`intermediate_size`).
    public var intermediateSize: Int
    /// Decoder layers (`num_hidden_layers`).
    public var layerCount: Int
    /// Query heads (`num_attention_heads`).
    public var headCount: Int
    /// Key/value heads (`num_key_value_heads`, default the query heads); grouped-query attention when fewer.
    public var kvHeadCount: Int
    /// Floats per head (`head_dim`, default hidden / heads).
    public var headSize: Int
    /// RMSNorm epsilon (`rms_norm_eps`).
    public var rmsNormEpsilon: Float
    /// RoPE base (`rope_theta`).
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    /// Positions the model was trained for (`max_position_embeddings`).
    public var maxPositions: Int
    /// Whether the LM head is the token embedding (`tie_word_embeddings`).
    public var tieWordEmbeddings: Bool
    /// Bias on the q, k and v projections (Qwen2 always; Llama and Qwen3 `attention_bias`).
    public var qkvBias: Bool
    /// Bias on the output projection (Llama's and Qwen3's `attention_bias`).
    public var outputBias: Bool
    /// Bias on the MLP projections (`mlp_bias`).
    public var mlpBias: Bool
    /// RMSNorm of each query and key head before RoPE (Qwen3).
    public var qkNorm: Bool
    /// Per layer, the sliding attention window (a query sees itself and the window − 1 keys before it), or nil.
    public var slidingWindows: [Int?]
    public var bosTokenId: Int?
    /// End-of-sequence ids (`eos_token_id`, a number or a list).
    public var eosTokenIds: [Int]

    /// Reads a Hugging Face `config.json`; throws `ModelError` naming the file and field for an
    /// architecture Verba does not run, a missing field, a wrong type or an impossible size.
    public init(path: String) throws {
        let json = try ConfigJSON(path: path)
        let names = try json.optionalStringArray("architectures") ?? []
        let type = try json.optionalString("model_type")
        guard let arch = names.lazy.compactMap(LlamaArchitecture.init(rawValue:)).first
                ?? LlamaArchitecture.allCases.first(where: { $0.modelType == type }) else {
            let what = names.first.map { "architecture \($0)" } ?? "model_type \(type ?? "(none)")"
            throw ModelError.unsupported(path: path, what: "\(what) (this reader handles \(LlamaArchitecture.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        architecture = arch
        vocabSize = try json.int("vocab_size", atLeast: 1)
        hiddenSize = try json.int("hidden_size", atLeast: 1)
        intermediateSize = try json.int("intermediate_size", atLeast: 1)
        layerCount = try json.int("num_hidden_layers", atLeast: 1)
        headCount = try json.int("num_attention_heads", atLeast: 1)
        kvHeadCount = try json.int("num_key_value_heads", default: headCount)
        guard kvHeadCount >= 1, headCount % kvHeadCount == 0 else {
            throw ModelError.badConfigValue(path: path, field: "num_key_value_heads",
                reason: "\(kvHeadCount) does not divide the \(headCount) attention heads")
        }
        if let hd = try json.optionalInt("head_dim") {
            headSize = hd
        } else {
            guard hiddenSize % headCount == 0 else {
                throw ModelError.badConfigValue(path: path, field: "num_attention_heads",
                    reason: "hidden_size \(hiddenSize) is not a multiple of \(headCount) heads (and no head_dim)")
            }
            headSize = hiddenSize / headCount
        }
        guard headSize >= 2, headSize % 2 == 0 else {
            throw ModelError.badConfigValue(path: path, field: "head_dim", reason: "must be even and positive for RoPE, found \(headSize)")
        }
        let eps = try json.double("rms_norm_eps", default: 1e-6)
        guard eps > 0 else { throw ModelError.badConfigValue(path: path, field: "rms_norm_eps", reason: "must be positive, found \(eps)") }
        rmsNormEpsilon = Float(eps)
        maxPositions = try json.int("max_position_embeddings", atLeast: 1)
        tieWordEmbeddings = try json.bool("tie_word_embeddings", default: false)
        if let act = try json.optionalString("hidden_act"), act != "silu", act != "swish" {
            throw ModelError.unsupported(path: path, what: "hidden_act \"\(act)\" (Llama-family models use silu)")
        }
        let attentionBias = try json.bool("attention_bias", default: false)
        // Qwen2 always has q/k/v biases and none on o_proj; Mistral has none; Llama and Qwen3 follow
        // `attention_bias` on all four; only Llama reads `mlp_bias`.
        qkvBias = arch == .qwen2 || (arch != .mistral && attentionBias)
        outputBias = (arch == .llama || arch == .qwen3) && attentionBias
        let mlpBiasField = try json.bool("mlp_bias", default: false)
        mlpBias = arch == .llama && mlpBiasField
        qkNorm = arch == .qwen3

        // RoPE: `rope_theta` + `rope_scaling` (the form of the published configs), or transformers 5's
        // `rope_parameters` holding both.
        let ropeParameters = try json.optionalObject("rope_parameters")
        ropeTheta = try json.optionalDouble("rope_theta") ?? ropeParameters?.optionalDouble("rope_theta") ?? 10000
        guard ropeTheta > 1 else { throw ModelError.badConfigValue(path: path, field: "rope_theta", reason: "must be above 1, found \(ropeTheta)") }
        ropeScaling = try LlamaConfig.scaling(try json.optionalObject("rope_scaling") ?? ropeParameters, path: path)

        // Sliding windows: Mistral's applies to every layer; Qwen's only with use_sliding_window, from
        // layer max_window_layers on; an explicit `layer_types` list decides per layer.
        var windows = [Int?](repeating: nil, count: layerCount)
        if let window = try json.optionalInt("sliding_window"), try json.bool("use_sliding_window", default: arch == .mistral) {
            guard window >= 1 else { throw ModelError.badConfigValue(path: path, field: "sliding_window", reason: "must be at least 1, found \(window)") }
            if let types = try json.optionalStringArray("layer_types") {
                guard types.count == layerCount else {
                    throw ModelError.badConfigValue(path: path, field: "layer_types", reason: "\(types.count) entries for \(layerCount) layers")
                }
                for (l, t) in types.enumerated() where t == "sliding_attention" { windows[l] = window }
            } else {
                let first = arch == .mistral ? 0 : try json.int("max_window_layers", default: 28)
                for l in 0..<layerCount where l >= first { windows[l] = window }
            }
        }
        slidingWindows = windows

        bosTokenId = try json.optionalInt("bos_token_id")
        if let list = json["eos_token_id"]?.arrayValue {
            eosTokenIds = try list.map { item in
                guard case let .int(n) = item else {
                    throw ModelError.badConfigValue(path: path, field: "eos_token_id", reason: "expected integers")
                }
                return n
            }
        } else {
            eosTokenIds = (try json.optionalInt("eos_token_id")).map { [$0] } ?? []
        }
        for (field, id) in [("bos_token_id", bosTokenId)] + eosTokenIds.map({ ("eos_token_id", Optional($0)) }) {
            if let id, id < 0 || id >= vocabSize {
                throw ModelError.badConfigValue(path: path, field: field, reason: "\(id) is outside the vocabulary 0..<\(vocabSize)")
            }
        }
    }

    private static func scaling(_ o: ConfigJSON?, path: String) throws -> RopeScaling {
        guard let o else { return .none }
        let type = try o.optionalString("rope_type") ?? o.optionalString("type") ?? "default"
        func factor() throws -> Double {
            let f = try o.double("factor")
            guard f >= 1 else { throw ModelError.badConfigValue(path: path, field: "rope_scaling", reason: "factor must be at least 1, found \(f)") }
            return f
        }
        switch type {
        case "default": return .none
        case "linear": return .linear(factor: try factor())
        case "dynamic": return .dynamic(factor: try factor())
        case "llama3":
            let low = try o.double("low_freq_factor"), high = try o.double("high_freq_factor")
            guard high > low, low > 0 else {
                throw ModelError.badConfigValue(path: path, field: "rope_scaling", reason: "high_freq_factor must exceed low_freq_factor > 0")
            }
            return .llama3(factor: try factor(), lowFrequencyFactor: low, highFrequencyFactor: high,
                           originalContext: try o.int("original_max_position_embeddings", atLeast: 1))
        default:
            throw ModelError.unsupported(path: path, what: "rope_scaling type \"\(type)\" (known: default, linear, dynamic, llama3)")
        }
    }

    /// The rotary inverse frequencies (headSize / 2), in float32 as `transformers` computes them:
    /// 1 / theta^(2i / d), then scaled.
    public var inverseFrequencies: [Float] {
        let d = headSize
        let theta = Float(ropeTheta)
        var inv = (0..<(d / 2)).map { i -> Float in
            let exponent = Float(2 * i) / Float(d)
            return 1 / Float(pow(Double(theta), Double(exponent)))
        }
        switch ropeScaling {
        case .none, .dynamic: break
        case let .linear(factor): inv = inv.map { $0 / Float(factor) }
        case let .factors(f): inv = zip(inv, f).map { $0 / $1 }
        case let .llama3(factor, low, high, original):
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            inv = inv.map { f in
                let wavelength = 2 * Double.pi / Double(f)
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return Float(Double(f) / factor) }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return Float((1 - smooth) * Double(f) / factor + smooth * Double(f))
            }
        }
        return inv
    }
}
