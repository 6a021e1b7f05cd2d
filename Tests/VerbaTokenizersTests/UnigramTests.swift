import Foundation
@testable import VerbaTokenizers
import XCTest

/// The Unigram model (with the Metaspace pre-tokenizer and decoder) against HF `tokenizers`: the
/// fixtures of scripts/fixtures/unigram.py in Tests/Fixtures/unigram.
final class UnigramTests: XCTestCase {
    typealias Case = HFEncodeFixtures.Case
    let fixtures = HFEncodeFixtures(folder: "unigram")

    func fixture(_ name: String) throws -> String { try fixtures.path(name) }
    func cases() throws -> [Case] { try fixtures.cases() }
    func load(_ name: String) throws -> Tokenizer { try fixtures.load(name) }

    /// Ids (fast path and full path), offsets, tokens and decoded text identical to HF on every line,
    /// with six tokenizers: Metaspace always + split, byte fallback, prepend "first" without split,
    /// prepend "never", WhitespaceSplit instead of Metaspace, and WhitespaceSplit then Metaspace (T5).
    func testMatchesHuggingFace() throws {
        XCTAssertEqual(try fixtures.assertAllMatch(minimumCases: 1500).count, 6)
    }

    /// Streaming decode, one id at a time, gives the whole decode (byte-fallback pieces included, never
    /// half a character). Special tokens are kept: when skipped, one at the start of the decoder's
    /// window (the previous token) makes the next `▁` count as a first token's and vanish, where HF's
    /// DecodeStream (whose window moves only when it emits) keeps it. Without special tokens (ids 0-2
    /// here) the text is HF's decode.
    func testIncrementalDecode() throws {
        var tokenizers: [String: Tokenizer] = [:]
        for c in try cases() where c.tokenizer != "tokenizer.json" {
            let t = try tokenizers[c.tokenizer] ?? load(c.tokenizer)
            tokenizers[c.tokenizer] = t
            var decoder = t.incrementalDecoder()
            var text = ""
            for id in c.ids {
                let piece = decoder.push(id)
                XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}") && !c.decoded.unicodeScalars.contains("\u{FFFD}"), c.text)
                text += piece
            }
            text += decoder.finish()
            XCTAssertEqual(text, t.decode(c.ids), "\(c.tokenizer): \(c.text.prefix(80))")
            if !c.ids.contains(where: { $0 < 3 }) { XCTAssertEqual(text, c.decoded, "\(c.tokenizer): \(c.text.prefix(80))") }
        }
    }

    /// Saved and loaded again, the tokenizer gives the same ids, and its model section is HF's.
    func testSaveRoundTrip() throws {
        let t = try load("tokenizer.json")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-unigram-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("tokenizer.json").path
        try t.save(to: path)
        let again = try Tokenizer.load(path: path)
        for c in try cases().prefix(300) where c.tokenizer == "tokenizer.json" {
            XCTAssertEqual(again.encodeIds(c.text, addSpecialTokens: false), c.ids, c.text)
        }
        let original = try parseJSON(Array(try Data(contentsOf: URL(fileURLWithPath: try fixture("tokenizer.json")))))
        let saved = try parseJSON(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(saved["model"], original["model"])
    }

    /// Viterbi by hand: the best-scoring cut wins, ties go to the earlier (shorter) piece, unknown
    /// characters are fused and scored below every piece, byte fallback spells their bytes.
    func testSegmentation() throws {
        let pieces = ["<unk>", "a", "b", "ab", "abc", "c", "<0xE2>", "<0x82>", "<0xAC>"]
        let scores = [0, -1, -1, -3, -2.5, -1, -1, -1, -1]
        let m = try Unigram(pieces: pieces, scores: scores, unkId: 0, byteFallback: false)
        func ids(_ s: String, _ model: Unigram) -> [Int] {
            var out: [Int] = []
            var s = s
            s.withUTF8 { model.encode(piece: $0, ids: &out, ranges: nil) }
            return out
        }
        XCTAssertEqual(ids("abc", m), [4])        // -2.5 beats a+b+c (-3) and ab+c (-4)
        XCTAssertEqual(ids("ab", m), [1, 2])      // -2 beats -3
        XCTAssertEqual(ids("a€€b", m), [1, 0, 2]) // two unknown characters, one token
        let bytes = try Unigram(pieces: pieces, scores: scores, unkId: 0, byteFallback: true)
        XCTAssertEqual(ids("a€b", bytes), [1, 6, 7, 8, 2])
        XCTAssertEqual(ids("a😀b", bytes), [1, 0, 2])  // not every byte has a piece
        let tie = try Unigram(pieces: ["<unk>", "a", "b", "ab"], scores: [0, -1, -1, -2], unkId: 0, byteFallback: false)
        XCTAssertEqual(ids("ab", tie), [3])  // a+b ties ab: the path from the earlier start stays
        let noUnk = try Unigram(pieces: pieces, scores: scores, unkId: nil, byteFallback: false)
        XCTAssertEqual(ids("a€€b", noUnk), [1, 2])  // HF refuses the text; the unknown run is left out
        let marked = try Unigram(pieces: ["<unk>", "▁", "▁a", "a", "b"], scores: [0, -1, -1.5, -2, -2], unkId: 0,
                                 byteFallback: false, spaceMark: Array("▁".utf8))
        XCTAssertEqual(ids(" a", marked), [2])      // a space is read as the mark
        XCTAssertEqual(ids("▁a", marked), [2])      // and so is the mark itself
        XCTAssertEqual(ids("b a▁", marked), [4, 2, 1])
        let t5 = try Unigram(pieces: ["<unk>", "▁", "▁a", "a", "b"], scores: [0, -1, -1.5, -2, -2], unkId: 0,
                             byteFallback: false, spaceMark: Array("▁".utf8), prefixEachPiece: true)
        XCTAssertEqual(ids("a", t5), [2])           // a mark goes before the piece
        XCTAssertEqual(ids("▁a", t5), [2])          // unless it starts with one
    }

    /// A malformed Unigram section is refused with an error naming the field.
    func testMalformedModel() throws {
        func load(_ model: String) -> String {
            let json = #"{"pre_tokenizer": {"type": "Metaspace"}, "model": \#(model)}"#
            do {
                _ = try Tokenizer.fromTokenizerJSON(Array(json.utf8), path: "t.json")
                return "no error"
            } catch let e as TokenizerError {
                return e.description
            } catch {
                return "other error \(error)"
            }
        }
        XCTAssertEqual(load(#"{"type": "Unigram", "unk_id": 0}"#), "t.json: model.vocab is missing or not a list of [piece, score] pairs")
        XCTAssertEqual(load(#"{"type": "Unigram", "unk_id": 0, "vocab": [["a", -1], ["b"]]}"#), "t.json: model.vocab[1] is not a [piece, score] pair")
        XCTAssertEqual(load(#"{"type": "Unigram", "unk_id": 0, "vocab": [["a", "x"]]}"#), "t.json: model.vocab[0] is not a [piece, score] pair")
        XCTAssertEqual(load(#"{"type": "Unigram", "unk_id": 5, "vocab": [["a", -1]]}"#), "t.json: model.unk_id 5 is not an index of model.vocab (1 pieces)")
        XCTAssertEqual(load(#"{"type": "Unigram", "unk_id": "0", "vocab": [["a", -1]]}"#), "t.json: model.unk_id is not an integer")
        XCTAssertEqual(load(#"{"type": "Unigram", "vocab": []}"#), "t.json: model.vocab is empty")
        XCTAssertEqual(load(#"{"type": "Unigram", "unk_id": 0, "vocab": [["a", -1]], "byte_fallback": 1}"#), "t.json: model.byte_fallback is not a boolean")
        XCTAssertEqual(load(#"{"type": "WordPiece", "vocab": {"[UNK]": 0}}"#), "t.json: unsupported Metaspace pre-tokenizer with a model other than Unigram or BPE")
    }
}
