// A Llama-architecture model for training (Hugging Face `LlamaForCausalLM`), in the style of
// GPTTrainingModel: all parameters in one flat buffer, gradients in another of the same layout, a forward
// pass that keeps what the backward needs, and a backward pass through every layer:
//   embedding  →  layer: x = x + o_proj(attn(RoPE(q), RoPE(k), v)) over RMSNorm(x);
//                        x = x + down(silu(gate(h)) · up(h)) over h = RMSNorm(x)
//   →  final RMSNorm  →  LM head (the token embedding when tied).
// Attention is grouped-query (query head h reads key/value head h / (heads / kvHeads)); no biases, no
// learned positions. Weights are stored (out, in) like `nn.Linear`, q/k/v fused into one matrix per layer
// and gate/up into another, so each is one product; the export splits them into HF's tensors.
import Foundation
import VerbaSupport
import VerbaTensor

/// The shape of a Llama-architecture model to train.
///
/// ```swift
/// // 6 layers of width 192, 6 query heads sharing 2 key/value heads, SwiGLU width 512, tied embeddings:
/// let config = LlamaTrainingConfig(vocabSize: 4096, context: 128, layers: 6, heads: 6, kvHeads: 2,
///                                  dim: 192, ffnDim: 512)
/// print(config.headSize)                            // 32 floats per head
/// print(LlamaTrainingConfig.defaultFFNDim(dim: 576)) // 1536, SmolLM2-135M's ratio
/// ```
public struct LlamaTrainingConfig: Equatable, Codable, Sendable {
    /// Token vocabulary size V.
    public var vocabSize: Int
    /// Maximum sequence length (`max_position_embeddings`).
    public var context: Int
    /// Decoder layers L.
    public var layers: Int
    /// Query heads H (must divide `dim`).
    public var heads: Int
    /// Key/value heads KV (must divide `heads`; fewer than `heads` is grouped-query attention).
    public var kvHeads: Int
    /// Model width C.
    public var dim: Int
    /// SwiGLU width I (`intermediate_size`).
    public var ffnDim: Int
    /// RoPE base (`rope_theta`).
    public var ropeTheta: Double
    /// RMSNorm epsilon (`rms_norm_eps`).
    public var rmsNormEps: Float
    /// Whether the LM head is the token embedding (`tie_word_embeddings`).
    public var tieEmbeddings: Bool

    public init(vocabSize: Int, context: Int, layers: Int, heads: Int, kvHeads: Int, dim: Int, ffnDim: Int,
                ropeTheta: Double = 10000, rmsNormEps: Float = 1e-5, tieEmbeddings: Bool = true) {
        self.vocabSize = vocabSize
        self.context = context
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.dim = dim
        self.ffnDim = ffnDim
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.tieEmbeddings = tieEmbeddings
    }

    /// SwiGLU width for model width `dim` at SmolLM2's ratio (8/3: 576 → 1536), rounded up to a multiple of 64.
    public static func defaultFFNDim(dim: Int) -> Int { (8 * dim / 3 + 63) / 64 * 64 }

    /// Floats per head, C / H.
    public var headSize: Int { dim / heads }

    /// Checks the sizes; throws `ModelError.invalidInput` naming the bad one.
    package func validate() throws {
        guard vocabSize > 0, context > 0, layers > 0, heads > 0, kvHeads > 0, dim > 0, ffnDim > 0 else {
            throw ModelError.invalidInput("Llama config: every size must be positive (\(self))")
        }
        guard dim % heads == 0, (dim / heads) % 2 == 0 else {
            throw ModelError.invalidInput("Llama config: dim \(dim) must be heads \(heads) × an even head size")
        }
        guard heads % kvHeads == 0 else {
            throw ModelError.invalidInput("Llama config: kv heads \(kvHeads) must divide heads \(heads)")
        }
        guard ropeTheta > 1, rmsNormEps > 0 else {
            throw ModelError.invalidInput("Llama config: rope theta must exceed 1 and the RMSNorm epsilon be positive")
        }
    }

    /// The rotary inverse frequencies 1 / theta^(2i / d) (d = headSize), unscaled.
    var inverseFrequencies: [Float] {
        LlamaConfig.unscaledInverseFrequencies(theta: Double(ropeTheta), headSize: headSize)
    }
}

/// A Llama-architecture model with parameters, gradients and activations for training. Not thread-safe.
package final class LlamaTrainingModel: FlatParameterModel {
    package let config: LlamaTrainingConfig
    package let slices: [ParameterSlice]
    private let params: FloatBuffer
    private let grads: FloatBuffer
    package var parameterCount: Int { params.count }
    package var parameters: UnsafeMutablePointer<Float> { params.pointer }
    package var gradients: UnsafeMutablePointer<Float> { grads.pointer }

    // Offsets of the parameter tensors; `head` is `embed` when the embeddings are tied.
    private let embed, inNorm, qkvw, ow, postNorm, gateUpw, downw, finalNorm, head: Int
    /// Rows of the fused q/k/v projection: (H + 2·KV)·hd.
    private let qkvRows: Int
    private let ropeCos: [Float], ropeSin: [Float]   // (context, hd/2)

    // Activations for the current (B, T), kept from forward for backward.
    private var actB = 0, actT = 0, capB = 0, capT = 0
    private var acts: Activations?
    private var lastInputs: [Int32] = []
    private var lastTargets: [Int32] = []

    /// Creates a model initialised as GPTTrainingModel is (normal(0, 0.02); the residual projections
    /// o_proj and down_proj scaled by 1/√(2L); RMSNorm weights one), from a seeded generator.
    package init(config: LlamaTrainingConfig, seed: UInt64) throws {
        try BLAS.load()
        try config.validate()
        self.config = config
        let v = config.vocabSize, l = config.layers, c = config.dim, i = config.ffnDim, hd = config.headSize
        qkvRows = (config.heads + 2 * config.kvHeads) * hd
        var list: [ParameterSlice] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], decay: Bool) -> Int {
            let o = offset
            list.append(ParameterSlice(name: name, offset: o, shape: shape, decay: decay))
            offset += shape.reduce(1, *)
            return o
        }
        embed = add("embed", [v, c], decay: true)
        inNorm = add("input_norm", [l, c], decay: false)
        qkvw = add("qkv", [l, qkvRows, c], decay: true)
        ow = add("o", [l, c, config.heads * hd], decay: true)
        postNorm = add("post_norm", [l, c], decay: false)
        gateUpw = add("gate_up", [l, 2 * i, c], decay: true)
        downw = add("down", [l, c, i], decay: true)
        finalNorm = add("norm", [c], decay: false)
        head = config.tieEmbeddings ? embed : add("lm_head", [v, c], decay: true)
        slices = list
        params = FloatBuffer(offset)
        grads = FloatBuffer(offset)
        (ropeCos, ropeSin) = rotaryTables(positions: config.context, inverseFrequencies: config.inverseFrequencies)
        var rng = SplitMix64(seed: seed)
        let residualStd = 0.02 / Float(2 * l).squareRoot()
        for s in list {
            let ptr = params.pointer + s.offset
            switch s.name {
            case "input_norm", "post_norm", "norm": ptr.update(repeating: 1, count: s.count)
            case "o", "down": for k in 0..<s.count { ptr[k] = residualStd * rng.nextGaussian() }
            default: for k in 0..<s.count { ptr[k] = 0.02 * rng.nextGaussian() }
            }
        }
    }

    private final class Activations {
        let encoded, h1, qkv, atty, att, res2, h2, gateUp, act, res3, hf, logits: FloatBuffer
        // Backward scratch.
        let dres, dh, dqkv, datty, dgateUp, dact, dattScratch: FloatBuffer
        init(_ cfg: LlamaTrainingConfig, qkvRows: Int, b: Int, t: Int) {
            let n = b * t, c = cfg.dim, l = cfg.layers, nh = cfg.heads, i = cfg.ffnDim
            encoded = FloatBuffer(n * c)
            h1 = FloatBuffer(l * n * c); qkv = FloatBuffer(l * n * qkvRows); atty = FloatBuffer(l * n * c)
            att = FloatBuffer(l * b * nh * t * t); res2 = FloatBuffer(l * n * c); h2 = FloatBuffer(l * n * c)
            gateUp = FloatBuffer(l * n * 2 * i); act = FloatBuffer(l * n * i); res3 = FloatBuffer(l * n * c)
            hf = FloatBuffer(n * c); logits = FloatBuffer(n * cfg.vocabSize)
            dres = FloatBuffer(n * c); dh = FloatBuffer(n * c); dqkv = FloatBuffer(n * qkvRows)
            datty = FloatBuffer(n * c); dgateUp = FloatBuffer(n * 2 * i); dact = FloatBuffer(n * i)
            dattScratch = FloatBuffer(b * nh * t * t)
        }
    }

    /// Runs the model on `inputs` (B·T token ids, row-major, each row at positions 0..<T) and, when
    /// `targets` is given (same shape; −1 ignores a position), returns the mean cross-entropy and keeps
    /// what `backward` needs. Without targets, returns 0 and leaves the logits readable through `logits`.
    /// - Complexity: about 2·(params)·B·T + 2·L·B·T²·C flops.
    @discardableResult
    package func forward(inputs: [Int32], targets: [Int32]?, batch b: Int, time t: Int) throws -> Float {
        let cfg = config
        try checkTrainingBatch(inputs: inputs, targets: targets, batch: b, time: t, context: cfg.context,
                               vocabSize: cfg.vocabSize, model: "Llama")
        if acts == nil || b > capB || t > capT {   // buffers are reused for any smaller (B, T)
            acts = nil
            capB = max(b, capB); capT = max(t, capT)
            acts = Activations(cfg, qkvRows: qkvRows, b: capB, t: capT)
        }
        actB = b; actT = t
        let a = acts!
        let n = b * t, c = cfg.dim, v = cfg.vocabSize, i = cfg.ffnDim, p = params.pointer, eps = cfg.rmsNormEps
        let hd = cfg.headSize, half = hd / 2, nc = n * c
        lastInputs = inputs
        // x = embed[ids]  // (N, C)
        for r in 0..<n { (a.encoded.pointer + r * c).update(from: p + embed + Int(inputs[r]) * c, count: c) }
        var residual = UnsafePointer(a.encoded.pointer)
        for l in 0..<cfg.layers {
            let h1 = a.h1.pointer + l * nc, qkv = a.qkv.pointer + l * n * qkvRows, atty = a.atty.pointer + l * nc
            let att = a.att.pointer + l * b * cfg.heads * t * t, res2 = a.res2.pointer + l * nc, h2 = a.h2.pointer + l * nc
            let gateUp = a.gateUp.pointer + l * n * 2 * i, act = a.act.pointer + l * n * i, res3 = a.res3.pointer + l * nc
            // Attention: res2 = x + o_proj(attn(RoPE(q), RoPE(k), v)) over h1 = RMSNorm(x).
            rmsNorm(residual, h1, weight: p + inNorm + l * c, rows: n, n: c, eps: eps)
            linearForward(qkv, h1, p + qkvw + l * qkvRows * c, nil, n: n, inC: c, outC: qkvRows)
            ropeCos.withUnsafeBufferPointer { cs in ropeSin.withUnsafeBufferPointer { sn in
                for r in 0..<n {   // q heads then k heads of each row, at position r mod T
                    let angles = (r % t) * half
                    applyRotary(qkv + r * qkvRows, heads: cfg.heads + cfg.kvHeads, headSize: hd,
                                cos: cs.baseAddress! + angles, sin: sn.baseAddress! + angles)
                }
            } }
            attentionForward(atty, att: att, qkv: qkv, keyMask: nil, causal: true, b: b, t: t, c: c,
                             heads: cfg.heads, kvHeads: cfg.kvHeads)
            linearForward(res2, atty, p + ow + l * c * c, nil, n: n, inC: c, outC: c)
            addInPlace(res2, residual, count: nc)
            // MLP: res3 = res2 + down(silu(gate(h2)) · up(h2)) over h2 = RMSNorm(res2).
            rmsNorm(res2, h2, weight: p + postNorm + l * c, rows: n, n: c, eps: eps)
            linearForward(gateUp, h2, p + gateUpw + l * 2 * i * c, nil, n: n, inC: c, outC: 2 * i)
            swigluForward(act, gateUp: gateUp, n: n, width: i)
            linearForward(res3, act, p + downw + l * c * i, nil, n: n, inC: i, outC: c)
            addInPlace(res3, res2, count: nc)
            residual = UnsafePointer(res3)
        }
        rmsNorm(residual, a.hf.pointer, weight: p + finalNorm, rows: n, n: c, eps: eps)
        linearForward(a.logits.pointer, a.hf.pointer, p + head, nil, n: n, inC: c, outC: v)
        guard let tg = targets else { lastTargets = []; return 0 }
        lastTargets = tg
        let counted = tg.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        let total = tg.withUnsafeBufferPointer {
            softmaxCrossEntropyForward(a.logits.pointer, targets: $0.baseAddress!, n: n, v: v)
        }
        return Float(total / Double(max(counted, 1)))
    }

    /// The logits (B·T, V) of the last forward without targets (probabilities after one with targets).
    package var logits: UnsafeBufferPointer<Float>? {
        guard let a = acts else { return nil }
        return UnsafeBufferPointer(start: a.logits.pointer, count: actB * actT * config.vocabSize)
    }

    /// Back-propagates the last forward's loss, multiplied by `lossScale` (1/k when accumulating k
    /// micro-batches), adding into `gradients`.
    /// - Precondition: the last `forward` had targets.
    package func backward(lossScale: Float = 1) {
        precondition(acts != nil && !lastTargets.isEmpty, "backward needs a forward with targets")
        let a = acts!, cfg = config
        let b = actB, t = actT, n = b * t, c = cfg.dim, v = cfg.vocabSize, i = cfg.ffnDim, nc = n * c
        let hd = cfg.headSize, half = hd / 2, eps = cfg.rmsNormEps
        let p = params.pointer, g = grads.pointer
        let counted = lastTargets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        lastTargets.withUnsafeBufferPointer {
            softmaxCrossEntropyBackward(a.logits.pointer, targets: $0.baseAddress!, n: n, v: v,
                                        scale: lossScale / Float(max(counted, 1)))
        }
        // LM head: dhf = dlogits · W; dW += dlogitsᵀ · hf (W is the embedding when tied).
        linearBackward(dinp: a.dh.pointer, dw: g + head, dbias: nil, dout: a.logits.pointer, inp: a.hf.pointer,
                       w: p + head, n: n, inC: c, outC: v)
        let dres = a.dres.pointer, dh = a.dh.pointer
        dres.update(repeating: 0, count: nc)
        let last = UnsafePointer(a.res3.pointer + (cfg.layers - 1) * nc)
        rmsNormBackward(dx: dres, dw: g + finalNorm, dout: dh, x: last, w: p + finalNorm, n: n, c: c, eps: eps)
        for l in stride(from: cfg.layers - 1, through: 0, by: -1) {
            let residual = l == 0 ? UnsafePointer(a.encoded.pointer) : UnsafePointer(a.res3.pointer + (l - 1) * nc)
            let h1 = a.h1.pointer + l * nc, qkv = a.qkv.pointer + l * n * qkvRows, atty = a.atty.pointer + l * nc
            let att = a.att.pointer + l * b * cfg.heads * t * t, res2 = a.res2.pointer + l * nc, h2 = a.h2.pointer + l * nc
            let gateUp = a.gateUp.pointer + l * n * 2 * i, act = a.act.pointer + l * n * i
            // MLP: dres holds ∂L/∂res3, which flows unchanged to res2 and through down, SwiGLU, gate/up, RMSNorm.
            linearBackward(dinp: a.dact.pointer, dw: g + downw + l * c * i, dbias: nil, dout: dres, inp: act,
                           w: p + downw + l * c * i, n: n, inC: i, outC: c)
            swigluBackward(dgateUp: a.dgateUp.pointer, dout: a.dact.pointer, gateUp: gateUp, n: n, width: i)
            linearBackward(dinp: dh, dw: g + gateUpw + l * 2 * i * c, dbias: nil, dout: a.dgateUp.pointer, inp: h2,
                           w: p + gateUpw + l * 2 * i * c, n: n, inC: c, outC: 2 * i)
            rmsNormBackward(dx: dres, dw: g + postNorm + l * c, dout: dh, x: res2, w: p + postNorm + l * c, n: n, c: c, eps: eps)
            // Attention: dres now holds ∂L/∂res2.
            linearBackward(dinp: a.datty.pointer, dw: g + ow + l * c * c, dbias: nil, dout: dres, inp: atty,
                           w: p + ow + l * c * c, n: n, inC: c, outC: c)
            a.dqkv.zero()
            attentionBackward(dqkv: a.dqkv.pointer, dout: a.datty.pointer, att: att, qkv: qkv, scratch: a.dattScratch.pointer,
                              causal: true, b: b, t: t, c: c, heads: cfg.heads, kvHeads: cfg.kvHeads)
            ropeCos.withUnsafeBufferPointer { cs in ropeSin.withUnsafeBufferPointer { sn in
                for r in 0..<n {
                    let angles = (r % t) * half
                    rotaryBackward(a.dqkv.pointer + r * qkvRows, heads: cfg.heads + cfg.kvHeads, headSize: hd,
                                   cos: cs.baseAddress! + angles, sin: sn.baseAddress! + angles)
                }
            } }
            linearBackward(dinp: dh, dw: g + qkvw + l * qkvRows * c, dbias: nil, dout: a.dqkv.pointer, inp: h1,
                           w: p + qkvw + l * qkvRows * c, n: n, inC: c, outC: qkvRows)
            rmsNormBackward(dx: dres, dw: g + inNorm + l * c, dout: dh, x: residual, w: p + inNorm + l * c, n: n, c: c, eps: eps)
        }
        // Embedding: scatter the rows' gradients.
        for r in 0..<n { addInPlace(g + embed + Int(lastInputs[r]) * c, dres + r * c, count: c) }
    }
}

// MARK: - Hugging Face LlamaForCausalLM layout

extension LlamaTrainingModel {
    /// Where each HF tensor lives in the flat buffer: name, shape, offset. All are (out, in) like the
    /// buffer, so a tensor is a contiguous run; `lm_head.weight` is listed only when untied.
    package var huggingFaceLayout: [(name: String, shape: [Int], offset: Int)] {
        let c = config.dim, i = config.ffnDim, hd = config.headSize, q = config.heads * hd, kv = config.kvHeads * hd
        var out: [(String, [Int], Int)] = [("model.embed_tokens.weight", [config.vocabSize, c], embed)]
        for l in 0..<config.layers {
            let pre = "model.layers.\(l).", qkv = qkvw + l * qkvRows * c, gu = gateUpw + l * 2 * i * c
            out.append((pre + "input_layernorm.weight", [c], inNorm + l * c))
            out.append((pre + "self_attn.q_proj.weight", [q, c], qkv))
            out.append((pre + "self_attn.k_proj.weight", [kv, c], qkv + q * c))
            out.append((pre + "self_attn.v_proj.weight", [kv, c], qkv + (q + kv) * c))
            out.append((pre + "self_attn.o_proj.weight", [c, q], ow + l * c * q))
            out.append((pre + "post_attention_layernorm.weight", [c], postNorm + l * c))
            out.append((pre + "mlp.gate_proj.weight", [i, c], gu))
            out.append((pre + "mlp.up_proj.weight", [i, c], gu + i * c))
            out.append((pre + "mlp.down_proj.weight", [c, i], downw + l * c * i))
        }
        out.append(("model.norm.weight", [c], finalNorm))
        if !config.tieEmbeddings { out.append(("lm_head.weight", [config.vocabSize, c], head)) }
        return out
    }

    /// Maps a flat buffer in this model's layout (parameters or gradients) to HF names.
    package func huggingFaceView(of buffer: UnsafePointer<Float>) -> [String: [Float]] {
        var result: [String: [Float]] = [:]
        for t in huggingFaceLayout {
            result[t.name] = Array(UnsafeBufferPointer(start: buffer + t.offset, count: t.shape.reduce(1, *)))
        }
        return result
    }

    /// Loads parameters from HF-named tensors; `lookup` returns a tensor's shape and values or nil when absent.
    package func loadHuggingFace(from source: String, _ lookup: (String) throws -> (shape: [Int], values: [Float])?) throws {
        for t in huggingFaceLayout {
            guard let (shape, values) = try lookup(t.name) else { throw ModelError.missingTensor(path: source, name: t.name) }
            guard shape == t.shape, values.count == t.shape.reduce(1, *) else {
                throw ModelError.wrongShape(path: source, name: t.name, expected: t.shape, actual: shape)
            }
            values.withUnsafeBufferPointer { (params.pointer + t.offset).update(from: $0.baseAddress!, count: values.count) }
        }
    }

    /// The configuration as a compact JSON string (checkpoints compare it on resume).
    package var configSignature: String {
        let c = config
        return "{\"arch\":\"llama\",\"vocab_size\":\(c.vocabSize),\"max_position_embeddings\":\(c.context),"
            + "\"num_hidden_layers\":\(c.layers),\"num_attention_heads\":\(c.heads),\"num_key_value_heads\":\(c.kvHeads),"
            + "\"hidden_size\":\(c.dim),\"intermediate_size\":\(c.ffnDim),\"rope_theta\":\(c.ropeTheta),"
            + "\"rms_norm_eps\":\(c.rmsNormEps),\"tie_word_embeddings\":\(c.tieEmbeddings)}"
    }

    /// Writes `config.json` (model_type llama, LlamaForCausalLM, silu, no biases, no rope scaling) and
    /// `model.safetensors` (HF names) into `folder`, creating it if needed: a folder `LlamaModel` and
    /// `transformers` load.
    package func exportHuggingFace(to folder: String, dtype: DType = .f32, bosId: Int? = nil, eosId: Int? = nil,
                                  metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let cfg = config
        // rms_norm_eps as the float's shortest decimal (1e-05, not 9.99999974e-06).
        var json: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": cfg.vocabSize, "hidden_size": cfg.dim, "intermediate_size": cfg.ffnDim,
            "num_hidden_layers": cfg.layers, "num_attention_heads": cfg.heads, "num_key_value_heads": cfg.kvHeads,
            "head_dim": cfg.headSize, "max_position_embeddings": cfg.context, "hidden_act": "silu",
            "rms_norm_eps": Double("\(cfg.rmsNormEps)") ?? Double(cfg.rmsNormEps), "rope_theta": cfg.ropeTheta, "rope_scaling": NSNull(),
            "attention_bias": false, "attention_dropout": 0.0, "mlp_bias": false, "pretraining_tp": 1,
            "initializer_range": 0.02, "use_cache": true, "tie_word_embeddings": cfg.tieEmbeddings,
            "torch_dtype": dtype == .f16 ? "float16" : dtype == .bf16 ? "bfloat16" : "float32",
        ]
        json["bos_token_id"] = bosId.map { $0 as Any } ?? NSNull()
        json["eos_token_id"] = eosId.map { $0 as Any } ?? NSNull()
        let tensors = huggingFaceLayout.map { t in
            (name: t.name, tensor: FloatTensor(borrowing: params.pointer + t.offset, shape: t.shape, owner: params), dtype: dtype)
        }
        var meta = metadata
        meta["format"] = "pt"
        try SafeTensorsWriter.write(tensors, metadata: meta, to: folder + "/model.safetensors")
        try writeAtomically(Data(try jsonText(json).utf8), to: folder + "/config.json")
    }

    /// Loads a folder written by `exportHuggingFace` (or any LlamaForCausalLM float checkpoint of this
    /// shape, without biases or rope scaling) into a training model.
    package static func loadHuggingFace(folder: String) throws -> LlamaTrainingModel {
        let path = folder + "/config.json"
        let hf = try LlamaConfig(path: path)
        guard hf.architecture == .llama, !hf.qkvBias, !hf.outputBias, !hf.mlpBias, hf.ropeScaling == .none,
              hf.headSize * hf.headCount == hf.hiddenSize else {
            throw ModelError.unsupported(path: path, what: "a Llama configuration the trainer does not build (biases, rope scaling or head_dim)")
        }
        let cfg = LlamaTrainingConfig(vocabSize: hf.vocabSize, context: hf.maxPositions, layers: hf.layerCount,
                                      heads: hf.headCount, kvHeads: hf.kvHeadCount, dim: hf.hiddenSize,
                                      ffnDim: hf.intermediateSize, ropeTheta: hf.ropeTheta, rmsNormEps: hf.rmsNormEpsilon,
                                      tieEmbeddings: hf.tieWordEmbeddings)
        let model = try LlamaTrainingModel(config: cfg, seed: 0)
        let weights = folder + "/model.safetensors"
        let file = try SafeTensorsFile(path: weights)
        try model.loadHuggingFace(from: weights) { name in
            guard file.tensors[name] != nil else { return nil }
            let t = try file.floats(name)
            return (t.shape, t.toArray())
        }
        return model
    }
}
