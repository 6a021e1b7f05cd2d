import Foundation
@testable import VerbaModels
import VerbaSupport
@testable import VerbaTensor
import VerbaTokenizers
import XCTest

// `writeGGUF` (verba quantize) against llama.cpp: from the random-weight Hugging Face fixtures, the F16 and
// F32 files must hold exactly the tensors (names, types, bytes) and metadata llama.cpp's
// convert_hf_to_gguf.py wrote into Tests/Fixtures/gguf/*.gguf, and the Q8_0, Q4_0 and Q4_K_M files exactly
// the tensor types and bytes llama-quantize wrote (Tests/Fixtures/gguf/llama-quantize.json holds their
// FNV-1a hashes; scripts/fixtures/gguf.py makes both).

private let root = repoRoot().path
private let fixtures: [(name: String, folder: String, converted: String)] = [
    ("llama32", root + "/Tests/Fixtures/llama/llama32", "llama32-f16.gguf"),
    ("qwen25", root + "/Tests/Fixtures/llama/qwen25", "qwen25-f16.gguf"),
    ("qwen3", root + "/Tests/Fixtures/llama/qwen3", "qwen3-f32.gguf"),
    ("gpt2-small", root + "/Tests/Fixtures/gpt2-small", "gpt2-f32.gguf"),
]

/// A copy of a fixture folder with gpt2-small's tokenizer.json (the folders the converter was given).
private func folderWithTokenizer(_ folder: String) throws -> String {
    let dir = try editedCopy(ofFolder: folder)
    let target = dir + "/tokenizer.json"
    if !FileManager.default.fileExists(atPath: target) {
        try FileManager.default.copyItem(atPath: root + "/Tests/Fixtures/gpt2-small/tokenizer.json", toPath: target)
    }
    return dir
}

private func temporary(_ name: String) -> String { NSTemporaryDirectory() + "verba-export-\(UUID().uuidString)-\(name).gguf" }

private func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

final class GGUFExportTests: XCTestCase {
    func testFloatFilesMatchTheConverter() throws {
        for f in fixtures {
            let reference = try GGUFFile(path: root + "/Tests/Fixtures/gguf/" + f.converted)
            let out = temporary(f.name)
            try writeGGUF(from: try folderWithTokenizer(f.folder), to: out, type: f.converted.contains("f16") ? .f16 : .f32)
            let mine = try GGUFFile(path: out)
            XCTAssertEqual(mine.names.sorted(), reference.names.sorted(), f.name)
            for name in reference.names {
                guard let a = mine.info(name), let b = reference.info(name) else { continue }
                XCTAssertEqual(a.type, b.type, "\(f.name) \(name)")
                XCTAssertEqual(a.shape, b.shape, "\(f.name) \(name)")
                XCTAssertTrue(Array(mine.rawBytes(a)) == Array(reference.rawBytes(b)), "\(f.name) \(name): bytes differ")
            }
            for (key, value) in reference.header.metadata where key != "general.name" && key != "general.size_label" {
                XCTAssertEqual(mine.header[key], value, "\(f.name) \(key)")
            }
        }
    }

    func testQuantizedFilesMatchLlamaQuantize() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/Tests/Fixtures/gguf/llama-quantize.json"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: [String: [String]]])
        for f in fixtures {
            let folder = try folderWithTokenizer(f.folder)
            for type in [GGUFFileType.q8_0, .q4_0, .q4_K_M] {
                let want = try XCTUnwrap(expected["\(f.name)/\(type.rawValue)"], "\(f.name)/\(type.rawValue)")
                let out = temporary("\(f.name)-\(type.rawValue)")
                var progress: [String] = []
                try writeGGUF(from: folder, to: out, type: type) { _, _, name, _ in progress.append(name) }
                let file = try GGUFFile(path: out)
                XCTAssertEqual(progress, file.names, "progress reports every tensor in order")
                XCTAssertEqual(Set(file.names), Set(want.keys), "\(f.name) \(type)")
                for (name, typeAndHash) in want {
                    guard let info = file.info(name) else { continue }
                    XCTAssertEqual(info.type.name.lowercased(), typeAndHash[0], "\(f.name) \(type) \(name)")
                    XCTAssertEqual(fnv1a64(file.rawBytes(info)), typeAndHash[1], "\(f.name) \(type) \(name): bytes differ from llama-quantize's")
                }
            }
        }
    }

    /// Teacher-forced top-1 agreement with the float32 model on a text the committed trained GPT
    /// (models/gpt-kjv-fortunes) knows: ≥ 99% for Q8_0 and BF16, ≥ 97% for Q4_K_M, ≥ 95% for Q4_0.
    func testQuantizedModelsAgreeWithFloat() throws {
        let folder = root + "/models/gpt-kjv-fortunes"
        let tokenizer = try Tokenizer.load(path: folder)
        let text = """
        In the beginning God created the heaven and the earth. And the earth was without form, and void; and \
        darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. And God \
        said, Let there be light: and there was light. And God saw the light, that it was good: and God divided \
        the light from the darkness. And God called the light Day, and the darkness he called Night. And the \
        evening and the morning were the first day.
        """
        let ids = Array(tokenizer.encodeIds(text, addSpecialTokens: false).prefix(128))
        let reference = try loadCausalLM(folder: folder).allLogits(ids)
        func top(_ row: [Float]) -> Int { row.indices.max { row[$0] < row[$1] }! }
        for (type, least) in [(GGUFFileType.q8_0, 0.99), (.bf16, 0.99), (.q4_K_M, 0.97), (.q4_0, 0.95)] {
            let out = temporary("kjv-\(type.rawValue)")
            try writeGGUF(from: folder, to: out, type: type)
            let rows = try loadCausalLM(gguf: out).allLogits(ids)
            let agree = zip(rows, reference).filter { top($0) == top($1) }.count
            XCTAssertGreaterThanOrEqual(Double(agree) / Double(ids.count), least, "\(type): \(agree)/\(ids.count)")
        }
    }

    func testBertFilesMatchTheConverterAndEmbedLikeFloat() throws {
        let folder = root + "/Tests/Fixtures/gguf/bert-tiny"
        let reference = try GGUFFile(path: root + "/Tests/Fixtures/gguf/bert-f16.gguf")
        let out = temporary("bert-f16")
        try writeGGUF(from: folder, to: out, type: .f16)
        let mine = try GGUFFile(path: out)
        XCTAssertEqual(mine.names, reference.names)
        for name in reference.names {
            guard let a = mine.info(name), let b = reference.info(name) else { continue }
            XCTAssertEqual(a.type, b.type, name)
            XCTAssertTrue(Array(mine.rawBytes(a)) == Array(reference.rawBytes(b)), "\(name): bytes differ")
        }
        for (key, value) in reference.header.metadata where key != "general.name" && key != "general.size_label" {
            XCTAssertEqual(mine.header[key], value, key)
        }
        // Quantized embeddings stay within cosine 0.999 of float32 (Q8_0) and 0.99 (4-bit types).
        let texts = ["the quick brown fox", "he was here, and she was there", "a b c d e f g"].map { Array($0.utf8) }
        let (exact, _) = try Embedder(folder: folder, pooling: .mean, normalize: true).embed(bytes: texts)
        for (type, least) in [(GGUFFileType.q8_0, Float(0.999)), (.q4_K_M, 0.99), (.q4_0, 0.99)] {
            let file = temporary("bert-\(type.rawValue)")
            try writeGGUF(from: folder, to: file, type: type)
            let (vectors, _) = try Embedder(folder: file).embed(bytes: texts)
            let d = vectors.shape[1]
            for i in 0..<texts.count {
                var dot: Float = 0
                for j in 0..<d { dot += vectors[i * d + j] * exact[i * d + j] }
                XCTAssertGreaterThanOrEqual(dot, least, "\(type) text \(i)")
            }
        }
    }

    func testRequantizingAGGUFGivesTheSameFile() throws {
        let folder = try folderWithTokenizer(root + "/Tests/Fixtures/llama/llama32")
        let f32 = temporary("f32"), direct = temporary("direct"), requantized = temporary("requantized")
        try writeGGUF(from: folder, to: f32, type: .f32)
        try writeGGUF(from: folder, to: direct, type: .q4_K_M)
        try writeGGUF(from: f32, to: requantized, type: .q4_K_M)
        let a = try GGUFFile(path: direct), b = try GGUFFile(path: requantized)
        XCTAssertEqual(a.names, b.names)
        for name in a.names {
            XCTAssertEqual(a.info(name)?.type, b.info(name)?.type, name)
            XCTAssertTrue(Array(a.rawBytes(a.info(name)!)) == Array(b.rawBytes(b.info(name)!)), name)
        }
    }

    func testWriteErrorsNameTheFile() throws {
        let folder = try folderWithTokenizer(root + "/Tests/Fixtures/llama/qwen3")
        let out = NSTemporaryDirectory() + "verba-no-such-dir-\(UUID().uuidString)/model.gguf"
        XCTAssertThrowsError(try writeGGUF(from: folder, to: out, type: .q8_0)) { error in
            XCTAssertTrue("\(error)".contains(out), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let noTokenizer = try editedCopy(ofFolder: root + "/Tests/Fixtures/llama/qwen3")
        XCTAssertThrowsError(try writeGGUF(from: noTokenizer, to: temporary("x"), type: .q8_0)) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.json"), "\(error)")
        }
    }
}
