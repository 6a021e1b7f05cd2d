import Foundation
import VerbaSupport
import XCTest
@testable import VerbaTokenizers

/// Word-counts files: parts counted apart and merged equal the whole counted at once; training from
/// counts writes the same tokenizer.json as training from the corpus; the order of lines does not matter.
final class WordCountsFileTests: XCTestCase {
    static let corpus = TrainerTests.corpus
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "verba-counts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func lines() throws -> [Substring] {
        let text = try String(contentsOfFile: Self.corpus, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    }

    /// Writes `lines` (each with its newline) to `name` in the test folder.
    private func write(_ lines: some Sequence<Substring>, _ name: String) throws -> String {
        let path = folder + "/" + name
        try (lines.map { $0 + "\n" }.joined()).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func count(_ pre: String, lowercase: Bool = false, _ paths: [String], to name: String) throws -> String {
        let p = try CountPipeline.named(pre, lowercase: lowercase)
        let out = folder + "/" + name
        try writeWordCounts(try p.counter(threads: 2).count(paths: paths), pipeline: p.name, to: out)
        return out
    }

    private func shuffled(_ lines: [Substring], seed: UInt64) -> [Substring] {
        var rng = SplitMix64(seed: seed)
        return lines.shuffled(using: &rng)
    }

    func testThreePartsMergedEqualTheWhole() throws {
        let all = try lines()
        let cuts = [0, all.count / 3, 2 * all.count / 3, all.count]
        for pre in ["gpt2", "cl100k", "bert", "whitespace", "metaspace"] {
            var parts: [String] = []
            for k in 0..<3 {
                let path = try write(all[cuts[k]..<cuts[k + 1]], "part\(k).txt")
                parts.append(try count(pre, [path], to: "part\(k).\(pre)"))
            }
            let merged = folder + "/merged.\(pre)"
            let stats = try mergeWordCounts(paths: parts.reversed(), output: merged)
            let whole = try count(pre, [Self.corpus], to: "whole.\(pre)")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: merged)), try Data(contentsOf: URL(fileURLWithPath: whole)), pre)
            let (counts, name) = try readWordCounts(path: whole)
            XCTAssertEqual(name.preTokenizer, pre)
            XCTAssertEqual(UInt64(counts.count), stats.distinct)
            XCTAssertEqual(UInt64(counts.total), stats.total)
            XCTAssertGreaterThan(counts.count, 1000)
        }
    }

    /// Training from the counts of shuffled parts gives the tokenizer.json of training on the corpus.
    private func checkTrainFromCounts(_ options: TokenizerTrainingOptions, pre: String) throws {
        let direct = try TokenizerTrainer(options: options).train(paths: [Self.corpus])
        let all = shuffled(try lines(), seed: 7)
        let a = try count(pre, lowercase: options.lowercase, [try write(all[..<(all.count / 2)], "a.txt")], to: "a.counts")
        let b = try count(pre, lowercase: options.lowercase, [try write(all[(all.count / 2)...], "b.txt")], to: "b.counts")
        _ = try mergeWordCounts(paths: [a, b], output: folder + "/ab.counts")
        let trainer = TokenizerTrainer(options: options)
        let fromCounts = try trainer.train(counts: try trainer.readCounts(path: folder + "/ab.counts"))
        XCTAssertEqual(direct.tokenizerJSON().serialized(), fromCounts.tokenizerJSON().serialized(), "\(options.model) from counts")
    }

    func testByteLevelBPEFromCountsIsTheSame() throws {
        var o = TokenizerTrainingOptions()
        o.byteLevel = true
        o.vocabSize = 1200
        o.threads = 2
        try checkTrainFromCounts(o, pre: "gpt2")
    }

    func testWordPieceFromCountsIsTheSame() throws {
        var o = TokenizerTrainingOptions()
        o.model = .wordPiece
        o.lowercase = true
        o.vocabSize = 2500
        o.threads = 2
        try checkTrainFromCounts(o, pre: "bert")
    }

    /// WordPiece's `##` symbols used to take ids in the order words were met, which broke ties between
    /// equal pair counts differently when the lines were shuffled.
    func testWordPieceDoesNotDependOnLineOrder() throws {
        var o = TokenizerTrainingOptions()
        o.model = .wordPiece
        o.vocabSize = 3000
        o.threads = 1
        let all = try lines()
        let reference = try TokenizerTrainer(options: o).train(paths: [Self.corpus]).result.vocab
        for seed: UInt64 in [1, 2, 3] {
            let path = try write(shuffled(all, seed: seed), "shuffled\(seed).txt")
            let vocab = try TokenizerTrainer(options: o).train(paths: [path]).result.vocab
            XCTAssertEqual(vocab, reference, "seed \(seed): first difference at id \(zip(vocab, reference).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
        }
    }

    func testMismatchedPipelinesAreRefused() throws {
        let gpt2 = try count("gpt2", [Self.corpus], to: "x.gpt2")
        let lower = try count("gpt2", lowercase: true, [Self.corpus], to: "x.gpt2lower")
        XCTAssertThrowsError(try mergeWordCounts(paths: [gpt2, lower], output: folder + "/bad")) { e in
            XCTAssertTrue("\(e)".contains("cannot be merged"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/bad"))
        var o = TokenizerTrainingOptions()
        o.model = .wordPiece
        XCTAssertThrowsError(try TokenizerTrainer(options: o).readCounts(path: gpt2)) { e in
            XCTAssertTrue("\(e)".contains("--pre-tokenizer bert"), "\(e)")
        }
    }

    func testMalformedFilesAreRefused() throws {
        let good = try Data(contentsOf: URL(fileURLWithPath: try count("gpt2", [Self.corpus], to: "good")))
        let truncated = folder + "/truncated"
        try good.prefix(good.count - 3).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try readWordCounts(path: truncated))
        let version = folder + "/v9"
        var v9 = good
        v9[18] = UInt8(ascii: "9")
        try v9.write(to: URL(fileURLWithPath: version))
        XCTAssertThrowsError(try readWordCounts(path: version)) { e in XCTAssertTrue("\(e)".contains("version 9"), "\(e)") }
        XCTAssertThrowsError(try readWordCounts(path: Self.corpus)) { e in XCTAssertTrue("\(e)".contains("corpus.txt"), "\(e)") }
    }

    func testCountsPastFourBillionAndUnsortedInput() throws {
        var counts = WordCounts()
        let big = 5_000_000_000
        for w in ["zeta", "alpha", "al", "β"] {
            Array(w.utf8).withUnsafeBufferPointer { counts.add($0, count: big) }
        }
        let name = CountsPipelineName(preTokenizer: "gpt2", normalizer: "none")
        try writeWordCounts(counts, pipeline: name, to: folder + "/a")
        try writeWordCounts(counts, pipeline: name, to: folder + "/b")
        _ = try mergeWordCounts(paths: [folder + "/a", folder + "/b"], output: folder + "/ab")
        let (merged, _) = try readWordCounts(path: folder + "/ab")
        var seen: [(String, Int)] = []
        merged.forEach { w, c in seen.append((String(decoding: w, as: UTF8.self), c)) }
        XCTAssertEqual(seen.map(\.0), ["al", "alpha", "zeta", "β"])
        XCTAssertEqual(seen.map(\.1), [Int](repeating: 2 * big, count: 4))
    }
}
