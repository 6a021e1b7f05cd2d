import Foundation
import XCTest

/// `verba tokenize` and `verba decode` on the reference corpus: the output must equal the reference
/// fixtures byte for byte (Tests/Fixtures/tokenizers, written by scripts/fixtures/tokenizers.py).
final class TokenizeReferenceCLITests: XCTestCase {
    private var fixtures: URL { packageRoot().appendingPathComponent("Tests/Fixtures/tokenizers") }

    /// An asset path relative to the package root; XCTSkip when absent.
    private func asset(_ relative: String) throws -> String {
        let url = packageRoot().appendingPathComponent(relative).standardizedFileURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(relative) is absent (run scripts/fetch-assets.sh; ../shared/fixtures beside the checkout)")
        }
        return url.path
    }

    private func splitLines(_ data: Data) -> [Data] {
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// Runs verba with `arguments` on `input` and compares stdout with `expected` line by line.
    private func check(_ arguments: [String], input: Data, expected: Data, inputName: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runVerba(arguments, input: input)
        XCTAssertEqual(result.status, 0, "verba \(arguments.joined(separator: " ")): \(String(decoding: result.stderr, as: UTF8.self))",
                       file: file, line: line)
        if result.stdout == expected { return }
        let inputs = splitLines(input), want = splitLines(expected), got = splitLines(result.stdout)
        var differing: [String] = []
        var count = 0
        for i in 0..<max(want.count, got.count) {
            let w = i < want.count ? want[i] : nil, g = i < got.count ? got[i] : nil
            if w == g { continue }
            count += 1
            if differing.count < 5 {
                let text = i < inputs.count ? String(decoding: inputs[i], as: UTF8.self).debugDescription : "(no input line)"
                differing.append("line \(i + 1): \(text.prefix(300))\n    expected: \(w.map { String(decoding: $0, as: UTF8.self) } ?? "(none)")"
                                 + "\n    got:      \(g.map { String(decoding: $0, as: UTF8.self) } ?? "(none)")")
            }
        }
        XCTFail("verba \(arguments.joined(separator: " ")) < \(inputName): \(count) of \(want.count) lines differ "
                + "(\(got.count) lines printed); first \(differing.count):\n" + differing.joined(separator: "\n"),
                file: file, line: line)
    }

    private func checkTokenize(_ tokenizer: String, fixture: String, extra: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try asset(tokenizer)
        let input = try Data(contentsOf: fixtures.appendingPathComponent("lines.txt"))
        let expected = try Data(contentsOf: fixtures.appendingPathComponent(fixture + ".ids"))
        try check(["tokenize", "--tokenizer", path] + extra, input: input, expected: expected, inputName: "lines.txt",
                  file: file, line: line)
    }

    func testGPT2() throws {
        try checkTokenize("../shared/fixtures/gpt2/tokenizer.json", fixture: "gpt2")
    }

    func testGPT2FolderWithTwoThreads() throws {
        try checkTokenize("../shared/fixtures/gpt2", fixture: "gpt2", extra: ["--threads", "2"])
    }

    func testBERTUncasedWithSpecialTokens() throws {
        try checkTokenize("downloads/minilm/tokenizer.json", fixture: "bert-uncased.special")
    }

    func testBERTUncasedWithoutSpecialTokens() throws {
        try checkTokenize("downloads/minilm/tokenizer.json", fixture: "bert-uncased", extra: ["--no-special-tokens"])
    }

    func testCL100K() throws {
        try checkTokenize("downloads/tiktoken/cl100k_base.tiktoken", fixture: "cl100k_base")
    }

    func testO200K() throws {
        try checkTokenize("downloads/tiktoken/o200k_base.tiktoken", fixture: "o200k_base", extra: ["--threads", "2"])
    }

    /// `--format json` and `--format tokens` on the lines of offsets-<name>.jsonl give HF's ids, tokens,
    /// offsets (code points), type ids and masks.
    private func checkJSONAndTokens(_ tokenizer: String, fixture name: String) throws {
        let path = try asset(tokenizer)
        let corpus = splitLines(try Data(contentsOf: fixtures.appendingPathComponent("lines.txt")))
        let rows = try splitLines(try Data(contentsOf: fixtures.appendingPathComponent("offsets-\(name).jsonl")))
            .map { try JSONSerialization.jsonObject(with: $0) as! [String: Any] }
        var input = Data()
        for row in rows {
            input += corpus[row["line"] as! Int]
            input.append(0x0A)
        }
        let json = try runVerba(["tokenize", "--tokenizer", path, "--format", "json"], input: input)
        XCTAssertEqual(json.status, 0, String(decoding: json.stderr, as: UTF8.self))
        let tokens = try runVerba(["tokenize", "--tokenizer", path, "--format", "tokens"], input: input)
        XCTAssertEqual(tokens.status, 0, String(decoding: tokens.stderr, as: UTF8.self))
        let jsonLines = splitLines(json.stdout), tokenLines = splitLines(tokens.stdout)
        XCTAssertEqual(jsonLines.count, rows.count)
        XCTAssertEqual(tokenLines.count, rows.count)
        var bad: [String] = []
        var count = 0
        for (k, row) in rows.enumerated() where k < jsonLines.count && k < tokenLines.count {
            let got = try JSONSerialization.jsonObject(with: jsonLines[k]) as? [String: Any] ?? [:]
            var differs: [String] = []
            for key in ["ids", "type_ids", "attention_mask", "special_tokens_mask"] where
                (got[key] as? [Int]) != (row[key] as? [Int]) { differs.append(key) }
            if (got["tokens"] as? [String]) != (row["tokens"] as? [String]) { differs.append("tokens") }
            if (got["offsets"] as? [[Int]]) != (row["offsets"] as? [[Int]]) { differs.append("offsets") }
            let expectedTokens = ((row["tokens"] as? [String]) ?? []).joined(separator: " ")
            if String(decoding: tokenLines[k], as: UTF8.self) != expectedTokens { differs.append("--format tokens") }
            if differs.isEmpty { continue }
            count += 1
            if bad.count < 5 {
                bad.append("line \((row["line"] as! Int) + 1) \((row["text"] as? String ?? "").debugDescription.prefix(200)): "
                           + "\(differs.joined(separator: ", "))\n    expected: \(row)\n    got:      \(String(decoding: jsonLines[k], as: UTF8.self))")
            }
        }
        if count > 0 {
            XCTFail("verba tokenize --format json/tokens, \(name): \(count) of \(rows.count) lines differ; first \(bad.count):\n"
                    + bad.joined(separator: "\n"))
        }
    }

    func testGPT2JSONAndTokens() throws {
        try checkJSONAndTokens("../shared/fixtures/gpt2/tokenizer.json", fixture: "gpt2")
    }

    func testBERTJSONAndTokens() throws {
        try checkJSONAndTokens("downloads/minilm/tokenizer.json", fixture: "bert-uncased")
    }

    /// Lines that are not UTF-8 (seeded random bytes, cut sequences, surrogates, overlong forms; no `\n`).
    private func invalidLines(count: Int) -> [[UInt8]] {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let pieces: [[UInt8]] = [[0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xE2, 0x82],
                                 [0xF0, 0x9F, 0x98], Array("é".utf8), Array(" the".utf8), Array("'s".utf8), [0x0D], [0x00],
                                 Array("中".utf8), Array("🙂".utf8), [0x20, 0x20]]
        return (0..<count).map { _ in
            var line: [UInt8] = []
            for _ in 0..<(next() % 20) {
                if next() % 2 == 0 {
                    let b = UInt8(truncatingIfNeeded: next())
                    line.append(b == 0x0A ? 0x0B : b)
                } else {
                    line += pieces[Int(next() % UInt64(pieces.count))]
                }
            }
            return line
        }
    }

    /// Byte-level tokenizers encode invalid UTF-8 byte for byte: `verba decode` of the ids prints each
    /// line back, with ill-formed sequences shown as U+FFFD.
    func testInvalidUTF8ThroughTokenizeAndDecode() throws {
        let lines = invalidLines(count: 500)
        var input = Data()
        for l in lines { input += l; input.append(0x0A) }
        var expected = Data()
        for l in lines { expected += Data(String(decoding: l, as: UTF8.self).utf8); expected.append(0x0A) }
        for tokenizer in ["../shared/fixtures/gpt2/tokenizer.json", "downloads/tiktoken/cl100k_base.tiktoken"] {
            let path = try asset(tokenizer)
            let ids = try runVerba(["tokenize", "--tokenizer", path], input: input)
            XCTAssertEqual(ids.status, 0, String(decoding: ids.stderr, as: UTF8.self))
            XCTAssertEqual(splitLines(ids.stdout).count, lines.count)
            try check(["decode", "--tokenizer", path], input: ids.stdout, expected: expected,
                      inputName: "ids of invalid UTF-8 lines (\(tokenizer))")
        }
    }

    /// BERT's normalizer drops U+FFFD, so ill-formed bytes change nothing: the ids of a line with invalid
    /// UTF-8 are those of the line without its ill-formed bytes.
    func testInvalidUTF8WithBERT() throws {
        let path = try asset("downloads/minilm/tokenizer.json")
        let lines = invalidLines(count: 500)
        var input = Data(), cleaned = Data()
        for l in lines {
            input += l
            input.append(0x0A)
            // Keep only the well-formed scalars: decode, drop U+FFFD, encode again.
            let scalars = String(decoding: l, as: UTF8.self).unicodeScalars.filter { $0 != "\u{FFFD}" }
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars)
            cleaned += Data(String(s).utf8)
            cleaned.append(0x0A)
        }
        let expected = try runVerba(["tokenize", "--tokenizer", path], input: cleaned)
        XCTAssertEqual(expected.status, 0, String(decoding: expected.stderr, as: UTF8.self))
        try check(["tokenize", "--tokenizer", path], input: input, expected: expected.stdout,
                  inputName: "invalid UTF-8 lines (expected: the same lines without their ill-formed bytes)")
    }

    /// Byte-level BPE loses nothing: decoding the GPT-2 ids of every line prints lines.txt again.
    func testGPT2DecodePrintsTheCorpusBack() throws {
        let path = try asset("../shared/fixtures/gpt2/tokenizer.json")
        let ids = try Data(contentsOf: fixtures.appendingPathComponent("gpt2.ids"))
        let lines = try Data(contentsOf: fixtures.appendingPathComponent("lines.txt"))
        try check(["decode", "--tokenizer", path], input: ids, expected: lines, inputName: "gpt2.ids")
    }
}
