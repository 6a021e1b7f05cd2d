import Foundation
import XCTest
@testable import VerbaTokenizers

/// Unigram training against sentencepiece's trainer (fixture: scripts/fixtures/unigram_training.py).
final class UnigramTrainingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/unigram-training")

    private func options(threads: Int = 2, byteFallback: Bool = false) throws -> TokenizerTrainingOptions {
        let s = try parseJSON(Array(Data(contentsOf: Self.fixtures.appendingPathComponent("settings.json"))))
        var o = TokenizerTrainingOptions()
        o.model = .unigram
        o.vocabSize = s["vocab_size"]?.intValue ?? 0
        o.characterCoverage = s["character_coverage"]?.doubleValue ?? 0
        o.byteFallback = byteFallback
        o.threads = threads
        return o
    }

    /// The learned pieces (special tokens and byte pieces left out).
    private func learned(_ t: TrainedTokenizer) -> [String] {
        Array(t.result.vocab.dropFirst(t.result.specialTokens.count + (t.options.byteFallback ? 256 : 0)))
    }

    func testLearnsSentencepiecesPieces() throws {
        let trained = try TokenizerTrainer(options: options()).train(paths: [TrainerTests.corpus])
        let expected = try String(contentsOf: Self.fixtures.appendingPathComponent("pieces.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let got = learned(trained)
        XCTAssertEqual(trained.result.vocab.count, try options().vocabSize)
        XCTAssertEqual(Array(trained.result.vocab.prefix(3)), ["<unk>", "<s>", "</s>"])
        XCTAssertEqual(Set(got).count, got.count, "duplicate pieces")
        let shared = Double(Set(got).intersection(expected).count) / Double(expected.count)
        XCTAssertGreaterThanOrEqual(shared, 0.95, "share of sentencepiece's pieces learned")
        // Scores are log-probabilities, best first.
        let scores = Array((trained.scores ?? []).dropFirst(3))
        XCTAssertTrue(scores.allSatisfy { $0 < 0 })
        XCTAssertEqual(scores, scores.sorted(by: >))
    }

    func testPiecesFollowSentencepiecesRules() throws {
        let trained = try TokenizerTrainer(options: options()).train(paths: [TrainerTests.corpus])
        for p in learned(trained) {
            let scalars = Array(p.unicodeScalars)
            XCTAssertFalse(scalars.dropFirst().contains("▁"), "\(p): ▁ past the start")
            XCTAssertLessThanOrEqual(scalars.count, 16, p)
            var run = ScriptRun()
            for (i, s) in scalars.enumerated() { XCTAssertTrue(run.accepts(s.value, at: i), "\(p): mixed scripts") }
        }
        XCTAssertFalse(learned(trained).contains { $0.contains("a1") || $0.contains(" ") })
    }

    func testThreadsAndCountsDoNotChangeTheResult() throws {
        let one = try TokenizerTrainer(options: options(threads: 1)).train(paths: [TrainerTests.corpus])
        let two = try TokenizerTrainer(options: options(threads: 2)).train(paths: [TrainerTests.corpus])
        XCTAssertEqual(one.tokenizerJSON().serialized(), two.tokenizerJSON().serialized())
        let p = try CountPipeline.named("metaspace", lowercase: false)
        let counted = try p.counter(threads: 2).count(paths: [TrainerTests.corpus])
        let path = NSTemporaryDirectory() + "verba-unigram-\(UUID().uuidString).counts"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeWordCounts(counted, pipeline: p.name, to: path)
        let trainer = TokenizerTrainer(options: try options())
        let fromCounts = try trainer.train(counts: try trainer.readCounts(path: path))
        XCTAssertEqual(one.tokenizerJSON().serialized(), fromCounts.tokenizerJSON().serialized())
    }

    func testWrittenTokenizerLoadsAndByteFallbackLeavesNothingUnknown() throws {
        let trained = try TokenizerTrainer(options: options(byteFallback: true)).train(paths: [TrainerTests.corpus])
        XCTAssertEqual(trained.result.vocab[3], "<0x00>")
        XCTAssertEqual(trained.result.vocab[258], "<0xFF>")
        let path = NSTemporaryDirectory() + "verba-unigram-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try trained.write(to: path)
        let tokenizer = try Tokenizer.load(path: path)
        let text = "The quick brown fox jumps over the lazy dog. ẞ𝔘 日本語 ☃!"
        let ids = try tokenizer.encode(text, addSpecialTokens: false).ids
        XCTAssertFalse(ids.contains(0), "unknown tokens with byte fallback")
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), text)
        XCTAssertLessThan(ids.count, text.utf8.count)
    }

    func testTooSmallAVocabularyIsAnError() throws {
        var o = try options()
        o.vocabSize = 50
        XCTAssertThrowsError(try TokenizerTrainer(options: o).train(paths: [TrainerTests.corpus])) { e in
            XCTAssertTrue("\(e)".contains("--character-coverage"), "\(e)")
        }
    }
}
