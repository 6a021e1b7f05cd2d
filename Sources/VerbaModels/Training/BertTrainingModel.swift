// A BERT sequence classifier for training (HF BertForSequenceClassification): word + position +
// token-type embeddings and a layer norm, post-norm encoder blocks with bidirectional attention under a
// padding mask and a GELU-erf MLP, the tanh pooler over [CLS], a linear head, softmax cross-entropy.
// Parameters and gradients in flat buffers (same design as GPTTrainingModel); Q, K and V are fused into
// one (3C, C) matrix internally and split back into HF's query/key/value on export.
import Foundation
import VerbaSupport
import VerbaTensor

/// The shape of a BERT classifier to train.
///
/// ```swift
/// // What ClassifierStart.fromScratch(layers: 2, heads: 4, dim: 128, intermediate: nil) trains, with
/// // BERT's 30,522-token vocabulary, options.maxLength 64 and three labels:
/// let config = BertTrainingConfig(vocabSize: 30_522, maxPositions: 64, layers: 2, heads: 4, dim: 128,
///                                 intermediate: 512, labels: 3)
/// ```
public struct BertTrainingConfig: Equatable, Sendable {
    public var vocabSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layers: Int
    public var heads: Int
    public var dim: Int
    public var intermediate: Int
    public var labels: Int
    public var layerNormEps: Float

    public init(vocabSize: Int, maxPositions: Int, typeVocabSize: Int = 2, layers: Int, heads: Int, dim: Int,
                intermediate: Int, labels: Int, layerNormEps: Float = 1e-12) {
        self.vocabSize = vocabSize; self.maxPositions = maxPositions; self.typeVocabSize = typeVocabSize
        self.layers = layers; self.heads = heads; self.dim = dim; self.intermediate = intermediate
        self.labels = labels; self.layerNormEps = layerNormEps
    }

    package func validate() throws {
        guard vocabSize > 0, maxPositions > 0, typeVocabSize > 0, layers > 0, heads > 0, dim > 0, intermediate > 0, labels > 1 else {
            throw ModelError.invalidInput("BERT config: sizes must be positive and labels ≥ 2 (\(self))")
        }
        guard dim % heads == 0 else { throw ModelError.invalidInput("BERT config: dim \(dim) is not a multiple of heads \(heads)") }
    }

    /// Compact JSON (checkpoints compare it on resume).
    package var jsonSignature: String {
        "{\"vocab_size\":\(vocabSize),\"max_position_embeddings\":\(maxPositions),\"num_hidden_layers\":\(layers),"
            + "\"num_attention_heads\":\(heads),\"hidden_size\":\(dim),\"intermediate_size\":\(intermediate),\"num_labels\":\(labels)}"
    }
}

/// BertForSequenceClassification with parameters, gradients and activations for training. Not thread-safe.
package final class BertTrainingModel: FlatParameterModel {
    public let config: BertTrainingConfig
    package let slices: [ParameterSlice]
    private let params: FloatBuffer
    private let grads: FloatBuffer
    public var parameterCount: Int { params.count }
    package var parameters: UnsafeMutablePointer<Float> { params.pointer }
    package var gradients: UnsafeMutablePointer<Float> { grads.pointer }
    private var offsets: [String: Int] = [:]
    private func o(_ name: String) -> Int { offsets[name]! }

    private var actB = 0, actT = 0, capB = 0, capT = 0
    private var acts: Activations?
    private var lastInputs: [Int32] = [], lastLabels: [Int32] = [], lastMask: [Float] = []

    /// Creates a model initialised as HF does (normal(0, 0.02) weights, zero biases, unit layer norms).
    public init(config: BertTrainingConfig, seed: UInt64) throws {
        try BLAS.load()  // OpenBLAS with the kernels for this CPU, before any product
        try config.validate()
        self.config = config
        let c = config.dim, l = config.layers, i = config.intermediate
        let shapes: [(String, [Int], Bool)] = [
            ("word", [config.vocabSize, c], true), ("pos", [config.maxPositions, c], true), ("type", [config.typeVocabSize, c], true),
            ("embLnW", [c], false), ("embLnB", [c], false),
            ("qkvw", [l, 3 * c, c], true), ("qkvb", [l, 3 * c], false), ("aow", [l, c, c], true), ("aob", [l, c], false),
            ("ln1w", [l, c], false), ("ln1b", [l, c], false), ("iw", [l, i, c], true), ("ib", [l, i], false),
            ("ow", [l, c, i], true), ("ob", [l, c], false), ("ln2w", [l, c], false), ("ln2b", [l, c], false),
            ("poolw", [c, c], true), ("poolb", [c], false), ("clsw", [config.labels, c], true), ("clsb", [config.labels], false),
        ]
        var list: [ParameterSlice] = [], offset = 0
        for (name, shape, decay) in shapes {
            offsets[name] = offset
            list.append(ParameterSlice(name: name, offset: offset, shape: shape, decay: decay))
            offset += shape.reduce(1, *)
        }
        slices = list
        params = FloatBuffer(offset)
        grads = FloatBuffer(offset)
        var rng = SplitMix64(seed: seed)
        for s in list {
            let p = params.pointer + s.offset
            if ["embLnW", "ln1w", "ln2w"].contains(s.name) { p.update(repeating: 1, count: s.count) }
            else if s.decay { for k in 0..<s.count { p[k] = 0.02 * rng.nextGaussian() } }
        }
    }

    /// Re-initialises the pooler-free classification head (normal(0, 0.02), zero bias).
    package func resetClassifier(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let w = params.pointer + o("clsw"), n = config.labels * config.dim
        for k in 0..<n { w[k] = 0.02 * rng.nextGaussian() }
        (params.pointer + o("clsb")).update(repeating: 0, count: config.labels)
    }

    /// The parameter ranges of the head (pooler + classifier), for head-only fine-tuning.
    package var headSlices: [ParameterSlice] { slices.filter { ["poolw", "poolb", "clsw", "clsb"].contains($0.name) } }

    private final class Activations {
        let embSum, embMean, embRstd, xs, qkv, att, atty, res1, h1, ln1Mean, ln1Rstd, inter, interG, res2, ln2Mean, ln2Rstd: FloatBuffer
        let cls, pooled, logits: FloatBuffer
        let dx, dres, dh1, dinter, datty, dqkv, dScratch, dcls, dpooled: FloatBuffer
        init(_ cfg: BertTrainingConfig, b: Int, t: Int) {
            let n = b * t, c = cfg.dim, l = cfg.layers, i = cfg.intermediate
            embSum = FloatBuffer(n * c); embMean = FloatBuffer(n); embRstd = FloatBuffer(n)
            xs = FloatBuffer((l + 1) * n * c)
            qkv = FloatBuffer(l * n * 3 * c); att = FloatBuffer(l * b * cfg.heads * t * t); atty = FloatBuffer(l * n * c)
            res1 = FloatBuffer(l * n * c); h1 = FloatBuffer(l * n * c); ln1Mean = FloatBuffer(l * n); ln1Rstd = FloatBuffer(l * n)
            inter = FloatBuffer(l * n * i); interG = FloatBuffer(l * n * i)
            res2 = FloatBuffer(l * n * c); ln2Mean = FloatBuffer(l * n); ln2Rstd = FloatBuffer(l * n)
            cls = FloatBuffer(b * c); pooled = FloatBuffer(b * c); logits = FloatBuffer(b * cfg.labels)
            dx = FloatBuffer(n * c); dres = FloatBuffer(n * c); dh1 = FloatBuffer(n * c); dinter = FloatBuffer(n * i)
            datty = FloatBuffer(n * c); dqkv = FloatBuffer(n * 3 * c); dScratch = FloatBuffer(b * cfg.heads * t * t)
            dcls = FloatBuffer(b * c); dpooled = FloatBuffer(b * c)
        }
    }

    /// Runs the classifier on `inputs` (B·T ids) with `mask` (B·T, 1 for tokens, 0 for padding);
    /// token types are all 0. With `labels` (B), returns the mean cross-entropy and keeps what
    /// `backward` needs; the class probabilities (B, labels) are then in `probabilities`.
    @discardableResult
    package func forward(inputs: [Int32], mask: [Float], labels: [Int32]?, batch b: Int, time t: Int) throws -> Float {
        let cfg = config
        guard b > 0, t > 0, t <= cfg.maxPositions, inputs.count == b * t, mask.count == b * t else {
            throw ModelError.invalidInput("BERT forward: need B·T = \(b)·\(t) inputs and mask entries with T ≤ \(cfg.maxPositions)")
        }
        for id in inputs where id < 0 || Int(id) >= cfg.vocabSize {
            throw ModelError.invalidInput("BERT forward: token id \(id) outside the vocabulary (\(cfg.vocabSize))")
        }
        if let lb = labels {
            guard lb.count == b, lb.allSatisfy({ $0 >= 0 && Int($0) < cfg.labels }) else {
                throw ModelError.invalidInput("BERT forward: need \(b) labels in 0..<\(cfg.labels)")
            }
        }
        if acts == nil || b > capB || t > capT {   // buffers are reused for any smaller (B, T)
            acts = nil
            capB = max(b, capB); capT = max(t, capT)
            acts = Activations(cfg, b: capB, t: capT)
        }
        actB = b; actT = t
        let a = acts!, n = b * t, c = cfg.dim, ic = cfg.intermediate, p = params.pointer, eps = cfg.layerNormEps
        lastInputs = inputs; lastMask = mask
        for r in 0..<n {
            let out = a.embSum.pointer + r * c, w = p + o("word") + Int(inputs[r]) * c
            let pe = p + o("pos") + (r % t) * c, te = p + o("type")
            for j in 0..<c { out[j] = w[j] + pe[j] + te[j] }
        }
        layerNormForward(a.xs.pointer, mean: a.embMean.pointer, rstd: a.embRstd.pointer, a.embSum.pointer,
                         p + o("embLnW"), p + o("embLnB"), n: n, c: c, eps: eps)
        try mask.withUnsafeBufferPointer { m in
            guard let mp = m.baseAddress else { throw ModelError.invalidInput("empty mask") }
            for l in 0..<cfg.layers {
                let nc = n * c
                let x = a.xs.pointer + l * nc, qkv = a.qkv.pointer + l * 3 * nc, atty = a.atty.pointer + l * nc
                let att = a.att.pointer + l * b * cfg.heads * t * t
                let res1 = a.res1.pointer + l * nc, h1 = a.h1.pointer + l * nc, res2 = a.res2.pointer + l * nc
                let inter = a.inter.pointer + l * n * ic, interG = a.interG.pointer + l * n * ic
                linearForward(qkv, x, p + o("qkvw") + l * 3 * c * c, p + o("qkvb") + l * 3 * c, n: n, inC: c, outC: 3 * c)
                attentionForward(atty, att: att, qkv: qkv, keyMask: mp, causal: false, b: b, t: t, c: c, heads: cfg.heads)
                linearForward(res1, atty, p + o("aow") + l * c * c, p + o("aob") + l * c, n: n, inC: c, outC: c)
                addInPlace(res1, x, count: nc)
                layerNormForward(h1, mean: a.ln1Mean.pointer + l * n, rstd: a.ln1Rstd.pointer + l * n, res1,
                                 p + o("ln1w") + l * c, p + o("ln1b") + l * c, n: n, c: c, eps: eps)
                linearForward(inter, h1, p + o("iw") + l * ic * c, p + o("ib") + l * ic, n: n, inC: c, outC: ic)
                geluForward(interG, inter, count: n * ic, kind: .erf)
                linearForward(res2, interG, p + o("ow") + l * c * ic, p + o("ob") + l * c, n: n, inC: ic, outC: c)
                addInPlace(res2, h1, count: nc)
                layerNormForward(a.xs.pointer + (l + 1) * nc, mean: a.ln2Mean.pointer + l * n, rstd: a.ln2Rstd.pointer + l * n,
                                 res2, p + o("ln2w") + l * c, p + o("ln2b") + l * c, n: n, c: c, eps: eps)
            }
        }
        let last = a.xs.pointer + cfg.layers * n * c
        for bi in 0..<b { (a.cls.pointer + bi * c).update(from: last + bi * t * c, count: c) }
        linearForward(a.pooled.pointer, a.cls.pointer, p + o("poolw"), p + o("poolb"), n: b, inC: c, outC: c)
        for k in 0..<(b * c) { a.pooled.pointer[k] = tanhf(a.pooled.pointer[k]) }
        linearForward(a.logits.pointer, a.pooled.pointer, p + o("clsw"), p + o("clsb"), n: b, inC: c, outC: cfg.labels)
        let targets = labels ?? [Int32](repeating: -1, count: b)
        lastLabels = labels ?? []
        let total = targets.withUnsafeBufferPointer {
            softmaxCrossEntropyForward(a.logits.pointer, targets: $0.baseAddress!, n: b, v: cfg.labels)
        }
        return Float(total / Double(b))
    }

    /// Class probabilities (B, labels) of the last forward.
    package var probabilities: [Float] {
        guard let a = acts else { return [] }
        return Array(UnsafeBufferPointer(start: a.logits.pointer, count: actB * config.labels))
    }

    /// Back-propagates the last forward's loss × `lossScale` into `gradients`. With `headOnly`, stops
    /// after the pooler (the encoder's gradients stay untouched).
    package func backward(lossScale: Float = 1, headOnly: Bool = false) {
        precondition(acts != nil && !lastLabels.isEmpty, "backward needs a forward with labels")
        let a = acts!, cfg = config, b = actB, t = actT, n = b * t, c = cfg.dim, ic = cfg.intermediate
        let p = params.pointer, g = grads.pointer, nc = n * c
        lastLabels.withUnsafeBufferPointer {
            softmaxCrossEntropyBackward(a.logits.pointer, targets: $0.baseAddress!, n: b, v: cfg.labels, scale: lossScale / Float(b))
        }
        linearBackward(dinp: a.dpooled.pointer, dw: g + o("clsw"), dbias: g + o("clsb"), dout: a.logits.pointer,
                       inp: a.pooled.pointer, w: p + o("clsw"), n: b, inC: c, outC: cfg.labels)
        for k in 0..<(b * c) { let y = a.pooled.pointer[k]; a.dpooled.pointer[k] *= 1 - y * y }
        linearBackward(dinp: a.dcls.pointer, dw: g + o("poolw"), dbias: g + o("poolb"), dout: a.dpooled.pointer,
                       inp: a.cls.pointer, w: p + o("poolw"), n: b, inC: c, outC: c)
        if headOnly { return }
        let dx = a.dx.pointer, dres = a.dres.pointer, dh1 = a.dh1.pointer
        a.dx.zero()
        for bi in 0..<b { (dx + bi * t * c).update(from: a.dcls.pointer + bi * c, count: c) }
        for l in stride(from: cfg.layers - 1, through: 0, by: -1) {
            let x = a.xs.pointer + l * nc, qkv = a.qkv.pointer + l * 3 * nc, atty = a.atty.pointer + l * nc
            let att = a.att.pointer + l * b * cfg.heads * t * t
            let res1 = a.res1.pointer + l * nc, h1 = a.h1.pointer + l * nc, res2 = a.res2.pointer + l * nc
            let inter = a.inter.pointer + l * n * ic, interG = a.interG.pointer + l * n * ic
            a.dres.zero()
            layerNormBackward(dx: dres, dw: g + o("ln2w") + l * c, db: g + o("ln2b") + l * c, dout: dx, x: res2,
                              w: p + o("ln2w") + l * c, mean: a.ln2Mean.pointer + l * n, rstd: a.ln2Rstd.pointer + l * n, n: n, c: c)
            dh1.update(from: dres, count: nc)
            linearBackward(dinp: a.dinter.pointer, dw: g + o("ow") + l * c * ic, dbias: g + o("ob") + l * c, dout: dres,
                           inp: interG, w: p + o("ow") + l * c * ic, n: n, inC: ic, outC: c)
            geluBackward(dx: a.dinter.pointer, x: inter, dout: a.dinter.pointer, count: n * ic, kind: .erf)
            linearBackward(dinp: dh1, dw: g + o("iw") + l * ic * c, dbias: g + o("ib") + l * ic, dout: a.dinter.pointer,
                           inp: h1, w: p + o("iw") + l * ic * c, n: n, inC: c, outC: ic, accumulateInput: true)
            a.dres.zero()
            layerNormBackward(dx: dres, dw: g + o("ln1w") + l * c, db: g + o("ln1b") + l * c, dout: dh1, x: res1,
                              w: p + o("ln1w") + l * c, mean: a.ln1Mean.pointer + l * n, rstd: a.ln1Rstd.pointer + l * n, n: n, c: c)
            dx.update(from: dres, count: nc)
            linearBackward(dinp: a.datty.pointer, dw: g + o("aow") + l * c * c, dbias: g + o("aob") + l * c, dout: dres,
                           inp: atty, w: p + o("aow") + l * c * c, n: n, inC: c, outC: c)
            a.dqkv.zero()
            attentionBackward(dqkv: a.dqkv.pointer, dout: a.datty.pointer, att: att, qkv: qkv, scratch: a.dScratch.pointer,
                              causal: false, b: b, t: t, c: c, heads: cfg.heads)
            linearBackward(dinp: dx, dw: g + o("qkvw") + l * 3 * c * c, dbias: g + o("qkvb") + l * 3 * c, dout: a.dqkv.pointer,
                           inp: x, w: p + o("qkvw") + l * 3 * c * c, n: n, inC: c, outC: 3 * c, accumulateInput: true)
        }
        a.dres.zero()
        layerNormBackward(dx: dres, dw: g + o("embLnW"), db: g + o("embLnB"), dout: dx, x: a.embSum.pointer,
                          w: p + o("embLnW"), mean: a.embMean.pointer, rstd: a.embRstd.pointer, n: n, c: c)
        for r in 0..<n {
            let d = dres + r * c, gw = g + o("word") + Int(lastInputs[r]) * c, gp = g + o("pos") + (r % t) * c, gt = g + o("type")
            for j in 0..<c { gw[j] += d[j]; gp[j] += d[j]; gt[j] += d[j] }
        }
    }
}

// MARK: - Hugging Face BertForSequenceClassification layout

extension BertTrainingModel {
    /// HF tensor names with their (offset, shape) in the flat buffer; all in nn.Linear (out, in) layout.
    package func huggingFaceLayout() -> [(name: String, offset: Int, shape: [Int])] {
        let c = config.dim, ic = config.intermediate
        var out: [(String, Int, [Int])] = [
            ("bert.embeddings.word_embeddings.weight", o("word"), [config.vocabSize, c]),
            ("bert.embeddings.position_embeddings.weight", o("pos"), [config.maxPositions, c]),
            ("bert.embeddings.token_type_embeddings.weight", o("type"), [config.typeVocabSize, c]),
            ("bert.embeddings.LayerNorm.weight", o("embLnW"), [c]), ("bert.embeddings.LayerNorm.bias", o("embLnB"), [c]),
        ]
        for l in 0..<config.layers {
            let h = "bert.encoder.layer.\(l)."
            for (k, part) in ["query", "key", "value"].enumerated() {
                out.append((h + "attention.self.\(part).weight", o("qkvw") + l * 3 * c * c + k * c * c, [c, c]))
                out.append((h + "attention.self.\(part).bias", o("qkvb") + l * 3 * c + k * c, [c]))
            }
            out += [
                (h + "attention.output.dense.weight", o("aow") + l * c * c, [c, c]), (h + "attention.output.dense.bias", o("aob") + l * c, [c]),
                (h + "attention.output.LayerNorm.weight", o("ln1w") + l * c, [c]), (h + "attention.output.LayerNorm.bias", o("ln1b") + l * c, [c]),
                (h + "intermediate.dense.weight", o("iw") + l * ic * c, [ic, c]), (h + "intermediate.dense.bias", o("ib") + l * ic, [ic]),
                (h + "output.dense.weight", o("ow") + l * c * ic, [c, ic]), (h + "output.dense.bias", o("ob") + l * c, [c]),
                (h + "output.LayerNorm.weight", o("ln2w") + l * c, [c]), (h + "output.LayerNorm.bias", o("ln2b") + l * c, [c]),
            ]
        }
        out += [("bert.pooler.dense.weight", o("poolw"), [c, c]), ("bert.pooler.dense.bias", o("poolb"), [c]),
                ("classifier.weight", o("clsw"), [config.labels, c]), ("classifier.bias", o("clsb"), [config.labels])]
        return out
    }

    /// A flat buffer (parameters or gradients) as HF-named arrays.
    package func huggingFaceView(of buffer: UnsafePointer<Float>) -> [String: [Float]] {
        var result: [String: [Float]] = [:]
        for t in huggingFaceLayout() { result[t.name] = Array(UnsafeBufferPointer(start: buffer + t.offset, count: t.shape.reduce(1, *))) }
        return result
    }

    /// Loads HF-named tensors (names tried with and without the `bert.` prefix, as a bare BertModel
    /// stores them). Returns the names that were absent; `required` ones absent throw.
    @discardableResult
    package func loadHuggingFace(from source: String, optional: Set<String> = [],
                                _ lookup: (String) throws -> (shape: [Int], values: [Float])?) throws -> [String] {
        var missing: [String] = []
        for t in huggingFaceLayout() {
            let bare = t.name.hasPrefix("bert.") ? String(t.name.dropFirst(5)) : t.name
            guard let (shape, values) = try lookup(t.name) ?? lookup(bare) else {
                if optional.contains(t.name) { missing.append(t.name); continue }
                throw ModelError.missingTensor(path: source, name: t.name)
            }
            guard shape == t.shape, values.count == t.shape.reduce(1, *) else {
                throw ModelError.wrongShape(path: source, name: t.name, expected: t.shape, actual: shape)
            }
            values.withUnsafeBufferPointer { (params.pointer + t.offset).update(from: $0.baseAddress!, count: values.count) }
        }
        return missing
    }
}
