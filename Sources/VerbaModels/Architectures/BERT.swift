// BERT, the bidirectional encoder (Devlin et al. 2018), as Hugging Face `transformers` computes it, read
// top to bottom:
//
//   x = LayerNorm(word[id] + position[t] + tokenType[type])                 // (N, C) embeddings
//   for each block:                                                           // post-norm blocks
//       x = LayerNorm1(x + Wo · attention(Wqkv · x))                          // multi-head, bidirectional
//       x = LayerNorm2(x + W2 · gelu(W1 · x))                                 // feed-forward
//   pooled = tanh(Wp · x[CLS])                                                // pooler
//   logits = Wc · pooled                                                      // BertForSequenceClassification
//
// Sequences are packed, not padded: a batch of B sequences of lengths T_s is one (N = Σ T_s, C) matrix,
// every linear layer is one sgemm over all N rows, and attention runs per sequence, so no compute goes
// to padding. An attention mask (padding given by the caller) still works: masked keys get no weight.
import Foundation
import VerbaTensor

/// The activation of BERT's feed-forward layer (`hidden_act`).
///
/// ```swift
/// let config = try BertConfig(path: "models/all-MiniLM-L6-v2/config.json")
/// print(config.activation, config.activation.rawValue)   // geluErf gelu
/// let relu = HiddenActivation(rawValue: "relu")           // .relu
/// ```
public enum HiddenActivation: String, Sendable {
    /// "gelu": exact x·Φ(x) with erf.
    case geluErf = "gelu"
    /// "gelu_new" / "gelu_pytorch_tanh": the tanh approximation.
    case geluTanh = "gelu_new"
    /// "relu".
    case relu = "relu"
}

/// BERT hyper-parameters, from a Hugging Face `config.json` (`model_type` "bert").
///
/// ```swift
/// let config = try BertConfig(path: "models/all-MiniLM-L6-v2/config.json")
/// print(config.layerCount, config.hiddenSize, config.headDim)   // 6 384 32
/// print(config.labels)                                           // id2label of a classifier, else []
/// ```
public struct BertConfig: Sendable, Equatable {
    public var vocabSize: Int
    /// C, the width of every token vector.
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    /// Width of the feed-forward hidden layer (usually 4·C).
    public var intermediateSize: Int
    /// Longest sequence the position embeddings cover.
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var activation: HiddenActivation
    /// Class names by id (`id2label`), empty when the config has none.
    public var labels: [String]
    /// `problem_type` is "multi_label_classification": scores are sigmoids, not a softmax.
    public var multiLabel: Bool
    /// Width of one attention head, C / heads.
    public var headDim: Int { hiddenSize / headCount }

    /// Reads and validates `config.json`; every problem is a `ModelError` naming the file and field.
    package init(json c: ConfigJSON) throws {
        if let type = try c.optionalString("model_type"), type != "bert" {
            throw ModelError.unsupported(path: c.path, what: "model_type \"\(type)\" (expected \"bert\")")
        }
        vocabSize = try c.int("vocab_size", atLeast: 1)
        hiddenSize = try c.int("hidden_size", atLeast: 1)
        layerCount = try c.int("num_hidden_layers", atLeast: 0)
        headCount = try c.int("num_attention_heads", atLeast: 1)
        intermediateSize = try c.int("intermediate_size", atLeast: 1)
        maxPositions = try c.int("max_position_embeddings", atLeast: 1)
        typeVocabSize = try c.int("type_vocab_size", default: 2)
        guard typeVocabSize >= 1 else {
            throw ModelError.badConfigValue(path: c.path, field: "type_vocab_size", reason: "must be at least 1")
        }
        guard hiddenSize % headCount == 0 else {
            throw ModelError.badConfigValue(path: c.path, field: "num_attention_heads",
                                            reason: "hidden_size \(hiddenSize) is not a multiple of \(headCount) heads")
        }
        let eps = try c.double("layer_norm_eps", default: 1e-12)
        guard eps >= 0 else { throw ModelError.badConfigValue(path: c.path, field: "layer_norm_eps", reason: "must not be negative") }
        layerNormEps = Float(eps)
        switch try c.string("hidden_act", default: "gelu") {
        case "gelu": activation = .geluErf
        case "gelu_new", "gelu_pytorch_tanh": activation = .geluTanh
        case "relu": activation = .relu
        case let other: throw ModelError.unsupported(path: c.path, what: "hidden_act \"\(other)\"")
        }
        let positionType = try c.string("position_embedding_type", default: "absolute")
        guard positionType == "absolute" else {
            throw ModelError.unsupported(path: c.path, what: "position_embedding_type \"\(positionType)\"")
        }
        labels = try c.labels() ?? []
        if labels.isEmpty, let n = try c.optionalInt("num_labels"), n > 0 {
            labels = (0..<n).map { "LABEL_\($0)" }
        }
        multiLabel = try c.optionalString("problem_type") == "multi_label_classification"
    }

    /// Reads `path` (a `config.json`).
    public init(path: String) throws { try self.init(json: ConfigJSON(path: path)) }
}

/// One input sequence: token ids (special tokens included), optional token type ids (default 0) and an
/// optional attention mask (1 = real token, 0 = padding that no token attends to).
///
/// ```swift
/// let tokenizer = try Tokenizer.load(path: "models/all-MiniLM-L6-v2")
/// let e = try tokenizer.encode("How old are you?", pair: "I am six.")
/// let input = BertInput(ids: e.ids, typeIds: e.typeIds, attentionMask: e.attentionMask)
/// let states = try BertModel(folder: "models/all-MiniLM-L6-v2").lastHiddenStates([input])[0]
/// ```
public struct BertInput: Sendable, Equatable {
    public var ids: [Int]
    public var typeIds: [Int]?
    public var attentionMask: [Int]?

    public init(ids: [Int], typeIds: [Int]? = nil, attentionMask: [Int]? = nil) {
        self.ids = ids
        self.typeIds = typeIds
        self.attentionMask = attentionMask
    }
}

/// Reusable buffers for one forward pass over up to `capacity` tokens (one per worker thread).
final class EncoderWorkspace {
    private(set) var capacity = 0
    private var maxLength = 0
    let c: Int, inner: Int, headDim: Int
    var x: UnsafeMutablePointer<Float>!        // (N, C) the residual stream
    var qkv: UnsafeMutablePointer<Float>!      // (N, 3C)
    var ctx: UnsafeMutablePointer<Float>!      // (N, C)
    var tmp: UnsafeMutablePointer<Float>!      // (N, C)
    var hidden: UnsafeMutablePointer<Float>!   // (N, I)
    var scratch: UnsafeMutablePointer<Float>!
    var mask: [Int32] = []
    var offsets: [Int] = [0]
    let zeros: UnsafeMutablePointer<Float>      // (C) a zero bias

    init(config: BertConfig) {
        c = config.hiddenSize; inner = config.intermediateSize; headDim = config.headDim
        zeros = .allocate(capacity: c)
        zeros.initialize(repeating: 0, count: c)
    }

    /// Makes room for `tokens` tokens in sequences of at most `longest` tokens.
    func reserve(tokens: Int, longest: Int) {
        if tokens > capacity {
            free()
            capacity = max(tokens, capacity * 3 / 2, 64)
            x = .allocate(capacity: capacity * c)
            qkv = .allocate(capacity: capacity * 3 * c)
            ctx = .allocate(capacity: capacity * c)
            tmp = .allocate(capacity: capacity * c)
            hidden = .allocate(capacity: capacity * inner)
        }
        if longest > maxLength || scratch == nil {
            scratch?.deallocate()
            maxLength = max(longest, 64)
            scratch = .allocate(capacity: attentionScratchCount(maxLength: maxLength, headDim: headDim))
        }
    }

    private func free() {
        x?.deallocate(); qkv?.deallocate(); ctx?.deallocate(); tmp?.deallocate(); hidden?.deallocate()
    }

    deinit { free(); scratch?.deallocate(); zeros.deallocate() }
}

/// One post-norm transformer block's weights. Q, K and V are fused into one (3C, C) matrix.
private struct BertLayer {
    let wqkv: FloatTensor, bqkv: FloatTensor          // (3C, C), (3C)
    let wo: FloatTensor, bo: FloatTensor              // (C, C), (C)
    let ln1g: FloatTensor, ln1b: FloatTensor          // (C)
    let w1: FloatTensor, b1: FloatTensor              // (I, C), (I)
    let w2: FloatTensor, b2: FloatTensor              // (C, I), (C)
    let ln2g: FloatTensor, ln2b: FloatTensor          // (C)
}

/// Looks up BERT tensors under the `bert.` prefix or without it, and old `gamma`/`beta` layer-norm names.
struct BertTensorNames {
    let weights: ModelWeights
    let prefix: String

    init(_ weights: ModelWeights) {
        self.weights = weights
        prefix = weights.has("bert.embeddings.word_embeddings.weight") ? "bert." : ""
    }

    func tensor(_ name: String, _ shape: [Int]) throws -> FloatTensor {
        var candidates = [prefix + name, prefix.isEmpty ? "bert." + name : name]
        if name.hasSuffix("LayerNorm.weight") { candidates += candidates.map { String($0.dropLast(6)) + "gamma" } }
        if name.hasSuffix("LayerNorm.bias") { candidates += candidates.map { String($0.dropLast(4)) + "beta" } }
        for n in candidates where weights.has(n) { return try weights.tensor(n, shape: shape) }
        throw ModelError.missingTensor(path: weights.path, name: prefix + name)
    }
}

/// The BERT encoder (Hugging Face `BertModel`): token vectors for every input token, and the pooler.
///
/// Thread-safe for concurrent calls (weights are read-only; each batch has its own buffers). Work runs on
/// `ThreadPool.shared` (set its size for `--threads`).
///
/// ```swift
/// let model = try BertModel(folder: "downloads/minilm")
/// let states = try model.lastHiddenStates([BertInput(ids: [101, 7592, 102])])   // (3, hidden) each
/// ```
/// Unchecked Sendable: every stored property is immutable after init (the weight tensors are never
/// written), and `workspaces` hands each buffer set to one worker at a time under its lock.
public final class BertModel: @unchecked Sendable {
    public let config: BertConfig
    private let word: FloatTensor, position: FloatTensor, tokenType: FloatTensor   // (V, C), (P, C), (TV, C)
    private let embG: FloatTensor, embB: FloatTensor                               // (C)
    private let layers: [BertLayer]
    private let poolerW: FloatTensor?, poolerB: FloatTensor?                       // (C, C), (C)
    let workspaces: WorkspacePool

    /// Loads `folder/config.json` and the folder's safetensors weights.
    public convenience init(folder: String) throws {
        let config = try BertConfig(path: (folder as NSString).appendingPathComponent("config.json"))
        try self.init(config: config, weights: ModelWeights(folder: folder))
    }

    /// Builds the model from `weights`, checking every tensor's shape against `config`.
    package init(config: BertConfig, weights: ModelWeights) throws {
        try BLAS.load()  // OpenBLAS with the kernels for this CPU, before any product
        self.config = config
        workspaces = WorkspacePool(config: config)
        let t = BertTensorNames(weights)
        let c = config.hiddenSize, inner = config.intermediateSize
        word = try t.tensor("embeddings.word_embeddings.weight", [config.vocabSize, c])
        position = try t.tensor("embeddings.position_embeddings.weight", [config.maxPositions, c])
        tokenType = try t.tensor("embeddings.token_type_embeddings.weight", [config.typeVocabSize, c])
        embG = try t.tensor("embeddings.LayerNorm.weight", [c])
        embB = try t.tensor("embeddings.LayerNorm.bias", [c])
        var layers: [BertLayer] = []
        for i in 0..<config.layerCount {
            let p = "encoder.layer.\(i)."
            let wqkv = FloatTensor(shape: [3 * c, c]), bqkv = FloatTensor(shape: [3 * c])
            for (j, part) in ["query", "key", "value"].enumerated() {
                let w = try t.tensor(p + "attention.self.\(part).weight", [c, c])
                let b = try t.tensor(p + "attention.self.\(part).bias", [c])
                (wqkv.pointer + j * c * c).update(from: w.pointer, count: c * c)
                (bqkv.pointer + j * c).update(from: b.pointer, count: c)
            }
            layers.append(BertLayer(
                wqkv: wqkv, bqkv: bqkv,
                wo: try t.tensor(p + "attention.output.dense.weight", [c, c]),
                bo: try t.tensor(p + "attention.output.dense.bias", [c]),
                ln1g: try t.tensor(p + "attention.output.LayerNorm.weight", [c]),
                ln1b: try t.tensor(p + "attention.output.LayerNorm.bias", [c]),
                w1: try t.tensor(p + "intermediate.dense.weight", [inner, c]),
                b1: try t.tensor(p + "intermediate.dense.bias", [inner]),
                w2: try t.tensor(p + "output.dense.weight", [c, inner]),
                b2: try t.tensor(p + "output.dense.bias", [c]),
                ln2g: try t.tensor(p + "output.LayerNorm.weight", [c]),
                ln2b: try t.tensor(p + "output.LayerNorm.bias", [c])))
        }
        self.layers = layers
        if weights.has(t.prefix + "pooler.dense.weight") || weights.has("bert.pooler.dense.weight") || weights.has("pooler.dense.weight") {
            poolerW = try t.tensor("pooler.dense.weight", [c, c])
            poolerB = try t.tensor("pooler.dense.bias", [c])
        } else {
            poolerW = nil; poolerB = nil
        }
    }

    /// Floating-point operations of one encoder pass over sequences of `lengths` tokens (multiply-adds
    /// count 2): per layer and sequence, 2·T·(4C² + 2·C·I) for the linear layers and 4·T²·C for attention.
    package func flops(lengths: [Int]) -> Double {
        let c = Double(config.hiddenSize), inner = Double(config.intermediateSize)
        var total = 0.0
        for t in lengths.map(Double.init) { total += 2 * t * (4 * c * c + 2 * c * inner) + 4 * t * t * c }
        return total * Double(config.layerCount)
    }

    /// Whether the weights include the pooler (sentence-embedding checkpoints may drop it).
    public var hasPooler: Bool { poolerW != nil }

    /// Checks ids, type ids and masks against the configuration.
    func validate(_ input: BertInput, index: Int) throws {
        let t = input.ids.count
        guard t <= config.maxPositions else {
            throw ModelError.invalidInput("input \(index): \(t) tokens, more than the model's \(config.maxPositions) positions (truncate it)")
        }
        for id in input.ids where id < 0 || id >= config.vocabSize {
            throw ModelError.invalidInput("input \(index): token id \(id) outside the vocabulary (0..<\(config.vocabSize))")
        }
        if let types = input.typeIds {
            guard types.count == t else { throw ModelError.invalidInput("input \(index): \(types.count) type ids for \(t) tokens") }
            for v in types where v < 0 || v >= config.typeVocabSize {
                throw ModelError.invalidInput("input \(index): token type id \(v) outside 0..<\(config.typeVocabSize)")
            }
        }
        if let mask = input.attentionMask, mask.count != t {
            throw ModelError.invalidInput("input \(index): attention mask of \(mask.count) for \(t) tokens")
        }
    }

    /// Runs the encoder over `inputs` (already validated) packed into `ws`; afterwards sequence s's token
    /// vectors are rows `ws.offsets[s]..<ws.offsets[s+1]` of `ws.x` (N, C).
    ///
    /// With `firstTokenOnly` (the pooler, CLS pooling), the last layer runs attention for the first query
    /// of each sequence only and its projections and feed-forward on those rows only (keys and values
    /// still cover every token); afterwards row s of `ws.x` is sequence s's first token (ws.offsets is
    /// 0, 1, ..., B). Inputs must then be non-empty.
    /// - Complexity: about 2·N·(4C² + 2·C·I) + 4·Σ T_s²·C flops per layer.
    func forward<S: Collection>(_ inputs: S, into ws: EncoderWorkspace, firstTokenOnly: Bool = false) where S.Element == BertInput {
        let c = config.hiddenSize, inner = config.intermediateSize
        var offsets = [0]
        offsets.reserveCapacity(inputs.count + 1)
        var longest = 0, anyMask = false
        for input in inputs {
            offsets.append(offsets[offsets.count - 1] + input.ids.count)
            longest = max(longest, input.ids.count)
            if input.attentionMask != nil { anyMask = true }
        }
        let n = offsets[offsets.count - 1]
        ws.offsets = offsets
        ws.reserve(tokens: n, longest: longest)
        if n == 0 { return }
        // Embeddings: tmp = word + position + token type; x = LayerNorm(tmp).
        ws.mask.removeAll(keepingCapacity: true)
        var row = 0
        for input in inputs {
            for (t, id) in input.ids.enumerated() {
                let type = input.typeIds?[t] ?? 0
                let dst = ws.tmp + row * c, w = word.pointer + id * c
                let p = position.pointer + t * c, ty = tokenType.pointer + type * c
                for j in 0..<c { dst[j] = w[j] + p[j] + ty[j] }
                row += 1
            }
            if anyMask {
                if let m = input.attentionMask { ws.mask += m.map { $0 == 0 ? 0 : 1 } }
                else { ws.mask += repeatElement(1, count: input.ids.count) }
            }
        }
        ws.x.update(repeating: 0, count: n * c)
        biasResidualLayerNorm(ws.tmp, bias: ws.zeros, residual: ws.x, gamma: embG.pointer, beta: embB.pointer,
                              rows: n, n: c, eps: config.layerNormEps)
        var m = n   // rows the layer runs on (all tokens, or one per sequence in a first-token-only last layer)
        for (li, layer) in layers.enumerated() {
            let firstOnly = firstTokenOnly && li == layers.count - 1
            // Every product starts from its bias (C = bias rows, then C += A·Wᵀ): no separate bias pass.
            // Attention: qkv = x·Wqkvᵀ + b; ctx = softmax(q·kᵀ/√d)·v per head; x = LN1(x + ctx·Woᵀ + bo).
            fillRows(ws.qkv, with: layer.bqkv.pointer, rows: n, n: 3 * c)
            matmul(ws.x, layer.wqkv.pointer, ws.qkv, m: n, n: 3 * c, k: c, transposeB: true, beta: 1)
            ws.mask.withUnsafeBufferPointer { m in
                packedSelfAttention(qkv: ws.qkv, out: ws.ctx, offsets: offsets, keyMask: anyMask ? m.baseAddress : nil,
                                    heads: config.headCount, headDim: config.headDim,
                                    sequences: 0..<(offsets.count - 1), scratch: ws.scratch, firstQueryOnly: firstOnly)
            }
            if firstOnly {
                // Keep the first row of every sequence: row s ← row offsets[s] (never a later source).
                let b = offsets.count - 1
                for s in 0..<b {
                    precondition(offsets[s + 1] > offsets[s], "forward: empty sequence with firstTokenOnly")
                    if offsets[s] == s { continue }
                    (ws.ctx + s * c).update(from: ws.ctx + offsets[s] * c, count: c)
                    (ws.x + s * c).update(from: ws.x + offsets[s] * c, count: c)
                }
                m = b
                ws.offsets = Array(0...b)
            }
            fillRows(ws.tmp, with: layer.bo.pointer, rows: m, n: c)
            matmul(ws.ctx, layer.wo.pointer, ws.tmp, m: m, n: c, k: c, transposeB: true, beta: 1)
            biasResidualLayerNorm(ws.tmp, bias: ws.zeros, residual: ws.x, gamma: layer.ln1g.pointer,
                                  beta: layer.ln1b.pointer, rows: m, n: c, eps: config.layerNormEps)
            // Feed-forward: x = LN2(x + act(x·W1ᵀ + b1)·W2ᵀ + b2).
            switch config.activation {
            case .geluErf:
                matmul(ws.x, layer.w1.pointer, ws.hidden, m: m, n: inner, k: c, transposeB: true)
                biasGeluErf(ws.hidden, bias: layer.b1.pointer, rows: m, n: inner)
            case .geluTanh:
                fillRows(ws.hidden, with: layer.b1.pointer, rows: m, n: inner)
                matmul(ws.x, layer.w1.pointer, ws.hidden, m: m, n: inner, k: c, transposeB: true, beta: 1)
                geluTanh(ws.hidden, count: m * inner)
            case .relu:
                fillRows(ws.hidden, with: layer.b1.pointer, rows: m, n: inner)
                matmul(ws.x, layer.w1.pointer, ws.hidden, m: m, n: inner, k: c, transposeB: true, beta: 1)
                for i in 0..<(m * inner) { ws.hidden[i] = max(ws.hidden[i], 0) }
            }
            fillRows(ws.tmp, with: layer.b2.pointer, rows: m, n: c)
            matmul(ws.hidden, layer.w2.pointer, ws.tmp, m: m, n: c, k: inner, transposeB: true, beta: 1)
            biasResidualLayerNorm(ws.tmp, bias: ws.zeros, residual: ws.x, gamma: layer.ln2g.pointer,
                                  beta: layer.ln2b.pointer, rows: m, n: c, eps: config.layerNormEps)
        }
    }

    /// Copies `row` (n) into every row of `x` (rows, n).
    private func fillRows(_ x: UnsafeMutablePointer<Float>, with row: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows { (x + r * n).update(from: row, count: n) }
    }

    /// pooled = tanh(Wp · h + bp) for the (C) vector `h` (the [CLS] token's), into `out` (C).
    func pool(_ h: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        guard let w = poolerW, let b = poolerB else { return }
        let c = config.hiddenSize
        for i in 0..<c {
            var s: Float = 0
            let wi = w.pointer + i * c
            for j in 0..<c { s += wi[j] * h[j] }
            out[i] = tanhf(s + b.pointer[i])
        }
    }

    /// Runs `body(range, workspace)` over `inputs` split into consecutive batches of `batchSize`.
    ///
    /// Batches run in parallel on `ThreadPool.shared` (each worker runs whole batches, BLAS single-threaded
    /// inside); a single batch runs on the caller, where `matmul` itself splits across the pool.
    func runBatched(_ inputs: [BertInput], batchSize: Int, firstTokenOnly: Bool = false,
                    _ body: (Range<Int>, EncoderWorkspace) -> Void) {
        let batchSize = max(1, batchSize)
        var batches: [Range<Int>] = []
        var i = 0
        while i < inputs.count { batches.append(i..<min(i + batchSize, inputs.count)); i += batchSize }
        let pool = ThreadPool.shared
        if batches.count <= 1 || pool.threadCount == 1 || pool.isBusy {
            let ws = workspaces.take()
            for b in batches { forward(inputs[b], into: ws, firstTokenOnly: firstTokenOnly); body(b, ws) }
            workspaces.give(ws)
            return
        }
        pool.parallelFor(count: batches.count) { k in
            let ws = workspaces.take()
            forward(inputs[batches[k]], into: ws, firstTokenOnly: firstTokenOnly)
            body(batches[k], ws)
            workspaces.give(ws)
        }
    }

    /// Runs the encoder over `inputs` sorted by length (longest first, so that batches hold sequences of
    /// similar length and workers finish together) and calls `body(i, rows)` for every input i with its
    /// (T_i, C) token vectors, valid only during the call. Calls may come from several threads at once
    /// (for different i). Inputs must be valid (`validate`). With `firstTokenOnly` (inputs non-empty),
    /// only the first row of each input is computed in the last layer and only it may be read.
    func runSorted(_ inputs: [BertInput], batchSize: Int, firstTokenOnly: Bool = false,
                   _ body: (Int, UnsafePointer<Float>) -> Void) {
        let order = inputs.indices.sorted { inputs[$0].ids.count > inputs[$1].ids.count || (inputs[$0].ids.count == inputs[$1].ids.count && $0 < $1) }
        let sorted = order.map { inputs[$0] }
        let c = config.hiddenSize
        runBatched(sorted, batchSize: batchSize, firstTokenOnly: firstTokenOnly) { range, ws in
            for (k, s) in range.enumerated() { body(order[s], ws.x + ws.offsets[k] * c) }
        }
    }

    /// The last hidden states: one (T_s, C) tensor per input, as `BertModel(...).last_hidden_state`.
    /// Inputs are validated first (`ModelError.invalidInput` for ids out of range or too many tokens).
    public func lastHiddenStates(_ inputs: [BertInput], batchSize: Int = 32) throws -> [FloatTensor] {
        for (i, input) in inputs.enumerated() { try validate(input, index: i) }
        let c = config.hiddenSize
        let out = inputs.map { FloatTensor(shape: [$0.ids.count, c]) }
        runBatched(inputs, batchSize: batchSize) { range, ws in
            for (k, s) in range.enumerated() {
                out[s].pointer.update(from: ws.x + ws.offsets[k] * c, count: out[s].count)
            }
        }
        return out
    }

    /// The pooler output, tanh(Wp · h[CLS] + bp), per input (C floats each).
    /// - Throws: `ModelError.missingTensor` when the checkpoint has no pooler.
    public func pooledOutputs(_ inputs: [BertInput], batchSize: Int = 32) throws -> [[Float]] {
        guard hasPooler else { throw ModelError.missingTensor(path: "model", name: "pooler.dense.weight") }
        for (i, input) in inputs.enumerated() {
            try validate(input, index: i)
            if input.ids.isEmpty { throw ModelError.invalidInput("input \(i): no tokens") }
        }
        let c = config.hiddenSize
        let out = inputs.map { _ in FloatTensor(shape: [c]) }
        runBatched(inputs, batchSize: batchSize, firstTokenOnly: true) { range, ws in
            for (k, s) in range.enumerated() { self.pool(ws.x + ws.offsets[k] * c, into: out[s].pointer) }
        }
        return out.map { $0.toArray() }
    }
}

/// Workspaces kept between calls, handed to one worker at a time.
/// Unchecked Sendable: `free` is read and written only while `lock` is held, and a workspace taken from it
/// belongs to the one worker that took it until it is given back; `config` is immutable.
final class WorkspacePool: @unchecked Sendable {
    private let config: BertConfig
    private var free: [EncoderWorkspace] = []
    private let lock = NSLock()
    init(config: BertConfig) { self.config = config }

    func take() -> EncoderWorkspace {
        lock.withLock { free.popLast() } ?? EncoderWorkspace(config: config)
    }

    func give(_ ws: EncoderWorkspace) {
        lock.withLock { free.append(ws) }
    }
}
