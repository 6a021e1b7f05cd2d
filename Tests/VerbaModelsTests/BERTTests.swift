import Foundation
@testable import VerbaModels
@testable import VerbaTensor
@testable import VerbaTokenizers
import XCTest

/// The BERT encoder, sentence embeddings and sequence classification against transformers /
/// sentence-transformers (fixtures from scripts/fixtures/bert.py, weights from downloads/minilm), plus
/// the fused encoder kernels against their reference versions and the errors bad model folders give.
final class BERTTests: XCTestCase {
    struct Fixture {
        let sentences: [String]
        let ids: [[Int]]
        let hiddenRows: [Int]
        let hidden: [Float]          // hidden states of hiddenRows, (T_i, 384) blocks one after the other
        let embeddings: [Float]      // (N, 384)
    }

    static let root = repoRoot()
    static let fixtures = root.appendingPathComponent("Tests/Fixtures/bert")
    static let minilm = root.appendingPathComponent("downloads/minilm").path

    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
        return data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    }

    static let fixture: Fixture? = {
        guard let data = try? Data(contentsOf: fixtures.appendingPathComponent("sentences.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let sentences = json["sentences"] as? [String], let ids = json["ids"] as? [[Int]],
              let rows = json["hidden_rows"] as? [Int],
              let hidden = try? floats("hidden.f32"), let embeddings = try? floats("embeddings.f32") else { return nil }
        return Fixture(sentences: sentences, ids: ids, hiddenRows: rows, hidden: hidden, embeddings: embeddings)
    }()

    static let model: BertModel? = try? BertModel(folder: minilm)

    func requireModel() throws -> (BertModel, Fixture) {
        guard let fixture = Self.fixture else { XCTFail("missing Tests/Fixtures/bert (run scripts/fixtures/bert.py)"); throw XCTSkip() }
        guard let model = Self.model else { XCTFail("downloads/minilm missing: run scripts/setup.sh"); throw XCTSkip() }
        return (model, fixture)
    }

    func maxDifference(_ a: UnsafeBufferPointer<Float>, _ b: ArraySlice<Float>) -> Float {
        precondition(a.count == b.count)
        var m: Float = 0
        for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
        return m
    }

    // MARK: Exactness

    func testLastHiddenStatesMatchTransformers() throws {
        let (model, fx) = try requireModel()
        XCTAssertEqual(model.config.hiddenSize, 384)
        let inputs = fx.hiddenRows.map { BertInput(ids: fx.ids[$0]) }
        let states = try model.lastHiddenStates(inputs)
        var offset = 0, worst: Float = 0
        for (k, row) in fx.hiddenRows.enumerated() {
            let n = fx.ids[row].count * 384
            XCTAssertEqual(states[k].shape, [fx.ids[row].count, 384])
            let d = maxDifference(states[k].buffer, fx.hidden[offset..<(offset + n)])
            XCTAssertLessThan(d, 1e-4, "sentence \(row): \(fx.sentences[row].prefix(60))")
            worst = max(worst, d)
            offset += n
        }
        XCTAssertEqual(offset, fx.hidden.count)
        print("BERT last hidden states: max |Δ| = \(worst) over \(inputs.count) sentences")
    }

    func testSentenceEmbeddingsMatchSentenceTransformers() throws {
        let (_, fx) = try requireModel()
        let embedder = try Embedder(folder: Self.minilm)
        XCTAssertEqual(embedder.pooling, .mean)
        XCTAssertTrue(embedder.normalize)
        XCTAssertEqual(embedder.encoder.maxLength, 256)
        XCTAssertGreaterThanOrEqual(fx.sentences.count, 200)
        // The tokenizer gives transformers' ids (truncation to 256 included) ...
        let (inputs, truncated) = try embedder.encoder.encode(fx.sentences.map { Array($0.utf8) })
        XCTAssertEqual(inputs.map(\.ids), fx.ids)
        XCTAssertFalse(truncated.isEmpty, "the fixture has sentences over 256 tokens")
        // ... and the embeddings are sentence-transformers' within 1e-4.
        let result = try embedder.embed(bytes: fx.sentences.map { Array($0.utf8) })
        XCTAssertEqual(result.vectors.shape, [fx.sentences.count, 384])
        let d = maxDifference(result.vectors.buffer, fx.embeddings[...])
        XCTAssertLessThan(d, 1e-4)
        print("sentence embeddings: max |Δ| = \(d) over \(fx.sentences.count) sentences")
        // The String API gives the same vectors, within rounding: a batch of 5 is not computed as the
        // batch of all sentences is (BLAS kernels round by a row's place in the batch).
        let some = try embedder.embed(Array(fx.sentences.prefix(5)))
        for i in 0..<5 {
            let row = UnsafeBufferPointer(start: result.vectors.pointer + i * 384, count: 384)
            XCTAssertLessThanOrEqual(maxDifference(row, some[i][...]), 1e-5, "sentence \(i)")
        }
    }

    func testClsPoolingIsTheFirstHiddenState() throws {
        let (_, fx) = try requireModel()
        let embedder = try Embedder(folder: Self.minilm, pooling: .cls, normalize: false)
        let vectors = try embedder.embed(inputs: fx.hiddenRows.map { BertInput(ids: fx.ids[$0]) })
        var offset = 0
        for (k, row) in fx.hiddenRows.enumerated() {
            let v = UnsafeBufferPointer(start: vectors.pointer + k * 384, count: 384)
            XCTAssertLessThan(maxDifference(v, fx.hidden[offset..<(offset + 384)]), 1e-4, "sentence \(row)")
            offset += fx.ids[row].count * 384
        }
    }

    func testBatchedEqualsOneAtATime() throws {
        let (model, fx) = try requireModel()
        let inputs = fx.ids.map { BertInput(ids: $0) }
        let batched = try model.lastHiddenStates(inputs, batchSize: 32)
        let single = try model.lastHiddenStates(inputs, batchSize: 1)
        for i in inputs.indices {
            XCTAssertLessThanOrEqual(maxDifference(batched[i].buffer, single[i].toArray()[...]), 1e-5, "sentence \(i)")
        }
        let embedder = try Embedder(folder: Self.minilm)
        let some = Array(inputs.prefix(60))
        embedder.batchSize = 64
        let a = try embedder.embed(inputs: some)
        embedder.batchSize = 1
        let b = try embedder.embed(inputs: some)
        XCTAssertLessThanOrEqual(maxDifference(a.buffer, b.toArray()[...]), 1e-5)
    }

    func testPaddingMaskGivesUnpaddedResult() throws {
        let (model, fx) = try requireModel()
        let ids = fx.ids[40]
        let padded = BertInput(ids: ids + [0, 0, 0, 0, 0], attentionMask: Array(repeating: 1, count: ids.count) + [0, 0, 0, 0, 0])
        let states = try model.lastHiddenStates([BertInput(ids: ids), padded])
        let real = UnsafeBufferPointer(start: states[1].pointer, count: ids.count * 384)
        XCTAssertLessThanOrEqual(maxDifference(real, states[0].toArray()[...]), 1e-5)
    }

    // MARK: Classification

    /// A BertForSequenceClassification folder: the fixture's config and index, MiniLM's body as shard 1,
    /// the committed seeded head as shard 2, MiniLM's tokenizer files.
    func classificationFolder(problemType: String? = nil) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-bert-cls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let cls = Self.fixtures.appendingPathComponent("cls")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: cls.appendingPathComponent("config.json"))) as! [String: Any]
        if let problemType { config["problem_type"] = problemType }
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        try fm.copyItem(at: cls.appendingPathComponent("model.safetensors.index.json"), to: dir.appendingPathComponent("model.safetensors.index.json"))
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("model-00001-of-00002.safetensors").path,
                                  withDestinationPath: Self.minilm + "/model.safetensors")
        try fm.copyItem(at: cls.appendingPathComponent("head.safetensors"), to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        for f in ["tokenizer.json", "vocab.txt", "tokenizer_config.json"] {
            try fm.createSymbolicLink(atPath: dir.appendingPathComponent(f).path, withDestinationPath: Self.minilm + "/" + f)
        }
        return dir.path
    }

    func testSequenceClassificationMatchesTransformers() throws {
        let (_, fx) = try requireModel()
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("cls/expected.json"))) as! [String: Any]
        let labels = expected["labels"] as! [String]
        let softmax = expected["softmax"] as! [[Double]], sigmoid = expected["sigmoid"] as! [[Double]]
        let logits = expected["logits"] as! [[Double]]

        let classifier = try SequenceClassifier(folder: classificationFolder())
        XCTAssertEqual(classifier.labels, ["joy", "anger", "surprise"])
        XCTAssertFalse(classifier.multiLabel)
        let results = try classifier.classify(fx.sentences)
        XCTAssertEqual(results.map { classifier.labels[$0.best] }, labels)
        var worst = 0.0
        for (i, r) in results.enumerated() {
            for k in 0..<3 {
                worst = max(worst, abs(Double(r.scores[k]) - softmax[i][k]))
                XCTAssertEqual(Double(r.logits[k]), logits[i][k], accuracy: 1e-4)
            }
        }
        XCTAssertLessThan(worst, 1e-4)

        let multi = try SequenceClassifier(folder: classificationFolder(problemType: "multi_label_classification"))
        XCTAssertTrue(multi.multiLabel)
        let sig = try multi.classify(Array(fx.sentences.prefix(40)))
        for (i, r) in sig.enumerated() {
            for k in 0..<3 { XCTAssertEqual(Double(r.scores[k]), sigmoid[i][k], accuracy: 1e-4) }
        }
    }

    func testZeroShotClassificationByEmbeddingSimilarity() throws {
        _ = try requireModel()
        let embedder = try Embedder(folder: Self.minilm)
        let zero = try ZeroShotClassifier(embedder: embedder, labels: ["sports", "cooking", "computers"])
        let results = try zero.classify(["The striker scored twice in the final match.",
                                         "Add the onions to the pan and stir until golden.",
                                         "The compiler crashed while linking the kernel module."])
        XCTAssertEqual(results.map(\.best), [0, 1, 2])
        for r in results {
            XCTAssertEqual(r.scores.reduce(0, +), 1, accuracy: 1e-5)
            // Scores are the softmax of scale · cosine similarity.
            let e = r.logits.map { exp(Double($0 * zero.scale)) }
            for k in 0..<3 { XCTAssertEqual(Double(r.scores[k]), e[k] / e.reduce(0, +), accuracy: 1e-5) }
        }
    }

    // MARK: Kernels against their reference versions

    struct Rng {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 40) / Double(1 << 24)) * 2 - 1
        }
    }

    // MARK: Bad input

    /// A tiny random BERT folder (C = 32, 2 heads, 1 layer) with optional damage.
    func tinyModel(dropping: String? = nil, reshaping: String? = nil, config edit: ([String: Any]) -> [String: Any] = { $0 }) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-bert-tiny-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let config: [String: Any] = ["model_type": "bert", "vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 1,
                                     "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 16,
                                     "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"]
        try JSONSerialization.data(withJSONObject: edit(config)).write(to: dir.appendingPathComponent("config.json"))
        var shapes: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [50, 32]), ("embeddings.position_embeddings.weight", [16, 32]),
            ("embeddings.token_type_embeddings.weight", [2, 32]), ("embeddings.LayerNorm.weight", [32]), ("embeddings.LayerNorm.bias", [32]),
            ("pooler.dense.weight", [32, 32]), ("pooler.dense.bias", [32]),
        ]
        let p = "encoder.layer.0."
        for part in ["query", "key", "value"] { shapes += [(p + "attention.self.\(part).weight", [32, 32]), (p + "attention.self.\(part).bias", [32])] }
        shapes += [(p + "attention.output.dense.weight", [32, 32]), (p + "attention.output.dense.bias", [32]),
                   (p + "attention.output.LayerNorm.weight", [32]), (p + "attention.output.LayerNorm.bias", [32]),
                   (p + "intermediate.dense.weight", [64, 32]), (p + "intermediate.dense.bias", [64]),
                   (p + "output.dense.weight", [32, 64]), (p + "output.dense.bias", [32]),
                   (p + "output.LayerNorm.weight", [32]), (p + "output.LayerNorm.bias", [32])]
        var rng = Rng(state: 7)
        var tensors: [(name: String, tensor: FloatTensor, dtype: DType)] = []
        for (name, shape) in shapes where name != dropping {
            let s = name == reshaping ? shape.map { $0 + 1 } : shape
            let count = s.reduce(1, *)
            tensors.append(("bert." + name, FloatTensor(shape: s, values: (0..<count).map { _ in rng.next() * 0.1 }), .f32))
        }
        try SafeTensorsWriter.write(tensors, metadata: [:], to: dir.appendingPathComponent("model.safetensors").path)
        return dir.path
    }

    func expectModelError(_ body: () throws -> Void, _ check: (ModelError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("no error", file: file, line: line)
        } catch let e as ModelError {
            XCTAssertTrue(check(e), "unexpected \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty)
        } catch {
            XCTFail("not a ModelError: \(error)", file: file, line: line)
        }
    }

    func testTinyModelLoadsAndRuns() throws {
        let folder = try tinyModel()
        let model = try BertModel(folder: folder)
        let states = try model.lastHiddenStates([BertInput(ids: [1, 5, 7, 2]), BertInput(ids: [3])])
        XCTAssertEqual(states.map(\.shape), [[4, 32], [1, 32]])
        XCTAssertTrue(states[0].toArray().allSatisfy(\.isFinite))
        XCTAssertEqual(try model.pooledOutputs([BertInput(ids: [1, 2])])[0].count, 32)
    }

    func testBadConfigsAndWeightsGiveClearErrors() throws {
        expectModelError({ _ = try BertModel(folder: try self.tinyModel(config: { var c = $0; c["hidden_size"] = nil; return c })) }) {
            if case let .missingConfigField(path, field) = $0 { return field == "hidden_size" && path.hasSuffix("config.json") }
            return false
        }
        expectModelError({ _ = try BertModel(folder: try self.tinyModel(config: { var c = $0; c["num_attention_heads"] = 5; return c })) }) {
            if case .badConfigValue(_, "num_attention_heads", _) = $0 { return true }
            return false
        }
        expectModelError({ _ = try BertModel(folder: try self.tinyModel(config: { var c = $0; c["vocab_size"] = "many"; return c })) }) {
            if case .badConfigValue(_, "vocab_size", _) = $0 { return true }
            return false
        }
        expectModelError({ _ = try BertModel(folder: try self.tinyModel(config: { var c = $0; c["model_type"] = "gpt2"; return c })) }) {
            if case .unsupported = $0 { return true }
            return false
        }
        expectModelError({ _ = try BertModel(folder: try self.tinyModel(dropping: "encoder.layer.0.output.dense.bias")) }) {
            if case let .missingTensor(_, name) = $0 { return name.hasSuffix("encoder.layer.0.output.dense.bias") }
            return false
        }
        expectModelError({ _ = try BertModel(folder: try self.tinyModel(reshaping: "encoder.layer.0.intermediate.dense.weight")) }) {
            if case let .wrongShape(_, name, expected, actual) = $0 { return name.hasSuffix("intermediate.dense.weight") && expected == [64, 32] && actual == [65, 33] }
            return false
        }
        // A folder without weights, and one without tokenizer files.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("verba-bert-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: empty) }
        expectModelError({ _ = try ModelWeights(folder: empty) }) {
            if case .unreadable = $0 { return true }
            return false
        }
        expectModelError({ _ = try Embedder(folder: try self.tinyModel()) }) {
            if case .noTokenizerFiles = $0 { return true }
            return false
        }
        // Inputs the model cannot take.
        let model = try BertModel(folder: try tinyModel())
        expectModelError({ _ = try model.lastHiddenStates([BertInput(ids: Array(repeating: 1, count: 17))]) }) {
            if case .invalidInput = $0 { return true }
            return false
        }
        expectModelError({ _ = try model.lastHiddenStates([BertInput(ids: [1, 50])]) }) {
            if case .invalidInput = $0 { return true }
            return false
        }
        expectModelError({ _ = try model.lastHiddenStates([BertInput(ids: [1, 2], typeIds: [0, 2])]) }) {
            if case .invalidInput = $0 { return true }
            return false
        }
    }

    func testTruncatedOrLyingSafetensorsGiveClearErrors() throws {
        let folder = try tinyModel()
        let weights = URL(fileURLWithPath: folder).appendingPathComponent("model.safetensors")
        let full = try Data(contentsOf: weights)
        for damaged in [full.prefix(5), full.prefix(200), full.prefix(full.count - 100)] {
            try Data(damaged).write(to: weights)
            XCTAssertThrowsError(try BertModel(folder: folder)) { error in
                XCTAssertTrue(error is SafeTensorsError, "\(error)")
                XCTAssertTrue("\(error)".contains("model.safetensors"), "\(error)")
            }
        }
        // A header that lies about a tensor's size.
        var lying = full
        let headerLength = Int(full.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = String(decoding: full[8..<(8 + headerLength)], as: UTF8.self)
        header = header.replacingOccurrences(of: "\"shape\":[50,32]", with: "\"shape\":[60,32]")
        lying.replaceSubrange(8..<(8 + headerLength), with: Array(header.utf8))
        try lying.write(to: weights)
        XCTAssertThrowsError(try BertModel(folder: folder)) { error in
            XCTAssertTrue(error is SafeTensorsError, "\(error)")
        }
    }
}
