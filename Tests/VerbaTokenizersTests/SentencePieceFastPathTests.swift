import Foundation
@testable import VerbaTokenizers
import XCTest

/// The fast paths of sentencepiece `.model` files against their plain versions: the one-pass
/// normalizer against the chain of normalizers, and the Unigram word-by-word segmentation (with its
/// cache) against the Viterbi over the whole text.
final class SentencePieceFastPathTests: XCTestCase {
    static let models = ["spm.model", "spm-unigram.model", "spm-unigram-rew.model", "spm-unigram-nfkc.model"]

    func load(_ name: String) throws -> Tokenizer {
        try Tokenizer.load(path: try requireAsset("Tests/Fixtures/spm-bpe/\(name)"))
    }

    /// The texts of a fixture of `sentencepiece` references (one JSON object a line, with "text").
    func referenceTexts(_ model: String) throws -> [String] {
        let name = model == "spm.model" ? "sentencepiece.jsonl" : "sentencepiece-\(model.dropFirst(4).dropLast(6)).jsonl"
        let text = try String(contentsOfFile: try requireAsset("Tests/Fixtures/spm-bpe/\(name)"), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try JSONDecoder().decode(SentencePieceModelTests.Reference.self, from: Data($0.utf8)).text
        }
    }

    /// Random texts over characters the normalization treats apart: spaces, tabs, newlines, the mark,
    /// ligatures and full-width forms (mapped by nmt_nfkc), control characters, accents, emoji.
    func randomTexts(count: Int, seed: UInt64) -> [String] {
        let alphabet: [String] = [" ", " ", " ", "\t", "\n", "\u{2581}", "a", "b", "e", "\u{301}", "\u{FB01}", "\u{FF21}",
                                  "\u{1}", "\u{7F}", "\u{A0}", "\u{3000}", "\u{BD}", "日", "本", "😀", "x", "y", "ab", "the"]
        var rng = SplitMix64(seed: seed)
        return (0 ..< count).map { _ in
            let n = Int(rng.next() % 24)
            return (0 ..< n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
        }
    }

    /// The one-pass normalizer writes the chain's bytes, on random texts and on the fixture lines.
    func testOnePassNormalizerMatchesChain() throws {
        for name in Self.models {
            let t = try load(name)
            let fast = try XCTUnwrap(t.normalizer as? SentencePieceNormalizer, name)
            var texts = randomTexts(count: 3000, seed: 7)
            texts += try referenceTexts(name)
            let storage = NormalizedBytes()
            for text in texts {
                let bytes = Array(text.utf8)
                let chain = bytes.withUnsafeBufferPointer { fast.chain.normalize($0).bytes }
                let onePass = bytes.withUnsafeBufferPointer { Array(fast.normalizedBytes($0, reusing: storage)) }
                XCTAssertEqual(onePass, chain, "\(name): \(text.debugDescription)")
            }
        }
    }

    /// Word by word (with the cache, twice over so that the second pass hits it) gives the ids of the
    /// Viterbi over the whole normalized text.
    func testUnigramWordsMatchWholeText() throws {
        for name in Self.models.dropFirst() {
            let t = try load(name)
            let model = try XCTUnwrap(t.model as? Unigram)
            XCTAssertNotNil(model.wordCutScoreBound, name)
            let normalizer = try XCTUnwrap(t.normalizer as? SentencePieceNormalizer)
            var texts = randomTexts(count: 2000, seed: 11)
            texts += try referenceTexts(name)
            for _ in 0 ..< 2 {
                for text in texts {
                    let normalized = Array(text.utf8).withUnsafeBufferPointer { normalizer.chain.normalize($0).bytes }
                    var whole: [Int] = [], words: [Int] = []
                    normalized.withUnsafeBufferPointer { b in
                        model.encodeMarked(b, ids: &whole, ranges: nil)
                        model.encode(piece: b, ids: &words, ranges: nil)
                    }
                    XCTAssertEqual(words, whole, "\(name): \(text.debugDescription)")
                }
            }
        }
    }

    /// Near ties: pieces whose scores make two segmentations of a word tie exactly, or differ by less
    /// than single precision resolves once the text's running score is large. Word by word must still
    /// give the whole-text Viterbi's ids, however long the text grows.
    func testUnigramWordsNearTies() throws {
        let pieces = ["<unk>", "\u{2581}", "a", "b", "c", "\u{2581}a", "\u{2581}ab", "bc", "\u{2581}abc", "abc", "\u{2581}b"]
        let scores: [Double] = [0, -1, -1, -1, -1, -1, -2.0000002, -1.0000001, -3.0000001, -2, -1.5]
        let model = try Unigram(pieces: pieces, scores: scores, unkId: 0, byteFallback: false,
                                matchable: pieces.indices.map { $0 != 0 }, floatScores: true)
        XCTAssertNotNil(model.wordCutScoreBound)
        var rng = SplitMix64(seed: 3)
        let words = ["\u{2581}ab", "\u{2581}abc", "\u{2581}a", "\u{2581}bc", "\u{2581}b", "\u{2581}cab", "\u{2581}d"]
        for length in [1, 5, 50, 400, 3000] {
            let text = (0 ..< length).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined()
            var whole: [Int] = [], byWords: [Int] = [], again: [Int] = []
            Array(text.utf8).withUnsafeBufferPointer { b in
                model.encodeMarked(b, ids: &whole, ranges: nil)
                model.encode(piece: b, ids: &byWords, ranges: nil)
                model.encode(piece: b, ids: &again, ranges: nil)
            }
            XCTAssertEqual(byWords, whole, "\(length) words")
            XCTAssertEqual(again, whole, "\(length) words, cached")
        }
    }

    /// A piece holding the mark past its start keeps the whole-text Viterbi (no cut is safe).
    func testNoWordCutWhenAPieceSpansAMark() throws {
        let pieces = ["<unk>", "\u{2581}", "a", "a\u{2581}b", "b"]
        let model = try Unigram(pieces: pieces, scores: [0, -1, -1, -1, -1], unkId: 0, byteFallback: false,
                                matchable: [false, true, true, true, true], floatScores: true)
        XCTAssertNil(model.wordCutScoreBound)
    }
}
