import Foundation
import XCTest
@testable import VerbaTokenizers

/// The pipeline end to end against values printed by Hugging Face `tokenizers` 0.23 on the same input:
/// offsets, pairs, truncation with overflowing windows, padding, added-token rules, batches, decoding.
final class EncodingTests: XCTestCase {
    func asset(_ relative: String) throws -> String {
        try requireAsset(relative, root: TokenizerLoadingTests.root)
    }

    func gpt2() throws -> Tokenizer { try Tokenizer.load(path: try asset("../shared/fixtures/gpt2/tokenizer.json")) }
    func bert() throws -> Tokenizer {
        try Tokenizer.load(path: try asset("downloads/minilm/tokenizer.json")).with(truncation: nil, padding: nil)
    }

    func pairs(_ r: [Range<Int>]) -> [[Int]] { r.map { [$0.lowerBound, $0.upperBound] } }

    func testByteLevelOffsetsCountCodePoints() throws {
        let e = try gpt2().encode("héllo wörld 🦙!")
        XCTAssertEqual(e.ids, [71, 2634, 18798, 266, 30570, 335, 12520, 99, 247, 0])
        XCTAssertEqual(e.tokens, ["h", "Ã©", "llo", "Ġw", "Ã¶r", "ld", "ĠðŁ", "¦", "Ļ", "!"])
        XCTAssertEqual(pairs(e.offsets), [[0, 1], [1, 2], [2, 5], [5, 7], [7, 9], [9, 11], [11, 13], [12, 13], [12, 13], [13, 14]])
        XCTAssertEqual(pairs(e.byteOffsets), [[0, 1], [1, 3], [3, 6], [6, 8], [8, 11], [11, 13], [13, 16], [16, 17], [17, 18], [18, 19]])
        XCTAssertEqual(e.attentionMask, Array(repeating: 1, count: 10))
        XCTAssertEqual(e.specialTokensMask, Array(repeating: 0, count: 10))
        let p = try gpt2().encode("ab", pair: "cd")
        XCTAssertEqual(p.ids, [397, 10210])
        XCTAssertEqual(p.typeIds, [0, 1])
        XCTAssertEqual(pairs(p.offsets), [[0, 2], [0, 2]])
    }

    func testPairTruncationWithStrideKeepsEveryWindowCombination() throws {
        let t = try bert().with(truncation: TruncationParams(maxLength: 12, stride: 1), padding: nil)
        let e = try t.encode("the quick brown fox jumps over the lazy dog again and again", pair: "a second sentence here that is long")
        XCTAssertEqual(e.ids, [101, 1996, 4248, 2829, 4419, 14523, 102, 1037, 2117, 6251, 2182, 102])
        XCTAssertEqual(e.typeIds, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        XCTAssertEqual(e.specialTokensMask, [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        XCTAssertEqual(pairs(e.offsets), [[0, 0], [0, 3], [4, 9], [10, 15], [16, 19], [20, 25], [0, 0], [0, 1], [2, 8], [9, 17], [18, 22], [0, 0]])
        XCTAssertEqual(e.overflowing.map { $0.ids }, [
            [101, 14523, 2058, 1996, 13971, 3899, 102, 1037, 2117, 6251, 2182, 102],
            [101, 14523, 2058, 1996, 13971, 3899, 102, 2182, 2008, 2003, 2146, 102],
            [101, 3899, 2153, 1998, 2153, 102, 1037, 2117, 6251, 2182, 102],
            [101, 3899, 2153, 1998, 2153, 102, 2182, 2008, 2003, 2146, 102],
            [101, 1996, 4248, 2829, 4419, 14523, 102, 2182, 2008, 2003, 2146, 102],
        ])
        XCTAssertEqual(e.overflowing.map { $0.overflowing.count }, [1, 0, 1, 0, 2])
        XCTAssertEqual(e.overflowing[4].overflowing[1].ids, [101, 3899, 2153, 1998, 2153, 102, 2182, 2008, 2003, 2146, 102])

        let single = try t.encode("the quick brown fox jumps over the lazy dog again and again")
        XCTAssertEqual(single.ids, [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 2153, 102])
        XCTAssertEqual(single.overflowing.map { $0.ids }, [[101, 2153, 1998, 2153, 102]])
        XCTAssertEqual(pairs(single.overflowing[0].offsets), [[0, 0], [44, 49], [50, 53], [54, 59], [0, 0]])
    }

    func testOnlySecondLeftTruncation() throws {
        let t = try bert().with(truncation: TruncationParams(maxLength: 6, strategy: .onlySecond, direction: .left), padding: nil)
        let e = try t.encode("one two", pair: "three four five six seven")
        XCTAssertEqual(e.ids, [101, 2028, 2048, 102, 2698, 102])
        XCTAssertEqual(e.overflowing.map { $0.ids }, [[101, 2028, 2048, 102, 2416, 102], [101, 2028, 2048, 102, 2274, 102],
                                                      [101, 2028, 2048, 102, 2176, 102], [101, 2028, 2048, 102, 2093, 102]])
        // Refused settings throw, as HF refuses them.
        XCTAssertThrowsError(try t.encode("one two three four five six seven"))
        let tooShort = try bert().with(truncation: TruncationParams(maxLength: 4, strategy: .onlyFirst), padding: nil)
        XCTAssertThrowsError(try tooShort.encode("a b c d e", pair: "f g h i j k"))
    }

    func testPaddingLeftToMultipleAndBatchLongest() throws {
        let t = try bert().with(truncation: nil, padding: PaddingParams(direction: .left, padToMultipleOf: 8))
        let e = try t.encode("Hello there", pair: "General Kenobi")
        XCTAssertEqual(e.ids, [0, 0, 0, 0, 0, 0, 0, 101, 7592, 2045, 102, 2236, 6358, 16429, 2072, 102])
        XCTAssertEqual(e.typeIds, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        XCTAssertEqual(e.attentionMask, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(e.specialTokensMask, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1])
        XCTAssertEqual(pairs(e.offsets).suffix(9), [[0, 0], [0, 5], [6, 11], [0, 0], [0, 7], [8, 11], [11, 13], [13, 14], [0, 0]])
        let batch = try t.encodeBatch(["a b c d e f g h i", "short", ""], threads: 2)
        XCTAssertEqual(batch.map { $0.ids }, [
            [0, 0, 0, 0, 0, 101, 1037, 1038, 1039, 1040, 1041, 1042, 1043, 1044, 1045, 102],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 101, 2460, 102],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 101, 102],
        ])
    }

    func testBatchResultsAreInInputOrder() throws {
        let t = try gpt2()
        let texts = (0..<500).map { "line \($0): " + String(repeating: "word\($0 % 7) ", count: $0 % 13) }
        let batch = try t.encodeBatch(texts, threads: 4)
        XCTAssertEqual(batch.count, texts.count)
        for (i, text) in texts.enumerated() { XCTAssertEqual(batch[i], try t.encode(text), "text \(i)") }
    }

    func testAddedTokenRules() throws {
        let base = try bert()
        let added = base.addedVocabulary.tokens + [
            AddedToken(content: "<ls>", id: 30522, special: true, lstrip: true, normalized: false),
            AddedToken(content: "<rs>", id: 30523, special: true, rstrip: true, normalized: false),
            AddedToken(content: "word", id: 2773, special: false, singleWord: true, normalized: false),
            AddedToken(content: "foo bar", id: 30524, special: false, normalized: true),
        ]
        let t = Tokenizer(normalizer: base.normalizer, preTokenizer: base.preTokenizer, model: base.model,
                          postProcessor: base.postProcessor, decoder: base.decoder, addedTokens: added, byteLevel: false)
        func check(_ text: String, _ ids: [Int], _ tokens: [String], _ offsets: [[Int]], line: UInt = #line) throws {
            let e = try t.encode(text, addSpecialTokens: false)
            XCTAssertEqual(e.ids, ids, text, line: line)
            XCTAssertEqual(e.tokens, tokens, text, line: line)
            XCTAssertEqual(pairs(e.offsets), offsets, text, line: line)
            XCTAssertEqual(t.encodeIds(text, addSpecialTokens: false), ids, text, line: line)
        }
        try check("a <ls> b", [1037, 30522, 1038], ["a", " <ls>", "b"], [[0, 1], [1, 6], [7, 8]])
        try check("a <rs>  b", [1037, 30523, 1038], ["a", "<rs>  ", "b"], [[0, 1], [2, 8], [8, 9]])
        try check("word words sword word", [2773, 2616, 4690, 2773], ["word", "words", "sword", "word"], [[0, 4], [5, 10], [11, 16], [17, 21]])
        try check("Foo Bar foo bar", [30524, 30524], ["foo bar", "foo bar"], [[0, 7], [8, 15]])
        try check("x<ls><rs>y", [1060, 30522, 30523, 1061], ["x", "<ls>", "<rs>", "y"], [[0, 1], [1, 5], [5, 9], [9, 10]])
    }

    func testRobertaAndBertProcessing() throws {
        let base = try bert()
        func with(_ p: PostProcessor) -> Tokenizer {
            Tokenizer(normalizer: base.normalizer, preTokenizer: base.preTokenizer, model: base.model, postProcessor: p,
                      decoder: base.decoder, addedTokens: base.addedVocabulary.tokens, byteLevel: false)
        }
        let roberta = with(RobertaProcessing(sep: ("[SEP]", 102), cls: ("[CLS]", 101)))
        let r = try roberta.encode("the quick brown fox", pair: "a second")
        XCTAssertEqual(r.ids, [101, 1996, 4248, 2829, 4419, 102, 102, 1037, 2117, 102])
        XCTAssertEqual(r.typeIds, Array(repeating: 0, count: 10))
        XCTAssertEqual(r.specialTokensMask, [1, 0, 0, 0, 0, 1, 1, 0, 0, 1])
        XCTAssertEqual(roberta.encodeIds("the quick"), [101, 1996, 4248, 102])
        let bertProcessing = with(BertProcessing(sep: ("[SEP]", 102), cls: ("[CLS]", 101)))
        let b = try bertProcessing.encode("the quick brown fox", pair: "a second")
        XCTAssertEqual(b, try base.encode("the quick brown fox", pair: "a second"))
    }

    func testDecodingAndStreaming() throws {
        let g = try gpt2()
        let text = "naïve café 🦙 — done"
        let ids = g.encodeIds(text)
        XCTAssertEqual(g.decode(ids), text)
        // A cut through the llama emoji decodes to U+FFFD, as HF's lossy decoding does.
        XCTAssertEqual(g.decode([12520, 99]), " \u{FFFD}")
        var stream = g.incrementalDecoder()
        var pieces: [String] = []
        for id in ids { pieces.append(stream.push(id)) }
        pieces.append(stream.finish())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertFalse(pieces.contains { $0.contains("\u{FFFD}") }, "\(pieces)")
        XCTAssertTrue(pieces.contains(""), "the emoji's first byte tokens emit nothing until it is complete: \(pieces)")

        let b = try bert()
        XCTAssertEqual(b.decode([101, 7592, 1010, 2088, 999, 102]), "[CLS] hello, world! [SEP]")
        XCTAssertEqual(b.decode([101, 7592, 1010, 2088, 999, 102], skipSpecialTokens: true), "hello, world!")
        var bs = b.incrementalDecoder(skipSpecialTokens: true)
        let streamed = b.encodeIds("unaffable tokenizers don't stop").map { bs.push($0) }.joined() + bs.finish()
        XCTAssertEqual(streamed, b.decode(b.encodeIds("unaffable tokenizers don't stop"), skipSpecialTokens: true))
        XCTAssertThrowsError(try b.decodeChecked([101, 999_999]))
    }

    func testInvalidUTF8AndNUL() throws {
        let g = try gpt2()
        XCTAssertEqual(try g.encode(bytes: [0x61, 0x00, 0x62]).ids, [64, 188, 65])
        XCTAssertEqual(try g.encode(bytes: [0xFF, 0xFE]).ids.count, 2)
        XCTAssertEqual(Array(g.decodeBytes(try g.encode(bytes: [0x41, 0xFF, 0xC3]).ids)), [0x41, 0xFF, 0xC3])
        let b = try bert()
        // Each ill-formed sequence becomes U+FFFD, which BERT's clean_text removes.
        XCTAssertEqual(try b.encode(bytes: [0x68, 0x69, 0xFF, 0x20, 0x6F, 0x6B]).ids, [101, 7632, 7929, 102])
    }

    /// A text with no byte that can start an added token is one text piece without a look at the
    /// matcher (one start byte: memchr; several: a bit set); with one, the tokens are found as before.
    func testAddedSplitsWithOneAndSeveralStartBytes() {
        func splits(_ v: AddedVocabulary, _ text: String) -> [AddedSplit] {
            var out: [AddedSplit] = []
            Array(text.utf8).withUnsafeBufferPointer { v.split($0, normalized: false, into: &out) }
            return out
        }
        let one = AddedVocabulary(tokens: [AddedToken(content: "[X]", id: 7, normalized: false)])
        XCTAssertEqual(splits(one, ""), [])
        XCTAssertEqual(splits(one, "plain text"), [AddedSplit(range: 0..<10, id: -1)])
        XCTAssertEqual(splits(one, "a [ b"), [AddedSplit(range: 0..<5, id: -1)])
        XCTAssertEqual(splits(one, "a[X]"), [AddedSplit(range: 0..<1, id: -1), AddedSplit(range: 1..<4, id: 7)])
        let several = AddedVocabulary(tokens: [AddedToken(content: "<b>", id: 1, normalized: false),
                                               AddedToken(content: "zz", id: 2, normalized: false),
                                               AddedToken(content: "é!", id: 3, normalized: false)])
        XCTAssertEqual(splits(several, "abc"), [AddedSplit(range: 0..<3, id: -1)])
        XCTAssertEqual(splits(several, "<b>"), [AddedSplit(range: 0..<3, id: 1)])
        XCTAssertEqual(splits(several, "xzzé!"), [AddedSplit(range: 0..<1, id: -1), AddedSplit(range: 1..<3, id: 2),
                                                  AddedSplit(range: 3..<6, id: 3)])
        XCTAssertEqual(splits(several, "é"), [AddedSplit(range: 0..<2, id: -1)])
    }
}
