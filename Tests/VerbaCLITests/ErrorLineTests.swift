import Foundation
import XCTest

final class ErrorLineTests: XCTestCase {
    func testUnknownCommandIsAUsageError() throws {
        let r = try runVerba(["no-such-command"])
        XCTAssertEqual(r.status, 64)
    }

    func testHelpListsExamples() throws {
        let r = try runVerba(["--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(String(decoding: r.stdout, as: UTF8.self).contains("Examples"))
    }

    /// Output that cannot be written (a full disk: /dev/full) is an error, not a silent success, for
    /// the buffered path (a few ids) and the direct one (blocks of 64 KB and more, two threads).
    func testFullDiskIsAnError() throws {
        guard let full = FileHandle(forWritingAtPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        let gpt2 = sharedFixtures().appendingPathComponent("gpt2/tokenizer.json").path
        let many = Data(String(repeating: "The quick brown fox jumps over the lazy dog.\n", count: 20_000).utf8)
        for (input, threads) in [(Data("hello\n".utf8), "1"), (many, "2")] {
            let process = Process()
            process.executableURL = verbaBinary()
            process.arguments = ["tokenize", "--tokenizer", gpt2, "--threads", threads]
            let inPipe = Pipe(), errPipe = Pipe()
            process.standardInput = inPipe
            process.standardOutput = full
            process.standardError = errPipe
            try process.run()
            inPipe.fileHandleForWriting.write(input)
            try inPipe.fileHandleForWriting.close()
            let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 1)
            XCTAssertEqual(err, "verba: error: cannot write standard output: No space left on device\n")
        }
    }
}
