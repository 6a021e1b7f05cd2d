import Foundation
@testable import VerbaTokenizers
import XCTest

/// The BPE merges a sentencepiece model's pieces imply: the packed derivation (`packedMerges`, a trie
/// walk) against the plain one (`merges(ids:)`, a String per split), merge for merge.
final class SentencePieceMergesTests: XCTestCase {
    func plain(_ proto: SentencePieceModelProto) -> [(String, String)] {
        var ids: [String: Int] = [:]
        for (i, p) in proto.pieces.enumerated() { ids[p.piece] = i }
        return proto.merges(ids: ids)
    }

    func assertSame(_ proto: SentencePieceModelProto, file: StaticString = #filePath, line: UInt = #line) {
        let fast = proto.packedMerges().pairs, reference = plain(proto)
        XCTAssertEqual(fast.count, reference.count, file: file, line: line)
        for (k, (a, b)) in zip(fast, reference).enumerated() where a != b {
            XCTFail("merge \(k): \(a) against \(b)", file: file, line: line)
            return
        }
    }

    /// The BPE fixture model (byte fallback, 1000 pieces).
    func testFixtureModel() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: try requireAsset("Tests/Fixtures/spm-bpe/spm.model"))))
        let proto = try SentencePieceModelProto(bytes)
        XCTAssertGreaterThan(proto.pieces.count, 100)
        XCTAssertGreaterThan(proto.packedMerges().count, 100)
        assertSame(proto)
    }

    /// Ties in score (ordered by the longer left part, then the longer right part, then piece order),
    /// several-byte characters, a repeated piece (its later id counts, its second copy adds nothing),
    /// and a piece whose parts are not all pieces.
    func testOrderAndEdgeCases() {
        var proto = SentencePieceModelProto()
        let list: [(String, Float)] = [
            ("a", 0), ("b", 0), ("é", 0), ("▁", 0), ("ab", -1), ("▁a", -1), ("aé", -2), ("éb", -2), ("abé", -2),
            ("▁ab", -2), ("ab", -3), ("▁abé", -2), ("x", -4), ("xab", -5), ("bab", -5), ("▁é", -1), ("aéb", -2),
        ]
        proto.pieces = list.map { .init(piece: $0.0, score: $0.1, type: .normal) }
        assertSame(proto)
        XCTAssertFalse(proto.packedMerges().pairs.isEmpty)
    }
}
