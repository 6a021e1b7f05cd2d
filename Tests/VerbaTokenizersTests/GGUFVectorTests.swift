import Foundation
import XCTest

@testable import VerbaTokenizers

/// llama.cpp's tokenizer test vectors: every `ggml-vocab-*.gguf` in downloads/llama.cpp/models that
/// has an `.inp` (texts separated by `__ggml_vocab_test__` lines) and an `.out` (the ids `tokenizers`
/// gives each text without special tokens, one line per text), id for id.
final class GGUFVectorTests: XCTestCase {
    /// The texts of an `.inp` file, cut as llama.cpp's test-tokenizer-0 cuts them: at each separator
    /// line, a separator at the very end ending the last text.
    static func texts(_ inp: String) -> [String] {
        let sep = "\n__ggml_vocab_test__\n"
        var out: [String] = []
        var rest = Substring(inp)
        while !rest.isEmpty {
            guard let r = rest.range(of: sep) else { out.append(String(rest)); break }
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        return out
    }

    func testEveryVectorFile() throws {
        let dir = try requireAsset("downloads/llama.cpp/models")
        let stems = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { $0.hasSuffix(".gguf.inp") }.map { String($0.dropLast(4)) }.sorted()
        // llama.cpp ships 15 vocabularies with vectors; fewer means the folder is not what it should be.
        XCTAssertGreaterThanOrEqual(stems.count, 15, "vector files in \(dir)")
        var report: [String] = []
        for stem in stems {
            let t = try Tokenizer.load(path: dir + "/" + stem)
            let texts = Self.texts(try String(contentsOfFile: dir + "/\(stem).inp", encoding: .utf8))
            let lines = try String(contentsOfFile: dir + "/\(stem).out", encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: false)
            let expected = (lines.last == "" ? lines.dropLast() : lines[...]).map { $0.split(separator: " ").map { Int($0)! } }
            XCTAssertEqual(texts.count, expected.count, "\(stem): texts and expected lines")
            var passed = 0
            for (i, (text, want)) in zip(texts, expected).enumerated() {
                let got = t.encodeIds(text, addSpecialTokens: false)
                if got == want { passed += 1 } else {
                    XCTFail("\(stem) vector \(i) \(text.debugDescription): got \(got), want \(want)")
                }
            }
            report.append("\(stem): \(passed)/\(expected.count)")
        }
        print("llama.cpp vocabulary vectors:\n" + report.joined(separator: "\n"))
    }

    func testEncodeAddsBOSAsTheFileSays() throws {
        let dir = try requireAsset("downloads/llama.cpp/models")
        let spm = try Tokenizer.load(path: dir + "/ggml-vocab-llama-spm.gguf")
        XCTAssertEqual(spm.encodeIds("Hello world"), [1, 15043, 3186])
        XCTAssertEqual(spm.decode([1, 15043, 3186], skipSpecialTokens: true), "Hello world")
        let llama3 = try Tokenizer.load(path: dir + "/ggml-vocab-llama-bpe.gguf")
        XCTAssertEqual(llama3.encodeIds("Hello world"), [128000, 9906, 1917])
        let qwen = try Tokenizer.load(path: dir + "/ggml-vocab-qwen2.gguf")
        XCTAssertEqual(qwen.encodeIds("Hello world"), [9707, 1879])
        XCTAssertEqual(qwen.decode([9707, 1879]), "Hello world")
    }

    func testEveryKnownPreTokenizerCompiles() throws {
        for name in ["default", "llama-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "starcoder", "gpt-2",
                     "qwen2", "qwen35", "poro-chat", "viking", "tekken", "gpt-4o", "seed-coder", "ufakzeka", "minicpm5",
                     "chameleon"] {
            let family = try XCTUnwrap(GGUFPreTokenizer.named(name), name)
            for regex in family.regexes {
                XCTAssertNoThrow(try RegexSplitPreTokenizer(pattern: regex, literal: false, behavior: .isolated, invert: false),
                                 "\(name): \(regex)")
            }
        }
        XCTAssertNil(GGUFPreTokenizer.named("kimi-k2"))
    }
}
