import Foundation
@testable import VerbaTokenizers
import XCTest

/// Fixtures made by scripts/fixtures/wordpiece_cases.py from HF `tokenizers`.
enum WordPieceFixtures {
    static let root = packageRoot
    static let dir = root.appendingPathComponent("Tests/Fixtures/wordpiece")

    // Read once, never written: safe to share between tests.
    nonisolated(unsafe) static let properties: [String: Any] = {
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("unicode_properties.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            fatalError("cannot read \(dir.path)/unicode_properties.json")
        }
        return json
    }()

    nonisolated(unsafe) static let cases: [[String: Any]] = {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("cases.jsonl"), encoding: .utf8) else {
            fatalError("cannot read \(dir.path)/cases.jsonl")
        }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }()

    /// Membership table over all code points for a named range list.
    static func rangeSet(_ name: String) -> [Bool] {
        var set = [Bool](repeating: false, count: 0x11_0000)
        let ranges = (properties["ranges"] as? [String: Any])?[name] as? [[Int]] ?? []
        precondition(!ranges.isEmpty, "fixture range list \(name) missing")
        for r in ranges { for c in r[0] ... r[1] { set[c] = true } }
        return set
    }

    static func map(_ name: String) -> [UInt32: [UInt32]] {
        let m = (properties["maps"] as? [String: Any])?[name] as? [String: [Int]] ?? [:]
        precondition(!m.isEmpty, "fixture map \(name) missing")
        var out: [UInt32: [UInt32]] = [:]
        for (k, v) in m { out[UInt32(k, radix: 16)!] = v.map { UInt32($0) } }
        return out
    }

    static let codePoints: [UInt32] = (0 ..< 0x11_0000).filter { !(0xD800 ... 0xDFFF).contains($0) }.map { UInt32($0) }

    static func hangulNFD(_ c: UInt32) -> [UInt32] {
        let s = c - 0xAC00
        let l = 0x1100 + s / 588, v = 0x1161 + (s % 588) / 28, t = 0x11A7 + s % 28
        return t == 0x11A7 ? [l, v] : [l, v, t]
    }

    /// Code points where `got` differs from `expected`, as compact "lo-hi" ranges (for failure messages).
    static func describe(_ cps: [UInt32]) -> String {
        var parts: [String] = []
        var k = 0
        while k < cps.count && parts.count < 40 {
            var j = k
            while j + 1 < cps.count && cps[j + 1] == cps[j] + 1 { j += 1 }
            parts.append(j == k ? String(cps[k], radix: 16) : "\(String(cps[k], radix: 16))-\(String(cps[j], radix: 16))")
            k = j + 1
        }
        return "\(cps.count) code points: " + parts.joined(separator: " ")
    }
}

/// Builds a normalizer from a tokenizer.json spec (the subset these tests use).
func makeNormalizer(_ spec: [String: Any]) -> any Normalizer {
    switch spec["type"] as? String {
    case "BertNormalizer":
        return BertNormalizer(cleanText: spec["clean_text"] as? Bool ?? true,
                              handleChineseChars: spec["handle_chinese_chars"] as? Bool ?? true,
                              stripAccents: spec["strip_accents"] as? Bool,
                              lowercase: spec["lowercase"] as? Bool ?? true)
    case "NFC": return UnicodeNormalizer(.nfc)
    case "NFD": return UnicodeNormalizer(.nfd)
    case "NFKC": return UnicodeNormalizer(.nfkc)
    case "NFKD": return UnicodeNormalizer(.nfkd)
    case "Lowercase": return LowercaseNormalizer()
    case "StripAccents": return StripAccentsNormalizer()
    case "Strip": return StripNormalizer(left: spec["strip_left"] as? Bool ?? true, right: spec["strip_right"] as? Bool ?? true)
    case "Replace":
        let pattern = (spec["pattern"] as? [String: Any])?["String"] as? String ?? ""
        return ReplaceNormalizer(pattern: pattern, content: spec["content"] as? String ?? "")
    case "Prepend": return PrependNormalizer(prepend: spec["prepend"] as? String ?? "")
    case "Sequence":
        return SequenceNormalizer((spec["normalizers"] as? [[String: Any]] ?? []).map(makeNormalizer))
    default: fatalError("unknown normalizer spec \(spec)")
    }
}

final class NormalizerTests: XCTestCase {
    private func scalars(_ t: NormalizedText) -> [UInt32] { UTF8Codec.decodeScalars(t.bytes) }

    private func single(_ n: any Normalizer, _ c: UInt32) -> [UInt32] {
        scalars(n.normalize(UTF8Codec.encodeScalars([c])))
    }

    // MARK: every code point against tokenizers

    func testPropertiesOfEveryCodePointMatchTokenizers() {
        let checks: [(String, (UInt32) -> Bool)] = [
            ("bert_punctuation", UnicodeProperties.isPunctuation),
            ("whitespace", UnicodeProperties.isWhitespace),
            ("word", UnicodeProperties.isWord),
            ("symbol", { !UnicodeProperties.isWord($0) && !UnicodeProperties.isWhitespace($0) }),
            ("numeric", UnicodeProperties.isNumeric),
            ("mark", UnicodeProperties.isMark),
            ("chinese", UnicodeProperties.isChinese),
        ]
        for (name, predicate) in checks {
            let expected = WordPieceFixtures.rangeSet(name)
            let wrong = WordPieceFixtures.codePoints.filter { predicate($0) != expected[Int($0)] }
            XCTAssertTrue(wrong.isEmpty, "\(name): \(WordPieceFixtures.describe(wrong))")
        }
    }

    func testBertCleanTextOfEveryCodePoint() {
        let removed = WordPieceFixtures.rangeSet("bert_clean_removed")
        let space = WordPieceFixtures.rangeSet("bert_clean_space")
        let n = BertNormalizer(cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false)
        let wrong = WordPieceFixtures.codePoints.filter { c in
            let expected: [UInt32] = removed[Int(c)] ? [] : space[Int(c)] ? [0x20] : [c]
            return single(n, c) != expected
        }
        XCTAssertTrue(wrong.isEmpty, WordPieceFixtures.describe(wrong))
    }

    func testBertChineseCharsOfEveryCodePoint() {
        let chinese = WordPieceFixtures.rangeSet("chinese")
        let n = BertNormalizer(cleanText: false, handleChineseChars: true, stripAccents: false, lowercase: false)
        let wrong = WordPieceFixtures.codePoints.filter { c in
            single(n, c) != (chinese[Int(c)] ? [0x20, c, 0x20] : [c])
        }
        XCTAssertTrue(wrong.isEmpty, WordPieceFixtures.describe(wrong))
    }

    private func checkMap(_ name: String, _ n: any Normalizer, hangul: Bool) {
        let m = WordPieceFixtures.map(name)
        let wrong = WordPieceFixtures.codePoints.filter { c in
            let expected = hangul && (0xAC00 ... 0xD7A3).contains(c) ? WordPieceFixtures.hangulNFD(c) : (m[c] ?? [c])
            return single(n, c) != expected
        }
        XCTAssertTrue(wrong.isEmpty, "\(name): \(WordPieceFixtures.describe(wrong))")
    }

    func testLowercaseOfEveryCodePoint() {
        checkMap("lowercase", LowercaseNormalizer(), hangul: false)
        checkMap("lowercase", BertNormalizer(cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true),
                 hangul: false)
    }

    func testBertStripAccentsOfEveryCodePoint() {
        checkMap("bert_strip", BertNormalizer(cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false),
                 hangul: true)
    }

    func testUnicodeFormsOfEveryCodePoint() {
        checkMap("nfd", UnicodeNormalizer(.nfd), hangul: true)
        checkMap("nfkd", UnicodeNormalizer(.nfkd), hangul: true)
        checkMap("nfc", UnicodeNormalizer(.nfc), hangul: false)
        checkMap("nfkc", UnicodeNormalizer(.nfkc), hangul: false)
    }

    func testCompositionOfEveryDecomposition() {
        let nfd = WordPieceFixtures.map("nfd")
        let expected = WordPieceFixtures.map("nfc_of_nfd")
        var wrong: [UInt32] = []
        for (c, d) in nfd {
            let got = scalars(UnicodeNormalizer(.nfc).normalize(UTF8Codec.encodeScalars(d)))
            if got != (expected[c] ?? d) { wrong.append(c) }
        }
        XCTAssertTrue(wrong.isEmpty, WordPieceFixtures.describe(wrong.sorted()))
    }

    func testCanonicalReorderingMatchesTokenizers() {
        guard let reorder = WordPieceFixtures.properties["reorder"] as? [String: Any],
              let probes = reorder["probes"] as? [Int], let swapped = reorder["swapped"] as? [String: [Int]] else {
            return XCTFail("reorder fixture missing")
        }
        XCTAssertGreaterThan(swapped.count, 500)
        let nfd = UnicodeNormalizer(.nfd)
        var wrong: [UInt32] = []
        for (key, hits) in swapped {
            let m = UInt32(key, radix: 16)!
            let alone = scalars(nfd.normalize(UTF8Codec.encodeScalars([m])))
            for (k, p) in probes.enumerated() {
                let probe = UInt32(p)
                let got = scalars(nfd.normalize(UTF8Codec.encodeScalars([m, probe])))
                let isSwapped = got == [probe] + alone && alone != [probe]
                if isSwapped != hits.contains(k) { wrong.append(m) }
            }
        }
        XCTAssertTrue(wrong.isEmpty, WordPieceFixtures.describe(Array(Set(wrong)).sorted()))
    }

    // MARK: whole strings, with offsets

    func testNormalizerCasesWithOffsets() {
        var count = 0
        for c in WordPieceFixtures.cases where c["kind"] as? String == "normalize" {
            guard let spec = c["normalizer"] as? [String: Any], let input = c["input"] as? String,
                  let output = c["output"] as? String, let offsets = c["offsets"] as? [[Int]] else {
                return XCTFail("bad case \(c)")
            }
            let n = makeNormalizer(spec)
            let got = n.normalize(input)
            XCTAssertEqual(String(decoding: got.bytes, as: UTF8.self), output, "\(spec) on \(input.debugDescription)")
            // Each output character's original byte range.
            let (_, spans) = got.bytes.withUnsafeBufferPointer { UTF8Codec.decodeScalars($0) }
            let gotOffsets = spans.map { r -> [Int] in
                let o = got.originalRange(of: r)
                return [o.lowerBound, o.upperBound]
            }
            XCTAssertEqual(gotOffsets, offsets, "offsets of \(spec) on \(input.debugDescription)")
            count += 1
        }
        XCTAssertGreaterThan(count, 500)
    }

    // MARK: behaviour that HF cannot show (ill-formed UTF-8) and API details

    func testInvalidUTF8PassesThroughEveryNormalizer() {
        let bytes: [UInt8] = [0x41, 0xFF, 0xC3, 0x28, 0xE2, 0x82, 0x41, 0xF0, 0x9F, 0x98]
        let normalizers: [any Normalizer] = [BertNormalizer(), UnicodeNormalizer(.nfc), UnicodeNormalizer(.nfkd),
                                             LowercaseNormalizer(), StripAccentsNormalizer()]
        for n in normalizers {
            let out = n.normalize(bytes)
            let lowered = bytes.map { $0 == 0x41 ? UInt8(0x61) : $0 }
            XCTAssertTrue(out.bytes == bytes || out.bytes == lowered, "\(n): \(out.bytes)")
        }
    }

    func testDecodeRejectsOverlongsSurrogatesAndTruncation() {
        let cases: [([UInt8], [UInt32])] = [
            ([0xC0, 0x80], [0x11_00C0, 0x11_0080]),
            ([0xED, 0xA0, 0x80], [0x11_00ED, 0x11_00A0, 0x11_0080]),
            ([0xF4, 0x90, 0x80, 0x80], [0x11_00F4, 0x11_0090, 0x11_0080, 0x11_0080]),
            ([0xE2, 0x82], [0x11_00E2, 0x11_0082]),
            ([0xF0, 0x9F, 0x98, 0x80], [0x1F600]),
            ([0xE2, 0x82, 0xAC], [0x20AC]),
        ]
        for (bytes, expected) in cases {
            let got = UTF8Codec.decodeScalars(bytes)
            XCTAssertEqual(got, expected, "\(bytes)")
            XCTAssertEqual(UTF8Codec.encodeScalars(got), bytes)
            XCTAssertEqual(bytes.withUnsafeBufferPointer { UTF8Codec.scalarCount($0) }, expected.count)
        }
    }

    func testASCIIOnlyBertNormalizationKeepsIdentityOffsets() {
        let out = BertNormalizer().normalize("Hello World\tOK")
        XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self), "hello world ok")
        XCTAssertTrue(out.origins.isEmpty)
        let dropped = BertNormalizer().normalize("a\u{1}b")
        XCTAssertEqual(String(decoding: dropped.bytes, as: UTF8.self), "ab")
        XCTAssertEqual(dropped.originalRange(of: 1 ..< 2), 2 ..< 3)
    }

    /// The BERT normalizer against a slow composition of the generic steps, on every fixture input
    /// with extra noise: equal bytes and equal offsets.
    func testBertNormalizerAgreesWithGenericPipeline() {
        let inputs = WordPieceFixtures.cases.compactMap { $0["input"] as? String }
        let reference = SequenceNormalizer([UnicodeNormalizer(.nfd), BertStripMnForTest(), LowercaseNormalizer()])
        for text in Set(inputs) {
            let fast = BertNormalizer(cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: true)
                .normalize(text)
            let slow = reference.normalize(text)
            XCTAssertEqual(fast.bytes, slow.bytes, text.debugDescription)
        }
    }
}

/// Drops nonspacing marks (Mn) only: the second half of BERT's accent stripping.
private struct BertStripMnForTest: Normalizer {
    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        let (s, r) = UTF8Codec.decodeScalars(text)
        var bytes: [UInt8] = []
        var origins: [Range<Int>] = []
        for k in 0 ..< s.count where !UnicodeProperties.isNonspacingMark(s[k]) {
            let before = bytes.count
            UTF8Codec.encode(s[k], into: &bytes)
            for _ in before ..< bytes.count { origins.append(r[k]) }
        }
        return NormalizedText(bytes: bytes, origins: origins)
    }
}
