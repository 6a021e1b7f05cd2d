import Foundation
import VerbaSupport
import XCTest

@testable import VerbaTokenizers

/// One small tokenizer.json per pipeline component or option (Tests/Fixtures/pipeline, written by
/// scripts/fixtures/pipeline_components.py): ids, tokens, offsets and decoded text identical to HF
/// `tokenizers`, single texts and pairs.
final class PipelineComponentTests: XCTestCase {
    struct Row: Decodable {
        let tokenizer: String
        let text: String
        let pair: String?
        let ids: [Int]
        let type_ids: [Int]?
        let tokens: [String]
        let offsets: [[Int]]
        let decoded: String
    }

    static let folder = "Tests/Fixtures/pipeline"

    /// The tokenizer `name`, its model read from the file its "model_file" names.
    static func load(_ name: String) throws -> Tokenizer {
        let dir = try requireAsset(folder)
        let doc = try parseJSON(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))))
        var root: [(String, JSONValue)] = []
        for (key, value) in try XCTUnwrap(doc.objectValue) {
            if key == "model_file", let file = value.stringValue {
                root.append(("model", try parseJSON(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))))))
            } else {
                root.append((key, value))
            }
        }
        return try Tokenizer.fromTokenizerJSON(JSONValue.object(root).serialized(), path: name)
    }

    func rows(_ file: String) throws -> [Row] {
        let text = try String(contentsOfFile: try requireAsset("\(Self.folder)/\(file)"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
    }

    func testEveryComponentMatchesTokenizers() throws {
        let all = try rows("encode.jsonl") + rows("pairs.jsonl")
        XCTAssertGreaterThan(all.count, 1000)
        var tokenizers: [String: Tokenizer] = [:]
        var failures: [String: Int] = [:]
        for r in all {
            let t = try tokenizers[r.tokenizer] ?? Self.load(r.tokenizer)
            tokenizers[r.tokenizer] = t
            let context = "\(r.tokenizer): \(r.text.prefix(60).debugDescription) \(r.pair.map { $0.prefix(30).debugDescription } ?? "")"
            let special = r.pair != nil
            let e = try t.encode(r.text, pair: r.pair, addSpecialTokens: special)
            let got = (e.ids, e.tokens, e.offsets.map { [$0.lowerBound, $0.upperBound] }, t.decode(r.ids, skipSpecialTokens: !special))
            var ok = got.0 == r.ids && got.1 == r.tokens && got.2 == r.offsets && got.3 == r.decoded
            if let typeIds = r.type_ids { ok = ok && e.typeIds == typeIds }
            if r.pair == nil { ok = ok && t.encodeIds(r.text, addSpecialTokens: false) == r.ids }
            if !ok {
                failures[r.tokenizer, default: 0] += 1
                XCTAssertEqual(got.0, r.ids, context)
                XCTAssertEqual(got.1, r.tokens, context)
                XCTAssertEqual(got.2, r.offsets, context)
                XCTAssertEqual(got.3, r.decoded, context)
                if let typeIds = r.type_ids { XCTAssertEqual(e.typeIds, typeIds, context) }
            }
        }
        XCTAssertGreaterThanOrEqual(tokenizers.count, 38)
        print("pipeline components: \(tokenizers.count) tokenizers, \(all.count) cases, failures by tokenizer: \(failures.sorted { $0.key < $1.key })")
    }
}
