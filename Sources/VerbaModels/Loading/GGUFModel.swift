// Models from GGUF files (llama.cpp's format): the metadata becomes a Verba configuration (llama.cpp's
// key names, `{arch}.embedding_length`, `{arch}.attention.head_count`...), and the tensors
// (`token_embd.weight`, `blk.N.attn_q.weight`, `output_norm.weight`...) are handed to the architectures
// under their Hugging Face names, so LlamaModel, GPT2Model and BertModel build from a GGUF as from a
// folder. What llama.cpp's converter (convert_hf_to_gguf.py) changed is undone here:
//   llama  Q and K rows (and biases) are permuted per head for llama.cpp's interleaved RoPE:
//          GGUF row 2j + i of a head is Hugging Face row i · hd/2 + j (qwen2/qwen3 are not permuted);
//          Llama 3.1's RoPE scaling is stored as per-frequency divisors (`rope_freqs.weight`);
//   gpt2   Conv1D weights are stored transposed, (out, in);
//   bert   Q, K, V are separate and the token-type embedding is `token_types.weight`.
import Foundation
import VerbaSupport
import VerbaTensor

/// The tensors of a GGUF file under their Hugging Face names (what the architectures ask for), each
/// read from its GGUF tensor with the converter's permutation or transposition undone.
/// Sendable: the map is fixed at init; copies made on demand are kept under `lock`.
package final class GGUFWeights: @unchecked Sendable {
    /// Where a Hugging Face tensor comes from.
    package struct Source: Sendable {
        /// The GGUF tensor's name.
        package let name: String
        /// Rows permuted back from llama.cpp's RoPE layout, in this many heads (nil: as stored).
        package var ropeHeads: Int?
        /// Stored (out, in); the architecture wants (in, out) (GPT-2's Conv1D).
        package var transposed = false

        package init(_ name: String, ropeHeads: Int? = nil, transposed: Bool = false) {
            self.name = name
            self.ropeHeads = ropeHeads
            self.transposed = transposed
        }
    }

    package let file: GGUFFile
    private let map: [String: Source]
    private var keep: [AnyObject] = []
    private let lock = NSLock()

    package init(file: GGUFFile, map: [String: Source]) {
        self.file = file
        self.map = map.filter { file.tensors[$0.value.name] != nil }
    }

    package var names: [String] { map.keys.sorted() }
    package func has(_ name: String) -> Bool { map[name] != nil }

    private func entry(_ name: String) throws -> (Source, GGUFTensorInfo) {
        guard let source = map[name], let info = file.info(source.name) else {
            throw ModelError.missingTensor(path: file.path, name: map[name]?.name ?? name)
        }
        return (source, info)
    }

    /// The shape the architecture sees (transposed tensors reversed).
    package func shape(of name: String) -> [Int]? {
        guard let source = map[name], let info = file.info(source.name) else { return nil }
        return source.transposed ? info.shape.reversed() : info.shape
    }

    private func retain(_ object: AnyObject) { lock.withLock { keep.append(object) } }

    /// Matrix `name` (rows, cols) at its stored precision: borrowed from the mapping, or (for the permuted
    /// Q/K rows of a llama file) a copy of its rows in Hugging Face order, at the same precision.
    package func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        let (source, info) = try entry(name)
        guard !source.transposed else {
            let t = try tensor(name, shape: [rows, cols])
            if t.isOwned { retain(t) }
            return WeightMatrix(t.pointer, rows: rows, cols: cols)
        }
        guard info.shape == [rows, cols] else {
            throw ModelError.wrongShape(path: file.path, name: info.name, expected: [rows, cols], actual: info.shape)
        }
        var bytes = file.rawBytes(info)
        if let heads = source.ropeHeads {
            let rowBytes = bytes.count / max(rows, 1)
            let copy = GGUFRowBuffer(byteCount: bytes.count)
            try GGUFWeights.unpermuteRows(bytes.baseAddress!, copy.pointer, rows: rows, rowBytes: rowBytes, heads: heads, path: file.path, name: info.name)
            retain(copy)
            bytes = UnsafeRawBufferPointer(start: copy.pointer, count: bytes.count)
        }
        let base = bytes.baseAddress!
        switch info.type {
        case .f16, .bf16: return WeightMatrix(base: base, type: info.type, rows: rows, cols: cols)
        case .f32 where Int(bitPattern: base) % 4 == 0: return WeightMatrix(base: base, type: .f32, rows: rows, cols: cols)
        case let t where hasQuantizedKernel(t): return WeightMatrix(base: base, type: t, rows: rows, cols: cols)
        default:
            guard GGUFFile.canConvert(info.type) else {
                throw GGUFError.unsupported(path: file.path, what: "tensor type \(info.type.name) of tensor \(info.name)")
            }
            let t = FloatTensor(shape: [rows, cols])
            GGUFFile.toFloats(base, type: info.type, t.pointer, rows: rows, cols: cols)
            retain(t)
            return WeightMatrix(t.pointer, rows: rows, cols: cols)
        }
    }

    /// Tensor `name` as float32 with exactly the shape `shape` (as the architecture sees it).
    package func tensor(_ name: String, shape: [Int]) throws -> FloatTensor {
        let (source, info) = try entry(name)
        let seen = source.transposed ? Array(info.shape.reversed()) : info.shape
        guard seen == shape else {
            throw ModelError.wrongShape(path: file.path, name: info.name, expected: shape, actual: seen)
        }
        let stored = try file.floats(info)
        if source.transposed {
            guard info.shape.count == 2 else { return stored }
            let r = info.shape[0], c = info.shape[1]
            let t = FloatTensor(shape: [c, r])
            for i in 0..<r { for j in 0..<c { t.pointer[j * r + i] = stored.pointer[i * c + j] } }
            return t
        }
        if let heads = source.ropeHeads {
            let rows = info.shape[0], rowBytes = 4 * info.count / max(rows, 1)
            let t = FloatTensor(shape: info.shape)
            try GGUFWeights.unpermuteRows(UnsafeRawPointer(stored.pointer), UnsafeMutableRawPointer(t.pointer), rows: rows,
                                          rowBytes: rowBytes, heads: heads, path: file.path, name: info.name)
            return t
        }
        return stored
    }

    /// Copies `rows` rows from llama.cpp's RoPE order to Hugging Face's: within each of `heads` heads of
    /// hd rows, destination row i · hd/2 + j (i in 0..<2) is source row 2j + i.
    static func unpermuteRows(_ source: UnsafeRawPointer, _ destination: UnsafeMutableRawPointer, rows: Int, rowBytes: Int,
                              heads: Int, path: String, name: String) throws {
        guard heads > 0, rows % (2 * heads) == 0 else {
            throw ModelError.malformed(path: path, reason: "tensor \(name): \(rows) rows do not split into \(heads) heads of an even size")
        }
        let hd = rows / heads, half = hd / 2
        for h in 0..<heads {
            for i in 0..<2 {
                for j in 0..<half {
                    let to = h * hd + i * half + j, from = h * hd + 2 * j + i
                    (destination + to * rowBytes).copyMemory(from: source + from * rowBytes, byteCount: rowBytes)
                }
            }
        }
    }
}

/// Owned bytes kept alive by `GGUFWeights` (the unpermuted rows of a matrix).
private final class GGUFRowBuffer {
    let pointer: UnsafeMutableRawPointer
    init(byteCount: Int) { pointer = .allocate(byteCount: max(byteCount, 1), alignment: 64) }
    deinit { pointer.deallocate() }
}

// MARK: - Architectures

/// The GGUF architectures Verba runs (`general.architecture`).
enum GGUFArchitecture: String, CaseIterable {
    case llama, qwen2, qwen3, gpt2, bert
}

/// A GGUF model file opened for one of the architectures Verba runs.
struct GGUFModelFile {
    let file: GGUFFile
    let architecture: GGUFArchitecture

    init(path: String) throws {
        file = try GGUFFile(path: path)
        let name = try file.header.string("general.architecture")
        guard let arch = GGUFArchitecture(rawValue: name) else {
            throw GGUFError.unsupported(path: path, what: "architecture \"\(name)\" (Verba runs \(GGUFArchitecture.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        architecture = arch
    }

    var header: GGUFHeader { file.header }
    var path: String { file.path }
    func key(_ suffix: String) -> String { architecture.rawValue + "." + suffix }

    /// The vocabulary size: `{arch}.vocab_size`, else the rows of `token_embd.weight`.
    func vocabSize() throws -> Int {
        if let v = try header.optionalInt(key("vocab_size"), atLeast: 1) { return v }
        guard let embed = file.info("token_embd.weight"), embed.shape.count == 2 else {
            throw ModelError.missingTensor(path: path, name: "token_embd.weight")
        }
        return embed.shape[0]
    }

    /// A token id from the tokenizer metadata (`tokenizer.ggml.bos_token_id`...), checked against the vocabulary.
    func tokenId(_ name: String, vocabSize: Int) throws -> Int? {
        let k = "tokenizer.ggml." + name
        guard let id = try header.optionalInt(k) else { return nil }
        guard id < vocabSize else { throw GGUFError.wrongKeyType(path: path, key: k, expected: "a token id below \(vocabSize)") }
        return id
    }

    // MARK: Llama family

    func llamaConfig() throws -> LlamaConfig {
        let arch: LlamaArchitecture = architecture == .qwen2 ? .qwen2 : architecture == .qwen3 ? .qwen3 : .llama
        let vocab = try vocabSize()
        let hidden = try header.int(key("embedding_length"), atLeast: 1)
        let heads = try header.int(key("attention.head_count"), atLeast: 1)
        let kvHeads = try header.optionalInt(key("attention.head_count_kv"), atLeast: 1) ?? heads
        guard heads % kvHeads == 0 else {
            throw GGUFError.wrongKeyType(path: path, key: key("attention.head_count_kv"), expected: "a divisor of the \(heads) attention heads")
        }
        let headSize = try header.optionalInt(key("attention.key_length"), atLeast: 2) ?? hidden / heads
        guard headSize % 2 == 0, headSize >= 2 else {
            throw GGUFError.wrongKeyType(path: path, key: key("attention.key_length"), expected: "an even head size")
        }
        if let v = try header.optionalInt(key("attention.value_length")), v != headSize {
            throw GGUFError.unsupported(path: path, what: "\(key("attention.value_length")) \(v) different from the key length \(headSize)")
        }
        if let rope = try header.optionalInt(key("rope.dimension_count")), rope != headSize {
            throw GGUFError.unsupported(path: path, what: "\(key("rope.dimension_count")) \(rope) (RoPE over part of a \(headSize)-wide head)")
        }
        let eps = try header.optionalDouble(key("attention.layer_norm_rms_epsilon")) ?? 1e-5
        guard eps > 0 else { throw GGUFError.wrongKeyType(path: path, key: key("attention.layer_norm_rms_epsilon"), expected: "a positive number") }
        let theta = try header.optionalDouble(key("rope.freq_base")) ?? 10000
        guard theta > 1 else { throw GGUFError.wrongKeyType(path: path, key: key("rope.freq_base"), expected: "a number above 1") }
        var scaling = RopeScaling.none
        switch try header.optionalString(key("rope.scaling.type")) ?? "none" {
        case "none": break
        case "linear":
            let k = key("rope.scaling.factor")
            guard let f = try header.optionalDouble(k) else { throw GGUFError.missingKey(path: path, key: k) }
            guard f >= 1 else { throw GGUFError.wrongKeyType(path: path, key: k, expected: "a factor of at least 1") }
            scaling = .linear(factor: f)
        case let other:
            throw GGUFError.unsupported(path: path, what: "\(key("rope.scaling.type")) \"\(other)\" (Verba reads none and linear)")
        }
        if let freqs = file.info("rope_freqs.weight") {
            guard freqs.shape == [headSize / 2] else {
                throw ModelError.wrongShape(path: path, name: freqs.name, expected: [headSize / 2], actual: freqs.shape)
            }
            let factors = try file.floats(freqs).toArray()
            guard factors.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw ModelError.malformed(path: path, reason: "tensor rope_freqs.weight holds a factor that is not a positive number")
            }
            scaling = .factors(factors)
        }
        let layers = try blockCount()
        var windows = [Int?](repeating: nil, count: layers)
        if let w = try header.optionalInt(key("attention.sliding_window"), atLeast: 1) {
            windows = Array(repeating: w, count: layers)
        }
        let bos = try tokenId("bos_token_id", vocabSize: vocab)
        var eos: [Int] = []
        for name in ["eos_token_id", "eot_token_id", "eom_token_id"] {
            if let id = try tokenId(name, vocabSize: vocab), !eos.contains(id) { eos.append(id) }
        }
        return LlamaConfig(
            architecture: arch, vocabSize: vocab, hiddenSize: hidden,
            intermediateSize: try header.int(key("feed_forward_length"), atLeast: 1), layerCount: layers,
            headCount: heads, kvHeadCount: kvHeads, headSize: headSize, rmsNormEpsilon: Float(eps),
            ropeTheta: theta, ropeScaling: scaling,
            maxPositions: try header.int(key("context_length"), atLeast: 1),
            tieWordEmbeddings: file.info("output.weight") == nil,
            qkvBias: file.info("blk.0.attn_q.bias") != nil, outputBias: file.info("blk.0.attn_output.bias") != nil,
            mlpBias: file.info("blk.0.ffn_gate.bias") != nil, qkNorm: file.info("blk.0.attn_q_norm.weight") != nil,
            slidingWindows: windows, bosTokenId: bos, eosTokenIds: eos)
    }

    /// Hugging Face names of a Llama-family checkpoint → GGUF tensors.
    func llamaNames(_ config: LlamaConfig) -> [String: GGUFWeights.Source] {
        let permute = architecture == .llama
        var m: [String: GGUFWeights.Source] = [
            "model.embed_tokens.weight": .init("token_embd.weight"),
            "model.norm.weight": .init("output_norm.weight"),
            "lm_head.weight": .init("output.weight"),
        ]
        for l in 0..<config.layerCount {
            let hf = "model.layers.\(l).", g = "blk.\(l)."
            m[hf + "input_layernorm.weight"] = .init(g + "attn_norm.weight")
            m[hf + "post_attention_layernorm.weight"] = .init(g + "ffn_norm.weight")
            m[hf + "self_attn.q_norm.weight"] = .init(g + "attn_q_norm.weight")
            m[hf + "self_attn.k_norm.weight"] = .init(g + "attn_k_norm.weight")
            for suffix in ["weight", "bias"] {
                m[hf + "self_attn.q_proj." + suffix] = .init(g + "attn_q." + suffix, ropeHeads: permute ? config.headCount : nil)
                m[hf + "self_attn.k_proj." + suffix] = .init(g + "attn_k." + suffix, ropeHeads: permute ? config.kvHeadCount : nil)
                m[hf + "self_attn.v_proj." + suffix] = .init(g + "attn_v." + suffix)
                m[hf + "self_attn.o_proj." + suffix] = .init(g + "attn_output." + suffix)
                m[hf + "mlp.gate_proj." + suffix] = .init(g + "ffn_gate." + suffix)
                m[hf + "mlp.up_proj." + suffix] = .init(g + "ffn_up." + suffix)
                m[hf + "mlp.down_proj." + suffix] = .init(g + "ffn_down." + suffix)
            }
        }
        return m
    }

    /// `block_count`, at most the number of tensors (every block has some): the names of each block's
    /// tensors are listed before any is read.
    func blockCount() throws -> Int {
        let layers = try header.int(key("block_count"), atLeast: 1)
        guard layers <= file.tensors.count else {
            throw GGUFError.malformed(path: path, reason: "block_count \(layers) is more than the file's \(file.tensors.count) tensors")
        }
        return layers
    }

    // MARK: GPT-2

    func gpt2Config() throws -> GPT2Config {
        let c = try header.int(key("embedding_length"), atLeast: 1)
        let heads = try header.int(key("attention.head_count"), atLeast: 1)
        guard c % heads == 0 else {
            throw GGUFError.wrongKeyType(path: path, key: key("attention.head_count"), expected: "a divisor of the embedding length \(c)")
        }
        let eps = try header.optionalDouble(key("attention.layer_norm_epsilon")) ?? 1e-5
        guard eps > 0 else { throw GGUFError.wrongKeyType(path: path, key: key("attention.layer_norm_epsilon"), expected: "a positive number") }
        let vocab = try vocabSize()
        let positions: Int
        if let wpe = file.info("position_embd.weight"), wpe.shape.count == 2 {
            positions = wpe.shape[0]
            guard positions >= 1 else { throw GGUFError.malformed(path: path, reason: "position_embd.weight has no rows") }
        } else {
            positions = try header.int(key("context_length"), atLeast: 1)
        }
        return GPT2Config(vocabSize: vocab, contextLength: positions, embeddingSize: c,
                          layerCount: try blockCount(), headCount: heads,
                          innerSize: try header.optionalInt(key("feed_forward_length"), atLeast: 1),
                          layerNormEpsilon: Float(eps), activation: .geluNew,
                          bosTokenId: try tokenId("bos_token_id", vocabSize: vocab),
                          eosTokenId: try tokenId("eos_token_id", vocabSize: vocab),
                          tieWordEmbeddings: file.info("output.weight") == nil)
    }

    /// Hugging Face names of a GPT-2 checkpoint (without `transformer.`) → GGUF tensors.
    func gpt2Names(_ config: GPT2Config) -> [String: GGUFWeights.Source] {
        var m: [String: GGUFWeights.Source] = [
            "wte.weight": .init("token_embd.weight"), "wpe.weight": .init("position_embd.weight"),
            "ln_f.weight": .init("output_norm.weight"), "ln_f.bias": .init("output_norm.bias"),
            "lm_head.weight": .init("output.weight"),
        ]
        for l in 0..<config.layerCount {
            let hf = "h.\(l).", g = "blk.\(l)."
            for s in ["weight", "bias"] {
                m[hf + "ln_1." + s] = .init(g + "attn_norm." + s)
                m[hf + "ln_2." + s] = .init(g + "ffn_norm." + s)
                m[hf + "attn.c_attn." + s] = .init(g + "attn_qkv." + s, transposed: s == "weight")
                m[hf + "attn.c_proj." + s] = .init(g + "attn_output." + s, transposed: s == "weight")
                m[hf + "mlp.c_fc." + s] = .init(g + "ffn_up." + s, transposed: s == "weight")
                m[hf + "mlp.c_proj." + s] = .init(g + "ffn_down." + s, transposed: s == "weight")
            }
        }
        return m
    }
    // MARK: BERT

    func bertConfig() throws -> BertConfig {
        let c = try header.int(key("embedding_length"), atLeast: 1)
        let heads = try header.int(key("attention.head_count"), atLeast: 1)
        guard c % heads == 0 else {
            throw GGUFError.wrongKeyType(path: path, key: key("attention.head_count"), expected: "a divisor of the embedding length \(c)")
        }
        let eps = try header.optionalDouble(key("attention.layer_norm_epsilon")) ?? 1e-12
        guard eps >= 0 else { throw GGUFError.wrongKeyType(path: path, key: key("attention.layer_norm_epsilon"), expected: "a number ≥ 0") }
        var types = try header.optionalInt("tokenizer.ggml.token_type_count", atLeast: 1)
        if types == nil, let t = file.info("token_types.weight"), t.shape.count == 2 { types = t.shape[0] }
        return BertConfig(vocabSize: try vocabSize(), hiddenSize: c, layerCount: try header.int(key("block_count"), atLeast: 0),
                          headCount: heads, intermediateSize: try header.int(key("feed_forward_length"), atLeast: 1),
                          maxPositions: try header.int(key("context_length"), atLeast: 1), typeVocabSize: types ?? 2,
                          layerNormEps: Float(eps))
    }

    /// The pooling llama.cpp's converter recorded (`bert.pooling_type`: 1 mean, 2 CLS), nil when absent.
    func bertPooling() throws -> Pooling? {
        guard let type = try header.optionalInt(key("pooling_type")) else { return nil }
        switch type {
        case 1: return .mean
        case 2: return .cls
        default: throw GGUFError.unsupported(path: path, what: "\(key("pooling_type")) \(type) (Verba pools with mean (1) or CLS (2))")
        }
    }

    /// Hugging Face names of a BERT checkpoint (without `bert.`) → GGUF tensors.
    func bertNames(_ config: BertConfig) -> [String: GGUFWeights.Source] {
        var m: [String: GGUFWeights.Source] = [
            "embeddings.word_embeddings.weight": .init("token_embd.weight"),
            "embeddings.position_embeddings.weight": .init("position_embd.weight"),
            "embeddings.token_type_embeddings.weight": .init("token_types.weight"),
            "embeddings.LayerNorm.weight": .init("token_embd_norm.weight"),
            "embeddings.LayerNorm.bias": .init("token_embd_norm.bias"),
        ]
        for l in 0..<config.layerCount {
            let hf = "encoder.layer.\(l).", g = "blk.\(l)."
            for s in ["weight", "bias"] {
                m[hf + "attention.self.query." + s] = .init(g + "attn_q." + s)
                m[hf + "attention.self.key." + s] = .init(g + "attn_k." + s)
                m[hf + "attention.self.value." + s] = .init(g + "attn_v." + s)
                m[hf + "attention.output.dense." + s] = .init(g + "attn_output." + s)
                m[hf + "attention.output.LayerNorm." + s] = .init(g + "attn_output_norm." + s)
                m[hf + "intermediate.dense." + s] = .init(g + "ffn_up." + s)
                m[hf + "output.dense." + s] = .init(g + "ffn_down." + s)
                m[hf + "output.LayerNorm." + s] = .init(g + "layer_output_norm." + s)
            }
        }
        return m
    }
}

extension BertConfig {
    /// A configuration from explicit values (a GGUF file's metadata): GELU (erf), no classifier labels.
    init(vocabSize: Int, hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int, maxPositions: Int,
         typeVocabSize: Int, layerNormEps: Float) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        activation = .geluErf
        labels = []
        multiLabel = false
    }
}

extension LlamaConfig {
    /// A configuration from explicit values (a GGUF file's metadata).
    init(architecture: LlamaArchitecture, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
         headCount: Int, kvHeadCount: Int, headSize: Int, rmsNormEpsilon: Float, ropeTheta: Double,
         ropeScaling: RopeScaling, maxPositions: Int, tieWordEmbeddings: Bool, qkvBias: Bool, outputBias: Bool,
         mlpBias: Bool, qkNorm: Bool, slidingWindows: [Int?], bosTokenId: Int?, eosTokenIds: [Int]) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headSize = headSize
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositions = maxPositions
        self.tieWordEmbeddings = tieWordEmbeddings
        self.qkvBias = qkvBias
        self.outputBias = outputBias
        self.mlpBias = mlpBias
        self.qkNorm = qkNorm
        self.slidingWindows = slidingWindows
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
    }
}

// MARK: - Entry points

/// Whether `path` names a GGUF file (a regular file starting with the magic "GGUF").
package func isGGUFFile(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
          let h = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? h.close() }
    return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
}

/// Loads the causal language model of a GGUF file: `gpt2`, or `llama`, `qwen2`, `qwen3`.
/// - Throws: `GGUFError` naming the file and the key or tensor for a damaged or unsupported file;
///   `ModelError` for a missing tensor or a wrong shape.
///
/// ```swift
/// let model = try loadCausalLM(gguf: "models/SmolLM2-135M-Q8_0.gguf")
/// let tokenizer = try Tokenizer.load(path: "models/SmolLM2-135M-Q8_0.gguf")   // the file's vocabulary
/// ```
public func loadCausalLM(gguf path: String, maxContext: Int = LlamaModel.defaultMaxContext) throws -> any CausalLM {
    let g = try GGUFModelFile(path: path)
    switch g.architecture {
    case .llama, .qwen2, .qwen3:
        let config = try g.llamaConfig()
        let weights = ModelWeights(gguf: GGUFWeights(file: g.file, map: g.llamaNames(config)))
        return try LlamaModel(config: config, weights: weights, maxContext: maxContext)
    case .gpt2:
        let config = try g.gpt2Config()
        let w = GGUFWeights(file: g.file, map: g.gpt2Names(config))
        return try GPT2Model(config: config, weightsPath: path, owner: w, hasLMHead: w.has("lm_head.weight")) { name, shape in
            try w.tensor(name, shape: shape)
        }
    case .bert:
        throw GGUFError.unsupported(path: path, what: "architecture \"bert\" for a language model (an encoder: use it to embed)")
    }
}

/// The BERT encoder of a GGUF file (`general.architecture` "bert") and the pooling it records.
/// - Throws: `GGUFError` for another architecture or a damaged file; `ModelError` for a missing tensor.
func loadBert(gguf path: String) throws -> (model: BertModel, pooling: Pooling?) {
    let g = try GGUFModelFile(path: path)
    guard g.architecture == .bert else {
        throw GGUFError.unsupported(path: path, what: "architecture \"\(g.architecture.rawValue)\" for embeddings (Verba embeds with bert)")
    }
    let config = try g.bertConfig()
    let model = try BertModel(config: config, weights: ModelWeights(gguf: GGUFWeights(file: g.file, map: g.bertNames(config))))
    return (model, try g.bertPooling())
}
