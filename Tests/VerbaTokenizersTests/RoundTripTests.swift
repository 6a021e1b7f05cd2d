import Foundation
import XCTest
@testable import VerbaTokenizers
import VerbaSupport

/// Byte-level tokenizers lose nothing: decoding the encoding of any byte string gives it back, valid
/// UTF-8 or not.
final class RoundTripTests: XCTestCase {
    static let byteLevel = ["gpt2", "cl100k_base", "o200k_base"]

    /// Byte strings that are mostly not UTF-8: random bytes, cut multi-byte sequences, overlong forms,
    /// surrogates, code points above U+10FFFF, stray continuation bytes, mixed with valid text.
    static func invalidByteStrings(count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        let pieces: [[UInt8]] = [
            [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5], [0xFF], [0xFE], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3],
            [0xF0, 0x80, 0x80, 0x80], [0xEF, 0xBF, 0xBD], Array("é".utf8), Array("🙂".utf8), Array("中".utf8),
            Array(" the".utf8), Array("'s".utf8), [0x20], [0x0A], [0x0D], [0x00], [0x09], Array("123".utf8),
        ]
        var out: [[UInt8]] = []
        for k in 0..<count {
            var s: [UInt8] = []
            let n = Int.random(in: 0...24, using: &rng)
            for _ in 0..<n {
                if k % 3 == 0 || Bool.random(using: &rng) {
                    s.append(UInt8.random(in: 0...255, using: &rng))
                } else {
                    s += pieces[Int.random(in: 0..<pieces.count, using: &rng)]
                }
            }
            out.append(s)
        }
        return out
    }

    private func checkRoundTrip(_ name: String, _ texts: [[UInt8]], what: String) throws {
        let tokenizer = try ReferenceFixtures.tokenizer(name)
        var m = ReferenceFixtures.Mismatches("\(name) round trip of \(what)")
        var mf = ReferenceFixtures.Mismatches("\(name) encode(bytes:) vs encodeIds on \(what)")
        for text in texts {
            var ids: [Int] = []
            text.withUnsafeBufferPointer { tokenizer.encodeIds(bytes: $0, addSpecialTokens: false, into: &ids) }
            let back = tokenizer.decodeBytes(ids, skipSpecialTokens: false)
            m.check(text, back, "\(text.map { String(format: "%02x", $0) }.joined(separator: " ")) -> \(ids)")
            let full = (try? tokenizer.encode(bytes: text, addSpecialTokens: false).ids) ?? [-1]
            mf.check(ids, full, text.map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        m.report()
        mf.report()
    }

    func testCorpusRoundTrips() throws {
        let lines = try ReferenceFixtures.corpus()
        for name in Self.byteLevel { try checkRoundTrip(name, lines, what: "lines.txt") }
    }

    func testInvalidUTF8RoundTrips() throws {
        let texts = Self.invalidByteStrings(count: 3000, seed: 0x5EED)
        let invalid = texts.filter { !String(decoding: $0, as: UTF8.self).utf8.elementsEqual($0) }
        XCTAssertGreaterThan(invalid.count, 1500, "most generated strings are not UTF-8")
        for name in Self.byteLevel { try checkRoundTrip(name, texts, what: "invalid UTF-8") }
    }

    /// Every single byte value is one token, and decodes back to that byte.
    func testEveryByteAlone() throws {
        let bytes = (0...255).map { [UInt8($0)] }
        for name in Self.byteLevel { try checkRoundTrip(name, bytes, what: "single bytes") }
        let gpt2 = try ReferenceFixtures.tokenizer("gpt2")
        for b in bytes {
            XCTAssertEqual(b.withUnsafeBufferPointer { p -> Int in
                var ids: [Int] = []
                gpt2.encodeIds(bytes: p, addSpecialTokens: false, into: &ids)
                return ids.count
            }, 1, "byte \(b[0]) is one GPT-2 token")
        }
    }

    /// The String API: decode(encodeIds(line)) is the line.
    func testDecodeOfEncodedLinesGivesTheLineBack() throws {
        let lines = try ReferenceFixtures.corpus()
        for name in Self.byteLevel {
            let tokenizer = try ReferenceFixtures.tokenizer(name)
            var m = ReferenceFixtures.Mismatches("\(name) decode(encode(line)) as String")
            for line in lines {
                let text = String(decoding: line, as: UTF8.self)
                m.check(text, tokenizer.decode(tokenizer.encodeIds(text, addSpecialTokens: false)),
                        ReferenceFixtures.show(line))
            }
            m.report()
        }
    }
}
