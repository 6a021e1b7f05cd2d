@testable import VerbaTokenizers
import VerbaSupport
import XCTest

/// SentencePiece-style BPE models encode a piece word by word (cut before each `▁` that follows
/// another character, each word cached) only when no merge can join a character to a mark before it;
/// the ids are those of merging the whole piece.
final class BPEWordCutTests: XCTestCase {
    let mark = "\u{2581}"

    func model(_ merges: [(String, String)], fallback: Bool = false) throws -> BPE {
        var vocab: [String: Int] = [:]
        for t in ["<unk>", mark, "a", "b", "c", "."] { vocab[t] = vocab.count }
        for (a, b) in merges where vocab[a + b] == nil { vocab[a + b] = vocab.count }
        if fallback { for b in 0..<256 { vocab["<0x" + hex2(UInt8(b)) + ">"] = vocab.count } }
        return try BPE(vocab: vocab, merges: merges,
                       options: .init(byteLevel: false, byteFallback: fallback, unkToken: "<unk>", fuseUnk: true))
    }

    func texts() -> [String] {
        let m = mark
        var out = ["a", m, m + m, "ab" + m + "ab", m + "a" + m + m + "b.", "ab" + m + m + m + "c", m + "ab.c" + m,
                   "xy" + m + "zz" + m + "a", "a" + m + "é" + m + "ü" + m, String(repeating: m + "ab", count: 40)]
        // Pseudo-random texts over the alphabet (SplitMix64, fixed seed), every length up to 40.
        var rng = SplitMix64(seed: 7)
        let alphabet = ["a", "b", "c", ".", m, m, "x", "é"]
        for length in 0..<400 {
            out.append((0..<(length % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined())
        }
        return out
    }

    func testCutModelMatchesTheReference() throws {
        let m = mark
        let bpe = try model([(m, "a"), ("a", "b"), (m + "a", "b"), (m, m), (m + m, m), (m + m, "c"), (".", "c"), ("b", ".")])
        XCTAssertNotNil(bpe.segmentMark)
        for _ in 0..<2 {  // the second round reads the cache
            for t in texts() { XCTAssertEqual(bpe.encode(piece: Array(t.utf8)), bpe.encodeReference(piece: Array(t.utf8)), t) }
        }
        let fallback = try model([(m, "a"), ("a", "b")], fallback: true)
        XCTAssertNotNil(fallback.segmentMark)
        for t in texts() { XCTAssertEqual(fallback.encode(piece: Array(t.utf8)), fallback.encodeReference(piece: Array(t.utf8)), t) }
    }

    /// A merge of a character with a following mark ("a" + "▁"), or of a token ending in something else
    /// with a mark-led one: no cuts, and the same ids as the reference.
    func testMergesAcrossAMarkTurnCuttingOff() throws {
        let m = mark
        for merges in [[("a", m), ("a" + m, "b")], [(m, "b"), ("a", m + "b")]] {
            let bpe = try model(merges)
            XCTAssertNil(bpe.segmentMark)
            for t in texts() { XCTAssertEqual(bpe.encode(piece: Array(t.utf8)), bpe.encodeReference(piece: Array(t.utf8)), t) }
        }
    }
}
