import Foundation
@testable import VerbaModels
@testable import VerbaTensor
import VerbaSupport
import XCTest

/// Llama-architecture training checked against PyTorch (scripts/fixtures/llama_training.py →
/// Tests/Fixtures/training/llama*.{json,bin}): loss and every gradient of transformers' LlamaForCausalLM
/// (grouped-query attention, tied and untied embeddings) on a fixed batch, the losses of 10 AdamW steps,
/// the exported folder read by the inference engine, exact resumption; and the backward of each new op
/// (RMSNorm, RoPE, SwiGLU, grouped-query attention) against finite differences of its forward.
final class LlamaTrainingTests: XCTestCase {
    private func model(_ f: TrainingFixture) throws -> LlamaTrainingModel {
        let cfg = LlamaTrainingConfig(vocabSize: f.int("vocab_size"), context: f.int("context"), layers: f.int("layers"),
                                      heads: f.int("heads"), kvHeads: f.int("kv_heads"), dim: f.int("dim"),
                                      ffnDim: f.int("ffn_dim"), ropeTheta: f.meta["rope_theta"] as! Double,
                                      rmsNormEps: Float(f.meta["rms_norm_eps"] as! Double), tieEmbeddings: f.meta["tied"] as! Bool)
        let model = try LlamaTrainingModel(config: cfg, seed: 7)
        try model.loadHuggingFace(from: "llama fixture") { f.tensor("param/" + $0) }
        return model
    }

    private func batches(_ f: TrainingFixture) -> [([Int32], [Int32])] {
        f.batches.map { (($0["inputs"] as! [Int]).map { Int32($0) }, ($0["targets"] as! [Int]).map { Int32($0) }) }
    }

    private static let fixtures = ["llama", "llama-untied"]

    func testLlamaGradientsMatchPyTorch() throws {
        for name in Self.fixtures {
            let f = try TrainingFixture(name)
            let model = try model(f)
            let batch = batches(f)[0]
            model.zeroGradients()
            let loss = try model.forward(inputs: batch.0, targets: batch.1, batch: f.int("batch"), time: f.int("time"))
            XCTAssertEqual(Double(loss), f.meta["loss"] as! Double, accuracy: 1e-5, name)
            model.backward()
            let view = model.huggingFaceView(of: model.gradients)
            XCTAssertEqual(view.count, (f.meta["tensors"] as! [String: Any]).count / 2, "\(name): every tensor compared")
            let worst = assertGradients(view, f)
            print("\(name): loss \(loss) (PyTorch \(f.meta["loss"] as! Double)), largest gradient error "
                  + "\(worst) of the tensor's largest gradient")
        }
    }

    func testLlamaTenAdamWStepsMatchPyTorch() throws {
        for name in Self.fixtures {
            let f = try TrainingFixture(name)
            let model = try model(f)
            let optimizer = AdamW(count: model.parameterCount, slices: model.slices, weightDecay: f.weightDecay)
            let batches = batches(f)
            for (step, expected) in f.stepLosses.enumerated() {
                model.zeroGradients()
                var loss: Float = 0
                for b in batches {
                    loss += try model.forward(inputs: b.0, targets: b.1, batch: f.int("batch"), time: f.int("time")) / Float(batches.count)
                    model.backward(lossScale: 1 / Float(batches.count))
                }
                XCTAssertEqual(Double(loss), expected, accuracy: 1e-4, "\(name) step \(step)")
                clipGradientNorm(model.gradients, count: model.parameterCount, maxNorm: f.clip)
                optimizer.update(parameters: model.parameters, gradients: model.gradients,
                                 lr: learningRate(step: step, total: f.stepLosses.count, warmup: f.warmup, maxLR: f.lr))
            }
        }
    }

    /// The exported folder, loaded by the inference engine (`loadCausalLM` → LlamaModel), gives the
    /// trainer's logits, and reloads into a training model unchanged.
    func testExportedLlamaFolderMatchesTrainerForward() throws {
        for name in Self.fixtures {
            let f = try TrainingFixture(name)
            let model = try model(f)
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-llama-export-\(getpid())").path
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try model.exportHuggingFace(to: folder, bosId: 0, eosId: 0)
            let ids = batches(f)[0].0.prefix(f.int("time")).map { Int($0) }
            try model.forward(inputs: ids.map { Int32($0) }, targets: nil, batch: 1, time: ids.count)
            let mine = Array(try XCTUnwrap(model.logits))
            let inference = try XCTUnwrap(try loadCausalLM(folder: folder) as? LlamaModel)
            XCTAssertEqual(inference.config.kvHeadCount, f.int("kv_heads"))
            XCTAssertEqual(inference.config.tieWordEmbeddings, f.meta["tied"] as! Bool)
            let v = f.int("vocab_size")
            var rows = 0
            try inference.forEachLogits(ids, cache: inference.makeCache()) { t, row in
                for j in 0..<v { XCTAssertEqual(row[j], mine[t * v + j], accuracy: 1e-4, "\(name) position \(t) logit \(j)") }
                rows += 1
            }
            XCTAssertEqual(rows, ids.count)
            let reloaded = try LlamaTrainingModel.loadHuggingFace(folder: folder)
            XCTAssertEqual(reloaded.config, model.config)
            for i in 0..<model.parameterCount { XCTAssertEqual(reloaded.parameters[i], model.parameters[i]) }
        }
    }

    /// A Llama run interrupted after a checkpoint and resumed ends with exactly the parameters of an
    /// uninterrupted one; a GPT checkpoint is refused.
    func testLlamaCheckpointResumeIsExact() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-llama-resume-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 9)
        let tokens = TokenFile(tokens: (0..<6000).map { _ in Int32(rng.nextInt(50)) }, vocabSize: 50)
        var o = LMTrainingOptions()
        o.architecture = .llama; o.kvHeads = 1; o.ffnDim = 24
        o.layers = 2; o.heads = 2; o.dim = 16; o.context = 8; o.batchSize = 4; o.steps = 6; o.warmup = 2
        o.evalEvery = 3; o.evalBatches = 2; o.checkpointEvery = 2; o.blockSize = 200; o.learningRate = 3e-3
        let full = try LMTrainer(options: o, tokens: tokens, outputFolder: dir + "/full", checkpointPath: dir + "/full/ckpt",
                                 eosId: nil, resume: false)
        XCTAssertTrue(full.model is LlamaTrainingModel)
        try full.run { _ in }
        let first = try LMTrainer(options: o, tokens: tokens, outputFolder: dir + "/part", checkpointPath: dir + "/part/ckpt",
                                  eosId: nil, resume: false)
        try first.runSteps(until: 4) { _ in }
        let second = try LMTrainer(options: o, tokens: tokens, outputFolder: dir + "/part", checkpointPath: dir + "/part/ckpt",
                                   eosId: nil, resume: true)
        XCTAssertEqual(second.startStep, 4)
        try second.run { _ in }
        for i in 0..<full.model.parameterCount { XCTAssertEqual(full.model.parameters[i], second.model.parameters[i]) }
        let config = try String(contentsOfFile: dir + "/part/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"LlamaForCausalLM\""))
        var gpt = o
        gpt.architecture = .gpt2
        XCTAssertThrowsError(try LMTrainer(options: gpt, tokens: tokens, outputFolder: dir + "/part",
                                           checkpointPath: dir + "/part/ckpt", eosId: nil, resume: true)) {
            XCTAssertTrue("\($0)".contains("not a verba gpt checkpoint"), "\($0)")
        }
    }

    // MARK: - Each backward against finite differences of its forward

    /// Checks `analytic` (∂L/∂x) against central differences of `loss` at `x`, step `h`: every entry within
    /// `tolerance` of the largest analytic magnitude.
    private func checkGradient(_ x: [Float], analytic: [Float], h: Float = 1e-2, tolerance: Double = 2e-3, _ what: String,
                               loss: ([Float]) -> Double) {
        XCTAssertEqual(x.count, analytic.count, what)
        let scale = Double(analytic.map { abs($0) }.max() ?? 0)
        XCTAssertGreaterThan(scale, 0, "\(what): gradient is all zero")
        var worst = 0.0
        for i in 0..<x.count {
            var plus = x, minus = x
            plus[i] += h; minus[i] -= h
            let numeric = (loss(plus) - loss(minus)) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(analytic[i])))
        }
        XCTAssertLessThanOrEqual(worst, tolerance * scale, what)
    }

    private func randoms(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in scale * rng.nextGaussian() }
    }

    /// L = Σ w ∘ out, in Double.
    private func weighted(_ out: [Float], _ w: [Float]) -> Double {
        zip(out, w).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    func testRMSNormBackward() {
        var rng = SplitMix64(seed: 1)
        let rows = 3, c = 12, eps: Float = 1e-5
        let x = randoms(rows * c, &rng), weight = randoms(c, &rng), w = randoms(rows * c, &rng)
        func forward(_ x: [Float], _ g: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: rows * c)
            rmsNorm(x, &out, weight: g, rows: rows, n: c, eps: eps)
            return out
        }
        var dx = [Float](repeating: 0, count: rows * c), dw = [Float](repeating: 0, count: c)
        rmsNormBackward(dx: &dx, dw: &dw, dout: w, x: x, w: weight, n: rows, c: c, eps: eps)
        checkGradient(x, analytic: dx, "RMSNorm dx") { weighted(forward($0, weight), w) }
        checkGradient(weight, analytic: dw, "RMSNorm dw") { weighted(forward(x, $0), w) }
    }

    func testRotaryBackward() {
        var rng = SplitMix64(seed: 2)
        let heads = 3, hd = 8
        let (cosines, sines) = rotaryTables(positions: 6, inverseFrequencies: (0..<(hd / 2)).map { 1 / powf(100, Float(2 * $0) / Float(hd)) })
        let position = 5
        let cs = Array(cosines[(position * hd / 2)...].prefix(hd / 2)), sn = Array(sines[(position * hd / 2)...].prefix(hd / 2))
        let x = randoms(heads * hd, &rng), w = randoms(heads * hd, &rng)
        func forward(_ x: [Float]) -> [Float] {
            var out = x
            applyRotary(&out, heads: heads, headSize: hd, cos: cs, sin: sn)
            return out
        }
        var dx = w
        rotaryBackward(&dx, heads: heads, headSize: hd, cos: cs, sin: sn)
        checkGradient(x, analytic: dx, "RoPE dx") { weighted(forward($0), w) }
    }

    func testSwiGLUBackward() {
        var rng = SplitMix64(seed: 3)
        let n = 3, width = 10
        let gateUp = randoms(n * 2 * width, &rng, scale: 2), w = randoms(n * width, &rng)
        func forward(_ gu: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: n * width)
            swigluForward(&out, gateUp: gu, n: n, width: width)
            return out
        }
        var reference = gateUp
        for r in 0..<n {   // the forward is the plain silu(gate)·up
            for j in 0..<width { let g = Double(gateUp[r * 2 * width + j]); reference[r * width + j] = Float(g / (1 + exp(-g)) * Double(gateUp[r * 2 * width + width + j])) }
        }
        let out = forward(gateUp)
        for i in 0..<(n * width) { XCTAssertEqual(out[i], reference[i], accuracy: 1e-5) }
        var d = [Float](repeating: 0, count: n * 2 * width)
        swigluBackward(dgateUp: &d, dout: w, gateUp: gateUp, n: n, width: width)
        checkGradient(gateUp, analytic: d, "SwiGLU d[gate|up]") { weighted(forward($0), w) }
    }

    /// Grouped-query attention (4 query heads over 2 and 1 key/value heads) and plain multi-head
    /// attention (4 and 4) against finite differences.
    func testGroupedQueryAttentionBackward() {
        for kvHeads in [2, 1, 4] {
            var rng = SplitMix64(seed: UInt64(10 + kvHeads))
            let b = 2, t = 5, heads = 4, hs = 4, c = heads * hs, stride = c + 2 * kvHeads * hs
            let qkv = randoms(b * t * stride, &rng), w = randoms(b * t * c, &rng)
            func forward(_ qkv: [Float]) -> [Float] {
                var out = [Float](repeating: 0, count: b * t * c), att = [Float](repeating: 0, count: b * heads * t * t)
                attentionForward(&out, att: &att, qkv: qkv, keyMask: nil, causal: true, b: b, t: t, c: c, heads: heads, kvHeads: kvHeads)
                return out
            }
            var out = [Float](repeating: 0, count: b * t * c), att = [Float](repeating: 0, count: b * heads * t * t)
            attentionForward(&out, att: &att, qkv: qkv, keyMask: nil, causal: true, b: b, t: t, c: c, heads: heads, kvHeads: kvHeads)
            var dqkv = [Float](repeating: 0, count: qkv.count), scratch = [Float](repeating: 0, count: b * heads * t * t)
            attentionBackward(dqkv: &dqkv, dout: w, att: att, qkv: qkv, scratch: &scratch, causal: true, b: b, t: t, c: c,
                              heads: heads, kvHeads: kvHeads)
            checkGradient(qkv, analytic: dqkv, "attention dqkv, \(kvHeads) kv heads") { weighted(forward($0), w) }
        }
    }
}
