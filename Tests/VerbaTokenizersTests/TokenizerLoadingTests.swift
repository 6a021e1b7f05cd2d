import Foundation
import XCTest
@testable import VerbaTokenizers

/// Loading every supported tokenizer format, saving tokenizer.json, and the errors for bad files.
final class TokenizerLoadingTests: XCTestCase {
    static let root = packageRoot

    /// An asset relative to the package root (see `requireAsset`).
    func asset(_ relative: String) throws -> String {
        try requireAsset(relative, root: Self.root)
    }

    /// A fresh temporary folder.
    func tempFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("verba-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url)
    }

    /// The error `body` throws, as text; fails when nothing is thrown.
    func errorText(_ body: () throws -> Tokenizer, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try body()
            XCTFail("no error thrown", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    // MARK: Formats

    func testGPT2TokenizerJSONFolderAndVocabMerges() throws {
        let json = try asset("../shared/fixtures/gpt2/tokenizer.json")
        let folder = try tempFolder()
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(atPath: try asset("../shared/fixtures/gpt2/\(name)"),
                                             toPath: folder.appendingPathComponent(name).path)
        }
        for path in [json, folder.path] {
            let t = try Tokenizer.load(path: path)
            XCTAssertEqual(t.encodeIds("Hello world"), [15496, 995], path)
            XCTAssertEqual(t.encodeIds(" this is 🦙.cpp", addSpecialTokens: true), [428, 318, 12520, 99, 247, 13, 20322], path)
            XCTAssertEqual(t.vocabSize, 50257)
            XCTAssertEqual(t.idToToken(15496), "Hello")
            XCTAssertEqual(t.tokenToId("Ġworld"), 995)
            XCTAssertEqual(t.decode([15496, 995]), "Hello world")
            XCTAssertTrue(t.byteLevel)
        }
    }

    func testBERTFromTokenizerJSONAndVocabTxt() throws {
        let json = try asset("downloads/minilm/tokenizer.json")
        let folder = try tempFolder()
        try FileManager.default.copyItem(atPath: try asset("downloads/minilm/vocab.txt"),
                                         toPath: folder.appendingPathComponent("vocab.txt").path)
        for path in [json, folder.path, folder.appendingPathComponent("vocab.txt").path] {
            let t = try Tokenizer.load(path: path).with(truncation: nil, padding: nil)
            XCTAssertEqual(t.encodeIds("Hello, World!"), [101, 7592, 1010, 2088, 999, 102], path)
            XCTAssertEqual(t.encodeIds("Hello, World!", addSpecialTokens: false), [7592, 1010, 2088, 999], path)
            XCTAssertEqual(t.encodeIds("[CLS] x [MASK]", addSpecialTokens: false), [101, 1060, 103], path)
            XCTAssertEqual(t.decode([101, 7592, 1010, 2088, 999, 102], skipSpecialTokens: true), "hello, world!")
        }
    }

    func testTiktokenFiles() throws {
        let cl = try Tokenizer.load(path: try asset("downloads/tiktoken/cl100k_base.tiktoken"))
        XCTAssertEqual(cl.encodeIds("Hello world"), [9906, 1917])
        // Special tokens are known as ids, and text is encoded as tiktoken's encode_ordinary does.
        XCTAssertEqual(cl.tokenToId("<|endoftext|>"), 100257)
        XCTAssertEqual(cl.idToToken(100276), "<|endofprompt|>")
        XCTAssertEqual(cl.decode([9906, 100257]), "Hello<|endoftext|>")
        XCTAssertEqual(cl.decode([9906, 100257], skipSpecialTokens: true), "Hello")
        XCTAssertEqual(cl.encodeIds("<|endoftext|>"), [27, 91, 8862, 728, 428, 91, 29])
        let o = try Tokenizer.load(path: try asset("downloads/tiktoken/o200k_base.tiktoken"))
        XCTAssertEqual(o.encodeIds("Hello world"), [13225, 2375])
        XCTAssertEqual(o.tokenToId("<|endoftext|>"), 199999)
    }

    /// llama.cpp's tokenizer vectors (all of them, multi-line texts included) through the API.
    func checkLlamaVectors(_ stem: String) throws {
        let dir = try asset("../shared/fixtures/llama-vocab")
        let t = try Tokenizer.load(path: dir + "/\(stem).gguf")
        let inp = try String(contentsOfFile: dir + "/\(stem).inp", encoding: .utf8)
        let out = try String(contentsOfFile: dir + "/\(stem).out", encoding: .utf8)
        let texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        let expected = out.components(separatedBy: "\n")
        XCTAssertGreaterThanOrEqual(texts.count, 30)
        for (i, text) in texts.enumerated() where i < expected.count {
            let want = expected[i].split(separator: " ").compactMap { Int($0) }
            if text.isEmpty && expected[i].isEmpty { continue }
            XCTAssertEqual(t.encodeIds(text, addSpecialTokens: false), want, "\(stem) vector \(i): \(text.debugDescription)")
        }
    }

    func testGGUFGPT2Vocabulary() throws { try checkLlamaVectors("gpt-2") }
    func testGGUFBERTVocabulary() throws {
        try checkLlamaVectors("bert-bge")
        let t = try Tokenizer.load(path: try asset("../shared/fixtures/llama-vocab/bert-bge.gguf"))
        XCTAssertEqual(t.encodeIds("hello world"), [101, 7592, 2088, 102])
        XCTAssertEqual(t.idToToken(2015), "##s")
    }

    // MARK: Saving

    func testSavedTokenizerJSONReloadsWithIdenticalEncodings() throws {
        let texts = ["Hello world", " this is 🦙.cpp", "Ünïcödé   spaces\tand\nnewlines", "[CLS] [MASK] 12345", ""]
        for source in ["../shared/fixtures/gpt2/tokenizer.json", "downloads/minilm/tokenizer.json",
                       "downloads/tiktoken/cl100k_base.tiktoken"] {
            let original = try Tokenizer.load(path: try asset(source))
            let folder = try tempFolder()
            let saved = folder.appendingPathComponent("tokenizer.json").path
            try original.save(to: saved)
            let reloaded = try Tokenizer.load(path: saved)
            for text in texts {
                XCTAssertEqual(try reloaded.encode(text), try original.encode(text), "\(source): \(text.debugDescription)")
                XCTAssertEqual(reloaded.decode(original.encodeIds(text)), original.decode(original.encodeIds(text)))
            }
        }
    }

    // MARK: Errors

    func testMissingFileAndEmptyFolder() throws {
        XCTAssertTrue(errorText { try Tokenizer.load(path: "/nonexistent/tokenizer.json") }.contains("/nonexistent/tokenizer.json"))
        let folder = try tempFolder()
        XCTAssertTrue(errorText { try Tokenizer.load(path: folder.path) }.contains("no tokenizer files"))
    }

    func testMalformedTokenizerJSON() throws {
        let folder = try tempFolder()
        let path = folder.appendingPathComponent("tokenizer.json")
        let full = try String(contentsOfFile: try asset("../shared/fixtures/gpt2/tokenizer.json"), encoding: .utf8)
        try write(String(full.prefix(5000)), to: path)
        let truncated = errorText { try Tokenizer.load(path: path.path) }
        XCTAssertTrue(truncated.contains(path.path) && truncated.contains("truncated JSON"), truncated)

        try write(#"{"model": {"type": "WordLevel", "vocab": {}}}"#, to: path)
        let unknown = errorText { try Tokenizer.load(path: path.path) }
        XCTAssertTrue(unknown.contains("unknown model type WordLevel"), unknown)

        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]}}"#, to: path)
        let merges = errorText { try Tokenizer.load(path: path.path) }
        XCTAssertTrue(merges.contains(path.path) && merges.contains("\"c\""), merges)

        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}"#, to: path)
        let ok = try Tokenizer.load(path: path.path)
        XCTAssertEqual(ok.encodeIds("ab"), [2])

        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Frobnicate"}}"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("normalizer type Frobnicate"))
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Precompiled"}}"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("precompiled_charsmap"))

        try write("not json at all", to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains(path.path))
    }

    /// The vocabulary and merges are read from the file's bytes, not from a JSON document: escapes,
    /// both merge spellings, repeated strings and ids (read as Hugging Face's map reads them), shape
    /// errors, and saving the merges back unchanged.
    func testBPEVocabularyReadFromBytes() throws {
        let folder = try tempFolder()
        let path = folder.appendingPathComponent("tokenizer.json")
        // "\u0120" is Ġ (a byte-level space); "\"" a quote; merges mix "a b" and [a, b].
        try write(#"""
            {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
             "model": {"type": "BPE", "vocab": {"\u0120": 0, "a": 1, "\"": 2, "\u0120a": 3, "\u0120a\"": 4},
                       "merges": ["\u0120 a", ["\u0120a", "\""]]}}
            """#, to: path)
        let t = try Tokenizer.load(path: path.path)
        XCTAssertEqual(t.encodeIds(" a\" a"), [4, 3])
        XCTAssertEqual(t.tokenToId("Ġa\""), 4)
        XCTAssertEqual(t.idToToken(3), "Ġa")
        let saved = folder.appendingPathComponent("saved.json")
        try t.save(to: saved.path)
        let again = try Tokenizer.load(path: saved.path)
        XCTAssertEqual(again.encodeIds(" a\" a\""), [4, 4])
        guard case let .array(merges)? = try parseJSON(Array(Data(contentsOf: saved)))["model"]?["merges"] else {
            return XCTFail("no merges saved")
        }
        XCTAssertEqual(merges, [.array([.string("Ġ"), .string("a")]), .array([.string("Ġa"), .string("\"")])])
        // Saving is atomic: a second save replaces the file and leaves no temporary file; a save into
        // a missing folder says so and leaves nothing.
        try t.save(to: saved.path)
        XCTAssertEqual(try Tokenizer.load(path: saved.path).encodeIds(" a\" a\""), [4, 4])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp-") }, [])
        let noFolder = folder.appendingPathComponent("no/such/folder/tokenizer.json").path
        XCTAssertThrowsError(try t.save(to: noFolder)) { error in
            XCTAssertEqual(error as? TokenizerError, .unwritable(path: noFolder, reason: "No such file or directory"))
            XCTAssertEqual("\(error)", "\(noFolder): cannot write: No such file or directory")
        }

        // Byte-level merges are resolved by bytes and the string table is built on first use, once,
        // whichever thread asks first; a merge that does not resolve is reported by its string.
        let fresh = try Tokenizer.load(path: path.path)
        var seen = [String?](repeating: nil, count: 8)
        seen.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer  // each thread writes its own slot
            DispatchQueue.concurrentPerform(iterations: 8) { i in out[i] = fresh.idToToken(3 + i % 2) }
        }
        XCTAssertEqual(seen, (0..<8).map { $0 % 2 == 0 ? "Ġa" : "Ġa\"" })
        try write(#"""
            {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
             "model": {"type": "BPE", "vocab": {"\u0120": 0, "a": 1, "\u0120a": 3}, "merges": ["\u0120 a", "\u0120a b"]}}
            """#, to: path)
        let missing = errorText { try Tokenizer.load(path: path.path) }
        XCTAssertTrue(missing.contains("merge 2: token \"b\" is not in the vocabulary"), missing)

        // A string given twice: the later id wins and the earlier id has no string, as in a JSON map.
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "a": 2, "ab": 3}, "merges": ["a b"]}}"#, to: path)
        let repeated = try Tokenizer.load(path: path.path)
        XCTAssertEqual(repeated.tokenToId("a"), 2)
        XCTAssertNil(repeated.idToToken(0))
        XCTAssertEqual(repeated.encodeIds("ab"), [3])
        // Two strings for one id: both are found by tokenToId (encoding spells the id one way only).
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 1, "ab": 2}, "merges": ["a b"]}}"#, to: path)
        let shared = try Tokenizer.load(path: path.path)
        XCTAssertEqual(shared.tokenToId("b"), 1)
        XCTAssertEqual(shared.tokenToId("c"), 1)

        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b c"]}}"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("model.merges[0] \"a b c\" is not two tokens"))
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a"]]}}"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("model.merges[0] is neither"))
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": -1}, "merges": []}}"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("the id of b is not a non-negative integer"))
        try write(#"{"model": {"type": "BPE", "vocab": ["a"], "merges": []}}"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("model.vocab is missing or not an object"))
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"}}"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("invalid JSON at line 1"))
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]"#, to: path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: path.path) }.contains("truncated JSON"))
    }

    func testMalformedTiktokenAndGGUF() throws {
        let folder = try tempFolder()
        let tik = folder.appendingPathComponent("cl100k_base.tiktoken")
        try write("IQ== 0\nthis is not base64! 1\n", to: tik)
        let bad = errorText { try Tokenizer.load(path: tik.path) }
        XCTAssertTrue(bad.contains(tik.path), bad)
        // A 23-byte file claiming rank 36,319,306 sized tables of 36 million entries (found by fuzzing).
        try write("IQ== 36319306\nIG== 209\n", to: tik)
        let huge = errorText { try Tokenizer.load(path: tik.path) }
        XCTAssertTrue(huge.contains(tik.path) && huge.contains("36319306"), huge)

        let unnamed = folder.appendingPathComponent("mystery.tiktoken")
        try FileManager.default.copyItem(atPath: try asset("downloads/tiktoken/cl100k_base.tiktoken"), toPath: unnamed.path)
        XCTAssertTrue(errorText { try Tokenizer.load(path: unnamed.path) }.contains("mystery"))

        let gguf = try Data(contentsOf: URL(fileURLWithPath: try asset("../shared/fixtures/llama-vocab/gpt-2.gguf")))
        let cut = folder.appendingPathComponent("cut.gguf")
        try gguf.prefix(100_000).write(to: cut)
        let truncated = errorText { try Tokenizer.load(path: cut.path) }
        XCTAssertTrue(truncated.contains(cut.path) && truncated.contains("GGUF"), truncated)
    }
}
