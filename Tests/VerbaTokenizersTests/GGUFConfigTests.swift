import Foundation
import VerbaSupport
import XCTest

@testable import VerbaTokenizers

/// Real tokenizer configurations (Llama 3, Qwen2.5, SmolLM2's pipeline on a 49k vocabulary, Llama 2,
/// Mistral's Metaspace form, Phi-3) as `tokenizer.json` documents: each committed recipe in
/// Tests/Fixtures/gguf-configs (the published file without its vocabulary and merges) completed with
/// the vocabulary of a llama.cpp GGUF in downloads/ and loaded through the tokenizer.json reader, must
/// give HF `tokenizers`' ids, offsets and decoded text (scripts/fixtures/gguf_configs.py).
final class GGUFConfigTests: XCTestCase {
    struct Row: Decodable {
        let text: String
        let ids: [Int]
        let offsets: [[Int]]?
        let decoded: String?
    }

    /// The recipe's tokenizer.json with `model.vocab` and `model.merges` from its GGUF (merges derived
    /// from the scores, as `transformers` derives them, when the GGUF has none).
    static func document(recipe: JSONValue, models: String) throws -> [UInt8] {
        let name = try XCTUnwrap(recipe["gguf"]?.stringValue)
        let path = models + "/" + name
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let g = try bytes.withUnsafeBytes { try GGUFVocabulary($0, path: path) }
        var merges: [(String, String)]
        if g.merges.isEmpty {
            var proto = SentencePieceModelProto()
            for (i, t) in g.tokens.enumerated() {
                proto.pieces.append(.init(piece: t, score: g.scores[i], type: .init(rawValue: g.type(i)) ?? .normal))
            }
            var ids: [String: Int] = [:]
            for (i, t) in g.tokens.enumerated() { ids[t] = i }
            merges = proto.merges(ids: ids)
        } else {
            merges = []
            for m in g.merges { merges.append(try XCTUnwrap(splitMerge(m), m)) }
        }
        var root: [(String, JSONValue)] = []
        for (key, value) in try XCTUnwrap(recipe.objectValue) where key != "gguf" {
            guard key == "model", var model = value.objectValue else { root.append((key, value)); continue }
            model.append(("vocab", .object(g.tokens.enumerated().map { ($0.element, .int($0.offset)) })))
            model.append(("merges", .array(merges.map { .array([.string($0.0), .string($0.1)]) })))
            root.append((key, .object(model)))
        }
        return JSONValue.object(root).serialized()
    }

    func testRealConfigurationsMatchTokenizers() throws {
        let models = try requireAsset("downloads/llama.cpp/models")
        let dir = try requireAsset("Tests/Fixtures/gguf-configs")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { $0.hasSuffix(".recipe.json") }.map { String($0.dropLast(12)) }.sorted()
        XCTAssertEqual(names, ["llama2", "llama3", "mistral", "phi3", "qwen25", "smollm2"])
        for name in names {
            let recipe = try parseJSON(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name).recipe.json"))))
            let t = try Tokenizer.fromTokenizerJSON(try Self.document(recipe: recipe, models: models), path: name)
            let rows = try String(contentsOfFile: dir + "/\(name).jsonl", encoding: .utf8).split(separator: "\n")
                .map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
            XCTAssertGreaterThan(rows.count, 300)
            var passed = 0
            for row in rows {
                let context = "\(name): \(row.text.prefix(60).debugDescription)"
                let ids = t.encodeIds(row.text)
                XCTAssertEqual(ids, row.ids, context)
                if ids == row.ids { passed += 1 }
                guard let offsets = row.offsets, let decoded = row.decoded else { continue }
                let e = try t.encode(row.text)
                XCTAssertEqual(e.ids, row.ids, context)
                XCTAssertEqual(e.offsets.map { [$0.lowerBound, $0.upperBound] }, offsets, context)
                XCTAssertEqual(t.decode(row.ids, skipSpecialTokens: false), decoded, context)
            }
            print("\(name): \(passed)/\(rows.count) lines id for id")
        }
    }
}
