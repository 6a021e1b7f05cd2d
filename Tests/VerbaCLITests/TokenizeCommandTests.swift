import Foundation
import XCTest

/// `verba tokenize` and `verba decode`: the line contract, odd input, threads, and error lines.
final class TokenizeCommandTests: XCTestCase {
    func gpt2() throws -> String {
        let path = sharedFixtures().appendingPathComponent("gpt2").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("../shared/fixtures/gpt2 is absent") }
        return path
    }

    func minilm() throws -> String {
        let path = packageRoot().appendingPathComponent("downloads/minilm/tokenizer.json").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("downloads/minilm is absent") }
        return path
    }

    func text(_ d: Data) -> String { String(decoding: d, as: UTF8.self) }

    func testOneLineOutPerLineIn() throws {
        let r = try runVerba(["tokenize", "--tokenizer", try gpt2()], input: Data("Hello world\n\nHello\r\nlast".utf8))
        XCTAssertEqual(r.status, 0, text(r.stderr))
        XCTAssertEqual(text(r.stdout), "15496 995\n\n15496 201\n12957\n")
        let b = try runVerba(["tokenize", "--tokenizer", try minilm()], input: Data("hello world\n\n".utf8))
        XCTAssertEqual(text(b.stdout), "101 7592 2088 102\n101 102\n")
        let n = try runVerba(["tokenize", "--tokenizer", try minilm(), "--no-special-tokens"], input: Data("hello world\n\n".utf8))
        XCTAssertEqual(text(n.stdout), "7592 2088\n\n")
    }

    func testStatsGoToStandardErrorOnly() throws {
        for threads in ["1", "2"] {
            for (input, bytes) in [("Hello world\nlast", 16), ("Hello world\nlast\n", 17)] {
                let r = try runVerba(["tokenize", "--tokenizer", try gpt2(), "--stats", "--threads", threads], input: Data(input.utf8))
                XCTAssertEqual(r.status, 0, text(r.stderr))
                XCTAssertEqual(text(r.stdout), "15496 995\n12957\n")
                let stats = text(r.stderr)
                XCTAssertTrue(stats.hasPrefix("tokenize: load "), stats)
                XCTAssertTrue(stats.contains("; 2 lines, \(bytes) bytes in "), stats)
                XCTAssertTrue(stats.hasSuffix(", \(threads) thread\(threads == "1" ? "" : "s")\n"), stats)
            }
        }
    }

    func testInvalidUTF8AndNULNeverCrash() throws {
        let input = Data([0x61, 0x00, 0x62, 0x0A, 0xFF, 0xFE, 0x0A, 0x68, 0x69, 0xC3, 0x0A])
        let g = try runVerba(["tokenize", "--tokenizer", try gpt2()], input: input)
        XCTAssertEqual(g.status, 0)
        XCTAssertEqual(text(g.stdout), "64 188 65\n187 186\n5303 127\n")
        let b = try runVerba(["tokenize", "--tokenizer", try minilm()], input: input)
        XCTAssertEqual(b.status, 0)
        XCTAssertEqual(text(b.stdout).split(separator: "\n").count, 3)
    }

    func testFormatsTokensAndJSON() throws {
        let t = try runVerba(["tokenize", "--tokenizer", try gpt2(), "--format", "tokens"], input: Data("Hello world\n".utf8))
        XCTAssertEqual(text(t.stdout), "Hello Ġworld\n")
        let j = try runVerba(["tokenize", "--tokenizer", try minilm(), "--format", "json"], input: Data("Hi there\n\n".utf8))
        let lines = text(j.stdout).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 3)
        let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        XCTAssertEqual(object?["ids"] as? [Int], [101, 7632, 2045, 102])
        XCTAssertEqual(object?["tokens"] as? [String], ["[CLS]", "hi", "there", "[SEP]"])
        XCTAssertEqual(object?["offsets"] as? [[Int]], [[0, 0], [0, 2], [3, 8], [0, 0]])
        XCTAssertEqual(object?["special_tokens_mask"] as? [Int], [1, 0, 0, 1])
    }

    func testThreadsKeepInputOrder() throws {
        var lines: [String] = []
        // About 6 MB: three batches of input, each cut into many chunks.
        for i in 0..<60000 { lines.append("line \(i) " + String(repeating: "tokenize me ", count: i % 17)) }
        let input = Data((lines.joined(separator: "\n") + "\n").utf8)
        let one = try runVerba(["tokenize", "--tokenizer", try gpt2(), "--threads", "1"], input: input)
        let four = try runVerba(["tokenize", "--tokenizer", try gpt2(), "--threads", "4"], input: input)
        XCTAssertEqual(one.status, 0)
        XCTAssertEqual(text(one.stdout).split(separator: "\n", omittingEmptySubsequences: false).count, 60001)
        XCTAssertEqual(one.stdout, four.stdout)
    }

    func testFiftyMegabyteLine() throws {
        let unit = "hello world "
        let count = 50_000_000 / unit.utf8.count
        var input = Data(capacity: count * unit.utf8.count + 1)
        let u = Data(unit.utf8)
        for _ in 0..<count { input.append(u) }
        input.append(0x0A)
        let r = try runVerba(["tokenize", "--tokenizer", try gpt2()], input: input)
        XCTAssertEqual(r.status, 0, text(r.stderr))
        let out = text(r.stdout)
        XCTAssertTrue(out.hasPrefix("31373 995 23748 995 23748"))
        XCTAssertTrue(out.hasSuffix("23748 995 220\n"))
        XCTAssertEqual(out.split(separator: " ").count, 2 * count + 1)
    }

    func testDecodeAndItsErrorLines() throws {
        let ok = try runVerba(["decode", "--tokenizer", try gpt2()], input: Data("15496 995\n\n50256 15496\n".utf8))
        XCTAssertEqual(ok.status, 0)
        XCTAssertEqual(text(ok.stdout), "Hello world\n\n<|endoftext|>Hello\n")
        let bad = try runVerba(["decode", "--tokenizer", try gpt2()], input: Data("15496\n995 x12\n15496\n".utf8))
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(text(bad.stdout), "Hello\n")
        XCTAssertTrue(text(bad.stderr).hasPrefix("verba: error: line 2: "), text(bad.stderr))
        let range = try runVerba(["decode", "--tokenizer", try gpt2()], input: Data("50257\n".utf8))
        XCTAssertNotEqual(range.status, 0)
        XCTAssertTrue(text(range.stderr).contains("line 1: id 50257"), text(range.stderr))
        let skip = try runVerba(["decode", "--tokenizer", try minilm(), "--skip-special-tokens"], input: Data("101 7592 2088 102\n".utf8))
        XCTAssertEqual(text(skip.stdout), "hello world\n")
    }

    func testBadTokenizerFilesGiveOneErrorLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let truncated = dir.appendingPathComponent("tokenizer.json")
        try Data(#"{"model": {"type": "BPE", "vocab": {"a": 0"#.utf8).write(to: truncated)
        for path in ["/nonexistent/tokenizer.json", truncated.path, dir.appendingPathComponent("none").path] {
            let r = try runVerba(["tokenize", "--tokenizer", path], input: Data("x\n".utf8))
            XCTAssertEqual(r.status, 1)
            let err = text(r.stderr)
            XCTAssertTrue(err.hasPrefix("verba: error: ") && err.contains(path), err)
            XCTAssertEqual(err.split(separator: "\n").count, 1, err)
        }
    }

    /// --chat renders each line's messages with the folder's chat template (generation prompt added) and
    /// encodes the result: the byte-level tokens spell the ChatML text back.
    func testChatRendersTheTemplateThenEncodes() throws {
        let root = packageRoot()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-chat-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: root.appendingPathComponent("Tests/Fixtures/llama/smollm2/tokenizer.json"),
                                         to: folder.appendingPathComponent("tokenizer.json"))
        let template = try String(contentsOf: root.appendingPathComponent("Tests/Fixtures/chat/chatml.jinja"), encoding: .utf8)
        let config = try JSONSerialization.data(withJSONObject: ["chat_template": template, "eos_token": "<|im_end|>"])
        try config.write(to: folder.appendingPathComponent("tokenizer_config.json"))
        let input = #"[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]"# + "\n"
        let r = try runVerba(["tokenize", "--chat", "--tokenizer", folder.path, "--format", "tokens"], input: Data(input.utf8))
        XCTAssertEqual(r.status, 0, text(r.stderr))
        let spelled = text(r.stdout).dropLast().split(separator: " ").joined()
            .replacingOccurrences(of: "Ġ", with: " ").replacingOccurrences(of: "Ċ", with: "\n")
        XCTAssertEqual(spelled, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n")
        // A line that is not a JSON array of messages is an error naming the line.
        let bad = try runVerba(["tokenize", "--chat", "--tokenizer", folder.path], input: Data((input + "[{\"role\"\n").utf8))
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(text(bad.stderr).contains("verba: error: line 2:"), text(bad.stderr))
        XCTAssertEqual(text(bad.stdout).split(separator: "\n").count, 1)  // the first line's output is kept
    }
}
