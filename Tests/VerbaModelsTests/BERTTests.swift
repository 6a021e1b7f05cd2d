import Foundation
import VerbaModels
import VerbaTensor
import VerbaTokenizers
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

    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()
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
        guard let model = Self.model else { throw XCTSkip("downloads/minilm missing: run scripts/fetch-assets.sh") }
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
        // The String API gives the same vectors.
        let some = try embedder.embed(Array(fx.sentences.prefix(5)))
        for i in 0..<5 { XCTAssertEqual(some[i], Array(UnsafeBufferPointer(start: result.vectors.pointer + i * 384, count: 384))) }
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
        embedder.batchSize = 64
        let a = try embedder.embed(inputs: inputs)
        embedder.batchSize = 1
        let b = try embedder.embed(inputs: inputs)
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
}
