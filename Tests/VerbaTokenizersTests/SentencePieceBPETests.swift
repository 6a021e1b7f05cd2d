import Foundation
@testable import VerbaTokenizers
import XCTest

/// SentencePiece-style BPE (Llama 2 / Mistral / TinyLlama: byte fallback, fuse_unk) in tokenizer.json,
/// in its two forms, against HF `tokenizers`: the fixtures of scripts/fixtures/spm_bpe.py in
/// Tests/Fixtures/spm-bpe (a sentencepiece BPE model converted by `transformers`' Llama converter).
final class SentencePieceBPETests: XCTestCase {
    typealias Case = HFEncodeFixtures.Case
    let fixtures = HFEncodeFixtures(folder: "spm-bpe")

    func fixture(_ name: String) throws -> String { try fixtures.path(name) }
    func cases() throws -> [Case] { try fixtures.cases() }
    func load(_ name: String) throws -> Tokenizer { try fixtures.load(name) }

    /// Ids (fast path and full path), tokens, offsets and decoded text identical to HF on every line,
    /// with the Metaspace form (prepend_scheme first, split false) and the legacy form (Prepend and
    /// Replace normalizers, no pre-tokenizer).
    func testMatchesHuggingFace() throws {
        XCTAssertEqual(try fixtures.assertAllMatch(minimumCases: 1000), ["tokenizer-metaspace.json", "tokenizer-legacy.json"])
    }

    /// Against the `sentencepiece` package itself (sentencepiece.jsonl: `sp.encode(text)` on the same
    /// texts): both forms give its ids except on texts holding `<s>` or `</s>` (HF matches them as added
    /// tokens, sentencepiece as text), and the Metaspace form also on texts starting with a space or
    /// the mark (prepend_scheme `first` prepends no mark there, sentencepiece does). Verba differs
    /// from sentencepiece exactly where HF does.
    func testAgainstSentencePiece() throws {
        struct Reference: Decodable { let text: String; let ids: [Int] }
        let text = try String(contentsOfFile: try fixture("sentencepiece.jsonl"), encoding: .utf8)
        let references = try text.split(separator: "\n").map { try JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
        let all = try cases()
        for name in ["tokenizer-metaspace.json", "tokenizer-legacy.json"] {
            let t = try load(name)
            let hf = all.filter { $0.tokenizer == name }
            XCTAssertEqual(hf.count, references.count)
            var differing = 0
            for (h, r) in zip(hf, references) {
                XCTAssertEqual(h.text, r.text)
                let ids = t.encodeIds(r.text, addSpecialTokens: false)
                XCTAssertEqual(ids == r.ids, h.ids == r.ids, "\(name): \(r.text.prefix(80))")
                if ids != r.ids {
                    differing += 1
                    let leading = r.text.hasPrefix(" ") || r.text.hasPrefix("\u{2581}")
                    let special = r.text.contains("<s>") || r.text.contains("</s>")
                    XCTAssertTrue(special || (name == "tokenizer-metaspace.json" && leading), "\(name): \(r.text.prefix(80))")
                }
            }
            XCTAssertLessThan(differing, references.count / 10, name)
        }
    }

    /// Streaming decode, one id at a time, gives the whole decode and never half a character.
    func testIncrementalDecode() throws {
        let t = try load("tokenizer-metaspace.json")
        for c in try cases() where c.tokenizer == "tokenizer-metaspace.json" {
            var decoder = t.incrementalDecoder()
            var text = ""
            for id in c.ids {
                let piece = decoder.push(id)
                XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}") && !c.decoded.unicodeScalars.contains("\u{FFFD}"), c.text)
                text += piece
            }
            text += decoder.finish()
            XCTAssertEqual(text, t.decode(c.ids), c.text)
            // Special tokens are kept by the streaming decoder; without them (ids 0-2) it is HF's decode.
            if !c.ids.contains(where: { $0 < 3 }) { XCTAssertEqual(text, c.decoded, c.text) }
        }
    }

    /// Saved and loaded again, the Metaspace form gives the same ids.
    func testSaveRoundTrip() throws {
        let t = try load("tokenizer-metaspace.json")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-spm-bpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("tokenizer.json").path
        try t.save(to: path)
        let again = try Tokenizer.load(path: path)
        for c in try cases().prefix(300) where c.tokenizer == "tokenizer-metaspace.json" {
            XCTAssertEqual(again.encodeIds(c.text, addSpecialTokens: false), c.ids, c.text)
        }
    }

    /// Metaspace after another pre-tokenizer (a mark before each piece) with a BPE model is refused by
    /// name rather than encoded differently from HF.
    func testMetaspaceAfterAnotherPreTokenizerIsRefused() throws {
        let json = #"{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Metaspace"}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#
        XCTAssertThrowsError(try Tokenizer.fromTokenizerJSON(Array(json.utf8), path: "t.json")) { error in
            XCTAssertEqual("\(error)", "t.json: unsupported Metaspace pre-tokenizer after another one with a BPE model")
        }
    }
}
