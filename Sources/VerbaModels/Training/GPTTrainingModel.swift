// A GPT-2 model for training, in the style of llm.c: all parameters in one flat buffer, their
// gradients in another of the same layout, a forward pass that keeps the activations the backward
// pass needs, and a backward pass through every layer (tied token embedding / LM head, learned
// positions, pre-norm blocks with causal attention and a GELU-tanh MLP, final layer norm).
// Weights are stored (out, in) like `nn.Linear`; the HF export transposes them to Conv1D's (in, out).
import Foundation
import VerbaSupport
import VerbaTensor

/// The shape of a GPT-2 model to train.
///
/// ```swift
/// // What LMTrainingRun trains with the default LMTrainingOptions and an 8,000-token vocabulary:
/// let config = GPTTrainingConfig(vocabSize: 8_000, context: 128, layers: 4, heads: 4, dim: 256)
/// print(config.dim / config.heads)                  // 64 floats per head
/// let json = try JSONEncoder().encode(config)       // Codable, e.g. to record a run's shape
/// ```
public struct GPTTrainingConfig: Equatable, Codable, Sendable {
    /// Token vocabulary size V.
    public var vocabSize: Int
    /// Maximum sequence length (learned positions), `n_positions`.
    public var context: Int
    /// Number of transformer blocks L.
    public var layers: Int
    /// Attention heads per block NH (must divide `dim`).
    public var heads: Int
    /// Model width C.
    public var dim: Int
    /// Layer-norm epsilon (GPT-2: 1e-5).
    public var layerNormEps: Float

    public init(vocabSize: Int, context: Int, layers: Int, heads: Int, dim: Int, layerNormEps: Float = 1e-5) {
        self.vocabSize = vocabSize
        self.context = context
        self.layers = layers
        self.heads = heads
        self.dim = dim
        self.layerNormEps = layerNormEps
    }

    /// Checks the sizes; throws `ModelError.invalidInput` naming the bad one.
    package func validate() throws {
        guard vocabSize > 0, context > 0, layers > 0, heads > 0, dim > 0 else {
            throw ModelError.invalidInput("GPT config: every size must be positive (\(self))")
        }
        guard dim % heads == 0 else {
            throw ModelError.invalidInput("GPT config: dim \(dim) is not a multiple of heads \(heads)")
        }
    }
}

/// One named tensor of a flat parameter buffer: where it starts, its shape, whether AdamW decays it.
package struct ParameterSlice: Sendable {
    package let name: String
    package let offset: Int
    package let shape: [Int]
    package let decay: Bool
    package var count: Int { shape.reduce(1, *) }
}

/// A model whose parameters and gradients live in flat float buffers, for the optimizer and checkpoints.
package protocol FlatParameterModel: AnyObject {
    /// Number of parameters.
    var parameterCount: Int { get }
    /// The parameters (parameterCount floats).
    var parameters: UnsafeMutablePointer<Float> { get }
    /// Their gradients (same layout), accumulated by backward passes.
    var gradients: UnsafeMutablePointer<Float> { get }
    /// The named tensors, in buffer order.
    var slices: [ParameterSlice] { get }
}

extension FlatParameterModel {
    /// Sets every gradient to zero (before a new optimizer step's micro-batches).
    package func zeroGradients() { gradients.update(repeating: 0, count: parameterCount) }
}

/// GPT-2 with parameters, gradients and activations for training. Not thread-safe.
package final class GPTTrainingModel: FlatParameterModel {
    public let config: GPTTrainingConfig
    package let slices: [ParameterSlice]
    private let params: FloatBuffer
    private let grads: FloatBuffer
    public var parameterCount: Int { params.count }
    package var parameters: UnsafeMutablePointer<Float> { params.pointer }
    package var gradients: UnsafeMutablePointer<Float> { grads.pointer }

    // Offsets of the parameter tensors.
    private let wte, wpe, ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb: Int

    // Activations for the current (B, T), kept from forward for backward.
    private var actB = 0, actT = 0, capB = 0, capT = 0
    private var acts: Activations?
    private var lastInputs: [Int32] = []
    private var lastTargets: [Int32] = []

    /// Creates a model with GPT-2's initialisation (normal(0, 0.02); residual projections scaled by
    /// 1/√(2L); biases zero; layer norms one), from a seeded generator.
    package init(config: GPTTrainingConfig, seed: UInt64) throws {
        try BLAS.load()  // OpenBLAS with the kernels for this CPU, before any product
        try config.validate()
        self.config = config
        let v = config.vocabSize, p = config.context, l = config.layers, c = config.dim
        var list: [ParameterSlice] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], decay: Bool) -> Int {
            let o = offset
            list.append(ParameterSlice(name: name, offset: o, shape: shape, decay: decay))
            offset += shape.reduce(1, *)
            return o
        }
        wte = add("wte", [v, c], decay: true)
        wpe = add("wpe", [p, c], decay: true)
        ln1w = add("ln1w", [l, c], decay: false)
        ln1b = add("ln1b", [l, c], decay: false)
        qkvw = add("qkvw", [l, 3 * c, c], decay: true)
        qkvb = add("qkvb", [l, 3 * c], decay: false)
        projw = add("attprojw", [l, c, c], decay: true)
        projb = add("attprojb", [l, c], decay: false)
        ln2w = add("ln2w", [l, c], decay: false)
        ln2b = add("ln2b", [l, c], decay: false)
        fcw = add("fcw", [l, 4 * c, c], decay: true)
        fcb = add("fcb", [l, 4 * c], decay: false)
        fcprojw = add("fcprojw", [l, c, 4 * c], decay: true)
        fcprojb = add("fcprojb", [l, c], decay: false)
        lnfw = add("lnfw", [c], decay: false)
        lnfb = add("lnfb", [c], decay: false)
        slices = list
        params = FloatBuffer(offset)
        grads = FloatBuffer(offset)
        var rng = SplitMix64(seed: seed)
        let residualStd = 0.02 / Float(2 * l).squareRoot()
        for s in list {
            let ptr = params.pointer + s.offset
            switch s.name {
            case "ln1w", "ln2w", "lnfw": ptr.update(repeating: 1, count: s.count)
            case "wte", "wpe", "qkvw", "fcw": for i in 0..<s.count { ptr[i] = 0.02 * rng.nextGaussian() }
            case "attprojw", "fcprojw": for i in 0..<s.count { ptr[i] = residualStd * rng.nextGaussian() }
            default: break
            }
        }
    }

    private final class Activations {
        let encoded, ln1, ln1Mean, ln1Rstd, qkv, atty, att, attproj, res2, ln2, ln2Mean, ln2Rstd,
            fch, fchGelu, fcproj, res3, lnf, lnfMean, lnfRstd, logits: FloatBuffer
        // Backward scratch.
        let dres, dln, dqkv, datty, dfch, dlnf, dattScratch: FloatBuffer
        init(_ cfg: GPTTrainingConfig, b: Int, t: Int) {
            let n = b * t, c = cfg.dim, l = cfg.layers, nh = cfg.heads
            encoded = FloatBuffer(n * c)
            ln1 = FloatBuffer(l * n * c); ln1Mean = FloatBuffer(l * n); ln1Rstd = FloatBuffer(l * n)
            qkv = FloatBuffer(l * n * 3 * c); atty = FloatBuffer(l * n * c); att = FloatBuffer(l * b * nh * t * t)
            attproj = FloatBuffer(l * n * c); res2 = FloatBuffer(l * n * c)
            ln2 = FloatBuffer(l * n * c); ln2Mean = FloatBuffer(l * n); ln2Rstd = FloatBuffer(l * n)
            fch = FloatBuffer(l * n * 4 * c); fchGelu = FloatBuffer(l * n * 4 * c)
            fcproj = FloatBuffer(l * n * c); res3 = FloatBuffer(l * n * c)
            lnf = FloatBuffer(n * c); lnfMean = FloatBuffer(n); lnfRstd = FloatBuffer(n)
            logits = FloatBuffer(n * cfg.vocabSize)
            dres = FloatBuffer(n * c); dln = FloatBuffer(n * c); dqkv = FloatBuffer(n * 3 * c)
            datty = FloatBuffer(n * c); dfch = FloatBuffer(n * 4 * c); dlnf = FloatBuffer(n * c)
            dattScratch = FloatBuffer(b * nh * t * t)
        }
    }

    /// Runs the model on `inputs` (B·T token ids, row-major) and, when `targets` is given (same shape;
    /// −1 ignores a position), returns the mean cross-entropy and keeps what `backward` needs.
    /// Without targets, returns 0 and leaves the logits readable through `logits`.
    /// - Complexity: about 2·(params)·B·T + 2·L·B·T²·C flops.
    @discardableResult
    package func forward(inputs: [Int32], targets: [Int32]?, batch b: Int, time t: Int) throws -> Float {
        let cfg = config
        try checkTrainingBatch(inputs: inputs, targets: targets, batch: b, time: t, context: cfg.context,
                               vocabSize: cfg.vocabSize, model: "GPT")
        if acts == nil || b > capB || t > capT {   // buffers are reused for any smaller (B, T)
            acts = nil
            capB = max(b, capB); capT = max(t, capT)
            acts = Activations(cfg, b: capB, t: capT)
        }
        actB = b; actT = t
        let a = acts!
        let n = b * t, c = cfg.dim, v = cfg.vocabSize, p = params.pointer, eps = cfg.layerNormEps
        lastInputs = inputs
        // Embeddings.
        for i in 0..<n {
            let tok = Int(inputs[i]), pos = i % t
            let out = a.encoded.pointer + i * c, we = p + wte + tok * c, pe = p + wpe + pos * c
            for j in 0..<c { out[j] = we[j] + pe[j] }
        }
        var residual = UnsafePointer(a.encoded.pointer)
        for l in 0..<cfg.layers {
            let nc = n * c
            let ln1 = a.ln1.pointer + l * nc, qkv = a.qkv.pointer + l * 3 * nc, atty = a.atty.pointer + l * nc
            let att = a.att.pointer + l * b * cfg.heads * t * t
            let attproj = a.attproj.pointer + l * nc, res2 = a.res2.pointer + l * nc, ln2 = a.ln2.pointer + l * nc
            let fch = a.fch.pointer + l * 4 * nc, fchGelu = a.fchGelu.pointer + l * 4 * nc
            let fcproj = a.fcproj.pointer + l * nc, res3 = a.res3.pointer + l * nc
            layerNormForward(ln1, mean: a.ln1Mean.pointer + l * n, rstd: a.ln1Rstd.pointer + l * n, residual,
                             p + ln1w + l * c, p + ln1b + l * c, n: n, c: c, eps: eps)
            linearForward(qkv, ln1, p + qkvw + l * 3 * c * c, p + qkvb + l * 3 * c, n: n, inC: c, outC: 3 * c)
            attentionForward(atty, att: att, qkv: qkv, keyMask: nil, causal: true, b: b, t: t, c: c, heads: cfg.heads)
            linearForward(attproj, atty, p + projw + l * c * c, p + projb + l * c, n: n, inC: c, outC: c)
            addInto(res2, residual, attproj, count: nc)
            layerNormForward(ln2, mean: a.ln2Mean.pointer + l * n, rstd: a.ln2Rstd.pointer + l * n, res2,
                             p + ln2w + l * c, p + ln2b + l * c, n: n, c: c, eps: eps)
            linearForward(fch, ln2, p + fcw + l * 4 * c * c, p + fcb + l * 4 * c, n: n, inC: c, outC: 4 * c)
            geluForward(fchGelu, fch, count: 4 * nc, kind: .tanh)
            linearForward(fcproj, fchGelu, p + fcprojw + l * 4 * c * c, p + fcprojb + l * c, n: n, inC: 4 * c, outC: c)
            addInto(res3, res2, fcproj, count: nc)
            residual = UnsafePointer(res3)
        }
        layerNormForward(a.lnf.pointer, mean: a.lnfMean.pointer, rstd: a.lnfRstd.pointer, residual,
                         p + lnfw, p + lnfb, n: n, c: c, eps: eps)
        linearForward(a.logits.pointer, a.lnf.pointer, p + wte, nil, n: n, inC: c, outC: v)
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
        let b = actB, t = actT, n = b * t, c = cfg.dim, v = cfg.vocabSize, nc = n * c
        let p = params.pointer, g = grads.pointer
        let counted = lastTargets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        lastTargets.withUnsafeBufferPointer {
            softmaxCrossEntropyBackward(a.logits.pointer, targets: $0.baseAddress!, n: n, v: v,
                                        scale: lossScale / Float(max(counted, 1)))
        }
        // Tied LM head: dlnf = dlogits · wte; dwte += dlogitsᵀ · lnf.
        linearBackward(dinp: a.dlnf.pointer, dw: g + wte, dbias: nil, dout: a.logits.pointer, inp: a.lnf.pointer,
                       w: p + wte, n: n, inC: c, outC: v)
        let lastResidual = cfg.layers > 0 ? UnsafePointer(a.res3.pointer + (cfg.layers - 1) * nc) : UnsafePointer(a.encoded.pointer)
        let dres = a.dres.pointer
        dres.update(repeating: 0, count: nc)
        layerNormBackward(dx: dres, dw: g + lnfw, db: g + lnfb, dout: a.dlnf.pointer, x: lastResidual, w: p + lnfw,
                          mean: a.lnfMean.pointer, rstd: a.lnfRstd.pointer, n: n, c: c)
        for l in stride(from: cfg.layers - 1, through: 0, by: -1) {
            let residual = l == 0 ? UnsafePointer(a.encoded.pointer) : UnsafePointer(a.res3.pointer + (l - 1) * nc)
            let ln1 = a.ln1.pointer + l * nc, qkv = a.qkv.pointer + l * 3 * nc, atty = a.atty.pointer + l * nc
            let att = a.att.pointer + l * b * cfg.heads * t * t
            let res2 = a.res2.pointer + l * nc, ln2 = a.ln2.pointer + l * nc
            let fch = a.fch.pointer + l * 4 * nc, fchGelu = a.fchGelu.pointer + l * 4 * nc
            // MLP: res3 = res2 + fcproj(gelu(fc(ln2(res2)))).
            linearBackward(dinp: a.dfch.pointer, dw: g + fcprojw + l * 4 * c * c, dbias: g + fcprojb + l * c,
                           dout: dres, inp: fchGelu, w: p + fcprojw + l * 4 * c * c, n: n, inC: 4 * c, outC: c)
            geluBackward(dx: a.dfch.pointer, x: fch, dout: a.dfch.pointer, count: 4 * nc, kind: .tanh)
            linearBackward(dinp: a.dln.pointer, dw: g + fcw + l * 4 * c * c, dbias: g + fcb + l * 4 * c,
                           dout: a.dfch.pointer, inp: ln2, w: p + fcw + l * 4 * c * c, n: n, inC: c, outC: 4 * c)
            layerNormBackward(dx: dres, dw: g + ln2w + l * c, db: g + ln2b + l * c, dout: a.dln.pointer, x: res2,
                              w: p + ln2w + l * c, mean: a.ln2Mean.pointer + l * n, rstd: a.ln2Rstd.pointer + l * n, n: n, c: c)
            // Attention: res2 = residual + proj(attn(qkv(ln1(residual)))).
            linearBackward(dinp: a.datty.pointer, dw: g + projw + l * c * c, dbias: g + projb + l * c,
                           dout: dres, inp: atty, w: p + projw + l * c * c, n: n, inC: c, outC: c)
            a.dqkv.zero()
            attentionBackward(dqkv: a.dqkv.pointer, dout: a.datty.pointer, att: att, qkv: qkv,
                              scratch: a.dattScratch.pointer, causal: true, b: b, t: t, c: c, heads: cfg.heads)
            linearBackward(dinp: a.dln.pointer, dw: g + qkvw + l * 3 * c * c, dbias: g + qkvb + l * 3 * c,
                           dout: a.dqkv.pointer, inp: ln1, w: p + qkvw + l * 3 * c * c, n: n, inC: c, outC: 3 * c)
            layerNormBackward(dx: dres, dw: g + ln1w + l * c, db: g + ln1b + l * c, dout: a.dln.pointer, x: residual,
                              w: p + ln1w + l * c, mean: a.ln1Mean.pointer + l * n, rstd: a.ln1Rstd.pointer + l * n, n: n, c: c)
        }
        // Embeddings.
        for i in 0..<n {
            let tok = Int(lastInputs[i]), pos = i % t
            let d = dres + i * c, gw = g + wte + tok * c, gp = g + wpe + pos * c
            for j in 0..<c { gw[j] += d[j]; gp[j] += d[j] }
        }
    }
}

// MARK: - Hugging Face GPT2LMHeadModel layout

extension GPTTrainingModel {
    /// The parameters as Hugging Face `GPT2LMHeadModel` tensors (Conv1D weights in (in, out) layout),
    /// in a stable order. `lm_head.weight` is omitted: it is tied to `transformer.wte.weight`.
    package func huggingFaceTensors() -> [(name: String, shape: [Int], values: [Float])] {
        let c = config.dim, p = params.pointer
        var out: [(String, [Int], [Float])] = []
        func plain(_ name: String, _ offset: Int, _ shape: [Int]) {
            out.append((name, shape, Array(UnsafeBufferPointer(start: p + offset, count: shape.reduce(1, *)))))
        }
        func conv(_ name: String, _ offset: Int, outC: Int, inC: Int) {   // (out, in) → (in, out)
            var values = [Float](repeating: 0, count: outC * inC)
            for o in 0..<outC { for i in 0..<inC { values[i * outC + o] = p[offset + o * inC + i] } }
            out.append((name, [inC, outC], values))
        }
        plain("transformer.wte.weight", wte, [config.vocabSize, c])
        plain("transformer.wpe.weight", wpe, [config.context, c])
        for l in 0..<config.layers {
            let h = "transformer.h.\(l)."
            plain(h + "ln_1.weight", ln1w + l * c, [c]); plain(h + "ln_1.bias", ln1b + l * c, [c])
            conv(h + "attn.c_attn.weight", qkvw + l * 3 * c * c, outC: 3 * c, inC: c)
            plain(h + "attn.c_attn.bias", qkvb + l * 3 * c, [3 * c])
            conv(h + "attn.c_proj.weight", projw + l * c * c, outC: c, inC: c)
            plain(h + "attn.c_proj.bias", projb + l * c, [c])
            plain(h + "ln_2.weight", ln2w + l * c, [c]); plain(h + "ln_2.bias", ln2b + l * c, [c])
            conv(h + "mlp.c_fc.weight", fcw + l * 4 * c * c, outC: 4 * c, inC: c)
            plain(h + "mlp.c_fc.bias", fcb + l * 4 * c, [4 * c])
            conv(h + "mlp.c_proj.weight", fcprojw + l * 4 * c * c, outC: c, inC: 4 * c)
            plain(h + "mlp.c_proj.bias", fcprojb + l * c, [c])
        }
        plain("transformer.ln_f.weight", lnfw, [c]); plain("transformer.ln_f.bias", lnfb, [c])
        return out
    }

    /// Maps a flat buffer in this model's layout (parameters or gradients) to HF names and layouts.
    package func huggingFaceView(of buffer: UnsafePointer<Float>) -> [String: [Float]] {
        let saved = UnsafeMutablePointer<Float>.allocate(capacity: parameterCount)
        defer { saved.deallocate() }
        saved.update(from: params.pointer, count: parameterCount)
        params.pointer.update(from: buffer, count: parameterCount)
        var result: [String: [Float]] = [:]
        for t in huggingFaceTensors() { result[t.name] = t.values }
        params.pointer.update(from: saved, count: parameterCount)
        return result
    }

    /// Loads parameters from HF-named tensors (as `huggingFaceTensors` names and shapes them);
    /// `lookup` returns a tensor's shape and values or nil when absent.
    package func loadHuggingFace(from source: String, _ lookup: (String) throws -> (shape: [Int], values: [Float])?) throws {
        let c = config.dim, p = params.pointer
        for t in huggingFaceTensors() {
            guard let (shape, values) = try lookup(t.name) else { throw ModelError.missingTensor(path: source, name: t.name) }
            guard shape == t.shape, values.count == t.values.count else {
                throw ModelError.wrongShape(path: source, name: t.name, expected: t.shape, actual: shape)
            }
            let (offset, transposeIn) = placement(of: t.name, c: c)
            if let inC = transposeIn {
                let outC = shape[1]
                for i in 0..<inC { for o in 0..<outC { p[offset + o * inC + i] = values[i * outC + o] } }
            } else {
                values.withUnsafeBufferPointer { (p + offset).update(from: $0.baseAddress!, count: values.count) }
            }
        }
    }

    /// Where an HF tensor goes in the flat buffer, and (for Conv1D weights) its input width.
    private func placement(of name: String, c: Int) -> (Int, Int?) {
        switch name {
        case "transformer.wte.weight": return (wte, nil)
        case "transformer.wpe.weight": return (wpe, nil)
        case "transformer.ln_f.weight": return (lnfw, nil)
        case "transformer.ln_f.bias": return (lnfb, nil)
        default: break
        }
        let parts = name.split(separator: ".")
        let l = Int(parts[2])!, rest = parts[3...].joined(separator: ".")
        switch rest {
        case "ln_1.weight": return (ln1w + l * c, nil)
        case "ln_1.bias": return (ln1b + l * c, nil)
        case "attn.c_attn.weight": return (qkvw + l * 3 * c * c, c)
        case "attn.c_attn.bias": return (qkvb + l * 3 * c, nil)
        case "attn.c_proj.weight": return (projw + l * c * c, c)
        case "attn.c_proj.bias": return (projb + l * c, nil)
        case "ln_2.weight": return (ln2w + l * c, nil)
        case "ln_2.bias": return (ln2b + l * c, nil)
        case "mlp.c_fc.weight": return (fcw + l * 4 * c * c, c)
        case "mlp.c_fc.bias": return (fcb + l * 4 * c, nil)
        case "mlp.c_proj.weight": return (fcprojw + l * 4 * c * c, 4 * c)
        default: return (fcprojb + l * c, nil)   // "mlp.c_proj.bias"
        }
    }
}
