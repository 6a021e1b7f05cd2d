import Foundation
import XCTest
@testable import VerbaTokenizers
import VerbaSupport

/// The regex engine of `Split` pre-tokenizers against HF `tokenizers` (Oniguruma): the fixtures of
/// scripts/fixtures/regex_split.py (Tests/Fixtures/regex/), the native scanners, and the engine's rules.
final class RegexTests: XCTestCase {
    static let directory = packageRoot.appendingPathComponent("Tests/Fixtures/regex")

    static func fixtureLines() throws -> [[UInt8]] {
        try ReferenceFixtures.lines(of: directory.appendingPathComponent("lines.jsonl")).map { row in
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(row)) as? [String: Any])
            return Array(try XCTUnwrap(object["text"] as? String).utf8)
        }
    }

    static let behaviors: [String: DelimiterBehavior] = [
        "isolated": .isolated, "removed": .removed, "merged_with_previous": .mergedWithPrevious,
        "merged_with_next": .mergedWithNext, "contiguous": .contiguous,
    ]

    func pieces(_ pre: any PreTokenizer, _ text: [UInt8]) -> [Int] {
        var out: [Range<Int>] = []
        text.withUnsafeBufferPointer { pre.split($0, into: &out) }
        return out.flatMap { [$0.lowerBound, $0.upperBound] }
    }

    /// Every pattern, behavior and invert of the fixture: the same pieces, offsets included.
    func testSplitsMatchHuggingFace() throws {
        let lines = try Self.fixtureLines()
        let rows = try ReferenceFixtures.lines(of: Self.directory.appendingPathComponent("splits.jsonl"))
        XCTAssertGreaterThan(rows.count, 40)
        var failures = 0
        for row in rows {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(row)) as? [String: Any])
            let pattern = try XCTUnwrap(object["pattern"] as? String)
            let behavior = try XCTUnwrap(Self.behaviors[try XCTUnwrap(object["behavior"] as? String)])
            let invert = try XCTUnwrap(object["invert"] as? Bool)
            let expected = try XCTUnwrap(object["pieces"] as? [[Int]])
            XCTAssertEqual(expected.count, lines.count)
            let pre = try RegexSplitPreTokenizer(pattern: pattern, behavior: behavior, invert: invert)
            for (line, want) in zip(lines, expected) {
                let got = pieces(pre, line)
                if got != want {
                    failures += 1
                    if failures <= 10 {
                        XCTFail("\(pattern.prefix(60)) \(behavior) invert \(invert) on \(show(line)):\n got \(got)\nwant \(want)")
                    }
                }
            }
        }
        XCTAssertEqual(failures, 0)
    }

    /// The five patterns with native scanners, compiled by the engine: the scanners' pieces on the
    /// fixture texts, the split-pattern cases and seeded random mixes.
    func testEngineAgreesWithTheNativeScanners() throws {
        var texts = try Self.fixtureLines()
        texts += try BPECases.load().cases.map(\.text)
        var rng = SplitMix64(seed: 18)
        let alphabet: [String] = ["a", "Z", "é", "e\u{301}", "ß", "1", "٣", "½", " ", "  ", "\n", "\r\n", "\t", "'", "'s", "'LL",
                                  "!", "/", "中", "😀", "ǅ", "\u{00A0}", "\u{3000}", "-", "_", "ʰ", "\u{10D50}"]
        for _ in 0..<300 {
            let k = Int(rng.next() % 24) + 1
            texts.append(Array((0..<k).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined().utf8))
        }
        for pattern in SplitPattern.allCases {
            let engine = try RegexSplitPreTokenizer(pattern: pattern.hfRegex, behavior: .isolated, invert: false)
            let native = PatternSplitter(pattern)
            var failures = 0
            // U+0295 (ʕ) is Ll for Oniguruma but Lo for the o200k scanner (tiktoken's Unicode 16), so o200k's
            // cased-word alternatives split it differently; the engine follows Oniguruma (the fixtures check).
            let comparable = pattern == .o200k ? texts.filter { !String(decoding: $0, as: UTF8.self).unicodeScalars.contains("\u{0295}") } : texts
            for text in comparable where pieces(engine, text) != pieces(native, text) {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(pattern) on \(show(text)): engine \(pieces(engine, text)), native \(pieces(native, text))")
                }
            }
            XCTAssertEqual(failures, 0, "\(pattern)")
        }
        // tiktoken's own spelling of cl100k, read as fancy-regex reads it (`{1,3}+` possessive, `$` the end).
        let tiktoken = try CompiledRegex(SplitPattern.cl100k.regex, dialect: .fancy)
        let native = PatternSplitter(.cl100k)
        for text in texts {
            let flat = tiktoken.matches(in: text).flatMap { [$0.lowerBound, $0.upperBound] }
            XCTAssertEqual(flat, pieces(native, text), show(text))
        }
    }

    /// A GPT-2 tokenizer.json whose pre-tokenizer is Sequence[Split(\w+|[^\w\s]+), ByteLevel without its
    /// regex] encodes id for id as HF.
    func testTokenizerJSONWithARegexSplitEncodesAsHuggingFace() throws {
        let path = try ReferenceFixtures.asset("../shared/fixtures/gpt2/tokenizer.json")
        let fixture = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.directory.appendingPathComponent("gpt2-words.json"))) as? [String: Any])
        var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        config["pre_tokenizer"] = fixture["pre_tokenizer"]
        let bytes = [UInt8](try JSONSerialization.data(withJSONObject: config))
        let tokenizer = try Tokenizer.fromTokenizerJSON(bytes, path: "gpt2-words")
        let expected = try XCTUnwrap(fixture["ids"] as? [[Int]])
        let lines = try Self.fixtureLines()
        XCTAssertEqual(expected.count, lines.count)
        for (line, want) in zip(lines, expected) {
            let got = tokenizer.encodeIds(String(decoding: line, as: UTF8.self), addSpecialTokens: false)
            XCTAssertEqual(got, want, show(line))
        }
    }

    /// The iteration over matches is the `onig` crate's (its own test vectors), and matching is
    /// leftmost-first with backtracking.
    func testMatchSemantics() throws {
        func m(_ p: String, _ s: String) throws -> [Range<Int>] { try CompiledRegex(p).matches(in: Array(s.utf8)) }
        XCTAssertEqual(try m(#"\d*"#, "a1bbb2"), [0..<0, 1..<2, 3..<3, 4..<4, 5..<6])
        XCTAssertEqual(try m(#"\d*"#, "a1b2"), [0..<0, 1..<2, 3..<4])
        XCTAssertEqual(try m(#"\b"#, "test string"), [0..<0, 4..<4, 5..<5, 11..<11])
        XCTAssertEqual(try m("(a|ab)(c|bcd)", "abcd"), [0..<4])
        XCTAssertEqual(try m("a*+a", "aaa"), [])
        XCTAssertEqual(try m("(?>a+)b|a", "aa"), [0..<1, 1..<2])
        XCTAssertEqual(try m("a+?", "aaa"), [0..<1, 1..<2, 2..<3])
        XCTAssertEqual(try m("a{2,3}?b", "aaab"), [0..<4])
        XCTAssertEqual(try m(#"\p{N}{1,3}+"#, "1234567"), [0..<7])  // Oniguruma: (?:\p{N}{1,3})+
        XCTAssertEqual(try m(#"\s+(?!\S)|\s+"#, "a   b"), [1..<3, 3..<4])
        XCTAssertEqual(try m(#"\s+$"#, "a  \n b  "), [1..<3, 6..<8])  // $ is end of line
        XCTAssertEqual(try m(#"^\w"#, "ab\ncd"), [0..<1, 3..<4])
        XCTAssertEqual(try m("(?i:k)", "k K \u{212A}"), [0..<1, 2..<3, 4..<7])
        XCTAssertEqual(try m("(?:a|)*b", "aab"), [0..<3])
        XCTAssertEqual(try m("(?:a*)*b", "xb"), [1..<2])
        XCTAssertEqual(try m("[]a]+", "a]]b"), [0..<3])
        XCTAssertEqual(try m(#"[\w&&[^\d]]+"#, "ab12cd"), [0..<2, 4..<6])
        XCTAssertEqual(try m(".", "a\nb"), [0..<1, 2..<3])
        // Outside a class `\w` counts Latin-1's ½ as a word character, inside one it does not.
        XCTAssertEqual(try m(#"\w"#, "½"), [0..<2])
        XCTAssertEqual(try m(#"[\w]"#, "½"), [])
        // fancy-regex (tiktoken): `{n,m}+` is possessive, `$` is the end of the text, `(?s)` lets `.` take \n.
        func f(_ p: String, _ s: String) throws -> [Range<Int>] { try CompiledRegex(p, dialect: .fancy).matches(in: Array(s.utf8)) }
        XCTAssertEqual(try f(#"\p{N}{1,3}+"#, "1234567"), [0..<3, 3..<6, 6..<7])
        XCTAssertEqual(try f(#"\s+$"#, "a  \n b  "), [6..<8])
        XCTAssertEqual(try f("(?s).", "a\n"), [0..<1, 1..<2])
        XCTAssertEqual(try CompiledRegex("a.b", literal: true).matches(in: Array("a.b axb".utf8)), [0..<3])
    }

    /// Ill-formed UTF-8 is matched a byte at a time as a character that is no letter, number or space;
    /// long runs neither recurse nor take quadratic time.
    func testIllFormedAndLongInput() throws {
        let pre = try RegexSplitPreTokenizer(pattern: #"\p{L}+|[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#, behavior: .isolated, invert: false)
        XCTAssertEqual(pieces(pre, [0x61, 0xFF, 0xC3, 0x20, 0xE2, 0x82, 0x62]), [0, 1, 1, 3, 3, 4, 4, 6, 6, 7])
        let long = [UInt8](repeating: 0x20, count: 200_000) + [0x61]
        XCTAssertEqual(pieces(pre, long), [0, 199_999, 199_999, 200_000, 200_000, 200_001])
    }

    /// What the engine does not implement is an error naming the construct, and tokenizer.json says so.
    func testUnsupportedConstructsAreNamed() throws {
        let cases = [#"(?<=a)b"#: "lookbehind", #"(a)\1"#: "backreference", #"\p{Han}"#: "\\p{Han}",
                     "[[:alpha:]]": "POSIX bracket", "(?x)a": "extended", #"\K"#: "escape \\K"]
        for (pattern, construct) in cases {
            XCTAssertThrowsError(try CompiledRegex(pattern), pattern) { error in
                guard case let .unsupported(what, _) = error as? RegexError else { return XCTFail("\(pattern): \(error)") }
                XCTAssertTrue(what.contains(construct), "\(pattern): \(what)")
            }
        }
        for bad in ["(a", "a)", "[a", "*a", "a{3,1}", #"\x{110000}"#] {
            XCTAssertThrowsError(try CompiledRegex(bad), bad) { error in
                guard case .syntax = error as? RegexError else { return XCTFail("\(bad): \(error)") }
            }
        }
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}, "pre_tokenizer": "#
            + #"{"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated", "invert": false}}"#
        XCTAssertThrowsError(try Tokenizer.fromTokenizerJSON(Array(json.utf8), path: "t.json")) { error in
            guard case let .unsupported(path, what) = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "t.json")
            XCTAssertTrue(what.contains("lookbehind") && what.contains("(?<=a)b"), what)
        }
    }

    /// tokenizer.json picks the native scanner only for a known pattern, Isolated, not inverted.
    func testTokenizerJSONChoosesTheNativeScannerOnlyWhenExact() throws {
        func pre(_ regex: String, _ behavior: String, _ invert: Bool) throws -> (any PreTokenizer)? {
            let escaped = String(decoding: try JSONSerialization.data(withJSONObject: [regex], options: [.withoutEscapingSlashes]), as: UTF8.self)
            let json = #"{"type": "Split", "pattern": {"Regex": "# + escaped.dropFirst().dropLast() + #"}, "behavior": ""# + behavior
                + #"", "invert": "# + (invert ? "true" : "false") + "}"
            let value = try parseJSON(Array(json.utf8))
            return try TokenizerJSONReader(path: "t").preTokenizer(value).pre
        }
        XCTAssertTrue(try pre(SplitPattern.llama3.hfRegex, "Isolated", false) is PatternSplitter)
        XCTAssertTrue(try pre(SplitPattern.llama3.hfRegex, "Removed", false) is RegexSplitPreTokenizer)
        XCTAssertTrue(try pre(SplitPattern.gpt2.hfRegex, "Isolated", true) is RegexSplitPreTokenizer)
        XCTAssertTrue(try pre(SplitPattern.cl100k.regex, "Isolated", false) is RegexSplitPreTokenizer)
        XCTAssertTrue(try pre(SplitPattern.cl100k.hfRegex, "Isolated", false) is PatternSplitter)
    }
}
