import Foundation
import XCTest
@testable import VerbaTokenizers

/// `LineInput` and `LineEncoder`: batches of whole lines, any number of workers, output in input order,
/// equal to encoding each line on its own.
final class LineEncoderTests: XCTestCase {
    private func gpt2() throws -> Tokenizer {
        try Tokenizer.load(path: try ReferenceFixtures.asset("../shared/fixtures/gpt2/tokenizer.json"))
    }

    /// The lines of `input` as `verba tokenize` defines them: split at "\n", a last line without a
    /// newline kept, no line for empty input or after a final newline.
    private func lines(_ input: [UInt8]) -> [[UInt8]] {
        var out = input.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        if input.last == 10 || input.isEmpty { out.removeLast() }
        return out
    }

    /// The expected output: each line encoded alone, ids joined by spaces, one output line each.
    private func expected(_ tok: Tokenizer, _ input: [UInt8]) -> String {
        lines(input).map { tok.idLine($0) }.joined()
    }

    private func run(_ tok: Tokenizer, _ input: [UInt8], workers: Int, batchBytes: Int, format: LineOutputFormat = .ids) throws -> (String, LineEncoder) {
        let encoder = LineEncoder(workers: workers, input: LineInput(bytes: input, batchBytes: batchBytes))
        var out: [UInt8] = []
        try encoder.run(format: tok.lineFormat(format, addSpecialTokens: true)) { out += $0 }
        return (String(decoding: out, as: UTF8.self), encoder)
    }

    private func corpus() -> [UInt8] {
        var input: [UInt8] = []
        let words: [[UInt8]] = [Array("Hello".utf8), Array(" world".utf8), Array(" 漢字".utf8), [0xFF, 0xC3, 0x28], Array("  ".utf8),
                                Array("\r".utf8), [0], Array(" <|endoftext|>".utf8), Array("'ll".utf8)]
        var k = 0
        for line in 0..<3000 {
            for _ in 0..<(line % 17) {
                input += words[k % words.count]
                k = (k * 31 + 7) % 1009
            }
            if line % 500 == 0 { input += [UInt8](repeating: 0x61, count: 70_000) }  // longer than a batch
            input.append(10)
        }
        input += Array("last line without a newline".utf8)
        return input
    }

    func testAnyWorkersAndBatchSizeGiveEachLineEncodedAlone() throws {
        let tok = try gpt2()
        let input = corpus()
        let want = expected(tok, input)
        for workers in [1, 2, 3] {
            for batchBytes in [1, 4096, 1 << 21] {
                let (got, encoder) = try run(tok, input, workers: workers, batchBytes: batchBytes)
                XCTAssertEqual(got, want, "workers \(workers), batch \(batchBytes)")
                XCTAssertEqual(encoder.linesRead, lines(input).count)
                XCTAssertEqual(encoder.bytesRead, input.count)
            }
        }
    }

    func testEdgeInputs() throws {
        let tok = try gpt2()
        for input: [UInt8] in [[], [10], [10, 10, 10], Array("a".utf8), Array("a\n".utf8), [0xFF, 10, 0xE2, 0x82]] {
            for workers in [1, 2] {
                let (got, _) = try run(tok, input, workers: workers, batchBytes: 2)
                XCTAssertEqual(got, expected(tok, input), "\(input), workers \(workers)")
            }
        }
    }

    func testTokensAndJSONFormatsGiveOneLinePerLine() throws {
        let tok = try gpt2()
        let input = Array("Hello world\n\nnaïve".utf8)
        let (tokens, _) = try run(tok, input, workers: 2, batchBytes: 4, format: .tokens)
        XCTAssertEqual(tokens.split(separator: "\n", omittingEmptySubsequences: false).count, 4)
        XCTAssertTrue(tokens.hasPrefix("Hello Ġworld\n\n"), tokens)
        let (json, _) = try run(tok, input, workers: 2, batchBytes: 4, format: .json)
        let objects = json.split(separator: "\n")
        XCTAssertEqual(objects.count, 3)
        let first = try JSONSerialization.jsonObject(with: Data(objects[0].utf8)) as? [String: Any]
        XCTAssertEqual(first?["ids"] as? [Int], [15496, 995])
    }

    func testLineInputHelpers() throws {
        let input = Array("one\n\nthree\r\nfour".utf8)
        var seen: [String] = []
        try LineInput(bytes: input, batchBytes: 3).forEachLine { seen.append(String(decoding: $0, as: UTF8.self)); return true }
        XCTAssertEqual(seen, ["one", "", "three\r", "four"])
        XCTAssertEqual(try LineInput(bytes: input, batchBytes: 3).readAll(), input)
        XCTAssertEqual(try LineInput(bytes: input + [10], batchBytes: 5).readAll(), input + [10])
        XCTAssertEqual(try LineInput(bytes: [], batchBytes: 5).readAll(), [])
        var chunks: [[[UInt8]]] = []
        try LineInput(bytes: input, batchBytes: 4).forEachChunk(lines: 3) { chunks.append($0) }
        XCTAssertEqual(chunks.map(\.count), [3, 1])
        XCTAssertEqual(chunks.joined().map { String(decoding: $0, as: UTF8.self) }, ["one", "", "three\r", "four"])
    }
}

private extension Tokenizer {
    /// One output line of `ids` format for `line`.
    func idLine(_ line: [UInt8]) -> String {
        var ids: [Int] = []
        line.withUnsafeBufferPointer { encodeIds(bytes: $0, addSpecialTokens: true, into: &ids) }
        return ids.map(String.init).joined(separator: " ") + "\n"
    }
}
