import Foundation
import XCTest

@testable import VerbaTokenizers

/// sentencepiece `.model` files decode as the `sentencepiece` package decodes: the unknown piece as
/// " ⁇ " wherever it stands, control pieces dropped (Verba's special tokens, skipped), byte pieces as
/// bytes (Tests/Fixtures/spm-bpe/decode.jsonl, scripts/fixtures/spm_decode.py).
final class SentencePieceDecodeTests: XCTestCase {
    struct Row: Decodable {
        let model: String
        let ids: [Int]
        let decoded: String
    }

    func testDecodeAsSentencePiece() throws {
        let dir = try requireAsset("Tests/Fixtures/spm-bpe")
        let rows = try String(contentsOfFile: dir + "/decode.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
        XCTAssertGreaterThan(rows.count, 400)
        var tokenizers: [String: Tokenizer] = [:]
        for r in rows {
            let t = try tokenizers[r.model] ?? Tokenizer.load(path: dir + "/" + r.model)
            tokenizers[r.model] = t
            XCTAssertEqual(t.decode(r.ids, skipSpecialTokens: true), r.decoded, "\(r.model): \(r.ids)")
        }
        XCTAssertEqual(tokenizers.count, 4)
    }
}
