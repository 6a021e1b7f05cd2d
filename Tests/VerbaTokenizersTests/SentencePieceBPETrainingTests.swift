import Foundation
import XCTest
@testable import VerbaTokenizers

/// SentencePiece BPE training and sentencepiece `.model` writing, against sentencepiece's BPE trainer
/// (fixture: scripts/fixtures/spm_bpe_training.py).
final class SentencePieceBPETrainingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/spm-bpe-training")

    private func options(threads: Int = 2) throws -> TokenizerTrainingOptions {
        let s = try parseJSON(Array(Data(contentsOf: Self.fixtures.appendingPathComponent("settings.json"))))
        var o = TokenizerTrainingOptions()
        o.model = .bpe
        o.metaspace = true
        o.vocabSize = s["vocab_size"]?.intValue ?? 0
        o.characterCoverage = s["character_coverage"]?.doubleValue ?? 0
        o.byteFallback = s["byte_fallback"]?.boolValue ?? false
        o.threads = threads
        return o
    }

    private func expectedPieces() throws -> [String] {
        try String(contentsOf: Self.fixtures.appendingPathComponent("pieces.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// (text, sentencepiece's ids) from a fixture file.
    private func encodings(_ file: String = "encode.jsonl") throws -> [(String, [Int])] {
        let text = try String(contentsOf: Self.fixtures.appendingPathComponent(file), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let v = try parseJSON(Array(line.utf8))
            return (v["text"]?.stringValue ?? "", (v["ids"]?.arrayValue ?? []).compactMap(\.intValue))
        }
    }

    func testLearnsSentencepiecesPieces() throws {
        let trained = try TokenizerTrainer(options: options()).train(paths: [TrainerTests.corpus])
        let expected = try expectedPieces()
        XCTAssertEqual(trained.result.vocab.count, expected.count)
        let shared = Double(Set(trained.result.vocab).intersection(expected).count) / Double(expected.count)
        XCTAssertGreaterThanOrEqual(shared, 0.99, "share of sentencepiece's pieces learned")
        // On this corpus the ids agree too: the same pieces learned in the same order.
        let differing = zip(trained.result.vocab, expected).filter { $0 != $1 }.count
        XCTAssertLessThanOrEqual(differing, expected.count / 100, "pieces at another id")
    }

    func testTokenizerJSONEncodesAsSentencepiecesModel() throws {
        let trained = try TokenizerTrainer(options: options()).train(paths: [TrainerTests.corpus])
        let path = NSTemporaryDirectory() + "verba-spm-bpe-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try trained.write(to: path)
        let tokenizer = try Tokenizer.load(path: path)
        var same = 0
        let cases = try encodings()
        for (text, ids) in cases {
            let got = try tokenizer.encode(text, addSpecialTokens: false).ids
            if got == ids { same += 1 } else { XCTFail("\(text): \(got) != sentencepiece's \(ids)") }
            XCTAssertEqual(tokenizer.decode(got, skipSpecialTokens: false), text)
        }
        XCTAssertEqual(same, cases.count)
    }

    func testSentencePieceModelRoundTrips() throws {
        for model in [TokenizerTrainingOptions.Model.bpe, .unigram] {
            var o = try options()
            o.model = model
            o.metaspace = model == .bpe
            let trained = try TokenizerTrainer(options: o).train(paths: [TrainerTests.corpus])
            let folder = NSTemporaryDirectory() + "verba-spm-model-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try trained.writeVocabFiles(to: folder)
            try trained.write(to: folder + "/tokenizer.json")
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/tokenizer.model")))
            let proto = try SentencePieceModelProto(bytes)
            XCTAssertEqual(proto.pieces.map(\.piece), trained.result.vocab)
            XCTAssertEqual(proto.pieces.map(\.score), (trained.scores ?? []).map(Float.init))
            XCTAssertEqual(proto.pieces[0].type, .unknown)
            XCTAssertEqual(proto.pieces[1].type, .control)
            XCTAssertEqual(proto.pieces[3].type, .byte)
            XCTAssertEqual(proto.pieces[259].type, .normal)
            XCTAssertEqual(proto.modelType, model == .bpe ? 2 : 1)
            XCTAssertTrue(proto.byteFallback)
            XCTAssertFalse(proto.removeExtraWhitespaces)
            // Verba reading the .model encodes as the tokenizer.json, spaces at the edges and doubled too.
            let fromModel = try Tokenizer.load(path: folder + "/tokenizer.model")
            let fromJSON = try Tokenizer.load(path: folder + "/tokenizer.json")
            var texts = try encodings().map(\.0)
            texts += [" lead", "two  spaces ", "tab\there", "ẞ𝔘 日本語 ☃"]
            for text in texts {
                XCTAssertEqual(try fromModel.encode(text, addSpecialTokens: false).ids,
                               try fromJSON.encode(text, addSpecialTokens: false).ids, "\(model): \(text)")
            }
            // The `sentencepiece` package, loading the .model Verba wrote, encoded as the tokenizer.json does.
            for (text, ids) in try encodings("verba-model-\(model.rawValue).jsonl") {
                XCTAssertEqual(try fromJSON.encode(text, addSpecialTokens: false).ids, ids, "\(model): \(text)")
            }
        }
    }

    func testModelFileOfAnotherModelIsAnError() throws {
        var o = TokenizerTrainingOptions()
        o.model = .wordPiece
        o.vocabSize = 500
        let trained = try TokenizerTrainer(options: o).train(paths: [TrainerTests.corpus])
        XCTAssertThrowsError(try trained.writeSentencePieceModel(to: NSTemporaryDirectory() + "never.model")) { e in
            XCTAssertTrue("\(e)".contains("Unigram or SentencePiece BPE"), "\(e)")
        }
    }
}
