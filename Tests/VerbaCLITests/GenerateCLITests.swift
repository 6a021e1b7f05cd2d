import Foundation
import XCTest

// `verba generate` and `verba perplexity` end to end on the committed random-weight GPT-2 folder
// (Tests/Fixtures/gpt2-small, built by scripts/fixtures/gpt2.py with transformers' outputs in expected.json).
final class GenerateCLITests: XCTestCase {
    private var small: String { packageRoot().appendingPathComponent("Tests/Fixtures/gpt2-small").path }

    private func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: small + "/expected.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func text(_ d: Data) -> String { String(decoding: d, as: UTF8.self) }

    func testGreedyStreamsTheContinuationLikeTransformers() throws {
        let cases = try XCTUnwrap(try expected()["greedy"] as? [[String: Any]])
        for c in cases {
            let prompt = c["text"] as! String, want = c["generated_text"] as! String
            let n = (c["generated"] as! [Any]).count
            let r = try runVerba(["generate", "--model", small, "--prompt", prompt, "--max-tokens", "\(n)",
                                  "--temperature", "0", "--ignore-eos", "--stats"])
            XCTAssertEqual(r.status, 0, text(r.stderr))
            XCTAssertEqual(text(r.stdout), want, prompt)
            let stats = text(r.stderr)
            XCTAssertNotNil(stats.range(of: #"(?m)^prefill: \d+ tokens, [0-9.]+ tok/s; decode: \d+ tokens, [0-9.]+ tok/s$"#,
                                        options: .regularExpression), stats)
            XCTAssertTrue(stats.contains("decode: \(n) tokens"), stats)
        }
    }

    /// Free text that starts with "-" is the option's value, not an unknown option.
    /// A Llama-family folder (SmolLM2's head layout, random weights, a small tokenizer) runs through the
    /// same commands: the architecture comes from config.json.
    func testLlamaFolderGeneratesAndScores() throws {
        let folder = "Tests/Fixtures/llama/smollm2"
        let args = ["generate", "--model", folder, "--prompt", "Hello world", "--max-tokens", "12",
                    "--temperature", "0", "--ignore-eos", "--stats"]
        let a = try runVerba(args), b = try runVerba(args)
        XCTAssertEqual(a.status, 0, text(a.stderr))
        XCTAssertFalse(a.stdout.isEmpty)
        XCTAssertEqual(a.stdout, b.stdout)  // greedy: the same continuation every time
        let ids = try runVerba(["tokenize", "--tokenizer", folder, "--no-special-tokens"], input: Data("Hello world\n".utf8))
        let promptTokens = text(ids.stdout).split(separator: " ").count
        XCTAssertTrue(text(a.stderr).contains("prefill: \(promptTokens) tokens"), text(a.stderr))
        XCTAssertTrue(text(a.stderr).contains("decode: 12 tokens"), text(a.stderr))
        let p = try runVerba(["perplexity", "--model", folder], input: Data("Hello world, hello again.\n".utf8))
        XCTAssertEqual(p.status, 0, text(p.stderr))
        XCTAssertTrue(text(p.stdout).hasPrefix("perplexity: "), text(p.stdout))
    }

    func testPromptAndStopMayStartWithADash() throws {
        let args = ["generate", "--model", small, "--max-tokens", "6", "--temperature", "0", "--ignore-eos"]
        let a = try runVerba(args + ["--prompt", "- Nie ma mowy", "--stop", "-x"])
        XCTAssertEqual(a.status, 0, text(a.stderr))
        let b = try runVerba(args + ["--stop", "-x"], input: Data("- Nie ma mowy".utf8))
        XCTAssertEqual(b.status, 0, text(b.stderr))
        XCTAssertEqual(a.stdout, b.stdout)
    }

    func testPromptFromStandardInput() throws {
        let args = ["generate", "--model", small, "--max-tokens", "10", "--temperature", "0", "--ignore-eos"]
        let a = try runVerba(args + ["--prompt", "Hello world"])
        let b = try runVerba(args, input: Data("Hello world".utf8))
        XCTAssertEqual(a.status, 0)
        XCTAssertEqual(a.stdout, b.stdout)
        XCTAssertFalse(a.stdout.isEmpty)
    }

    func testSeedReproducesSampling() throws {
        func run(_ seed: Int) throws -> Data {
            let r = try runVerba(["generate", "--model", small, "--prompt", "Once", "--max-tokens", "20", "--seed", "\(seed)",
                                  "--temperature", "0.9", "--top-k", "40", "--top-p", "0.95", "--ignore-eos"])
            XCTAssertEqual(r.status, 0, text(r.stderr))
            return r.stdout
        }
        let a = try run(7), b = try run(7), c = try run(8)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testStopStringIsNotPrinted() throws {
        let args = ["generate", "--model", small, "--prompt", "Hello world", "--max-tokens", "24", "--temperature", "0", "--ignore-eos"]
        let full = text(try runVerba(args).stdout)
        let scalars = Array(full.unicodeScalars)
        XCTAssertGreaterThan(scalars.count, 12)
        // A stop string from the middle of the greedy output: the output must end right before its first occurrence.
        var stop = ""
        stop.unicodeScalars.append(contentsOf: scalars[6..<9])
        let r = try runVerba(args + ["--stop", stop, "--stop", "never-occurs-xyz"])
        XCTAssertEqual(r.status, 0)
        let cut = try XCTUnwrap(full.range(of: stop))
        XCTAssertEqual(text(r.stdout), String(full[..<cut.lowerBound]))
    }

    func testContextFullStopsWithANote() throws {
        // 64 positions: a 4-token prompt leaves room for 61 fed-back tokens, so 61 + 1 new tokens at most.
        let r = try runVerba(["generate", "--model", small, "--prompt", "Hello world", "--max-tokens", "500",
                              "--temperature", "0", "--ignore-eos", "--stats"])
        XCTAssertEqual(r.status, 0)
        let err = text(r.stderr)
        XCTAssertTrue(err.contains("context of 64 tokens is full"), err)
        XCTAssertNotNil(err.range(of: #"decode: \d+ tokens"#, options: .regularExpression))
    }

    func testPromptLongerThanTheContextIsAnError() throws {
        let long = String(repeating: "the cat sat on the mat. ", count: 40)
        let r = try runVerba(["generate", "--model", small, "--prompt", long, "--max-tokens", "5"])
        XCTAssertEqual(r.status, 1)
        let err = text(r.stderr)
        XCTAssertTrue(err.hasPrefix("verba: error: ") && err.contains("context"), err)
        XCTAssertTrue(r.stdout.isEmpty)
    }

    func testVocabularyMismatchIsAnError() throws {
        // The small checkpoint (512 rows) with the real GPT-2 tokenizer (50257 tokens).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-gpt2-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: small + "/" + name, toPath: dir.appendingPathComponent(name).path)
        }
        try FileManager.default.copyItem(atPath: sharedFixtures().appendingPathComponent("gpt2/tokenizer.json").path,
                                         toPath: dir.appendingPathComponent("tokenizer.json").path)
        for args in [["generate", "--model", dir.path, "--prompt", "Hi"], ["perplexity", "--model", dir.path]] {
            let r = try runVerba(args, input: Data("Hello there".utf8))
            XCTAssertEqual(r.status, 1)
            let err = text(r.stderr)
            XCTAssertTrue(err.hasPrefix("verba: error: ") && err.contains("vocab"), err)
        }
    }

    func testUnknownActivationIsAnError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-gpt2-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: small + "/" + name, toPath: dir.appendingPathComponent(name).path)
        }
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: small + "/config.json"))) as? [String: Any])
        config["activation_function"] = "relu2"
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        let r = try runVerba(["generate", "--model", dir.path, "--prompt", "Hi"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(text(r.stderr).contains("relu2"), text(r.stderr))
    }

    func testInteractiveLoopAnswersEachLine() throws {
        let args = ["generate", "--model", small, "--max-tokens", "6", "--temperature", "0", "--ignore-eos"]
        let one = text(try runVerba(args + ["--prompt", "Hello world"]).stdout)
        let two = text(try runVerba(args + ["--prompt", "The old man said"]).stdout)
        let r = try runVerba(args + ["--interactive"], input: Data("Hello world\nThe old man said\n".utf8))
        XCTAssertEqual(r.status, 0, text(r.stderr))
        XCTAssertEqual(text(r.stdout), one + "\n" + two + "\n")
    }

    func testPerplexityMatchesTransformers() throws {
        let e = try expected()
        let cases = try XCTUnwrap(e["perplexity"] as? [[String: Any]])
        let input = Data((e["perplexity_text"] as! String).utf8)
        for c in cases {
            let context = (c["context"] as! NSNumber).intValue, stride = (c["stride"] as! NSNumber).intValue
            let r = try runVerba(["perplexity", "--model", small, "--context", "\(context)", "--stride", "\(stride)"], input: input)
            XCTAssertEqual(r.status, 0, text(r.stderr))
            let lines = text(r.stdout).split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.count, 2)
            let got = try XCTUnwrap(Double(lines[0].replacingOccurrences(of: "perplexity: ", with: "")))
            let want = (c["perplexity"] as! NSNumber).doubleValue
            XCTAssertLessThan(abs(got - want) / want, 1e-4, "context \(context) stride \(stride)")
            XCTAssertEqual(lines[1], "tokens: \((e["perplexity_ids"] as! [Any]).count)")
        }
    }

    func testMissingDefaultModelMentionsIt() throws {
        // A copy of the binary in an empty folder, run there: no models/ in the current folder, and no
        // checkout (Package.swift) above the executable, so there is no default model to fall back on.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-nodefault-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent("verba")
        try FileManager.default.copyItem(at: verbaBinary(), to: copy)
        let r = try runVerba(["generate", "--prompt", "Hi", "--max-tokens", "2"], binary: copy, directory: folder)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(text(r.stderr).contains("default model"), text(r.stderr))
    }
}
