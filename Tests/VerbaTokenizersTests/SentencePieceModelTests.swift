import Foundation
@testable import VerbaTokenizers
import XCTest

/// sentencepiece `.model` files read with Verba's own protobuf reader, against the `sentencepiece`
/// package: Tests/Fixtures/spm-bpe/spm.model and sentencepiece.jsonl (`sp.encode(text)`), written by
/// scripts/fixtures/spm_bpe.py.
final class SentencePieceModelTests: XCTestCase {
    struct Reference: Decodable { let text: String; let ids: [Int] }

    func fixture(_ name: String) throws -> String { try requireAsset("Tests/Fixtures/spm-bpe/\(name)") }

    func references(_ name: String = "sentencepiece.jsonl") throws -> [Reference] {
        let text = try String(contentsOfFile: try fixture(name), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
    }

    /// The BPE model (byte fallback) gives sentencepiece's ids on every text, `<s>` and `</s>` in the
    /// text included (encoded as text), and decodes them back to the text.
    func testBPEMatchesSentencePiece() throws {
        let t = try Tokenizer.load(path: try fixture("spm.model"))
        XCTAssertEqual(t.vocabSize, 2000)
        let all = try references()
        XCTAssertGreaterThan(all.count, 500)
        for r in all {
            XCTAssertEqual(t.encodeIds(r.text, addSpecialTokens: false), r.ids, r.text)
            XCTAssertEqual(try t.encode(r.text, addSpecialTokens: false).ids, r.ids, r.text)
        }
        XCTAssertEqual(t.decode(t.encodeIds("hello  world 😀 日本", addSpecialTokens: false)), "hello  world 😀 日本")
        XCTAssertEqual(t.decode([1, 2], skipSpecialTokens: true), "")  // control pieces
    }

    /// A folder holding only `tokenizer.model` loads it.
    func testFolderWithTokenizerModel() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-spm-folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(atPath: try fixture("spm.model"), toPath: folder.appendingPathComponent("tokenizer.model").path)
        let t = try Tokenizer.load(path: folder.path)
        let r = try references()[0]
        XCTAssertEqual(t.encodeIds(r.text, addSpecialTokens: false), r.ids)
    }

    /// The Unigram model (no byte fallback: unknown characters give `<unk>`) gives sentencepiece's ids
    /// on every text.
    func testUnigramMatchesSentencePiece() throws {
        try checkUnigram("spm-unigram.model", "sentencepiece-unigram.jsonl")
    }

    /// The same Unigram model with `remove_extra_whitespaces` (spaces at the ends removed, runs inside
    /// made one) gives sentencepiece's ids on every text.
    func testRemoveExtraWhitespaces() throws {
        try checkUnigram("spm-unigram-rew.model", "sentencepiece-unigram-rew.jsonl")
        let t = try Tokenizer.load(path: try fixture("spm-unigram-rew.model"))
        XCTAssertEqual(t.encodeIds("  a   b  ", addSpecialTokens: false), t.encodeIds("a b", addSpecialTokens: false))
        XCTAssertEqual(t.encodeIds("   ", addSpecialTokens: false), [])
        XCTAssertEqual(t.encodeIds("a \u{2581} ", addSpecialTokens: false), t.encodeIds("a", addSpecialTokens: false))
        XCTAssertEqual(try t.encode(" ab  c", addSpecialTokens: false).offsets.last?.upperBound, 6)
    }

    /// A Unigram model with sentencepiece's default normalization (the nmt_nfkc charsmap, extra spaces
    /// removed) gives sentencepiece's ids on every text (ligatures, fractions, full-width forms included).
    func testPrecompiledCharsmap() throws {
        try checkUnigram("spm-unigram-nfkc.model", "sentencepiece-unigram-nfkc.jsonl")
        let t = try Tokenizer.load(path: try fixture("spm-unigram-nfkc.model"))
        XCTAssertEqual(t.encodeIds("\u{FB01}", addSpecialTokens: false), t.encodeIds("fi", addSpecialTokens: false))
        XCTAssertEqual(t.encodeIds("\u{FF21}", addSpecialTokens: false), t.encodeIds("A", addSpecialTokens: false))
    }

    func checkUnigram(_ model: String, _ reference: String) throws {
        let t = try Tokenizer.load(path: try fixture(model))
        XCTAssertEqual(t.vocabSize, 2000)
        XCTAssertTrue(t.model is Unigram)
        let all = try references(reference)
        XCTAssertGreaterThan(all.count, 500)
        XCTAssertTrue(all.contains { $0.ids.contains(0) })  // unknown pieces are exercised
        for r in all {
            XCTAssertEqual(t.encodeIds(r.text, addSpecialTokens: false), r.ids, "\(model): \(r.text)")
            XCTAssertEqual(try t.encode(r.text, addSpecialTokens: false).ids, r.ids, "\(model): \(r.text)")
        }
    }

    /// The wire-format reader: varints, fixed32, length-delimited fields, and errors on truncation.
    func testProtobufReader() throws {
        var r = ProtobufReader([0x96, 0x01, 0x0A, 0x02, 0x61, 0x62, 0x15, 0x00, 0x00, 0x80, 0x3F])
        XCTAssertEqual(try r.varint(), 150)
        XCTAssertEqual(try r.tag().field, 1)
        let range = try r.lengthDelimited()
        XCTAssertEqual(try r.string(range, "x"), "ab")
        let (field, wire) = try r.tag()
        XCTAssertEqual(field, 2)
        XCTAssertEqual(wire, 5)
        XCTAssertEqual(Float(bitPattern: try r.fixed32()), 1.0)
        XCTAssertTrue(r.atEnd)
        var short = ProtobufReader([0x0A, 0x05, 0x61])
        _ = try short.tag()
        XCTAssertThrowsError(try short.lengthDelimited())
        var endless = ProtobufReader([0x80, 0x80])
        XCTAssertThrowsError(try endless.varint())
    }

    /// A corrupt or truncated `.model` is refused with an error naming the file and what is wrong.
    func testCorruptModel() throws {
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: try fixture("spm.model"))))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-spm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func load(_ bytes: [UInt8]) -> String {
            let path = folder.appendingPathComponent("tokenizer.model").path
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            do {
                _ = try Tokenizer.load(path: path)
                return "no error"
            } catch let e as TokenizerError {
                return e.description.replacingOccurrences(of: path, with: "tokenizer.model")
            } catch {
                return "other error \(error)"
            }
        }
        XCTAssertEqual(load(Array(good.prefix(good.count / 2))).hasPrefix("tokenizer.model: not a sentencepiece model: a field of"), true)
        XCTAssertEqual(load(Array("hello, this is text\n".utf8)).hasPrefix("tokenizer.model: not a sentencepiece model:"), true)
        XCTAssertEqual(load([]), "tokenizer.model: the file is empty")
        // A piece of an unknown type (9): field 1 { field 1 "a", field 3 = 9 }.
        XCTAssertEqual(load([0x0A, 0x05, 0x0A, 0x01, 0x61, 0x18, 0x09]), "tokenizer.model: not a sentencepiece model: piece 0 has the unknown type 9")
        // Model type 3 (word) in the trainer spec, after one piece.
        XCTAssertEqual(load([0x0A, 0x05, 0x0A, 0x01, 0x61, 0x18, 0x02, 0x12, 0x02, 0x18, 0x03]),
                       "tokenizer.model: unsupported sentencepiece model type 3 (Verba reads 1 UNIGRAM and 2 BPE)")
    }
}
