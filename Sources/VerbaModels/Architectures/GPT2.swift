// GPT-2 (Hugging Face `GPT2LMHeadModel`), read top to bottom like nanoGPT's model.py:
//   config  →  weights  →  block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))  →  ln_f  →  tied LM head.
// Two execution paths share the weights and the KV cache:
//   prefill  T tokens in one batched pass: every projection is one sgemm over the T rows;
//   decode   one token: every projection is a bandwidth-bound matrix-vector product (gemv).
// Checkpoints name tensors with or without the `transformer.` prefix; Conv1D weights are stored
// (in, out), so a projection is x · W; the LM head is the token embedding (V, C) unless the file has
// its own `lm_head.weight` and `tie_word_embeddings` is false.
import Foundation
import Synchronization
import VerbaTensor
import VerbaTokenizers

// MARK: - Configuration

/// The MLP nonlinearity named by `activation_function` (Hugging Face's `ACT2FN` names).
///
/// ```swift
/// let config = try GPT2Config(path: "models/gpt2/config.json")
/// print(config.activation.rawValue)                 // "gelu_new"
/// let act = GPT2Activation(rawValue: "quick_gelu")  // .quickGelu; nil for a name Verba does not know
/// let small = GPT2Config(layerCount: 6, activation: .gelu)
/// ```
public enum GPT2Activation: String, Sendable, CaseIterable {
    /// GPT-2's tanh approximation of GELU (`gelu_new`; `gelu_pytorch_tanh` and `gelu_fast` are the same function).
    case geluNew = "gelu_new"
    case geluPytorchTanh = "gelu_pytorch_tanh"
    case geluFast = "gelu_fast"
    /// Exact GELU with erf.
    case gelu = "gelu"
    case relu = "relu"
    case silu = "silu"
    case swish = "swish"
    /// x · sigmoid(1.702 x).
    case quickGelu = "quick_gelu"

    /// Applies the function in place to `count` floats.
    func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .geluNew, .geluPytorchTanh, .geluFast: geluTanh(x, count: count)
        case .gelu: geluErf(x, count: count)
        case .relu: for i in 0..<count { x[i] = max(x[i], 0) }
        case .silu, .swish: for i in 0..<count { x[i] = x[i] / (1 + expf(-x[i])) }
        case .quickGelu: for i in 0..<count { x[i] = x[i] / (1 + expf(-1.702 * x[i])) }
        }
    }
}

/// A GPT-2 configuration, as Hugging Face's `GPT2Config` writes it in `config.json`.
///
/// ```swift
/// let config = try GPT2Config(path: "models/gpt2/config.json")
/// print(config.layerCount, config.headCount, config.headSize)   // 12 12 64
/// let model = try GPT2Model(config: config, weightsPath: "models/gpt2/model.safetensors")
/// let medium = GPT2Config(embeddingSize: 1024, layerCount: 24, headCount: 16)   // GPT-2 355M's shape
/// ```
public struct GPT2Config: Sendable, Equatable {
    /// Rows of the token embedding (`vocab_size`).
    public var vocabSize: Int
    /// Positions the model can attend over (`n_positions`).
    public var contextLength: Int
    /// Width of the residual stream C (`n_embd`).
    public var embeddingSize: Int
    /// Transformer blocks (`n_layer`).
    public var layerCount: Int
    /// Attention heads (`n_head`); C must be a multiple of it.
    public var headCount: Int
    /// Width of the MLP (`n_inner`, default 4·C).
    public var innerSize: Int
    /// Layer-norm epsilon (`layer_norm_epsilon`).
    public var layerNormEpsilon: Float
    /// MLP nonlinearity (`activation_function`).
    public var activation: GPT2Activation
    /// Divide attention scores by √headSize (`scale_attn_weights`, default true).
    public var scaleAttentionWeights: Bool
    /// Also divide them by layer index + 1 (`scale_attn_by_inverse_layer_idx`, default false).
    public var scaleAttentionByInverseLayerIndex: Bool
    /// `bos_token_id`, if any.
    public var bosTokenId: Int?
    /// `eos_token_id`, if any: generation stops there unless told to ignore it.
    public var eosTokenId: Int?
    /// Whether the LM head is the token embedding (`tie_word_embeddings`, default true).
    public var tieWordEmbeddings: Bool

    /// Floats per attention head.
    public var headSize: Int { embeddingSize / headCount }

    /// A configuration from explicit values (defaults are GPT-2 124M's).
    public init(vocabSize: Int = 50257, contextLength: Int = 1024, embeddingSize: Int = 768, layerCount: Int = 12,
                headCount: Int = 12, innerSize: Int? = nil, layerNormEpsilon: Float = 1e-5,
                activation: GPT2Activation = .geluNew, scaleAttentionWeights: Bool = true,
                scaleAttentionByInverseLayerIndex: Bool = false, bosTokenId: Int? = 50256, eosTokenId: Int? = 50256,
                tieWordEmbeddings: Bool = true) {
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.embeddingSize = embeddingSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.innerSize = innerSize ?? 4 * embeddingSize
        self.layerNormEpsilon = layerNormEpsilon
        self.activation = activation
        self.scaleAttentionWeights = scaleAttentionWeights
        self.scaleAttentionByInverseLayerIndex = scaleAttentionByInverseLayerIndex
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    /// Reads a Hugging Face GPT-2 `config.json`; throws `ModelError` naming the file and field for a
    /// missing field, a wrong type, an impossible size or an unknown `activation_function`.
    public init(path: String) throws {
        let json = try ConfigJSON(path: path)
        if let type = try json.optionalString("model_type"), type != "gpt2" {
            throw ModelError.unsupported(path: path, what: "model_type \"\(type)\" (this reader handles \"gpt2\")")
        }
        let c = try json.int("n_embd", atLeast: 1)
        let heads = try json.int("n_head", atLeast: 1)
        guard c % heads == 0 else {
            throw ModelError.badConfigValue(path: path, field: "n_head", reason: "n_embd \(c) is not a multiple of \(heads) heads")
        }
        let actName = try json.string("activation_function", default: "gelu_new")
        guard let act = GPT2Activation(rawValue: actName) else {
            throw ModelError.badConfigValue(path: path, field: "activation_function",
                reason: "unknown activation \"\(actName)\" (known: \(GPT2Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let inner = try json.optionalInt("n_inner")
        if let inner, inner < 1 {
            throw ModelError.badConfigValue(path: path, field: "n_inner", reason: "must be at least 1, found \(inner)")
        }
        let eps = try json.double("layer_norm_epsilon", default: 1e-5)
        guard eps > 0 else {
            throw ModelError.badConfigValue(path: path, field: "layer_norm_epsilon", reason: "must be positive, found \(eps)")
        }
        self.init(vocabSize: try json.int("vocab_size", atLeast: 1),
                  contextLength: try json.int("n_positions", atLeast: 1),
                  embeddingSize: c, layerCount: try json.int("n_layer", atLeast: 1), headCount: heads,
                  innerSize: inner, layerNormEpsilon: Float(eps), activation: act,
                  scaleAttentionWeights: try json.bool("scale_attn_weights", default: true),
                  scaleAttentionByInverseLayerIndex: try json.bool("scale_attn_by_inverse_layer_idx", default: false),
                  bosTokenId: try json.optionalInt("bos_token_id"), eosTokenId: try json.optionalInt("eos_token_id"),
                  tieWordEmbeddings: try json.bool("tie_word_embeddings", default: true))
        for (field, id) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId)] {
            if let id, id < 0 || id >= vocabSize {
                throw ModelError.badConfigValue(path: path, field: field, reason: "\(id) is outside the vocabulary 0..<\(vocabSize)")
            }
        }
    }
}

// MARK: - Weights

/// One transformer block's parameters (views into the memory-mapped checkpoint).
struct GPT2Block {
    let ln1Gamma, ln1Beta: FloatTensor          // (C)
    let attnWeight, attnBias: FloatTensor       // (C, 3C), (3C)
    let attnProjWeight, attnProjBias: FloatTensor  // (C, C), (C)
    let ln2Gamma, ln2Beta: FloatTensor          // (C)
    let fcWeight, fcBias: FloatTensor           // (C, I), (I)
    let mlpProjWeight, mlpProjBias: FloatTensor // (I, C), (C)
}

// MARK: - Model

/// Keeps the page-touching loop of `populate` from being optimized away.
private let populateSink = Atomic<UInt32>(0)

/// A GPT-2 language model over memory-mapped float32 weights (F16/BF16 checkpoints are converted on load).
///
/// ```swift
/// let model = try GPT2Model(folder: "models/gpt2")
/// let cache = model.makeCache()
/// var logits = try model.logits(for: promptIds, cache: cache)   // prefill, one batched pass
/// logits = try model.logits(for: [next], cache: cache)          // one decode step
/// ```
/// Several sequences may run at once, from different threads, each with its own cache: the model holds
/// only immutable weights, and the scratch buffers of a forward pass belong to the cache it runs on.
/// One cache serves one sequence at a time.
public final class GPT2Model: Sendable {
    /// The configuration the weights were checked against.
    public let config: GPT2Config
    /// The checkpoint's path.
    public let weightsPath: String
    private let file: any AnyObject & Sendable  // keeps the mapped weights alive
    private let wte: FloatTensor      // (V, C)
    private let wpe: FloatTensor      // (P, C)
    private let blocks: [GPT2Block]
    private let lnFGamma, lnFBeta: FloatTensor  // (C)
    private let lmHead: FloatTensor   // (V, C)

    /// Loads `config.json` and `model.safetensors` from a model folder.
    public convenience init(folder: String) throws {
        let config = try GPT2Config(path: (folder as NSString).appendingPathComponent("config.json"))
        try self.init(config: config, weightsPath: (folder as NSString).appendingPathComponent("model.safetensors"))
    }

    /// Maps the checkpoint at `weightsPath` and checks every tensor's shape against `config`.
    public convenience init(config: GPT2Config, weightsPath: String) throws {
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw ModelError.unreadable(path: weightsPath, reason: "no such file")
        }
        let f = try SafeTensorsFile(path: weightsPath), path = weightsPath
        let prefix = f.tensors["transformer.wte.weight"] != nil ? "transformer." : ""
        try self.init(config: config, weightsPath: weightsPath, owner: f, hasLMHead: f.tensors["lm_head.weight"] != nil) { name, shape in
            guard let info = f.tensors[prefix + name] ?? f.tensors[name] else {
                throw ModelError.missingTensor(path: path, name: prefix + name)
            }
            guard info.shape == shape else {
                throw ModelError.wrongShape(path: path, name: info.name, expected: shape, actual: info.shape)
            }
            return try f.floats(info.name, shape: shape)
        }
    }

    /// Builds the model from tensors named as in a Hugging Face checkpoint (without the `transformer.`
    /// prefix; Conv1D weights (in, out)), returned by `tensor(name, shape)` with exactly that shape;
    /// `owner` keeps their memory alive.
    package init(config: GPT2Config, weightsPath: String, owner: any AnyObject & Sendable, hasLMHead: Bool,
                 tensor: (String, [Int]) throws -> FloatTensor) throws {
        try BLAS.load()  // OpenBLAS with the kernels for this CPU, before any product
        self.config = config
        self.weightsPath = weightsPath
        file = owner
        let c = config.embeddingSize, i = config.innerSize, v = config.vocabSize
        wte = try tensor("wte.weight", [v, c])
        wpe = try tensor("wpe.weight", [config.contextLength, c])
        blocks = try (0..<config.layerCount).map { l in
            let p = "h.\(l)."
            return GPT2Block(
                ln1Gamma: try tensor(p + "ln_1.weight", [c]), ln1Beta: try tensor(p + "ln_1.bias", [c]),
                attnWeight: try tensor(p + "attn.c_attn.weight", [c, 3 * c]), attnBias: try tensor(p + "attn.c_attn.bias", [3 * c]),
                attnProjWeight: try tensor(p + "attn.c_proj.weight", [c, c]), attnProjBias: try tensor(p + "attn.c_proj.bias", [c]),
                ln2Gamma: try tensor(p + "ln_2.weight", [c]), ln2Beta: try tensor(p + "ln_2.bias", [c]),
                fcWeight: try tensor(p + "mlp.c_fc.weight", [c, i]), fcBias: try tensor(p + "mlp.c_fc.bias", [i]),
                mlpProjWeight: try tensor(p + "mlp.c_proj.weight", [i, c]), mlpProjBias: try tensor(p + "mlp.c_proj.bias", [c]))
        }
        lnFGamma = try tensor("ln_f.weight", [c])
        lnFBeta = try tensor("ln_f.bias", [c])
        if !config.tieWordEmbeddings, hasLMHead {
            lmHead = try tensor("lm_head.weight", [v, c])
        } else if !config.tieWordEmbeddings {
            throw ModelError.missingTensor(path: weightsPath, name: "lm_head.weight")
        } else {
            lmHead = wte
        }
        // Map every weight page now, at load time, rather than one page fault at a time during the first
        // forward pass (the pages stay file-backed: resident memory is the file, not a copy).
        var all = [wte, wpe, lnFGamma, lnFBeta, lmHead]
        for b in blocks {
            all += [b.ln1Gamma, b.ln1Beta, b.attnWeight, b.attnBias, b.attnProjWeight, b.attnProjBias,
                    b.ln2Gamma, b.ln2Beta, b.fcWeight, b.fcBias, b.mlpProjWeight, b.mlpProjBias]
        }
        for t in all where !t.isOwned { GPT2Model.populate(t.pointer, bytes: t.count * 4) }
    }

    /// Faults in the pages of a memory-mapped range: one madvise(MADV_POPULATE_READ) call (Linux 5.14+),
    /// else a read of one float per page.
    private static func populate(_ p: UnsafePointer<Float>, bytes: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: p) / page * page
        let end = Int(bitPattern: p) + bytes
        #if os(Linux)
        let madvPopulateRead: Int32 = 22
        if let base = UnsafeMutableRawPointer(bitPattern: start), madvise(base, end - start, madvPopulateRead) == 0 { return }
        #endif
        var sink: Float = 0
        let floatsPerPage = max(1, page / 4)
        var i = 0
        while i < bytes / 4 { sink += p[i]; i += floatsPerPage }
        if sink.isNaN { populateSink.store(sink.bitPattern, ordering: .relaxed) }
    }

    /// A KV cache sized for the whole context of this model.
    public func makeCache() -> KVCache {
        KVCache(layers: config.layerCount, heads: config.headCount, headSize: config.headSize, capacity: config.contextLength)
    }

    /// Bytes of float32 weights a decode step streams (every block, the final norm and the LM head).
    public var decodeWeightBytes: Int {
        let c = config.embeddingSize, i = config.innerSize
        let perBlock = 4 * c + 3 * c * c + 3 * c + c * c + c + c * i + i + i * c + c
        return 4 * (config.layerCount * perBlock + 2 * c + config.vocabSize * c)
    }

    // MARK: Public entry points

    /// Runs `ids` at positions `cache.count ..< cache.count + ids.count` (appending their keys and values
    /// to the cache) and returns the logits (V) that follow the last of them. More than one id is a
    /// batched prefill; one id is a decode step.
    /// - Throws: `ModelError.invalidInput` for an empty input, an id outside the vocabulary, or more
    ///   positions than the cache has left.
    public func logits(for ids: [Int], cache: KVCache) throws -> [Float] {
        let last = try run(ids, cache: cache, lastRowOnly: true)
        var out = [Float](repeating: 0, count: config.vocabSize)
        out.withUnsafeMutableBufferPointer { o in
            gemv(lmHead.pointer, last, o.baseAddress!, rows: config.vocabSize, cols: config.embeddingSize)
        }
        return out
    }

    /// Runs `ids` like `logits(for:cache:)`, then calls `body(position, logits)` with the logits (V) that
    /// follow each position `p` in `from ..< until` (positions relative to `ids`; `until` defaults to
    /// ids.count), in order. Rows are computed in blocks, so memory stays at a few MB whatever the length.
    public func forEachLogits(_ ids: [Int], cache: KVCache, from: Int = 0, until: Int? = nil,
                              _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        let end = until ?? ids.count
        precondition(from >= 0 && end <= ids.count, "forEachLogits: positions \(from)..<\(end) outside the input")
        let hidden = try run(ids, cache: cache)
        let c = config.embeddingSize
        try forEachLogitsBlock(from: from, until: end, vocabSize: config.vocabSize, { first, n, out in
            matmul(hidden + first * c, lmHead.pointer, out, m: n, n: config.vocabSize, k: c, transposeB: true)
        }, body)
    }

    // MARK: The forward pass

    /// The scratch buffers of `cache`'s sequence (kept in the cache, see `KVCache.workspace(of:_:)`).
    private func workspace(for cache: KVCache) -> Scratch { cache.workspace(of: self) { Scratch() } }

    /// Scratch buffers for T rows, grown on demand.
    private final class Scratch {
        var rows = 0
        var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (T, C) residual stream
        var h = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (T, C) normalized
        var qkv = UnsafeMutablePointer<Float>.allocate(capacity: 1)    // (T, 3C)
        var att = UnsafeMutablePointer<Float>.allocate(capacity: 1)    // (T, C) attention output
        var mlp = UnsafeMutablePointer<Float>.allocate(capacity: 1)    // (T, I)
        var scores = UnsafeMutablePointer<Float>.allocate(capacity: 1) // (max(T, H), P)
        // Prefill attention, one slice per part (see `reserveAttention`).
        var partQ = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (parts, T, hd)
        var partO = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (parts, T, hd)
        var partScores = UnsafeMutablePointer<Float>.allocate(capacity: 1) // (parts, T, P)
        var partCapacity = (qo: 1, scores: 1)

        /// Room for `parts` threads' prefill attention buffers of T rows over `total` positions.
        func reserveAttention(parts: Int, rows t: Int, total: Int, headSize hd: Int) {
            let qo = parts * t * hd, sc = parts * t * total
            if qo > partCapacity.qo {
                partQ.deallocate(); partO.deallocate()
                partQ = .allocate(capacity: qo); partO = .allocate(capacity: qo)
                partCapacity.qo = qo
            }
            if sc > partCapacity.scores {
                partScores.deallocate()
                partScores = .allocate(capacity: sc)
                partCapacity.scores = sc
            }
        }

        func reserve(rows t: Int, config: GPT2Config) {
            if t <= rows { return }
            for p in [x, h, qkv, att, mlp, scores] { p.deallocate() }
            let c = config.embeddingSize
            x = .allocate(capacity: t * c); h = .allocate(capacity: t * c)
            qkv = .allocate(capacity: t * 3 * c); att = .allocate(capacity: t * c)
            mlp = .allocate(capacity: t * config.innerSize)
            scores = .allocate(capacity: max(t, config.headCount) * config.contextLength)
            rows = t
        }

        deinit { for p in [x, h, qkv, att, mlp, scores, partQ, partO, partScores] { p.deallocate() } }
    }

    /// Embeds `ids`, runs every block (filling the cache) and the final layer norm; returns the
    /// normalized hidden states (T, C), valid until the next call. With `lastRowOnly` it returns just the
    /// last position's row (C): the last block then computes keys and values for every position (the
    /// cache needs them) but attention, projection and MLP for the last one only, as llama.cpp does for
    /// outputs nobody reads (a prefill of 128 tokens skips 6% of its work).
    private func run(_ ids: [Int], cache: KVCache, lastRowOnly: Bool = false) throws -> UnsafeMutablePointer<Float> {
        let t = ids.count, c = config.embeddingSize
        guard t > 0 else { throw ModelError.invalidInput("GPT-2: no tokens to run") }
        precondition(cache.layerCount == config.layerCount && cache.headCount == config.headCount
                     && cache.headSize == config.headSize, "GPT2Model: cache made for another model")
        let start = cache.count
        guard t <= min(cache.capacity, config.contextLength) - start else {
            throw ModelError.invalidInput("GPT-2: \(start + t) positions exceed the context of \(min(cache.capacity, config.contextLength)) tokens")
        }
        for id in ids where id < 0 || id >= config.vocabSize {
            throw ModelError.invalidInput("GPT-2: token id \(id) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        let scratch = workspace(for: cache)
        scratch.reserve(rows: t, config: config)
        let x = scratch.x
        // x = wte[ids] + wpe[positions]  // (T, C)
        for (r, id) in ids.enumerated() {
            let e = wte.pointer + id * c, p = wpe.pointer + (start + r) * c, row = x + r * c
            for j in 0..<c { row[j] = e[j] + p[j] }
        }
        var rows = t
        for (l, block) in blocks.enumerated() {
            rows = forward(block, layer: l, rows: t, start: start, cache: cache,
                           lastRowOnly: lastRowOnly && l == blocks.count - 1)
        }
        cache.advance(by: t)
        layerNorm(x, scratch.h, gamma: lnFGamma.pointer, beta: lnFBeta.pointer, rows: rows, n: c, eps: config.layerNormEpsilon)
        return lastRowOnly ? scratch.h + (rows - 1) * c : scratch.h
    }

    /// out (T, n) = a (T, k) · w (k, n) + bias, accumulated into `out` when `accumulate` (the residual add).
    private func project(_ a: UnsafePointer<Float>, _ w: FloatTensor, _ bias: FloatTensor,
                         _ out: UnsafeMutablePointer<Float>, rows t: Int, accumulate: Bool) {
        let k = w.shape[0], n = w.shape[1]
        if t == 1 {
            gemvTransposed(w.pointer, a, out, rows: k, cols: n, bias: bias.pointer, accumulate: accumulate)
        } else {
            matmul(a, w.pointer, out, m: t, n: n, k: k, beta: accumulate ? 1 : 0)
            addBias(out, bias.pointer, rows: t, n: n)
        }
    }

    /// One block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)). With `lastRowOnly`, every row's keys and
    /// values go to the cache but only the last row goes on (moved to row 0 of the scratch); returns the
    /// rows left in the scratch.
    private func forward(_ b: GPT2Block, layer: Int, rows: Int, start: Int, cache: KVCache, lastRowOnly: Bool) -> Int {
        let c = config.embeddingSize, s = workspace(for: cache)
        let eps = config.layerNormEpsilon
        layerNorm(s.x, s.h, gamma: b.ln1Gamma.pointer, beta: b.ln1Beta.pointer, rows: rows, n: c, eps: eps)
        project(s.h, b.attnWeight, b.attnBias, s.qkv, rows: rows, accumulate: false)  // (T, 3C)
        cache.store(layer: layer, qkv: s.qkv, rows: rows)
        var t = rows, queryStart = start
        if lastRowOnly && rows > 1 {
            s.qkv.update(from: s.qkv + (rows - 1) * 3 * c, count: 3 * c)              // (1, 3C)
            s.x.update(from: s.x + (rows - 1) * c, count: c)                          // (1, C)
            t = 1
            queryStart = start + rows - 1
        }
        attention(layer: layer, rows: t, start: queryStart, cache: cache)             // (T, C) in s.att
        project(s.att, b.attnProjWeight, b.attnProjBias, s.x, rows: t, accumulate: true)
        layerNorm(s.x, s.h, gamma: b.ln2Gamma.pointer, beta: b.ln2Beta.pointer, rows: t, n: c, eps: eps)
        project(s.h, b.fcWeight, b.fcBias, s.mlp, rows: t, accumulate: false)         // (T, I)
        config.activation.apply(s.mlp, count: t * config.innerSize)
        project(s.mlp, b.mlpProjWeight, b.mlpProjBias, s.x, rows: t, accumulate: true)
        return t
    }

    /// Causal multi-head attention of the T new queries (in s.qkv) over positions 0 ..< start + T of the
    /// cache; writes (T, C) into s.att. Query row r sits at position start + r and sees keys 0...start + r.
    private func attention(layer: Int, rows t: Int, start: Int, cache: KVCache) {
        let c = config.embeddingSize, hd = config.headSize, s = workspace(for: cache)
        let total = start + t
        var scale: Float = config.scaleAttentionWeights ? 1 / Float(hd).squareRoot() : 1
        if config.scaleAttentionByInverseLayerIndex { scale /= Float(layer + 1) }
        if t == 1 {
            // Decode: one query per head; heads in parallel when the past is long enough to matter.
            let heads = config.headCount
            let work = { (h: Int) in
                let q = s.qkv + h * hd
                let keys = cache.keys(layer: layer, head: h), values = cache.values(layer: layer, head: h)
                let sc = s.scores + h * total
                var mx = -Float.infinity
                for p in 0..<total {
                    let v = dot(q, keys + p * hd, count: hd) * scale
                    sc[p] = v
                    mx = max(mx, v)
                }
                var sum: Float = 0
                for p in 0..<total { let e = expf(sc[p] - mx); sc[p] = e; sum += e }
                let out = s.att + h * hd
                out.initialize(repeating: 0, count: hd)
                let inv = 1 / sum
                for p in 0..<total {
                    let w = sc[p] * inv, v = values + p * hd
                    for d in 0..<hd { out[d] += w * v[d] }
                }
            }
            if total * heads >= 4096 {
                ThreadPool.shared.parallelFor(count: heads, body: work)
            } else {
                for h in 0..<heads { work(h) }
            }
            return
        }
        // Prefill: heads split over the threads, each part with its own q, scores and o buffers; the
        // matmuls inside run on the calling thread (the pool is busy), so a head is one thread's work.
        let heads = config.headCount
        let parts = min(heads, ThreadPool.shared.threadCount)
        s.reserveAttention(parts: parts, rows: t, total: total, headSize: hd)
        let attend = { (part: Int) in
            let q = s.partQ + part * t * hd, o = s.partO + part * t * hd, scores = s.partScores + part * t * total
            var h = part
            while h < heads {
                // q (T, hd) gathered from the fused projection
                for r in 0..<t { (q + r * hd).update(from: s.qkv + r * 3 * c + h * hd, count: hd) }
                let keys = cache.keys(layer: layer, head: h), values = cache.values(layer: layer, head: h)
                // scores (T, total) = q · keysᵀ · scale
                matmul(q, keys, scores, m: t, n: total, k: hd, transposeB: true, alpha: scale)
                for r in 0..<t {
                    let row = scores + r * total, visible = start + r + 1
                    softmax(row, rows: 1, n: visible)
                    if visible < total { (row + visible).update(repeating: 0, count: total - visible) }
                }
                // o (T, hd) = scores · values
                matmul(scores, values, o, m: t, n: hd, k: total)
                for r in 0..<t { (s.att + r * c + h * hd).update(from: o + r * hd, count: hd) }
                h += parts
            }
        }
        if parts > 1 {
            ThreadPool.shared.parallelFor(count: parts, body: attend)
        } else {
            attend(0)
        }
    }
}
