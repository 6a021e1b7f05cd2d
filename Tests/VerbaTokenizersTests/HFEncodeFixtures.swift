import Foundation
@testable import VerbaTokenizers
import XCTest

/// The encode fixtures of one folder under Tests/Fixtures (tokenizer files beside an `encode.jsonl`
/// whose lines say what HF `tokenizers` gives for a text with one of them), as the Unigram and
/// SentencePiece BPE fixture scripts write them.
struct HFEncodeFixtures {
    /// One line of `encode.jsonl`.
    struct Case: Decodable {
        let tokenizer: String
        let text: String
        let ids: [Int]
        let tokens: [String]
        let offsets: [[Int]]
        let decoded: String
    }

    /// The folder's name under Tests/Fixtures.
    let folder: String

    func path(_ name: String) throws -> String { try requireAsset("Tests/Fixtures/\(folder)/\(name)") }

    func cases() throws -> [Case] {
        let text = try String(contentsOfFile: try path("encode.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Case.self, from: Data($0.utf8)) }
    }

    func load(_ name: String) throws -> Tokenizer { try Tokenizer.load(path: try path(name)) }

    /// Checks every case: ids (fast path and full path), tokens, offsets and the decoded text (special
    /// tokens skipped, HF's default) identical to HF. Returns the tokenizer files the cases named.
    func assertAllMatch(minimumCases: Int, file: StaticString = #filePath, line: UInt = #line) throws -> Set<String> {
        let all = try cases()
        XCTAssertGreaterThan(all.count, minimumCases, file: file, line: line)
        var tokenizers: [String: Tokenizer] = [:]
        for c in all {
            let t = try tokenizers[c.tokenizer] ?? load(c.tokenizer)
            tokenizers[c.tokenizer] = t
            let context = "\(c.tokenizer): \(c.text.prefix(80))"
            XCTAssertEqual(t.encodeIds(c.text, addSpecialTokens: false), c.ids, context, file: file, line: line)
            let e = try t.encode(c.text, addSpecialTokens: false)
            XCTAssertEqual(e.ids, c.ids, context, file: file, line: line)
            XCTAssertEqual(e.tokens, c.tokens, context, file: file, line: line)
            XCTAssertEqual(e.offsets.map { [$0.lowerBound, $0.upperBound] }, c.offsets, context, file: file, line: line)
            XCTAssertEqual(t.decode(c.ids, skipSpecialTokens: true), c.decoded, context, file: file, line: line)
        }
        return Set(tokenizers.keys)
    }
}
