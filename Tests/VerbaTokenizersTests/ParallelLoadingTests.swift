import Foundation
import XCTest
@testable import VerbaTokenizers
import VerbaSupport

/// A tokenizer.json read on two threads (vocabulary and merges at once, merges resolved in two
/// halves) is the tokenizer read on one, errors included; the fast JSON container skip it relies on
/// matches its plain version.
final class ParallelLoadingTests: XCTestCase {
    func end(_ text: [UInt8], fast: Bool) -> Int? {
        text.withUnsafeBufferPointer { fast ? jsonContainerEnd($0, at: 0) : jsonContainerEndReference($0, at: 0) }
    }

    func testContainerEndMatchesReference() {
        var g = SplitMix64(seed: 42)  // seeded: a failure can be replayed
        // Random text over the bytes that matter (and a few that do not), long enough to cross blocks.
        let alphabet = Array(#"{}[]"\ a,:0"#.utf8)
        var ended = 0
        for _ in 0..<20_000 {
            var text = (0..<Int.random(in: 1...120, using: &g)).map { _ in alphabet.randomElement(using: &g)! }
            text[0] = Bool.random(using: &g) ? UInt8(ascii: "{") : UInt8(ascii: "[")
            let expected = end(text, fast: false)
            XCTAssertEqual(end(text, fast: true), expected, String(decoding: text, as: UTF8.self))
            if expected != nil { ended += 1 }
        }
        XCTAssertGreaterThan(ended, 1000)  // the cases are not all truncated
        // An escape at every position around the 16-byte blocks: the escaped quote is not the end.
        for k in 0..<48 {
            let text = Array(("{\"" + String(repeating: "a", count: k) + "\\\"}\"}   ").utf8)
            XCTAssertEqual(end(text, fast: false), text.count - 3, "k=\(k)")
            XCTAssertEqual(end(text, fast: true), text.count - 3, "k=\(k)")
            let truncated = Array(text[..<(k + 4)])  // ends inside the string, just after the escape
            XCTAssertNil(end(truncated, fast: true), "k=\(k)")
            XCTAssertNil(end(truncated, fast: false), "k=\(k)")
        }
    }

    func testGPT2LoadsTheSameOnTwoThreads() throws {
        let path = sharedFixture("gpt2/tokenizer.json")
        guard let data = FileManager.default.contents(atPath: path) else { throw XCTSkip("\(path) is absent") }
        let bytes = [UInt8](data)
        let one = try Tokenizer.fromTokenizerJSON(bytes, path: path, threads: 1)
        let two = try Tokenizer.fromTokenizerJSON(bytes, path: path, threads: 2)
        XCTAssertEqual(one.tokenizerJSON(), two.tokenizerJSON())
        for text in ["Hello world", " naïve café 東京 👩‍👩‍👧", "   spaces\tand\ttabs  ", "I'M DONE, aren't you?"] {
            XCTAssertEqual(one.encodeIds(text), two.encodeIds(text), text)
        }
    }

    /// Files over the size at which loading splits in two, by a long string the reader ignores.
    func large(_ json: String) -> [UInt8] {
        Array(("{\"ignored\": \"" + String(repeating: "x", count: 1 << 20) + "\", " + json.dropFirst()).utf8)
    }

    func testErrorsAndOddShapesAreTheSameOnTwoThreads() throws {
        let cases = [
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]}}"#,
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b c"]}}"#,
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a"]]}}"#,
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": -1}, "merges": []}}"#,
            #"{"model": {"type": "BPE", "vocab": ["a"], "merges": []}}"#,
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"}}"#,
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]"#,
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": 7}}"#,
            #"{"model": {"type": "BPE", "merges": ["a b"]}}"#,
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}"#,
            #"{"model": {"merges": [["a", "b"]], "type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}}}"#,
            ##"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "a\"b": 3}, "merges": ["a b"]}}"##,
            ###"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1, "##b": 2}}}"###,
        ]
        for json in cases {
            let bytes = large(json)
            let one = Result { try Tokenizer.fromTokenizerJSON(bytes, path: "t.json", threads: 1) }
            let two = Result { try Tokenizer.fromTokenizerJSON(bytes, path: "t.json", threads: 2) }
            switch (one, two) {
            case let (.success(a), .success(b)):
                XCTAssertEqual(a.tokenizerJSON(), b.tokenizerJSON(), json)
                XCTAssertEqual(a.encodeIds("ab a b"), b.encodeIds("ab a b"), json)
            case let (.failure(a), .failure(b)):
                XCTAssertEqual("\(a)", "\(b)", json)
            default:
                XCTFail("one thread: \(one), two threads: \(two), for \(json)")
            }
        }
    }

    func sharedFixture(_ relative: String) -> String {
        packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/\(relative)").path
    }
}
