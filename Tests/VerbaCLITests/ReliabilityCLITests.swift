import Foundation
import XCTest

/// Faults at the command line: every path option given a missing file, a folder (or an empty folder
/// where a folder is expected), a path through a file, or a file it may not read gives one
/// `verba: error:` line naming the path; a killed `train classifier` resumes to the model an
/// uninterrupted run writes, byte for byte.
final class ReliabilityCLITests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-reliability-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o777)  // rows run as user nobody write their outputs here
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Labelled TSV files of two easy classes.
    private func makeTSV() throws -> (train: String, eval: String) {
        var train = "", eval = ""
        let a = ["the cat sat on a mat", "a cat and a dog", "the dog ran to a mat"]
        let b = ["god said let there be light", "in the beginning was the word", "there was light and day"]
        for i in 0..<48 { train += "animal\t\(a[i % 3]) \(i % 5)\nscripture\t\(b[i % 3]) \(i % 7)\n" }
        for i in 0..<6 { eval += "animal\t\(a[i % 3])\nscripture\t\(b[i % 3])\n" }
        try train.write(toFile: path("train.tsv"), atomically: true, encoding: .utf8)
        try eval.write(toFile: path("dev.tsv"), atomically: true, encoding: .utf8)
        return (path("train.tsv"), path("dev.tsv"))
    }

    private let tokenizer = "Tests/Fixtures/gpt2-small/tokenizer.json"

    private func classifierArguments(_ tsv: (train: String, eval: String), output: String) -> [String] {
        ["train", "classifier", "--from-scratch", "--tokenizer", tokenizer, "--layers", "1", "--heads", "2", "--dim", "16",
         "--max-length", "16", "--train", tsv.train, "--eval", tsv.eval, "--epochs", "4", "--batch-size", "2", "--lr", "3e-3",
         "--threads", "1", "--checkpoint-every", "3", "--output", output]
    }

    func testKilledClassifierTrainingResumesByteIdentical() throws {
        let tsv = try makeTSV()
        let full = path("full"), part = path("part")
        let r = try runVerba(classifierArguments(tsv, output: full))
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))

        // The same run, killed (SIGKILL) once it reports the end of epoch 1, then resumed.
        let process = Process()
        process.executableURL = verbaBinary()
        process.currentDirectoryURL = packageRoot()
        process.arguments = classifierArguments(tsv, output: part)
        let errPipe = Pipe()
        process.standardError = errPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        var killed = false
        while true {
            let chunk = errPipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
            if String(decoding: seen, as: UTF8.self).contains("epoch 1: eval") {
                kill(process.processIdentifier, SIGKILL)
                killed = true
                break
            }
        }
        process.waitUntilExit()
        XCTAssertTrue(killed, "the run ended before it could be killed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: part + "/model.safetensors"), "no model before the end")

        let resumed = try runVerba(classifierArguments(tsv, output: part) + ["--resume"])
        let log = String(decoding: resumed.stderr, as: UTF8.self)
        XCTAssertEqual(resumed.status, 0, log)
        XCTAssertTrue(log.contains("resumed from step"), log)
        XCTAssertEqual(resumed.stdout, r.stdout, "the metrics of the resumed run")
        for file in ["model.safetensors", "config.json", "tokenizer.json"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: full + "/" + file))
            let b = try Data(contentsOf: URL(fileURLWithPath: part + "/" + file))
            XCTAssertEqual(a, b, file)
        }

        // A checkpoint made with other options is refused, naming the file.
        var other = classifierArguments(tsv, output: part) + ["--resume"]
        other[other.firstIndex(of: "--lr")! + 1] = "1e-3"
        let refused = try runVerba(other)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(String(decoding: refused.stderr, as: UTF8.self).contains("checkpoint.safetensors"),
                      String(decoding: refused.stderr, as: UTF8.self))
    }

    /// One row per path option: the command with `BAD` where the bad path goes.
    func testEveryPathOptionReportsBadPaths() throws {
        let tsv = try makeTSV()
        let corpus = path("corpus.txt")
        try String(repeating: "the cat sat on the mat\n", count: 20).write(toFile: corpus, atomically: true, encoding: .utf8)
        try "x".write(toFile: path("file.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: true)
        try "secret".write(toFile: path("unreadable.txt"), atomically: true, encoding: .utf8)
        chmod(path("unreadable.txt"), 0)

        let rows: [(name: String, arguments: [String], input: String)] = [
            ("tokenize --tokenizer", ["tokenize", "--tokenizer", "BAD"], "hi\n"),
            ("decode --tokenizer", ["decode", "--tokenizer", "BAD"], "1 2\n"),
            ("embed --model", ["embed", "--model", "BAD"], "hi\n"),
            ("classify --model", ["classify", "--model", "BAD"], "hi\n"),
            ("generate --model", ["generate", "--model", "BAD", "--prompt", "hi", "--max-tokens", "2"], ""),
            ("chat --model", ["chat", "--model", "BAD"], "hi\n"),
            ("perplexity --model", ["perplexity", "--model", "BAD"], "hi there\n"),
            ("tokenizer train CORPUS", ["tokenizer", "train", "--model", "bpe", "--vocab-size", "300", "--quiet",
                                        "--output", path("t.json"), "BAD"], ""),
            ("train lm --tokenizer", ["train", "lm", "--tokenizer", "BAD", "--corpus", corpus, "--steps", "1",
                                      "--output", path("lm")], ""),
            ("train lm --corpus", ["train", "lm", "--tokenizer", tokenizer, "--corpus", "BAD", "--steps", "1",
                                   "--output", path("lm")], ""),
            ("train classifier --tokenizer", ["train", "classifier", "--from-scratch", "--tokenizer", "BAD",
                                              "--train", tsv.train, "--eval", tsv.eval, "--output", path("c")], ""),
            ("train classifier --train", ["train", "classifier", "--from-scratch", "--tokenizer", tokenizer,
                                          "--train", "BAD", "--eval", tsv.eval, "--output", path("c")], ""),
            ("train classifier --eval", ["train", "classifier", "--from-scratch", "--tokenizer", tokenizer,
                                         "--train", tsv.train, "--eval", "BAD", "--output", path("c")], ""),
            ("train classifier --base", ["train", "classifier", "--base", "BAD", "--train", tsv.train, "--eval", tsv.eval,
                                         "--output", path("c")], ""),
        ]
        // Folder options get an empty folder; file options a folder. Permission is only denied to non-root
        // users: as root the row runs through setpriv as user nobody when it is there.
        let folderOptions: Set<String> = ["embed --model", "classify --model", "generate --model", "chat --model",
                                          "perplexity --model", "train classifier --base"]
        let asNobody = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
        for row in rows {
            var bads: [(kind: String, path: String)] = [("missing", path("none/x.json")), ("through a file", path("file.txt/x"))]
            bads.append(folderOptions.contains(row.name) ? ("empty folder", path("empty")) : ("folder", dir.path))
            if getuid() != 0 || asNobody { bads.append(("permission denied", path("unreadable.txt"))) }
            for bad in bads {
                let arguments = row.arguments.map { $0 == "BAD" ? bad.path : $0 }
                let r: (status: Int32, stdout: Data, stderr: Data)
                if bad.kind == "permission denied" && getuid() == 0 {
                    r = try runVerba(["--reuid=65534", "--regid=65534", "--clear-groups", verbaBinary().path] + arguments,
                                     input: Data(row.input.utf8), binary: URL(fileURLWithPath: "/usr/bin/setpriv"))
                } else {
                    r = try runVerba(arguments, input: Data(row.input.utf8))
                }
                let stderr = String(decoding: r.stderr, as: UTF8.self)
                let what = "\(row.name) given a \(bad.kind) path: status \(r.status), stderr \(stderr)"
                XCTAssertEqual(r.status, 1, what)
                let errors = stderr.split(separator: "\n").filter { $0.hasPrefix("verba: error: ") }
                XCTAssertEqual(errors.count, 1, what)
                let name = URL(fileURLWithPath: bad.path).lastPathComponent
                XCTAssertTrue(errors.first?.contains(name) ?? false, what)
            }
        }
    }
}
