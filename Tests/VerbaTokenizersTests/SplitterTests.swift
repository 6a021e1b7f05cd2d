import Foundation
import XCTest
@testable import VerbaTokenizers

/// Reference cases from scripts/fixtures/bpe_splits.py (Tests/Fixtures/bpe/cases.json).
struct BPECases {
    struct Case {
        let text: [UInt8]
        let splits: [String: [Range<Int>]]
        let ids: [String: [Int]]
    }

    let patterns: [String: String]
    let cases: [Case]

    static let root = packageRoot

    static func load() throws -> BPECases {
        let url = root.appendingPathComponent("Tests/Fixtures/bpe/cases.json")
        let data = try Data(contentsOf: url)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let patterns = try XCTUnwrap(json["patterns"] as? [String: String])
        var cases: [Case] = []
        for c in try XCTUnwrap(json["cases"] as? [[String: Any]]) {
            let text = [UInt8](try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(c["text"] as? String))))
            var splits: [String: [Range<Int>]] = [:]
            for (name, value) in try XCTUnwrap(c["splits"] as? [String: [[Int]]]) {
                splits[name] = value.map { $0[0]..<$0[1] }
            }
            var ids: [String: [Int]] = [:]
            for name in ["gpt2", "cl100k", "o200k"] { ids[name] = try XCTUnwrap(c[name] as? [Int]) }
            cases.append(Case(text: text, splits: splits, ids: ids))
        }
        return BPECases(patterns: patterns, cases: cases)
    }
}

func show(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self).debugDescription
}

func show(_ text: [UInt8], _ pieces: [Range<Int>]) -> String {
    pieces.map { show(Array(text[$0])) }.joined(separator: " | ")
}

final class SplitterTests: XCTestCase {
    func testSplitsMatchReference() throws {
        let fixture = try BPECases.load()
        XCTAssertGreaterThan(fixture.cases.count, 100)
        for pattern in SplitPattern.allCases {
            let splitter = PatternSplitter(pattern)
            var failures = 0
            for c in fixture.cases {
                let expected = try XCTUnwrap(c.splits[pattern.rawValue])
                let got = splitter.split(c.text)
                if got != expected {
                    failures += 1
                    if failures <= 5 {
                        XCTFail("\(pattern) on \(show(c.text)):\n  got      \(show(c.text, got))\n  expected \(show(c.text, expected))")
                    }
                }
            }
            XCTAssertEqual(failures, 0, "\(pattern): \(failures) texts split differently")
        }
    }

    func testPatternsAreRecognizedFromTheirRegex() throws {
        let fixture = try BPECases.load()
        for pattern in SplitPattern.allCases {
            XCTAssertEqual(fixture.patterns[pattern.rawValue], pattern.regex)
            XCTAssertEqual(SplitPattern(regex: pattern.regex), pattern)
        }
        let r50k = #"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"#
        XCTAssertEqual(SplitPattern(regex: r50k), .gpt2)
        XCTAssertNil(SplitPattern(regex: #"\w+|[^\w\s]+"#))
        XCTAssertEqual(SplitPattern(tiktokenEncoding: "cl100k_base"), .cl100k)
        XCTAssertEqual(SplitPattern(tiktokenEncoding: "p50k_base"), .gpt2)
        XCTAssertEqual(SplitPattern(tiktokenEncoding: "o200k_base"), .o200k)
        XCTAssertNil(SplitPattern(tiktokenEncoding: "nope"))
    }

    func testHandPickedSplits() {
        func pieces(_ p: SplitPattern, _ s: String) -> [String] {
            let b = Array(s.utf8)
            return PatternSplitter(p).split(b).map { String(decoding: b[$0], as: UTF8.self) }
        }
        XCTAssertEqual(pieces(.gpt2, "I'm here  now\n"), ["I", "'m", " here", " ", " now", "\n"])
        XCTAssertEqual(pieces(.gpt2, "DON'T"), ["DON", "'", "T"])
        XCTAssertEqual(pieces(.cl100k, "DON'T I'LL"), ["DON", "'T", " I", "'LL"])
        XCTAssertEqual(pieces(.cl100k, "12345 a"), ["123", "45", " a"])
        XCTAssertEqual(pieces(.qwen2, "123"), ["1", "2", "3"])
        XCTAssertEqual(pieces(.cl100k, "x\n  "), ["x", "\n  "])
        XCTAssertEqual(pieces(.llama3, "x\n  "), ["x", "\n", "  "])
        XCTAssertEqual(pieces(.o200k, "HTTPServer McDonald's"), ["HTTPServer", " Mc", "Donald's"])
        XCTAssertEqual(pieces(.o200k, "getHTTPResponse"), ["get", "HTTPResponse"])
        XCTAssertEqual(pieces(.o200k, "a//\nb"), ["a", "//\n", "b"])
        // Unicode 16.0 letters are letters (as in tiktoken); Unicode 17.0 ones are not yet.
        XCTAssertEqual(pieces(.cl100k, "\u{1C89}'s"), ["\u{1C89}", "'s"])
        XCTAssertEqual(pieces(.cl100k, "\u{10940}'s"), ["\u{10940}'", "s"])
        XCTAssertEqual(pieces(.o200k, "\u{0295}Ab"), ["\u{0295}Ab"])  // U+0295 is Lo since 16.0 (was Ll)
    }

    func testIllFormedUTF8BytesAreOneCharacterEach() {
        let text: [UInt8] = [0x61, 0xFF, 0x62, 0x20, 0xC3, 0x20, 0xE2, 0x82, 0x20, 0xF0, 0x9F, 0x98]
        // 0xFF, a lone lead byte, truncated sequences: each byte is one "other" character.
        let got = PatternSplitter(.gpt2).split(text)
        XCTAssertEqual(got, [0..<1, 1..<2, 2..<3, 3..<5, 5..<8, 8..<12])
        XCTAssertEqual(PatternSplitter(.cl100k).split([0xED, 0xA0, 0x80]), [0..<3])  // surrogate: 3 bad bytes
    }

    func testRandomBytesAreCoveredExactly() {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x20, 0x20, 0x0A, 0x0D, 0x09, 0x27, 0x73, 0x41, 0x61, 0x31, 0x2F, 0x21,
                                 0xC3, 0xA9, 0xE2, 0x80, 0x83, 0xF0, 0x9F, 0x91, 0x8D, 0xFF, 0xCC, 0x81]
        for _ in 0..<300 {
            let n = Int.random(in: 0...60, using: &rng)
            let text = (0..<n).map { _ in alphabet.randomElement(using: &rng)! }
            for pattern in SplitPattern.allCases {
                let pieces = PatternSplitter(pattern).split(text)
                var at = 0
                for r in pieces {
                    XCTAssertEqual(r.lowerBound, at, "\(pattern) \(text)")
                    XCTAssertFalse(r.isEmpty)
                    at = r.upperBound
                }
                XCTAssertEqual(at, text.count, "\(pattern) \(text)")
            }
        }
    }

    func testLongWhitespaceRunIsLinear() {
        let text = [UInt8](repeating: 0x20, count: 1_000_000) + Array("x".utf8)
        XCTAssertEqual(PatternSplitter(.cl100k).split(text), [0..<999_999, 999_999..<1_000_001])
        XCTAssertEqual(PatternSplitter(.o200k).split(text), [0..<999_999, 999_999..<1_000_001])
        XCTAssertEqual(PatternSplitter(.gpt2).split(text), [0..<999_999, 999_999..<1_000_001])
    }

    func testByteLevelPreTokenizer() {
        let pre = ByteLevelPreTokenizer(addPrefixSpace: true, useRegex: false)
        var pieces: [Range<Int>] = []
        let text = Array("ab cd".utf8)
        text.withUnsafeBufferPointer {
            pre.split($0, into: &pieces)
            XCTAssertTrue(pre.needsPrefixSpace($0))
        }
        XCTAssertEqual(pieces, [0..<5])
        Array(" x".utf8).withUnsafeBufferPointer { XCTAssertFalse(pre.needsPrefixSpace($0)) }
    }

    func testByteLevelTable() {
        XCTAssertEqual(ByteLevel.byteToScalar[0x20], 0x120)  // Ġ
        XCTAssertEqual(ByteLevel.byteToScalar[0x0A], 0x10A)  // Ċ
        XCTAssertEqual(ByteLevel.byteToScalar[0x41], 0x41)
        XCTAssertEqual(Set(ByteLevel.byteToScalar).count, 256)
        for b in 0..<256 { XCTAssertEqual(ByteLevel.byte(forScalar: ByteLevel.byteToScalar[b]), UInt8(b)) }
        XCTAssertNil(ByteLevel.byte(forScalar: 0x20))
        let all = (0..<256).map { UInt8($0) }
        XCTAssertEqual(ByteLevel.decode(ByteLevel.encode(all)), all)
        XCTAssertEqual(ByteLevel.encode(Array(" hello\n".utf8)), "ĠhelloĊ")
        XCTAssertNil(ByteLevel.decode("a b"))
        var out: [UInt8] = []
        ByteLevel.appendDecoded("Ġx", to: &out)
        ByteLevel.appendDecoded("\n", to: &out)  // not byte-level: its UTF-8
        XCTAssertEqual(out, [0x20, 0x78, 0x0A])
    }
}
