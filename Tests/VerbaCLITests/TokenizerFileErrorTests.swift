import Foundation
import XCTest

/// A tokenizer file Verba cannot read as its reference would: one `verba: error:` line naming the
/// file and the construct, exit status 1.
final class TokenizerFileErrorTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("verba-tokfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Runs `verba tokenize --tokenizer path` and checks the one error line names the file and `construct`.
    func assertOneErrorLine(_ path: String, _ construct: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runVerba(["tokenize", "--tokenizer", path], input: Data("hello\n".utf8))
        let err = String(decoding: r.stderr, as: UTF8.self)
        XCTAssertEqual(r.status, 1, err, file: file, line: line)
        XCTAssertTrue(r.stdout.isEmpty, file: file, line: line)
        XCTAssertTrue(err.hasPrefix("verba: error: ") && err.hasSuffix("\n") && err.filter { $0 == "\n" }.count == 1, err, file: file, line: line)
        XCTAssertTrue(err.contains(path), "\(err) names \(path)", file: file, line: line)
        XCTAssertTrue(err.contains(construct), "\(err) names \(construct)", file: file, line: line)
    }

    func tokenizerJSON(_ name: String, normalizer: String = "null", pre: String = "null", model: String? = nil) throws -> String {
        let path = folder.appendingPathComponent(name).path
        let m = model ?? #"{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}"#
        try Data(#"{"normalizer": \#(normalizer), "pre_tokenizer": \#(pre), "model": \#(m)}"#.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testUnknownTokenizerJSONComponents() throws {
        try assertOneErrorLine(try tokenizerJSON("n.json", normalizer: #"{"type": "Frobnicate"}"#), "normalizer type Frobnicate")
        try assertOneErrorLine(try tokenizerJSON("p.json", pre: #"{"type": "Zap"}"#), "pre_tokenizer type Zap")
        try assertOneErrorLine(try tokenizerJSON("m.json", model: #"{"type": "WordLevelX", "vocab": {}}"#), "model type WordLevelX")
        let split = #"{"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated", "invert": false}"#
        try assertOneErrorLine(try tokenizerJSON("r.json", pre: split), "lookbehind (?<=...)")
        let replace = #"{"type": "Replace", "pattern": {"Regex": "a(?(1)b)"}, "content": "x"}"#
        try assertOneErrorLine(try tokenizerJSON("rr.json", normalizer: replace), "conditional")
        let charsmap = #"{"type": "Precompiled", "precompiled_charsmap": "AQAAAA=="}"#
        try assertOneErrorLine(try tokenizerJSON("pc.json", normalizer: charsmap), "trie size")
    }

    func testCorruptSentencePieceModel() throws {
        let source = packageRoot().appendingPathComponent("Tests/Fixtures/spm-bpe/spm.model")
        let whole = try Data(contentsOf: source)
        let cut = folder.appendingPathComponent("tokenizer.model")
        try whole.prefix(whole.count / 2).write(to: cut)
        try assertOneErrorLine(cut.path, "runs past the end")
    }

    /// A GGUF file holding only `tokenizer.ggml.*` metadata.
    func gguf(_ name: String, model: String, pre: String) throws -> String {
        var d = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: Array(s.utf8)) }
        u32(3); u64(0); u64(4)
        string("tokenizer.ggml.model"); u32(8); string(model)
        string("tokenizer.ggml.pre"); u32(8); string(pre)
        string("tokenizer.ggml.tokens"); u32(9); u32(8); u64(3); string("a"); string("b"); string("ab")
        string("tokenizer.ggml.merges"); u32(9); u32(8); u64(1); string("a b")
        let path = folder.appendingPathComponent(name).path
        try d.write(to: URL(fileURLWithPath: path))
        return path
    }

    func testUnknownGGUFModelAndPreTokenizer() throws {
        let ok = try gguf("ok.gguf", model: "gpt2", pre: "gpt-2")
        let r = try runVerba(["tokenize", "--tokenizer", ok], input: Data("ab\n".utf8))
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self), "2\n")
        try assertOneErrorLine(try gguf("pre.gguf", model: "gpt2", pre: "no-such-pre"), "GGUF pre-tokenizer \"no-such-pre\"")
        try assertOneErrorLine(try gguf("model.gguf", model: "rwkv", pre: "default"), "GGUF tokenizer model \"rwkv\"")
    }
}
