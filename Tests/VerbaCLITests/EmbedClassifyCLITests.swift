import Foundation
import XCTest

/// `verba embed` and `verba classify` end to end: the contract's output forms, exactness against the
/// sentence-transformers / transformers fixtures (Tests/Fixtures/bert), input order, empty and
/// overlong lines, and errors.
final class EmbedClassifyCLITests: XCTestCase {
    let minilm = packageRoot().appendingPathComponent("downloads/minilm").path
    let fixtures = packageRoot().appendingPathComponent("Tests/Fixtures/bert")

    func requireMiniLM() throws {
        guard FileManager.default.fileExists(atPath: minilm + "/model.safetensors") else {
            throw XCTSkip("downloads/minilm missing: run scripts/fetch-assets.sh")
        }
    }

    func fixtureSentences() throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("sentences.json"))) as! [String: Any]
        return json["sentences"] as! [String]
    }

    func fixtureEmbeddings() throws -> [Float] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("embeddings.f32"))
        return data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) } }
    }

    func lines(_ data: Data) -> [String] {
        var all = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
        if all.last == "" { all.removeLast() }
        return all
    }

    func testEmbedMatchesSentenceTransformersInInputOrder() throws {
        try requireMiniLM()
        let sentences = try fixtureSentences(), expected = try fixtureEmbeddings()
        // Lines without newlines or carriage returns, in a shuffled order (so sorting by length is undone).
        var picked = sentences.indices.filter { !sentences[$0].contains("\n") && !sentences[$0].contains("\r") }
        picked = Array(picked.reversed().prefix(80))
        let input = picked.map { sentences[$0] }.joined(separator: "\n") + "\n"
        let r = try runVerba(["embed", "--model", minilm, "--threads", "2", "--batch-size", "7"], input: Data(input.utf8))
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        let out = lines(r.stdout)
        XCTAssertEqual(out.count, picked.count)
        for (k, i) in picked.enumerated() {
            let v = try JSONSerialization.jsonObject(with: Data(out[k].utf8)) as! [Double]
            XCTAssertEqual(v.count, 384)
            for j in 0..<384 { XCTAssertEqual(v[j], Double(expected[i * 384 + j]), accuracy: 1e-4, "line \(k) (\(sentences[i].prefix(40)))") }
        }
    }

    func testEmbedEmptyLinesPoolingAndTruncation() throws {
        try requireMiniLM()
        let long = Array(repeating: "word", count: 400).joined(separator: " ")
        let input = "\nhello\n\(long)\n\(long) again\nbye"
        let r = try runVerba(["embed", "--model", minilm, "--pooling", "cls", "--no-normalize", "--max-length", "128"], input: Data(input.utf8))
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        let out = lines(r.stdout)
        XCTAssertEqual(out.count, 5)
        let vectors = try out.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [Double] }
        XCTAssertTrue(vectors.allSatisfy { $0.count == 384 })
        // Not normalised: CLS vectors of MiniLM are far from unit length.
        let norm = vectors[1].reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertGreaterThan(abs(norm - 1), 0.1)
        // Both long lines are truncated to the same first 128 tokens: the same vector (to float rounding:
        // the BLAS kernels may round a row differently at another place in the batch); reported once.
        for j in 0..<384 { XCTAssertEqual(vectors[2][j], vectors[3][j], accuracy: 1e-5) }
        let err = String(decoding: r.stderr, as: UTF8.self)
        XCTAssertEqual(err.components(separatedBy: "truncated").count - 1, 1, err)
        XCTAssertTrue(err.contains("line 3"), err)
    }

    func testEmbedStreamsManyLinesInOrder() throws {
        try requireMiniLM()
        // More lines than one chunk (4096); two distinct texts alternate, so any reordering shows.
        let texts = (0..<4200).map { $0 % 2 == 0 ? "a cat" : "the stock market fell sharply today" }
        let r = try runVerba(["classify", "--model", minilm, "--labels", "animals,finance"], input: Data((texts.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        let out = lines(r.stdout)
        XCTAssertEqual(out.count, 4200)
        for (i, line) in out.enumerated() { XCTAssertTrue(line.hasPrefix(i % 2 == 0 ? "animals\t" : "finance\t"), "line \(i): \(line)") }
    }

    func testZeroShotClassifyFormats() throws {
        try requireMiniLM()
        let input = "The striker scored twice in the final.\nStir the onions until golden.\n\n"
        let tsv = try runVerba(["classify", "--model", minilm, "--labels", "sports, cooking ,computers"], input: Data(input.utf8))
        XCTAssertEqual(tsv.status, 0, String(decoding: tsv.stderr, as: UTF8.self))
        let rows = lines(tsv.stdout)
        XCTAssertEqual(rows.count, 3)
        XCTAssertTrue(rows[0].hasPrefix("sports\t"))
        XCTAssertTrue(rows[1].hasPrefix("cooking\t"))
        for row in rows {
            let parts = row.split(separator: "\t")
            XCTAssertEqual(parts.count, 2)
            XCTAssertNotNil(parts[1].range(of: #"^[01]\.\d{6}$"#, options: .regularExpression), row)
        }
        let jsonl = try runVerba(["classify", "--model", minilm, "--labels", "sports,cooking,computers", "--format", "jsonl"], input: Data(input.utf8))
        let objects = try lines(jsonl.stdout).map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.count, 3)
        for o in objects {
            let scores = o["scores"] as! [String: Double]
            XCTAssertEqual(Set(scores.keys), ["sports", "cooking", "computers"])
            XCTAssertEqual(scores.values.reduce(0, +), 1, accuracy: 1e-5)
            XCTAssertEqual(scores[o["label"] as! String], o["score"] as? Double)
        }
    }

    func testClassifyWithTrainedHeadMatchesTransformers() throws {
        try requireMiniLM()
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("verba-cli-cls-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let cls = fixtures.appendingPathComponent("cls")
        for f in ["config.json", "model.safetensors.index.json"] { try fm.copyItem(at: cls.appendingPathComponent(f), to: dir.appendingPathComponent(f)) }
        try fm.copyItem(at: cls.appendingPathComponent("head.safetensors"), to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("model-00001-of-00002.safetensors").path, withDestinationPath: minilm + "/model.safetensors")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("tokenizer.json").path, withDestinationPath: minilm + "/tokenizer.json")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: cls.appendingPathComponent("expected.json"))) as! [String: Any]
        let labels = expected["labels"] as! [String], softmax = expected["softmax"] as! [[Double]]
        let sentences = try fixtureSentences()
        let picked = Array(sentences.indices.filter { !sentences[$0].contains("\n") && !sentences[$0].contains("\r") }.prefix(60))
        let input = picked.map { sentences[$0] }.joined(separator: "\n") + "\n"
        let r = try runVerba(["classify", "--model", dir.path, "--format", "jsonl"], input: Data(input.utf8))
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        let objects = try lines(r.stdout).map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.count, picked.count)
        let names = ["joy", "anger", "surprise"]
        for (k, i) in picked.enumerated() {
            XCTAssertEqual(objects[k]["label"] as? String, labels[i])
            let scores = objects[k]["scores"] as! [String: Double]
            for (j, name) in names.enumerated() { XCTAssertEqual(scores[name]!, softmax[i][j], accuracy: 1.5e-6 + 1e-4) }
        }
        let tsv = try runVerba(["classify", "--model", dir.path], input: Data(input.utf8))
        XCTAssertEqual(lines(tsv.stdout).map { String($0.split(separator: "\t")[0]) }, picked.map { labels[$0] })
    }

    func testErrors() throws {
        let missing = try runVerba(["embed", "--model", "/nonexistent/model"], input: Data("x\n".utf8))
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(String(decoding: missing.stderr, as: UTF8.self).hasPrefix("verba: error: /nonexistent/model"))

        // A folder with a config and weights but no tokenizer files.
        try requireMiniLM()
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("verba-cli-notok-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("model.safetensors").path, withDestinationPath: minilm + "/model.safetensors")
        try fm.copyItem(atPath: minilm + "/config.json", toPath: dir.appendingPathComponent("config.json").path)
        let notok = try runVerba(["embed", "--model", dir.path], input: Data("x\n".utf8))
        XCTAssertEqual(notok.status, 1)
        XCTAssertTrue(String(decoding: notok.stderr, as: UTF8.self).contains("no tokenizer files"))

        // --max-length beyond the model's positions.
        let tooLong = try runVerba(["embed", "--model", minilm, "--max-length", "1000"], input: Data("x\n".utf8))
        XCTAssertEqual(tooLong.status, 1)
        XCTAssertTrue(String(decoding: tooLong.stderr, as: UTF8.self).contains("512 positions"))

        // classify without --model: the default classifier in models/, or a clear error naming it.
        let r = try runVerba(["classify"], input: Data("Hello there\n".utf8))
        if r.status == 0 {
            XCTAssertEqual(lines(r.stdout).count, 1)
        } else {
            XCTAssertTrue(String(decoding: r.stderr, as: UTF8.self).contains("default model"))
        }
    }
}
