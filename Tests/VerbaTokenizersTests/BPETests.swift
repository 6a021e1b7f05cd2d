import Foundation
import XCTest
@testable import VerbaTokenizers

/// Models shared by the tests (built once).
enum BPEModels {
    /// GPT-2's vocab.json and merges.txt in the shared fixtures beside the checkout.
    static let gpt2Folder = BPECases.root.appendingPathComponent("../shared/fixtures/gpt2").standardizedFileURL.path

    static func gpt2(ignoreMerges: Bool = false) throws -> BPE {
        _ = try requireAsset("../shared/fixtures/gpt2/vocab.json", root: BPECases.root)
        let vocabData = try Data(contentsOf: URL(fileURLWithPath: gpt2Folder + "/vocab.json"))
        let vocab = try XCTUnwrap(try JSONSerialization.jsonObject(with: vocabData) as? [String: Int])
        let text = try String(contentsOfFile: gpt2Folder + "/merges.txt", encoding: .utf8)
        var merges: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#version") {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2)
            merges.append((String(parts[0]), String(parts[1])))
        }
        return try BPE(vocab: vocab, merges: merges, options: .init(byteLevel: true, ignoreMerges: ignoreMerges),
                       path: gpt2Folder)
    }

    static func tiktoken(_ name: String) throws -> BPE {
        try BPE(tiktokenFile: requireAsset("downloads/tiktoken/\(name).tiktoken", root: BPECases.root))
    }
}

/// Splits `text` with `pre` and encodes each piece with `model`.
func encodeText(_ text: [UInt8], _ pre: PreTokenizer, _ model: BPE, ranges: Bool = false) -> (ids: [Int], ranges: [Range<Int>]) {
    var pieces: [Range<Int>] = []
    var ids: [Int] = []
    var out: [Range<Int>] = []
    text.withUnsafeBufferPointer { buf in
        pre.split(buf, into: &pieces)
        for p in pieces {
            let piece = UnsafeBufferPointer(rebasing: buf[p])
            if ranges {
                var local: [Range<Int>] = []
                model.encode(piece: piece, ids: &ids, ranges: &local)
                out += local.map { ($0.lowerBound + p.lowerBound)..<($0.upperBound + p.lowerBound) }
            } else {
                model.encode(piece: piece, ids: &ids, ranges: nil)
            }
        }
    }
    return (ids, out)
}

final class BPETests: XCTestCase {
    func check(_ model: BPE, _ pattern: SplitPattern, _ key: String) throws {
        let fixture = try BPECases.load()
        var failures = 0
        for c in fixture.cases {
            let expected = try XCTUnwrap(c.ids[key])
            let got = encodeText(c.text, PatternSplitter(pattern), model).ids
            if got != expected {
                failures += 1
                if failures <= 5 { XCTFail("\(key) on \(show(c.text)): got \(got), expected \(expected)") }
            }
        }
        XCTAssertEqual(failures, 0, "\(key): \(failures) texts differ")
    }

    func testGPT2MatchesTokenizers() throws {
        try check(try BPEModels.gpt2(), .gpt2, "gpt2")
    }

    func testCL100KMatchesTiktoken() throws {
        try check(try BPEModels.tiktoken("cl100k_base"), .cl100k, "cl100k")
    }

    func testO200KMatchesTiktoken() throws {
        try check(try BPEModels.tiktoken("o200k_base"), .o200k, "o200k")
    }

    /// The fast paths (whole-piece lookup, array scan, heap) against the textbook loop.
    func testFastPathsMatchReference() throws {
        var models: [(String, BPE)] = [("gpt2", try BPEModels.gpt2()), ("gpt2+ignore_merges", try BPEModels.gpt2(ignoreMerges: true))]
        if let cl = try? BPEModels.tiktoken("cl100k_base") { models.append(("cl100k", cl)) }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("aaabbbeeinorst  ..'\n".utf8) + [0xC3, 0xA9, 0xF0, 0x9F, 0x91, 0x8D, 0xFF]
        var pieces: [[UInt8]] = [Array("a".utf8), Array(" the".utf8), Array("unbelievably".utf8)]
        for _ in 0..<200 {
            let n = Int.random(in: 1...400, using: &rng)
            pieces.append((0..<n).map { _ in alphabet.randomElement(using: &rng)! })
        }
        pieces.append([UInt8](repeating: 0x61, count: 3000))
        pieces.append(Array(String(repeating: "ab", count: 1500).utf8))
        pieces.append(Array(String(repeating: "🙂", count: 300).utf8))
        for (name, model) in models {
            for piece in pieces {
                let fast = model.encode(piece: piece)
                XCTAssertEqual(fast, model.encodeReference(piece: piece), "\(name): \(show(piece))")
                // Every byte is encoded: the tokens' bytes give the piece back.
                var back: [UInt8] = []
                for id in fast { XCTAssertTrue(model.appendTokenBytes(id, to: &back)) }
                XCTAssertEqual(back, piece, name)
            }
        }
    }

    /// GPT-2 never lists a token whose own merges split it, so the whole-piece lookup changes nothing.
    func testWholePieceLookupIsExactWithoutIgnoreMerges() throws {
        let plain = try BPEModels.gpt2()
        let fixture = try BPECases.load()
        for c in fixture.cases {
            XCTAssertEqual(encodeText(c.text, PatternSplitter(.gpt2), plain).ids, c.ids["gpt2"])
        }
        for word in ["Ġthe", "ĠHello", "Ċ", "ĠâĢ¦"] {
            let id = try XCTUnwrap(plain.tokenToId(word))
            let bytes = try XCTUnwrap(plain.tokenBytes(id))
            XCTAssertEqual(plain.encode(piece: bytes), plain.encodeReference(piece: bytes))
        }
    }

    func testRangesAndRoundTripOfIllFormedText() throws {
        let model = try BPEModels.tiktoken("cl100k_base")
        let text: [UInt8] = Array("héllo  wörld\r\n".utf8) + [0xFF, 0xC3, 0x28, 0xE2, 0x82] + Array("👨‍👩‍👧 end".utf8)
        let (ids, ranges) = encodeText(text, PatternSplitter(.cl100k), model, ranges: true)
        XCTAssertEqual(ids.count, ranges.count)
        var back: [UInt8] = []
        var at = 0
        for (id, r) in zip(ids, ranges) {
            XCTAssertEqual(r.lowerBound, at)
            at = r.upperBound
            let bytes = try XCTUnwrap(model.tokenBytes(id))
            XCTAssertEqual(bytes, Array(text[r]))
            back += bytes
        }
        XCTAssertEqual(back, text)
        // The ids-only path and the second, cached encoding agree.
        XCTAssertEqual(encodeText(text, PatternSplitter(.cl100k), model).ids, ids)
        let again = encodeText(text, PatternSplitter(.cl100k), model, ranges: true)
        XCTAssertEqual(again.ids, ids)
        XCTAssertEqual(again.ranges, ranges)
    }

    /// Many threads encoding at once (each with its own piece cache) give the single-thread ids.
    func testConcurrentEncodingMatchesSerial() throws {
        let fixture = try BPECases.load()
        for (model, pattern, key) in [(try BPEModels.tiktoken("o200k_base"), SplitPattern.o200k, "o200k"),
                                      (try BPEModels.gpt2(), .gpt2, "gpt2")] {
            let texts = fixture.cases.map(\.text)
            // Each thread writes its own slots; the loop below reads them after all have joined.
            nonisolated(unsafe) let results = UnsafeMutablePointer<[Int]>.allocate(capacity: texts.count * 8)
            results.initialize(repeating: [], count: texts.count * 8)
            defer { results.deinitialize(count: texts.count * 8); results.deallocate() }
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for (k, text) in texts.enumerated() {
                    results[t * texts.count + k] = encodeText(text, PatternSplitter(pattern), model).ids
                }
            }
            for t in 0..<8 {
                for (k, c) in fixture.cases.enumerated() { XCTAssertEqual(results[t * texts.count + k], c.ids[key], key) }
            }
        }
    }

    func testLongRepeatedCharacterIsNotQuadratic() throws {
        let model = try BPEModels.tiktoken("cl100k_base")
        let piece = [UInt8](repeating: 0x61, count: 2_000_000)
        let ids = model.encode(piece: piece)
        var back: [UInt8] = []
        for id in ids { _ = model.appendTokenBytes(id, to: &back) }
        XCTAssertEqual(back, piece)
        // Every token of a run of 'a' is itself a run of 'a': the run splits into few, long tokens.
        XCTAssertLessThan(ids.count, piece.count / 4)
    }

    func testVocabularyLookups() throws {
        let gpt2 = try BPEModels.gpt2()
        XCTAssertEqual(gpt2.vocabSize, 50257)
        XCTAssertEqual(gpt2.tokenToId("Ġthe"), 262)
        XCTAssertEqual(gpt2.idToToken(262), "Ġthe")
        XCTAssertEqual(gpt2.tokenBytes(262), Array(" the".utf8))
        XCTAssertNil(gpt2.idToToken(50257))
        XCTAssertEqual(gpt2.encode(piece: Array(" the".utf8)), [262])
        let cl = try BPEModels.tiktoken("cl100k_base")
        XCTAssertEqual(cl.vocabSize, 100256)
        XCTAssertEqual(cl.tokenToId("Ġthe"), 279)
        XCTAssertEqual(cl.idToToken(279), "Ġthe")
        XCTAssertEqual(cl.encode(piece: Array(" the".utf8)), [279])
        XCTAssertTrue(cl.isTiktoken)
    }

    func testTiktokenParsing() throws {
        let ok = Array("IQ== 0\n\nIg== 1\r\naGk= 2\n".utf8)
        XCTAssertEqual(try BPE.parseTiktoken(ok, path: "x"), [[0x21]: 0, [0x22]: 1, Array("hi".utf8): 2])
        XCTAssertThrowsError(try BPE.parseTiktoken(Array("IQ== 0\nI@== 1\n".utf8), path: "f.tiktoken")) { e in
            XCTAssertEqual(e as? TokenizerError, .malformed(path: "f.tiktoken", reason: "line 2: invalid base64 token"))
        }
        XCTAssertThrowsError(try BPE.parseTiktoken(Array("IQ== 0\nIQ=\n".utf8), path: "f")) { e in
            XCTAssertEqual((e as? TokenizerError)?.description, "f: line 2: expected \"<base64 token> <rank>\", found 1 fields")
        }
        XCTAssertThrowsError(try BPE.parseTiktoken(Array("IQ== -1\n".utf8), path: "f")) { e in
            XCTAssertEqual(e as? TokenizerError, .malformed(path: "f", reason: "line 1: invalid rank"))
        }
        // A rank file must give every single byte a rank.
        XCTAssertThrowsError(try BPE(tiktokenData: ok, path: "small")) { e in
            XCTAssertEqual(e as? TokenizerError, .malformed(path: "small", reason: "no rank for the single byte 0x0"))
        }
        XCTAssertThrowsError(try BPE(tiktokenFile: "/nonexistent.tiktoken"))
    }

    func testTiktokenRanksConstructor() throws {
        var ranks: [[UInt8]: Int] = [:]
        for b in 0..<256 { ranks[[UInt8(b)]] = b }
        ranks[Array("ab".utf8)] = 256
        ranks[Array("abc".utf8)] = 257
        ranks[Array("bc".utf8)] = 258
        let model = try BPE(tiktokenRanks: ranks)
        XCTAssertEqual(model.encode(piece: Array("abc".utf8)), [257])  // whole-piece lookup
        XCTAssertEqual(model.encode(piece: Array("abcd".utf8)), [257, 100])  // ab, then abc
        XCTAssertEqual(model.encode(piece: Array("xbc".utf8)), [120, 258])
    }

    func testCharacterModelWithUnknownsPrefixAndFallback() throws {
        // A small non-byte-level model: characters, "##" continuation, "</w>" suffix, unk.
        let vocab = ["[UNK]": 0, "a": 1, "b": 2, "##a": 3, "##b": 4, "ab": 5, "##b</w>": 6, "a</w>": 7, "ab</w>": 8]
        let merges = [("a", "##b</w>"), ("a", "##b")]
        let model = try BPE(vocab: vocab, merges: merges, options: .init(
            byteLevel: false, unkToken: "[UNK]", fuseUnk: true, continuingSubwordPrefix: "##", endOfWordSuffix: "</w>"))
        XCTAssertEqual(model.encode(piece: Array("ab".utf8)), [8])
        XCTAssertEqual(model.encode(piece: Array("a".utf8)), [7])
        XCTAssertEqual(model.encode(piece: Array("xyab".utf8)), [0, 3, 6])  // fused unk, then ##a ##b</w>
        let unfused = try BPE(vocab: vocab, merges: merges, options: .init(
            byteLevel: false, unkToken: "[UNK]", continuingSubwordPrefix: "##", endOfWordSuffix: "</w>"))
        XCTAssertEqual(unfused.encode(piece: Array("xya".utf8)), [0, 0, 0])  // "##a</w>" is missing too
        var fbVocab = ["a": 0, "b": 1, "ab": 2]
        for b in 0..<256 { fbVocab[String(format: "<0x%02X>", b)] = 3 + b }
        let fb = try BPE(vocab: fbVocab, merges: [("a", "b")], options: .init(byteLevel: false, byteFallback: true))
        XCTAssertEqual(fb.encode(piece: Array("abé".utf8)), [2, 3 + 0xC3, 3 + 0xA9])
        XCTAssertThrowsError(try BPE(vocab: vocab, merges: [("a", "zz")], options: .init(byteLevel: false), path: "m.txt")) { e in
            XCTAssertEqual((e as? TokenizerError)?.description, "m.txt: merge 1: token \"zz\" is not in the vocabulary")
        }
        XCTAssertThrowsError(try BPE(vocab: vocab, merges: [], options: .init(dropout: 0.1), path: "t.json"))
    }

    /// Pieces given out of text order (the public `encode(pieces:in:ids:)` does not require them sorted)
    /// give the ids of each piece in the order given, and the output buffer is sized for all of them:
    /// sized by the span from the first piece to the last, it overflowed here.
    func testPiecesOutOfTextOrder() throws {
        let bpe = try BPEModels.gpt2()
        let text = (0..<3000).map { UInt8(0x80 + $0 % 97) }
        let halves = [stride(from: 1500, to: 3000, by: 20), stride(from: 0, to: 1500, by: 20)]
        let pieces = halves.flatMap { $0.map { $0 ..< $0 + 20 } }
        var expected: [Int] = []
        text.withUnsafeBufferPointer { t in
            for r in pieces { bpe.encode(piece: UnsafeBufferPointer(rebasing: t[r]), ids: &expected, ranges: nil) }
        }
        var got: [Int] = []
        text.withUnsafeBufferPointer { t in
            pieces.withUnsafeBufferPointer { bpe.encode(pieces: $0, in: t, ids: &got) }
        }
        XCTAssertGreaterThan(expected.count, 1024)
        XCTAssertEqual(got, expected)
    }
}
