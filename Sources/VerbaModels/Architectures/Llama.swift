// Llama-family decoders (Hugging Face `LlamaForCausalLM`, `Qwen2ForCausalLM`, `Qwen3ForCausalLM`,
// `MistralForCausalLM`), read top to bottom:
//   config (LlamaConfig.swift)  →  weights  →  embedding  →
//   layer: x = x + o_proj(attn(RoPE(q), RoPE(k), v)) over RMSNorm(x);  x = x + down(silu(gate(h)) · up(h))
//   over h = RMSNorm(x)  →  final RMSNorm  →  LM head (or the tied embedding).
// Attention is grouped-query: query head h reads key/value head h / (heads / kvHeads). Qwen3 normalizes
// every query and key head (RMSNorm over head_dim) before RoPE; Mistral (and Qwen with
// use_sliding_window) lets a query see only the last `sliding_window` positions.
// As for GPT-2, a prefill of T tokens runs every projection as one sgemm over T rows, and a decode step
// as matrix-vector products; both write keys and values into the shared preallocated KV cache.
// Weights are nn.Linear's (out, in). The matrices of F16/BF16 checkpoints stay 16-bit in the mapping and
// are converted a tile at a time inside the products (`WeightMatrix`); norms and biases are read as float32.
import Foundation
import VerbaTensor

// MARK: - Weights

/// One decoder layer's parameters (views into the memory-mapped checkpoint).
struct LlamaLayer {
    let inputNorm: FloatTensor                       // (C)
    let q, k, v, o: WeightMatrix                     // (H·hd, C), (KV·hd, C), (KV·hd, C), (C, H·hd)
    let qBias, kBias, vBias, oBias: FloatTensor?     // (H·hd), (KV·hd), (KV·hd), (C)
    let qNorm, kNorm: FloatTensor?                   // (hd) — Qwen3
    let postNorm: FloatTensor                        // (C)
    let gate, up, down: WeightMatrix                 // (I, C), (I, C), (C, I)
    let gateBias, upBias, downBias: FloatTensor?     // (I), (I), (C)
}

// MARK: - Model

/// A Llama-family language model (Llama, SmolLM, Qwen2/2.5, Qwen3, Mistral, TinyLlama...) over
/// memory-mapped weights: float32, or float16/bfloat16 computed from in place (converted per tile).
///
/// ```swift
/// let model = try LlamaModel(folder: "models/SmolLM2-135M")
/// let cache = model.makeCache()
/// var logits = try model.logits(for: promptIds, cache: cache)   // prefill, one batched pass
/// logits = try model.logits(for: [next], cache: cache)          // one decode step
/// ```
/// The weights are read-only and each sequence's scratch buffers live in its KV cache, so one model can
/// run several sequences at once, each on its own cache.
public final class LlamaModel: Sendable {
    /// The configuration the weights were checked against.
    public let config: LlamaConfig
    /// Positions a sequence may use: `max_position_embeddings`, capped by the `maxContext` given at load.
    public let contextLength: Int
    private let weights: ModelWeights
    private let embed: WeightMatrix  // (V, C)
    private let layers: [LlamaLayer]
    private let norm: FloatTensor    // (C)
    private let lmHead: WeightMatrix // (V, C)
    private let inverseFrequencies: [Float]

    /// The default cap on `contextLength` (the KV cache is allocated for it; its pages are touched lazily).
    public static let defaultMaxContext = 8192

    /// Loads `config.json` and the weights (`model.safetensors` or a sharded checkpoint) of a model folder.
    /// `maxContext` caps the positions a sequence may use (and so the KV cache's size).
    public convenience init(folder: String, maxContext: Int = LlamaModel.defaultMaxContext) throws {
        let config = try LlamaConfig(path: (folder as NSString).appendingPathComponent("config.json"))
        try self.init(config: config, weights: try ModelWeights(folder: folder), maxContext: maxContext)
    }

    /// Checks every tensor of `weights` against `config` (missing tensors and wrong shapes throw
    /// `ModelError` naming the file and tensor).
    package init(config: LlamaConfig, weights: ModelWeights, maxContext: Int = LlamaModel.defaultMaxContext) throws {
        precondition(maxContext >= 1, "LlamaModel: maxContext must be positive")
        self.config = config
        self.weights = weights
        contextLength = min(config.maxPositions, maxContext)
        let c = config.hiddenSize, i = config.intermediateSize, v = config.vocabSize, hd = config.headSize
        let qRows = config.headCount * hd, kvRows = config.kvHeadCount * hd
        func tensor(_ name: String, _ shape: [Int]) throws -> FloatTensor {
            guard weights.has(name) else { throw ModelError.missingTensor(path: weights.path, name: name) }
            return try weights.tensor(name, shape: shape)
        }
        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> WeightMatrix {
            guard weights.has(name) else { throw ModelError.missingTensor(path: weights.path, name: name) }
            return try weights.matrix(name, rows: rows, cols: cols)
        }
        func optional(_ present: Bool, _ name: String, _ shape: [Int]) throws -> FloatTensor? {
            present ? try tensor(name, shape) : nil
        }
        embed = try matrix("model.embed_tokens.weight", v, c)
        layers = try (0..<config.layerCount).map { l in
            let p = "model.layers.\(l)."
            return LlamaLayer(
                inputNorm: try tensor(p + "input_layernorm.weight", [c]),
                q: try matrix(p + "self_attn.q_proj.weight", qRows, c),
                k: try matrix(p + "self_attn.k_proj.weight", kvRows, c),
                v: try matrix(p + "self_attn.v_proj.weight", kvRows, c),
                o: try matrix(p + "self_attn.o_proj.weight", c, qRows),
                qBias: try optional(config.qkvBias, p + "self_attn.q_proj.bias", [qRows]),
                kBias: try optional(config.qkvBias, p + "self_attn.k_proj.bias", [kvRows]),
                vBias: try optional(config.qkvBias, p + "self_attn.v_proj.bias", [kvRows]),
                oBias: try optional(config.outputBias, p + "self_attn.o_proj.bias", [c]),
                qNorm: try optional(config.qkNorm, p + "self_attn.q_norm.weight", [hd]),
                kNorm: try optional(config.qkNorm, p + "self_attn.k_norm.weight", [hd]),
                postNorm: try tensor(p + "post_attention_layernorm.weight", [c]),
                gate: try matrix(p + "mlp.gate_proj.weight", i, c),
                up: try matrix(p + "mlp.up_proj.weight", i, c),
                down: try matrix(p + "mlp.down_proj.weight", c, i),
                gateBias: try optional(config.mlpBias, p + "mlp.gate_proj.bias", [i]),
                upBias: try optional(config.mlpBias, p + "mlp.up_proj.bias", [i]),
                downBias: try optional(config.mlpBias, p + "mlp.down_proj.bias", [c]))
        }
        norm = try tensor("model.norm.weight", [c])
        lmHead = config.tieWordEmbeddings ? embed : try matrix("lm_head.weight", v, c)
        inverseFrequencies = config.inverseFrequencies
    }

    /// A KV cache for `contextLength` positions of every layer's key/value heads.
    public func makeCache() -> KVCache {
        KVCache(layers: config.layerCount, heads: config.kvHeadCount, headSize: config.headSize, capacity: contextLength)
    }

    /// Bytes of weight matrices a decode step streams (every layer's projections and the LM head, at
    /// their stored precision; the norms and biases, a fraction of a percent, are left out).
    public var decodeWeightBytes: Int {
        layers.reduce(lmHead.byteCount) { sum, b in
            sum + [b.q, b.k, b.v, b.o, b.gate, b.up, b.down].reduce(0) { $0 + $1.byteCount }
        }
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
            gemv(lmHead, last, o.baseAddress!)
        }
        return out
    }

    /// Runs `ids` like `logits(for:cache:)`, then calls `body(position, logits)` with the logits (V) that
    /// follow each position `p` in `from ..< until` (relative to `ids`; `until` defaults to ids.count),
    /// in order. Rows are computed in blocks, so memory stays small whatever the length.
    public func forEachLogits(_ ids: [Int], cache: KVCache, from: Int = 0, until: Int? = nil,
                              _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        let end = until ?? ids.count
        precondition(from >= 0 && end <= ids.count, "forEachLogits: positions \(from)..<\(end) outside the input")
        let hidden = try run(ids, cache: cache)
        let c = config.hiddenSize
        try forEachLogitsBlock(from: from, until: end, vocabSize: config.vocabSize, { first, n, out in
            matmul(hidden + first * c, lmHead, out, m: n)
        }, body)
    }

    // MARK: The forward pass

    /// Query rows per block of prefill attention (bounds the scores buffer to rows × context per thread).
    private static let attentionBlock = 128

    /// Scratch buffers for T rows, grown on demand.
    /// The scratch buffers of `cache`'s sequence (kept in the cache, see `KVCache.workspace(of:_:)`).
    private func workspace(for cache: KVCache) -> Scratch { cache.workspace(of: self) { Scratch() } }

    private final class Scratch {
        var rows = 0
        var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (T, C) residual stream
        var h = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (T, C) normalized
        var q = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (T, H·hd)
        var k = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (T, KV·hd)
        var v = UnsafeMutablePointer<Float>.allocate(capacity: 1)      // (T, KV·hd)
        var att = UnsafeMutablePointer<Float>.allocate(capacity: 1)    // (T, H·hd) attention output
        var gate = UnsafeMutablePointer<Float>.allocate(capacity: 1)   // (T, I)
        var up = UnsafeMutablePointer<Float>.allocate(capacity: 1)     // (T, I)
        var cos = UnsafeMutablePointer<Float>.allocate(capacity: 1)    // (T, hd/2)
        var sin = UnsafeMutablePointer<Float>.allocate(capacity: 1)    // (T, hd/2)
        var scores = UnsafeMutablePointer<Float>.allocate(capacity: 1) // decode (H, P); prefill (parts, block, P)
        var scoreCapacity = 1

        func reserve(rows t: Int, config: LlamaConfig, context: Int, parts: Int) {
            let needScores = max(config.headCount, parts * min(t, LlamaModel.attentionBlock)) * context
            if needScores > scoreCapacity {
                scores.deallocate()
                scores = .allocate(capacity: needScores)
                scoreCapacity = needScores
            }
            if t <= rows { return }
            for p in [x, h, q, k, v, att, gate, up, cos, sin] { p.deallocate() }
            let c = config.hiddenSize, hd = config.headSize
            x = .allocate(capacity: t * c); h = .allocate(capacity: t * c)
            q = .allocate(capacity: t * config.headCount * hd); att = .allocate(capacity: t * config.headCount * hd)
            k = .allocate(capacity: t * config.kvHeadCount * hd); v = .allocate(capacity: t * config.kvHeadCount * hd)
            gate = .allocate(capacity: t * config.intermediateSize); up = .allocate(capacity: t * config.intermediateSize)
            cos = .allocate(capacity: t * hd / 2); sin = .allocate(capacity: t * hd / 2)
            rows = t
        }

        deinit { for p in [x, h, q, k, v, att, gate, up, cos, sin, scores] { p.deallocate() } }
    }

    /// Embeds `ids`, runs every layer (filling the cache) and the final norm; returns the normalized
    /// hidden states (T, C), valid until the next call. With `lastRowOnly` it returns just the last
    /// position's row (C): the last layer then computes keys and values for every position (the cache
    /// needs them) but attention and MLP for the last one only.
    private func run(_ ids: [Int], cache: KVCache, lastRowOnly: Bool = false) throws -> UnsafeMutablePointer<Float> {
        let t = ids.count, c = config.hiddenSize, half = config.headSize / 2
        guard t > 0 else { throw ModelError.invalidInput("Llama: no tokens to run") }
        precondition(cache.layerCount == config.layerCount && cache.headCount == config.kvHeadCount
                     && cache.headSize == config.headSize, "LlamaModel: cache made for another model")
        let start = cache.count, limit = min(cache.capacity, contextLength)
        guard t <= limit - start else {
            throw ModelError.invalidInput("Llama: \(start + t) positions exceed the context of \(limit) tokens")
        }
        for id in ids where id < 0 || id >= config.vocabSize {
            throw ModelError.invalidInput("Llama: token id \(id) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        let parts = min(config.headCount, ThreadPool.shared.threadCount)
        let s = workspace(for: cache)
        s.reserve(rows: t, config: config, context: contextLength, parts: parts)
        // x = embed[ids]  // (T, C)
        for (r, id) in ids.enumerated() { embed.convertRows(id, id + 1, into: s.x + r * c) }
        // RoPE angles of positions start ..< start + T: float32 position × float32 inv_freq, as transformers.
        for r in 0..<t {
            let position = Float(start + r)
            for i in 0..<half {
                let angle = Double(position * inverseFrequencies[i])
                s.cos[r * half + i] = Float(Foundation.cos(angle))
                s.sin[r * half + i] = Float(Foundation.sin(angle))
            }
        }
        var rows = t
        for (l, layer) in layers.enumerated() {
            rows = forward(layer, index: l, rows: t, start: start, cache: cache,
                           lastRowOnly: lastRowOnly && l == layers.count - 1)
        }
        cache.advance(by: t)
        rmsNorm(s.x, s.h, weight: norm.pointer, rows: rows, n: c, eps: config.rmsNormEpsilon)
        return lastRowOnly ? s.h + (rows - 1) * c : s.h
    }

    /// out (T, n) = a (T, k) · Wᵀ (+ bias), W (n, k); accumulated into `out` when `accumulate` (the residual add).
    private func linear(_ a: UnsafePointer<Float>, _ w: WeightMatrix, _ bias: FloatTensor?,
                        _ out: UnsafeMutablePointer<Float>, rows t: Int, accumulate: Bool = false) {
        if t == 1 {
            gemv(w, a, out, bias: bias?.pointer, accumulate: accumulate)
        } else {
            matmul(a, w, out, m: t, beta: accumulate ? 1 : 0)
            if let bias { addBias(out, bias.pointer, rows: t, n: w.rows) }
        }
    }

    /// One layer over `rows` rows at positions start..<start + rows. With `lastRowOnly`, every row's keys
    /// and values go to the cache but only the last row goes on (moved to row 0); returns the rows left.
    private func forward(_ b: LlamaLayer, index l: Int, rows: Int, start: Int, cache: KVCache, lastRowOnly: Bool) -> Int {
        let c = config.hiddenSize, hd = config.headSize, half = hd / 2, s = workspace(for: cache), eps = config.rmsNormEpsilon
        let heads = config.headCount, kvHeads = config.kvHeadCount
        rmsNorm(s.x, s.h, weight: b.inputNorm.pointer, rows: rows, n: c, eps: eps)
        linear(s.h, b.q, b.qBias, s.q, rows: rows)                                   // (T, H·hd)
        linear(s.h, b.k, b.kBias, s.k, rows: rows)                                   // (T, KV·hd)
        linear(s.h, b.v, b.vBias, s.v, rows: rows)                                   // (T, KV·hd)
        if let qNorm = b.qNorm, let kNorm = b.kNorm {
            rmsNorm(s.q, s.q, weight: qNorm.pointer, rows: rows * heads, n: hd, eps: eps)
            rmsNorm(s.k, s.k, weight: kNorm.pointer, rows: rows * kvHeads, n: hd, eps: eps)
        }
        for r in 0..<rows {
            applyRotary(s.q + r * heads * hd, heads: heads, headSize: hd, cos: s.cos + r * half, sin: s.sin + r * half)
            applyRotary(s.k + r * kvHeads * hd, heads: kvHeads, headSize: hd, cos: s.cos + r * half, sin: s.sin + r * half)
        }
        cache.store(layer: l, keys: s.k, values: s.v, rowStride: kvHeads * hd, rows: rows)
        var t = rows, queryStart = start
        if lastRowOnly && rows > 1 {
            s.q.update(from: s.q + (rows - 1) * heads * hd, count: heads * hd)      // (1, H·hd)
            s.x.update(from: s.x + (rows - 1) * c, count: c)                        // (1, C)
            t = 1
            queryStart = start + rows - 1
        }
        attention(layer: l, rows: t, start: queryStart, cache: cache)               // (T, H·hd) in s.att
        linear(s.att, b.o, b.oBias, s.x, rows: t, accumulate: true)
        rmsNorm(s.x, s.h, weight: b.postNorm.pointer, rows: t, n: c, eps: eps)
        linear(s.h, b.gate, b.gateBias, s.gate, rows: t)                             // (T, I)
        linear(s.h, b.up, b.upBias, s.up, rows: t)                                   // (T, I)
        siluMultiply(s.gate, s.up, count: t * config.intermediateSize)
        linear(s.gate, b.down, b.downBias, s.x, rows: t, accumulate: true)
        return t
    }

    /// Causal grouped-query attention of the T new queries (in s.q) over the cache; writes (T, H·hd) into
    /// s.att. Query row r sits at position p = start + r and sees keys lo...p, where lo is 0, or
    /// p − window + 1 in a sliding-window layer.
    private func attention(layer: Int, rows t: Int, start: Int, cache: KVCache) {
        let hd = config.headSize, heads = config.headCount, group = heads / config.kvHeadCount, s = workspace(for: cache)
        let width = heads * hd, total = start + t, window = config.slidingWindows[layer]
        let scale = Float(1 / Double(hd).squareRoot())
        func firstVisible(_ p: Int) -> Int { window.map { max(0, p - $0 + 1) } ?? 0 }
        if t == 1 {
            // Decode: one query per head; heads in parallel when the past is long enough to matter.
            let lo = firstVisible(start), n = total - lo
            let work = { (h: Int) in
                LlamaModel.attendOne(s.q + h * hd, keys: cache.keys(layer: layer, head: h / group) + lo * hd,
                                     values: cache.values(layer: layer, head: h / group) + lo * hd, positions: n,
                                     headSize: hd, scale: scale, scores: s.scores + h * total, out: s.att + h * hd)
            }
            if n * heads >= 4096 {
                ThreadPool.shared.parallelFor(count: heads, body: work)
            } else {
                for h in 0..<heads { work(h) }
            }
            return
        }
        // Prefill: heads split over the threads, each with its own scores buffer, query rows in blocks;
        // the matmuls inside run on the calling thread (the pool is busy), so a head is one thread's work.
        let parts = min(heads, ThreadPool.shared.threadCount), block = LlamaModel.attentionBlock
        let attend = { (part: Int) in
            let scores = s.scores + part * min(t, block) * self.contextLength
            var h = part
            while h < heads {
                let keys = cache.keys(layer: layer, head: h / group), values = cache.values(layer: layer, head: h / group)
                var r0 = 0
                while r0 < t {
                    let m = min(block, t - r0)
                    // keys needed by this block: from the first row's window start to the last row's position
                    let lo = firstVisible(start + r0), hi = start + r0 + m, n = hi - lo
                    // scores (m, n) = q · keysᵀ · scale
                    matmul(s.q + r0 * width + h * hd, lda: width, keys + lo * hd, ldb: hd, scores, ldc: n,
                           m: m, n: n, k: hd, transposeB: true, alpha: scale)
                    for r in 0..<m {
                        let row = scores + r * n, p = start + r0 + r
                        let first = firstVisible(p) - lo, visible = p + 1 - lo
                        softmax(row + first, rows: 1, n: visible - first)
                        if first > 0 { row.update(repeating: 0, count: first) }
                        if visible < n { (row + visible).update(repeating: 0, count: n - visible) }
                    }
                    // o (m, hd) = scores · values, written into the head's columns of s.att
                    matmul(scores, lda: n, values + lo * hd, ldb: hd, s.att + r0 * width + h * hd, ldc: width,
                           m: m, n: hd, k: n)
                    r0 += m
                }
                h += parts
            }
        }
        if parts > 1 {
            ThreadPool.shared.parallelFor(count: parts, body: attend)
        } else {
            attend(0)
        }
    }

    /// Attention of one query `q` (hd) over `positions` keys and values (positions, hd) of one key/value
    /// head: softmax(q · keysᵀ · scale) · values into `out` (hd); `scores` holds `positions` floats.
    private static func attendOne(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                  positions n: Int, headSize hd: Int, scale: Float,
                                  scores sc: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        for p in 0..<n { sc[p] = dot(q, keys + p * hd, count: hd) * scale }
        softmax(sc, rows: 1, n: n)
        out.initialize(repeating: 0, count: hd)
        for p in 0..<n {
            let w = sc[p], v = values + p * hd
            for d in 0..<hd { out[d] += w * v[d] }
        }
    }

    // MARK: Batched decode

    /// One decode step of B sequences at once: sequence i runs `ids[i]` at position `caches[i].count` of
    /// its own cache, and the logits (V) that follow go to row i of `logits` (B, V). Every projection is
    /// one matrix product over the B rows, so a step reads the weights once for all the sequences;
    /// RoPE and attention run per sequence at its own position. One sequence is an ordinary decode step.
    /// - Throws: `ModelError.invalidInput` for an id outside the vocabulary or a full cache.
    public func decodeStep(_ ids: [Int], caches: [KVCache], logits: UnsafeMutablePointer<Float>) throws {
        let b = ids.count, c = config.hiddenSize, v = config.vocabSize, hd = config.headSize, half = hd / 2
        let heads = config.headCount, kvHeads = config.kvHeadCount, group = heads / kvHeads, eps = config.rmsNormEpsilon
        precondition(caches.count == b && b > 0, "decodeStep: \(b) ids for \(caches.count) caches")
        precondition(Set(caches.map(ObjectIdentifier.init)).count == b, "decodeStep: a cache appears twice")
        if b == 1 {
            let row = try self.logits(for: ids, cache: caches[0])
            row.withUnsafeBufferPointer { logits.update(from: $0.baseAddress!, count: v) }
            return
        }
        for (id, cache) in zip(ids, caches) {
            precondition(cache.layerCount == config.layerCount && cache.headCount == kvHeads && cache.headSize == hd,
                         "LlamaModel: cache made for another model")
            let limit = min(cache.capacity, contextLength)
            guard cache.count < limit else {
                throw ModelError.invalidInput("Llama: \(cache.count + 1) positions exceed the context of \(limit) tokens")
            }
            guard id >= 0 && id < v else { throw ModelError.invalidInput("Llama: token id \(id) is outside the vocabulary 0..<\(v)") }
        }
        let s = Scratch()
        s.reserve(rows: b, config: config, context: 1, parts: 1)
        let longest = caches.map(\.count).max()! + 1
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: b * heads * longest)
        defer { scores.deallocate() }
        for (r, id) in ids.enumerated() {
            embed.convertRows(id, id + 1, into: s.x + r * c)
            let position = Float(caches[r].count)
            for i in 0..<half {
                let angle = Double(position * inverseFrequencies[i])
                s.cos[r * half + i] = Float(Foundation.cos(angle))
                s.sin[r * half + i] = Float(Foundation.sin(angle))
            }
        }
        let scale = Float(1 / Double(hd).squareRoot())
        for (l, layer) in layers.enumerated() {
            rmsNorm(s.x, s.h, weight: layer.inputNorm.pointer, rows: b, n: c, eps: eps)
            linear(s.h, layer.q, layer.qBias, s.q, rows: b)                             // (B, H·hd)
            linear(s.h, layer.k, layer.kBias, s.k, rows: b)                             // (B, KV·hd)
            linear(s.h, layer.v, layer.vBias, s.v, rows: b)                             // (B, KV·hd)
            if let qNorm = layer.qNorm, let kNorm = layer.kNorm {
                rmsNorm(s.q, s.q, weight: qNorm.pointer, rows: b * heads, n: hd, eps: eps)
                rmsNorm(s.k, s.k, weight: kNorm.pointer, rows: b * kvHeads, n: hd, eps: eps)
            }
            for (r, cache) in caches.enumerated() {
                applyRotary(s.q + r * heads * hd, heads: heads, headSize: hd, cos: s.cos + r * half, sin: s.sin + r * half)
                applyRotary(s.k + r * kvHeads * hd, heads: kvHeads, headSize: hd, cos: s.cos + r * half, sin: s.sin + r * half)
                cache.store(layer: l, keys: s.k + r * kvHeads * hd, values: s.v + r * kvHeads * hd,
                            rowStride: kvHeads * hd, rows: 1)
            }
            let window = config.slidingWindows[l]
            ThreadPool.shared.parallelFor(count: b * heads) { item in
                let r = item / heads, h = item % heads, cache = caches[r]
                let p = cache.count, lo = window.map { max(0, p - $0 + 1) } ?? 0
                LlamaModel.attendOne(s.q + (r * heads + h) * hd, keys: cache.keys(layer: l, head: h / group) + lo * hd,
                                     values: cache.values(layer: l, head: h / group) + lo * hd, positions: p + 1 - lo,
                                     headSize: hd, scale: scale, scores: scores + item * longest,
                                     out: s.att + (r * heads + h) * hd)
            }
            linear(s.att, layer.o, layer.oBias, s.x, rows: b, accumulate: true)
            rmsNorm(s.x, s.h, weight: layer.postNorm.pointer, rows: b, n: c, eps: eps)
            linear(s.h, layer.gate, layer.gateBias, s.gate, rows: b)                    // (B, I)
            linear(s.h, layer.up, layer.upBias, s.up, rows: b)                          // (B, I)
            siluMultiply(s.gate, s.up, count: b * config.intermediateSize)
            linear(s.gate, layer.down, layer.downBias, s.x, rows: b, accumulate: true)
        }
        for cache in caches { cache.advance(by: 1) }
        rmsNorm(s.x, s.h, weight: norm.pointer, rows: b, n: c, eps: eps)
        matmul(s.h, lmHead, logits, m: b)
    }
}
