import Foundation
@testable import VerbaModels
@testable import VerbaTensor
import VerbaSupport
import XCTest

/// A reference fixture of Tests/Fixtures/training/ (NAME.json + NAME.bin, see scripts/fixtures/training.py).
struct TrainingFixture {
    let meta: [String: Any]
    let floats: [Float]
    init(_ name: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/training")
        let json = try Data(contentsOf: root.appendingPathComponent(name + ".json"))
        meta = try XCTUnwrap(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let data = try Data(contentsOf: root.appendingPathComponent(name + ".bin"))
        floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    func int(_ key: String) -> Int { meta[key] as! Int }
    func tensor(_ name: String) -> (shape: [Int], values: [Float])? {
        guard let e = (meta["tensors"] as? [String: Any])?[name] as? [String: Any],
              let offset = e["offset"] as? Int, let shape = e["shape"] as? [Int] else { return nil }
        return (shape, Array(floats[offset..<(offset + shape.reduce(1, *))]))
    }
    var batches: [[String: Any]] { meta["batches"] as! [[String: Any]] }
    var stepLosses: [Double] { meta["step_losses"] as! [Double] }
    var weightDecay: Float { Float(meta["weight_decay"] as! Double) }
    var lr: Float { Float(meta["lr"] as! Double) }
    var warmup: Int { meta["warmup"] as! Int }
    var clip: Float { Float(meta["clip"] as! Double) }
}

/// Every gradient tensor within 1e-4 of the reference, relative to the tensor's largest reference
/// magnitude (floored at 1e-6 for tensors whose gradient is mathematically zero, e.g. key biases).
/// Returns the largest such relative error.
@discardableResult
func assertGradients(_ mine: [String: [Float]], _ fixture: TrainingFixture, file: StaticString = #filePath, line: UInt = #line) -> Float {
    var checked = 0
    var worst: Float = 0
    for (name, values) in mine {
        guard let ref = fixture.tensor("grad/" + name) else { XCTFail("no reference gradient for \(name)"); continue }
        XCTAssertEqual(ref.values.count, values.count, name)
        var maxRef: Float = 0, maxDiff: Float = 0
        for i in 0..<min(ref.values.count, values.count) {
            maxRef = max(maxRef, abs(ref.values[i]))
            maxDiff = max(maxDiff, abs(ref.values[i] - values[i]))
        }
        XCTAssertLessThanOrEqual(maxDiff, 1e-4 * max(maxRef, 1e-6), "gradient of \(name)", file: file, line: line)
        worst = max(worst, maxDiff / max(maxRef, 1e-6))
        checked += 1
    }
    XCTAssertGreaterThan(checked, 10)
    return worst
}

/// Training checked against PyTorch (scripts/fixtures/training.py → Tests/Fixtures/training/): gradients
/// of a small GPT-2 and a small BERT classifier on a fixed batch, and the losses of 10 AdamW steps with
/// gradient accumulation, clipping and the warmup + cosine schedule.
final class TrainingTests: XCTestCase {
    private typealias Fixture = TrainingFixture

    private func gptModel(_ f: Fixture) throws -> GPTTrainingModel {
        let cfg = GPTTrainingConfig(vocabSize: f.int("vocab_size"), context: f.int("context"), layers: f.int("layers"),
                                    heads: f.int("heads"), dim: f.int("dim"))
        let model = try GPTTrainingModel(config: cfg, seed: 7)
        try model.loadHuggingFace(from: "gpt fixture") { f.tensor("param/" + $0) }
        return model
    }

    private func gptBatches(_ f: Fixture) -> [([Int32], [Int32])] {
        f.batches.map { (($0["inputs"] as! [Int]).map { Int32($0) }, ($0["targets"] as! [Int]).map { Int32($0) }) }
    }

    func testGPTGradientsMatchPyTorch() throws {
        let f = try Fixture("gpt")
        let model = try gptModel(f)
        let batch = gptBatches(f)[0]
        model.zeroGradients()
        let loss = try model.forward(inputs: batch.0, targets: batch.1, batch: f.int("batch"), time: f.int("time"))
        XCTAssertEqual(Double(loss), f.meta["loss"] as! Double, accuracy: 1e-5)
        model.backward()
        assertGradients(model.huggingFaceView(of: model.gradients), f)
    }

    func testGPTTenAdamWStepsMatchPyTorch() throws {
        let f = try Fixture("gpt")
        let model = try gptModel(f)
        let optimizer = AdamW(count: model.parameterCount, slices: model.slices, weightDecay: f.weightDecay)
        let batches = gptBatches(f)
        for (step, expected) in f.stepLosses.enumerated() {
            model.zeroGradients()
            var loss: Float = 0
            for b in batches {
                loss += try model.forward(inputs: b.0, targets: b.1, batch: f.int("batch"), time: f.int("time")) / Float(batches.count)
                model.backward(lossScale: 1 / Float(batches.count))
            }
            XCTAssertEqual(Double(loss), expected, accuracy: 1e-4, "step \(step)")
            clipGradientNorm(model.gradients, count: model.parameterCount, maxNorm: f.clip)
            optimizer.update(parameters: model.parameters, gradients: model.gradients,
                             lr: learningRate(step: step, total: f.stepLosses.count, warmup: f.warmup, maxLR: f.lr))
        }
    }

    private func bertModel(_ f: Fixture) throws -> BertTrainingModel {
        let cfg = BertTrainingConfig(vocabSize: f.int("vocab_size"), maxPositions: f.int("max_positions"),
                                     typeVocabSize: f.int("type_vocab_size"), layers: f.int("layers"), heads: f.int("heads"),
                                     dim: f.int("dim"), intermediate: f.int("intermediate"), labels: f.int("labels"))
        let model = try BertTrainingModel(config: cfg, seed: 7)
        try model.loadHuggingFace(from: "bert fixture") { f.tensor("param/" + $0) }
        return model
    }

    private func bertBatches(_ f: Fixture) -> [([Int32], [Float], [Int32])] {
        f.batches.map { (($0["inputs"] as! [Int]).map { Int32($0) }, ($0["mask"] as! [Int]).map { Float($0) },
                         ($0["labels"] as! [Int]).map { Int32($0) }) }
    }

    func testBertClassifierGradientsMatchPyTorch() throws {
        let f = try Fixture("bert")
        let model = try bertModel(f)
        let b = bertBatches(f)[0]
        model.zeroGradients()
        let loss = try model.forward(inputs: b.0, mask: b.1, labels: b.2, batch: f.int("batch"), time: f.int("time"))
        XCTAssertEqual(Double(loss), f.meta["loss"] as! Double, accuracy: 1e-5)
        model.backward()
        assertGradients(model.huggingFaceView(of: model.gradients), f)
    }

    func testBertClassifierTenAdamWStepsMatchPyTorch() throws {
        let f = try Fixture("bert")
        let model = try bertModel(f)
        let optimizer = AdamW(count: model.parameterCount, slices: model.slices, weightDecay: f.weightDecay)
        let batches = bertBatches(f)
        for (step, expected) in f.stepLosses.enumerated() {
            model.zeroGradients()
            var loss: Float = 0
            for b in batches {
                loss += try model.forward(inputs: b.0, mask: b.1, labels: b.2, batch: f.int("batch"), time: f.int("time")) / Float(batches.count)
                model.backward(lossScale: 1 / Float(batches.count))
            }
            XCTAssertEqual(Double(loss), expected, accuracy: 1e-4, "step \(step)")
            clipGradientNorm(model.gradients, count: model.parameterCount, maxNorm: f.clip)
            optimizer.update(parameters: model.parameters, gradients: model.gradients,
                             lr: learningRate(step: step, total: f.stepLosses.count, warmup: f.warmup, maxLR: f.lr))
        }
    }

    /// The exported HF folder, loaded by the inference engine (GPT2Model), gives the trainer's logits.
    func testExportedGPTFolderMatchesTrainerForward() throws {
        let f = try Fixture("gpt")
        let model = try gptModel(f)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-train-export-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try model.exportHuggingFace(to: folder)
        let ids = gptBatches(f)[0].0.prefix(f.int("time")).map { Int($0) }
        try model.forward(inputs: ids.map { Int32($0) }, targets: nil, batch: 1, time: ids.count)
        let mine = Array(try XCTUnwrap(model.logits))
        let inference = try GPT2Model(folder: folder)
        let theirs = try inference.allLogits(ids)
        let v = f.int("vocab_size")
        XCTAssertEqual(theirs.count, ids.count)
        for (t, row) in theirs.enumerated() {
            for j in 0..<v { XCTAssertEqual(row[j], mine[t * v + j], accuracy: 1e-4, "position \(t) logit \(j)") }
        }
        // And the folder round-trips into a training model.
        let reloaded = try GPTTrainingModel.loadHuggingFace(folder: folder)
        XCTAssertEqual(reloaded.parameterCount, model.parameterCount)
        for i in 0..<model.parameterCount { XCTAssertEqual(reloaded.parameters[i], model.parameters[i]) }
    }

    func testScheduleAndClipping() {
        XCTAssertEqual(learningRate(step: 0, total: 100, warmup: 10, maxLR: 1), 0.1, accuracy: 1e-6)
        XCTAssertEqual(learningRate(step: 9, total: 100, warmup: 10, maxLR: 1), 1, accuracy: 1e-6)
        XCTAssertEqual(learningRate(step: 99, total: 100, warmup: 10, maxLR: 1), 0.1, accuracy: 1e-6)
        var g: [Float] = [3, 4]
        let norm = g.withUnsafeMutableBufferPointer { clipGradientNorm($0.baseAddress!, count: 2, maxNorm: 1) }
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(g[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(g[1], 0.8, accuracy: 1e-5)
    }

    func testTokenFileRoundTripAndSplit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-tokens-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for vocab in [300, 70_000] {
            let tokens = (0..<5000).map { Int32(($0 * 7919) % vocab) }
            let path = dir.appendingPathComponent("t\(vocab).bin").path
            try TokenFile(tokens: tokens, vocabSize: vocab).write(to: path)
            let back = try TokenFile.read(path: path)
            XCTAssertEqual(back.tokens, tokens)
            XCTAssertEqual(back.vocabSize, vocab)
        }
        let bad = dir.appendingPathComponent("bad.bin").path
        try Data("nope".utf8).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try TokenFile.read(path: bad)) { XCTAssertTrue("\($0)".contains("bad.bin")) }
        let split = try TokenSplit(count: 5000, time: 16, blockSize: 100, validationEvery: 10)
        XCTAssertEqual(split.trainTokens + split.validationTokens, 5000)
        XCTAssertEqual(split.validation.count, 5)
        for s in split.validationWindows() { XCTAssertTrue(split.validation.contains { $0.contains(s) && $0.contains(s + 16) }) }
        var a: [Int32] = [], b: [Int32] = [], a2: [Int32] = [], b2: [Int32] = []
        let tokens = (0..<5000).map { Int32($0) }
        split.trainBatch(tokens: tokens, batch: 8, seed: 1, step: 3, micro: 0, inputs: &a, targets: &b)
        split.trainBatch(tokens: tokens, batch: 8, seed: 1, step: 3, micro: 0, inputs: &a2, targets: &b2)
        XCTAssertEqual(a, a2)
        for i in 0..<a.count {
            XCTAssertEqual(b[i], a[i] + 1)
            XCTAssertFalse(split.validation.contains { $0.contains(Int(a[i])) })
        }
    }

    /// A run interrupted after a checkpoint and resumed ends with exactly the parameters of an
    /// uninterrupted run.
    func testCheckpointResumeIsExact() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-resume-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 5)
        let tokens = TokenFile(tokens: (0..<6000).map { _ in Int32(rng.nextInt(50)) }, vocabSize: 50)
        var o = LMTrainingOptions()
        o.layers = 1; o.heads = 2; o.dim = 16; o.context = 8; o.batchSize = 4; o.steps = 6; o.warmup = 2
        o.evalEvery = 3; o.evalBatches = 2; o.checkpointEvery = 2; o.blockSize = 200; o.learningRate = 3e-3
        let full = try LMTrainer(options: o, tokens: tokens, outputFolder: dir + "/full", checkpointPath: dir + "/full/ckpt",
                                 eosId: nil, resume: false)
        try full.run { _ in }
        var partial = o
        partial.steps = 6
        // Run 4 of the 6 steps (same schedule), then resume for the rest.
        let first = try LMTrainer(options: partial, tokens: tokens, outputFolder: dir + "/part", checkpointPath: dir + "/part/ckpt",
                                  eosId: nil, resume: false)
        try first.runSteps(until: 4) { _ in }
        let second = try LMTrainer(options: partial, tokens: tokens, outputFolder: dir + "/part", checkpointPath: dir + "/part/ckpt",
                                   eosId: nil, resume: true)
        XCTAssertEqual(second.startStep, 4)
        try second.run { _ in }
        for i in 0..<full.model.parameterCount { XCTAssertEqual(full.model.parameters[i], second.model.parameters[i]) }
        let csv = try String(contentsOfFile: dir + "/part/loss.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 7)   // header + 6 steps, no duplicates
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/part/loss.svg"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/part/model.safetensors"))
    }
}
