import Foundation
import XCTest

/// End-to-end tests of `verba train lm` and `verba train classifier` on tiny self-made data: a run
/// killed with SIGKILL resumes from its last checkpoint and ends bit-identical to an uninterrupted run.
final class TrainCommandTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-train-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A deterministic pseudo-English corpus with fortune-style "%" separators, and a small BPE trained on it.
    private func makeCorpusAndTokenizer() throws -> (corpus: String, tokenizer: String) {
        let words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "with", "light", "in",
                     "beginning", "was", "word", "god", "said", "let", "there", "be", "good", "night", "day", "of"]
        var state: UInt64 = 42
        var text = ""
        for doc in 0..<300 {
            for _ in 0..<(20 + doc % 17) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += words[Int(state >> 33) % words.count] + (state % 7 == 0 ? ".\n" : " ")
            }
            text += "\n%\n"
        }
        let corpus = dir.appendingPathComponent("corpus.txt").path
        try text.write(toFile: corpus, atomically: true, encoding: .utf8)
        let tokenizer = dir.appendingPathComponent("tok.json").path
        let r = try runVerba(["tokenizer", "train", "--model", "bpe", "--byte-level", "--vocab-size", "300", "--quiet",
                              "--output", tokenizer, corpus])
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        return (corpus, tokenizer)
    }

    private func lmArguments(_ corpus: String, _ tokenizer: String, output: String) -> [String] {
        ["train", "lm", "--tokenizer", tokenizer, "--corpus", corpus, "--layers", "1", "--heads", "2", "--dim", "16",
         "--context", "16", "--batch-size", "4", "--steps", "400", "--lr", "3e-3", "--warmup", "10", "--eval-every", "100",
         "--eval-batches", "2", "--checkpoint-every", "5", "--validation-every", "3", "--threads", "1", "--seed", "7",
         "--output", output]
    }

    /// `--arch llama` writes a LlamaForCausalLM folder that `verba perplexity` and `verba generate` run;
    /// Llama-only options are refused with GPT-2 and bad head counts named.
    func testLlamaArchTrainsAFolderThatGeneratesAndScores() throws {
        let (corpus, tokenizer) = try makeCorpusAndTokenizer()
        let out = dir.appendingPathComponent("llama").path
        var args = lmArguments(corpus, tokenizer, output: out)
        args[args.firstIndex(of: "--steps")! + 1] = "40"
        let r = try runVerba(args + ["--arch", "llama", "--kv-heads", "1", "--ffn-dim", "32", "--rope-theta", "5000"])
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        let config = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        for field in ["\"LlamaForCausalLM\"", "\"num_key_value_heads\": 1", "\"intermediate_size\": 32", "\"rope_theta\": 5000.0", "\"rms_norm_eps\": 1e-05"] {
            XCTAssertTrue(config.contains(field), "\(field) in \(config)")
        }
        let ppl = try runVerba(["perplexity", "--model", out], input: Data("the cat sat on a mat and the dog ran".utf8))
        XCTAssertEqual(ppl.status, 0, String(decoding: ppl.stderr, as: UTF8.self))
        XCTAssertTrue(String(decoding: ppl.stdout, as: UTF8.self).contains("perplexity:"))
        let gen = try runVerba(["generate", "--model", out, "--prompt", "the cat", "--max-tokens", "5", "--temperature", "0"])
        XCTAssertEqual(gen.status, 0, String(decoding: gen.stderr, as: UTF8.self))

        for (extra, message) in [(["--arch", "llama", "--kv-heads", "3"], "--kv-heads (3) must be positive and divide --heads (2)"),
                                 (["--kv-heads", "1"], "need --arch llama"),
                                 (["--arch", "mamba"], "--arch must be one of gpt2, llama")] {
            let bad = try runVerba(lmArguments(corpus, tokenizer, output: out + "-bad") + extra)
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertTrue(String(decoding: bad.stderr, as: UTF8.self).contains(message), String(decoding: bad.stderr, as: UTF8.self))
        }
    }

    func testKilledRunResumesLosingAtMostCheckpointInterval() throws {
        let (corpus, tokenizer) = try makeCorpusAndTokenizer()
        let full = dir.appendingPathComponent("full").path, part = dir.appendingPathComponent("part").path
        let r = try runVerba(lmArguments(corpus, tokenizer, output: full))
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        let log = String(decoding: r.stderr, as: UTF8.self)
        XCTAssertTrue(log.contains("step 400/400"), log)
        XCTAssertTrue(log.contains("val loss"), log)
        XCTAssertTrue(log.contains("tok/s") && log.contains("ETA"), log)

        // Start the same run, kill it (SIGKILL) once it has reported step 150, then resume.
        let process = Process()
        process.executableURL = verbaBinary()
        process.arguments = lmArguments(corpus, tokenizer, output: part)
        let errPipe = Pipe()
        process.standardError = errPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        var killedAfter = -1
        while true {
            let chunk = errPipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
            let text = String(decoding: seen, as: UTF8.self)
            if let range = text.range(of: "step 150/400") {
                kill(process.processIdentifier, SIGKILL)
                killedAfter = 150
                _ = range
                break
            }
        }
        process.waitUntilExit()
        XCTAssertEqual(killedAfter, 150, "the run ended before it could be killed")
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)

        let resumed = try runVerba(lmArguments(corpus, tokenizer, output: part) + ["--resume"])
        let resumedLog = String(decoding: resumed.stderr, as: UTF8.self)
        XCTAssertEqual(resumed.status, 0, resumedLog)
        let match = resumedLog.range(of: #"resumed from step (\d+)"#, options: .regularExpression)
        let step = match.flatMap { Int(resumedLog[$0].split(separator: " ").last!) } ?? -1
        XCTAssertGreaterThanOrEqual(step, 150 - 5, resumedLog)   // lost at most --checkpoint-every steps
        XCTAssertTrue(resumedLog.contains("reusing"), resumedLog)
        XCTAssertTrue(resumedLog.contains("step 400/400"), resumedLog)

        // Same batches, same schedule, same state: the resumed model is the uninterrupted one, byte for byte.
        let a = try Data(contentsOf: URL(fileURLWithPath: full + "/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: part + "/model.safetensors"))
        XCTAssertEqual(a, b)
        let csv = try String(contentsOfFile: part + "/loss.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 401)
        XCTAssertTrue(try String(contentsOfFile: part + "/loss.svg", encoding: .utf8).hasPrefix("<svg"))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: full + "/config.json"))) as? [String: Any]
        XCTAssertEqual(config?["model_type"] as? String, "gpt2")
        XCTAssertEqual(config?["n_embd"] as? Int, 16)
        XCTAssertEqual(config?["activation_function"] as? String, "gelu_new")
        XCTAssertTrue(FileManager.default.fileExists(atPath: full + "/tokenizer.json"))

        // The trained folder generates through `verba generate`.
        let gen = try runVerba(["generate", "--model", full, "--prompt", "the cat", "--max-tokens", "5", "--temperature", "0"])
        XCTAssertEqual(gen.status, 0, String(decoding: gen.stderr, as: UTF8.self))
    }

    func testTrainClassifierFromScratchReportsMetricsAndWritesFolder() throws {
        let (_, tokenizer) = try makeCorpusAndTokenizer()
        var train = "", eval = ""
        let a = ["the cat sat on a mat", "a cat and a mat", "the cat ran to a mat"]
        let b = ["god said let there be light", "in the beginning was the word", "there was light and day"]
        for i in 0..<40 {
            train += "animal\t\(a[i % 3]) \(i % 5)\nscripture\t\(b[i % 3]) \(i % 7)\n"
        }
        for i in 0..<6 { eval += "animal\t\(a[i % 3])\nscripture\t\(b[i % 3])\n" }
        let trainPath = dir.appendingPathComponent("train.tsv").path, evalPath = dir.appendingPathComponent("dev.tsv").path
        try train.write(toFile: trainPath, atomically: true, encoding: .utf8)
        try eval.write(toFile: evalPath, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("clf").path
        let r = try runVerba(["train", "classifier", "--from-scratch", "--tokenizer", tokenizer, "--layers", "1", "--heads", "2",
                              "--dim", "16", "--max-length", "16", "--train", trainPath, "--eval", evalPath, "--epochs", "8",
                              "--batch-size", "8", "--lr", "3e-3", "--threads", "1", "--output", out])
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        let stdout = String(decoding: r.stdout, as: UTF8.self)
        let accuracy = stdout.split(separator: "\n").first { $0.hasPrefix("accuracy\t") }.flatMap { Double($0.split(separator: "\t")[1]) }
        XCTAssertEqual(accuracy, 1.0, stdout)
        XCTAssertTrue(stdout.contains("macro_f1\t1.000000"), stdout)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any]
        XCTAssertEqual(config?["model_type"] as? String, "bert")
        XCTAssertEqual((config?["id2label"] as? [String: String])?["1"], "scripture")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/tokenizer.json"))
    }

    func testBadInputsGiveErrorLines() throws {
        let missing = try runVerba(["train", "lm", "--tokenizer", "/nonexistent/tok.json", "--corpus", "x.txt", "--output", dir.path + "/o"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(String(decoding: missing.stderr, as: UTF8.self).hasPrefix("verba: error: "))
        let (_, tokenizer) = try makeCorpusAndTokenizer()
        let noCorpus = try runVerba(["train", "lm", "--tokenizer", tokenizer, "--corpus", dir.path + "/none.txt", "--output", dir.path + "/o"])
        XCTAssertEqual(noCorpus.status, 1)
        XCTAssertTrue(String(decoding: noCorpus.stderr, as: UTF8.self).contains("none.txt"))
        let badTSV = dir.appendingPathComponent("bad.tsv").path
        try "no tab here\n".write(toFile: badTSV, atomically: true, encoding: .utf8)
        let r = try runVerba(["train", "classifier", "--from-scratch", "--tokenizer", tokenizer, "--train", badTSV, "--eval", badTSV,
                              "--output", dir.path + "/c"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(String(decoding: r.stderr, as: UTF8.self).contains("bad.tsv: line 1"), String(decoding: r.stderr, as: UTF8.self))
    }
}
