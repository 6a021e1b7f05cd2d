import Foundation
@testable import VerbaTokenizers
import XCTest

/// Builds a pre-tokenizer from a tokenizer.json spec (the subset these tests use).
func makePreTokenizer(_ spec: [String: Any]) -> any PreTokenizer {
    switch spec["type"] as? String {
    case "BertPreTokenizer": return BertPreTokenizer()
    case "WhitespaceSplit": return WhitespaceSplitPreTokenizer()
    case "Whitespace": return WhitespacePreTokenizer()
    case "Punctuation":
        return PunctuationPreTokenizer(behavior: DelimiterBehavior(rawValue: spec["behavior"] as? String ?? "Isolated") ?? .isolated)
    case "Digits": return DigitsPreTokenizer(individualDigits: spec["individual_digits"] as? Bool ?? false)
    default: fatalError("unknown pre-tokenizer spec \(spec)")
    }
}

/// BERT uncased end to end without special tokens: normalizer, pre-tokenizer, WordPiece; ids and the
/// original byte range of every token.
struct BertUncasedPipeline {
    let normalizer = BertNormalizer()
    let preTokenizer = BertPreTokenizer()
    let model: WordPiece

    func encode(_ bytes: [UInt8]) -> (ids: [Int], offsets: [Range<Int>]) {
        let normalized = bytes.withUnsafeBufferPointer { normalizer.normalize($0) }
        var pieces: [Range<Int>] = []
        normalized.bytes.withUnsafeBufferPointer { preTokenizer.split($0, into: &pieces) }
        var ids: [Int] = []
        var offsets: [Range<Int>] = []
        var ranges: [Range<Int>] = []
        normalized.bytes.withUnsafeBufferPointer { buf in
            for piece in pieces {
                ranges.removeAll(keepingCapacity: true)
                model.encode(piece: UnsafeBufferPointer(rebasing: buf[piece]), ids: &ids, ranges: &ranges)
                for r in ranges {
                    offsets.append(normalized.originalRange(of: (piece.lowerBound + r.lowerBound) ..< (piece.lowerBound + r.upperBound)))
                }
            }
        }
        return (ids, offsets)
    }
}

final class WordPieceTests: XCTestCase {
    static let minilmDir = WordPieceFixtures.root.appendingPathComponent("downloads/minilm")

    static let minilm: WordPiece? = try? WordPiece(vocabTxtPath: minilmDir.appendingPathComponent("vocab.txt").path)

    private func model() throws -> WordPiece {
        guard let m = WordPieceTests.minilm else {
            throw AssetMissing(relative: "downloads/minilm/vocab.txt")
        }
        return m
    }

    // MARK: against tokenizers

    func testPreTokenizerCases() {
        var count = 0
        for c in WordPieceFixtures.cases where c["kind"] as? String == "pretokenize" {
            guard let spec = c["pretokenizer"] as? [String: Any], let input = c["input"] as? String,
                  let pieces = c["pieces"] as? [[Any]] else {
                return XCTFail("bad case \(c)")
            }
            let bytes = Array(input.utf8)
            var got: [Range<Int>] = []
            bytes.withUnsafeBufferPointer { makePreTokenizer(spec).split($0, into: &got) }
            let expected = pieces.map { ($0[1] as? Int ?? -1) ..< ($0[2] as? Int ?? -1) }
            // Byte offsets determine the pieces' text (JSONSerialization drops U+FEFF from strings).
            XCTAssertEqual(got, expected, "\(spec) on \(input.debugDescription)")
            count += 1
        }
        XCTAssertGreaterThan(count, 500)
    }

    func testVocabTxtMatchesTokenizerJSON() throws {
        let m = try model()
        let data = try Data(contentsOf: WordPieceTests.minilmDir.appendingPathComponent("tokenizer.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let vocab = (json?["model"] as? [String: Any])?["vocab"] as? [String: Int] ?? [:]
        XCTAssertEqual(vocab.count, 30522)
        XCTAssertEqual(m.vocab, vocab)
        XCTAssertEqual(m.vocabSize, 30522)
        XCTAssertEqual(m.unkId, 100)
        XCTAssertEqual(m.tokenToId("##ing"), 2075)
        XCTAssertEqual(m.idToToken(2075), "##ing")
        XCTAssertNil(m.idToToken(30522))
        XCTAssertNil(m.idToToken(-1))
    }

    func testEncodeCasesWithOffsets() throws {
        let pipeline = BertUncasedPipeline(model: try model())
        var count = 0
        for c in WordPieceFixtures.cases where c["kind"] as? String == "encode" {
            guard let input = c["input"] as? String, let ids = c["ids"] as? [Int], let tokens = c["tokens"] as? [String],
                  let offsets = c["offsets"] as? [[Int]] else {
                return XCTFail("bad case \(c)")
            }
            let got = pipeline.encode(Array(input.utf8))
            XCTAssertEqual(got.ids, ids, input.debugDescription)
            XCTAssertEqual(got.ids.map { pipeline.model.idToToken($0) ?? "?" }, tokens, input.debugDescription)
            XCTAssertEqual(got.offsets.map { [$0.lowerBound, $0.upperBound] }, offsets, input.debugDescription)
            count += 1
        }
        XCTAssertGreaterThan(count, 50)
    }

    /// The shared 5,421-line corpus (fortunes in 12 languages + hard cases) against tokenizers' ids.
    func testSharedCorpusIds() throws {
        let pipeline = BertUncasedPipeline(model: try model())
        let dir = WordPieceFixtures.root.appendingPathComponent("Tests/Fixtures/tokenizers")
        guard let lines = try? Data(contentsOf: dir.appendingPathComponent("lines.txt")),
              let idsText = try? String(contentsOf: dir.appendingPathComponent("bert-uncased.ids"), encoding: .utf8) else {
            throw XCTSkip("Tests/Fixtures/tokenizers missing")
        }
        let texts = [UInt8](lines).split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        let expected = idsText.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.split(separator: " ").compactMap { Int($0) }
        }
        XCTAssertGreaterThanOrEqual(expected.count, 5421)
        // Added tokens ("[CLS]" written in the text) are the pipeline's business, not this test's.
        let special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map { Array($0.utf8) }
        var checked = 0, wrong = 0
        for (k, text) in texts.enumerated() where k < expected.count {
            if special.contains(where: { s in text.count >= s.count && (0 ... text.count - s.count).contains { Array(text[$0 ..< $0 + s.count]) == s } }) {
                continue
            }
            let got = pipeline.encode(text).ids
            if got != expected[k] {
                wrong += 1
                if wrong <= 5 { XCTFail("line \(k) \(String(decoding: text, as: UTF8.self).debugDescription): \(got) != \(expected[k])") }
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 5000)
        XCTAssertEqual(wrong, 0)
    }

    // MARK: the model itself

    private func toy() throws -> WordPiece {
        let tokens = ["[UNK]", "un", "##aff", "##able", "una", "##ffa", "a", "##b", "##c", "abc", "é", "##é", "x", "##x"]
        return try WordPiece(vocab: Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) }),
                             maxInputCharsPerWord: 8)
    }

    private func encode(_ m: WordPiece, _ s: String) -> ([Int], [Range<Int>]) {
        var ids: [Int] = []
        var ranges: [Range<Int>] = []
        Array(s.utf8).withUnsafeBufferPointer { m.encode(piece: $0, ids: &ids, ranges: &ranges) }
        return (ids, ranges)
    }

    func testGreedyLongestMatchFirst() throws {
        let m = try toy()
        // Longest first: "una" wins over "un", then "##ffa" — and then "ble" cannot be covered.
        XCTAssertEqual(encode(m, "unaffable").0, [0])
        XCTAssertEqual(encode(m, "unaffable").1, [0 ..< 9])
        XCTAssertEqual(encode(m, "abc").0, [9])
        XCTAssertEqual(encode(m, "abcbc").0, [9, 7, 8])
        XCTAssertEqual(encode(m, "abcbc").1, [0 ..< 3, 3 ..< 4, 4 ..< 5])
        XCTAssertEqual(encode(m, "éé").0, [10, 11])
        XCTAssertEqual(encode(m, "éé").1, [0 ..< 2, 2 ..< 4])
        XCTAssertEqual(encode(m, "q").0, [0])
    }

    func testMaxInputCharsCountsScalarsNotBytes() throws {
        let m = try toy()
        XCTAssertEqual(encode(m, String(repeating: "x", count: 8)).0, [12] + [Int](repeating: 13, count: 7))
        XCTAssertEqual(encode(m, String(repeating: "x", count: 9)).0, [0])
        // 8 scalars, 16 bytes: still encoded.
        XCTAssertEqual(encode(m, String(repeating: "é", count: 8)).0, [10] + [Int](repeating: 11, count: 7))
        XCTAssertEqual(encode(m, String(repeating: "é", count: 9)).1, [0 ..< 18])
    }

    func testMiniLMMaxInputChars() throws {
        let m = try model()
        let hundred = String(repeating: "a", count: 100)
        XCTAssertNotEqual(encode(m, hundred).0, [100])
        XCTAssertEqual(encode(m, hundred + "a").0, [100])
    }

    func testUnknownTokenMustBeInVocabulary() {
        XCTAssertThrowsError(try WordPiece(vocab: ["a": 0])) { error in
            XCTAssertTrue("\(error)".contains("[UNK]"))
        }
    }

    func testVocabTxtParsing() throws {
        let text = Array("[UNK]\r\nhello  \n##lo\n\nhello\n".utf8)
        let vocab = try WordPiece.parseVocabTxt(text, path: "v.txt")
        XCTAssertEqual(vocab["[UNK]"], 0)
        XCTAssertEqual(vocab["hello"], 4)   // repeated: the last line wins
        XCTAssertEqual(vocab["##lo"], 2)
        XCTAssertEqual(vocab[""], 3)
        XCTAssertThrowsError(try WordPiece.parseVocabTxt([0x61, 0xFF, 0x0A], path: "bad.txt")) { error in
            XCTAssertTrue("\(error)".contains("bad.txt"))
        }
        XCTAssertThrowsError(try WordPiece(vocabTxtPath: "/nonexistent/vocab.txt"))
    }

    func testInvalidUTF8PieceIsUnknownOrCoveredBytewise() throws {
        let m = try toy()
        var ids: [Int] = []
        var ranges: [Range<Int>] = []
        [0x61, 0xFF, 0x62].withUnsafeBufferPointer { m.encode(piece: $0, ids: &ids, ranges: &ranges) }
        XCTAssertEqual(ids, [0])
        XCTAssertEqual(ranges, [0 ..< 3])
    }

    /// The hashed fast path against the plain String-keyed reference on every word of the corpus
    /// and on truncated / prefixed variants.
    func testFastEncodeMatchesReference() throws {
        let m = try model()
        let dir = WordPieceFixtures.root.appendingPathComponent("Tests/Fixtures/tokenizers")
        var words: [[UInt8]] = WordPieceFixtures.cases.compactMap { $0["input"] as? String }.map { Array($0.utf8) }
        if let lines = try? Data(contentsOf: dir.appendingPathComponent("lines.txt")) {
            words += [UInt8](lines).split(whereSeparator: { $0 == 0x20 || $0 == 0x0A }).prefix(20000).map(Array.init)
        }
        let normalizer = BertNormalizer()
        var checked = 0
        for w in words {
            let n = normalizer.normalize(w).bytes
            for piece in [n, Array(n.dropFirst()), Array("##".utf8) + n, n + Array("ing".utf8)] where !piece.isEmpty {
                var ids: [Int] = []
                var ranges: [Range<Int>] = []
                piece.withUnsafeBufferPointer { m.encode(piece: $0, ids: &ids, ranges: &ranges) }
                let ref = m.referenceEncode(piece: piece)
                XCTAssertEqual(ids, ref.ids, "\(piece)")
                XCTAssertEqual(ranges, ref.ranges, "\(piece)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 1000)
    }

    func testEncodeWithoutRangesAppends() throws {
        let m = try model()
        var ids = [7]
        Array("unaffable".utf8).withUnsafeBufferPointer { m.encode(piece: $0, ids: &ids, ranges: nil) }
        XCTAssertEqual(ids, [7, 14477, 20961, 3468])
    }

    /// tokenizer.json's vocabulary is read as packed bytes, not strings: the model must answer exactly
    /// as one built from the same vocabulary as a dictionary.
    func testTokenizerJSONVocabularyMatchesDictionaryModel() throws {
        let path = WordPieceTests.minilmDir.appendingPathComponent("tokenizer.json").path
        guard let packed = try Tokenizer.load(path: path).model as? WordPiece else { return XCTFail("not WordPiece") }
        let reference = try WordPiece(vocab: packed.vocab)
        XCTAssertEqual(packed.vocab.count, 30522)
        XCTAssertEqual(packed.vocabSize, reference.vocabSize)
        XCTAssertEqual(packed.unkId, reference.unkId)
        XCTAssertEqual(packed.tokensById, reference.tokensById)
        for id in 0 ..< packed.vocabSize {
            let token = try XCTUnwrap(packed.idToToken(id))
            XCTAssertEqual(packed.tokenToId(token), id)
        }
        for word in ["", "##", "hello", "##ing", "[UNK]", "unaffable", "é", "日本", "zzzzqqq"] {
            XCTAssertEqual(packed.tokenToId(word), reference.tokenToId(word), word)
        }
    }

    /// A vocabulary with a repeated token, a shared id and a key that is not UTF-8, read from
    /// tokenizer.json bytes: a later key wins as in a map, an id keeps its first token that still
    /// looks up to it, an ill-formed key is repaired as a Swift string would be.
    func testPackedVocabularyKeepsMapSemantics() throws {
        var vocab = Array(###"{"[UNK]": 0, "a": 1, "b": 2, "a": 3, "##b": 4, "c": 2, "x"###.utf8)
        vocab += [0xFF]
        vocab += Array(#"": 5}"#.utf8)
        let m = try wordPiece(vocab: vocab)
        XCTAssertEqual(m.vocab, ["[UNK]": 0, "a": 3, "b": 2, "##b": 4, "c": 2, "x\u{FFFD}": 5])
        XCTAssertEqual(m.vocabSize, 6)
        XCTAssertEqual(m.tokenToId("a"), 3)
        XCTAssertNil(m.idToToken(1), "only the replaced \"a\" had id 1")
        XCTAssertEqual(m.idToToken(2), "b")
        XCTAssertEqual(m.idToToken(3), "a")
        XCTAssertEqual(m.tokenToId("x\u{FFFD}"), 5)
        XCTAssertEqual(m.tokensById, ["[UNK]", nil, "b", "a", "##b", "x\u{FFFD}"])
        var ids: [Int] = []
        Array("ab".utf8).withUnsafeBufferPointer { m.encode(piece: $0, ids: &ids, ranges: nil) }
        XCTAssertEqual(ids, [3, 4])
    }

    /// Loads a WordPiece tokenizer.json whose model vocabulary is the JSON object text `vocab` (bytes:
    /// it may hold ill-formed UTF-8).
    private func wordPiece(vocab: [UInt8]) throws -> WordPiece {
        let json = Array(#"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": "#.utf8) + vocab + Array("}}".utf8)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("verba-wp-\(getpid())-\(UInt32.random(in: 0 ... .max)).json")
        try Data(json).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        guard let m = try Tokenizer.load(path: url.path).model as? WordPiece else { throw TokenizerError.invalidInput("not WordPiece") }
        return m
    }

    private func wordPiece(vocab: String) throws -> WordPiece { try wordPiece(vocab: Array(vocab.utf8)) }

    /// Ties and odd ids resolve as a map of the vocabulary did: the least token of a shared id, the
    /// unknown token checked before ids, ids of replaced keys ignored (not even to size the tables).
    func testPackedVocabularyTiesAndIds() throws {
        let shared = try wordPiece(vocab: #"{"[UNK]": 0, "b": 1, "a": 1}"#)
        XCTAssertEqual(shared.idToToken(1), "a")
        XCTAssertEqual(shared.tokenToId("b"), 1)
        XCTAssertEqual(shared.tokensById, ["[UNK]", "a"])
        XCTAssertThrowsError(try wordPiece(vocab: #"{"a": 3000000000}"#)) { error in
            XCTAssertTrue("\(error)".contains("the unknown token [UNK] is not in the vocabulary"), "\(error)")
        }
        XCTAssertThrowsError(try wordPiece(vocab: #"{"[UNK]": 0, "a": 3000000000}"#)) { error in
            XCTAssertTrue("\(error)".contains("token id 3000000000 out of range"), "\(error)")
        }
        let replacedHuge = try wordPiece(vocab: #"{"[UNK]": 0, "a": 3000000000, "a": 1}"#)
        XCTAssertEqual(replacedHuge.tokenToId("a"), 1)
        XCTAssertEqual(replacedHuge.vocabSize, 2)
        let replacedLarge = try wordPiece(vocab: #"{"[UNK]": 0, "a": 2000000000, "a": 1}"#)
        XCTAssertEqual(replacedLarge.vocabSize, 2)
        XCTAssertEqual(replacedLarge.tokensById, ["[UNK]", "a"])
    }

    /// Tokens are bytes, as in Hugging Face's map: precomposed and decomposed "é" are two tokens.
    func testCanonicallyEquivalentTokensStayDistinct() throws {
        let m = try wordPiece(vocab: #"{"[UNK]": 0, "\u00e9": 1, "e\u0301": 2}"#)
        XCTAssertEqual(m.tokenToId("\u{E9}"), 1)
        XCTAssertEqual(Array(m.idToToken(2)?.unicodeScalars ?? "".unicodeScalars), ["e", "\u{301}"])
        for (word, id) in [([UInt8]([0xC3, 0xA9]), 1), ([0x65, 0xCC, 0x81], 2)] {
            var ids: [Int] = []
            word.withUnsafeBufferPointer { m.encode(piece: $0, ids: &ids, ranges: nil) }
            XCTAssertEqual(ids, [id])
        }
    }
}
