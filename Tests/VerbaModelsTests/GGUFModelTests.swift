import Foundation
@testable import VerbaModels
import VerbaSupport
@testable import VerbaTensor
import VerbaTokenizers
import XCTest

// GGUF model files made by llama.cpp's converter (scripts/fixtures/gguf.py) from the random-weight
// Hugging Face fixtures must give the logits the folders give. A float32 GGUF is compared with the
// folder itself; a float16 GGUF with a copy of the folder whose matrices are rounded to float16 the
// same way (so both sides compute from identical weights): |GGUF − folder| < 1e-4 on logits whose
// standard deviation is about 2.

private let root = repoRoot().path
private func gguf(_ name: String) -> String { root + "/Tests/Fixtures/gguf/" + name }
private func hf(_ name: String) -> String { root + "/Tests/Fixtures/" + name }

private let ids = [3, 17, 256, 9, 100, 511, 42, 42, 7, 300, 12, 1]

private func maxDiff(_ a: [[Float]], _ b: [[Float]]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for (x, y) in zip(a, b) {
        precondition(x.count == y.count)
        for i in 0..<x.count { m = max(m, abs(x[i] - y[i])) }
    }
    return m
}

/// A temporary copy of a model folder whose 2-D tensors are stored as float16 (the rest float32).
private func float16Copy(of folder: String) throws -> String {
    let dir = try editedCopy(ofFolder: folder)
    let path = dir + "/model.safetensors"
    let file = try SafeTensorsFile(path: path)
    let tensors = try file.names.map { name -> (name: String, tensor: FloatTensor, dtype: DType) in
        let t = try file.floats(name).copy()
        return (name, t, t.shape.count == 2 ? .f16 : .f32)
    }
    try SafeTensorsWriter.write(tensors, metadata: [:], to: path)
    return dir
}

/// Rewrites a GGUF file with `edit` applied to its metadata and tensor entries (data kept as it is).
private func rewritten(_ source: String, name: String,
                       edit: (inout [(key: String, value: GGUFValue)], inout [GGUFTensorEntry]) -> Void) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: source))
    let header = try data.withUnsafeBytes { try GGUFHeader($0, path: source) }
    var metadata = header.metadata, tensors = header.tensors
    edit(&metadata, &tensors)
    var out = GGUFEncoding.header(metadata: metadata, tensors: tensors)
    while out.count % header.alignment != 0 { out.append(0) }
    out += data[header.dataOffset...]
    let path = NSTemporaryDirectory() + "verba-gguf-\(UUID().uuidString)-\(name).gguf"
    try Data(out).write(to: URL(fileURLWithPath: path))
    return path
}

private func message(_ body: () throws -> Void) -> String {
    do { try body() } catch { return "\(error)" }
    return "(no error)"
}

final class GGUFModelTests: XCTestCase {
    func testLlamaFamilyLogitsMatchTheFolder() throws {
        for (file, folder, half) in [("llama32-f16.gguf", "llama/llama32", true), ("qwen25-f16.gguf", "llama/qwen25", true),
                                     ("qwen3-f32.gguf", "llama/qwen3", false)] {
            let reference = try LlamaModel(folder: half ? try float16Copy(of: hf(folder)) : hf(folder))
            let model = try loadCausalLM(gguf: gguf(file))
            let llama = try XCTUnwrap(model as? LlamaModel, file)
            XCTAssertEqual(llama.config.layerCount, reference.config.layerCount, file)
            XCTAssertEqual(llama.config.kvHeadCount, reference.config.kvHeadCount, file)
            XCTAssertEqual(llama.config.headSize, reference.config.headSize, file)
            XCTAssertEqual(llama.config.qkvBias, reference.config.qkvBias, file)
            XCTAssertEqual(llama.config.qkNorm, reference.config.qkNorm, file)
            XCTAssertEqual(llama.config.tieWordEmbeddings, reference.config.tieWordEmbeddings, file)
            XCTAssertEqual(llama.config.bosTokenId, reference.config.bosTokenId, file)
            for (a, b) in zip(llama.config.inverseFrequencies, reference.config.inverseFrequencies) {
                XCTAssertEqual(a, b, accuracy: 1e-6 * b, file)
            }
            let d = maxDiff(try model.allLogits(ids), try reference.allLogits(ids))
            XCTAssertLessThan(d, 1e-4, file)
            // Decode steps after a prefill, through the same cache.
            let cache = model.makeCache(), refCache = reference.makeCache()
            _ = try model.logits(for: Array(ids[0..<6]), cache: cache)
            _ = try reference.logits(for: Array(ids[0..<6]), cache: refCache)
            for id in ids[6...] {
                XCTAssertLessThan(maxDiff([try model.logits(for: [id], cache: cache)], [try reference.logits(for: [id], cache: refCache)]), 1e-4, file)
            }
        }
    }

    func testGPT2LogitsMatchTheFolder() throws {
        let model = try loadCausalLM(folder: gguf("gpt2-f32.gguf"))   // the folder entry point takes a GGUF too
        XCTAssertTrue(model is GPT2Model)
        let reference = try GPT2Model(folder: hf("gpt2-small"))
        XCTAssertLessThan(maxDiff(try model.allLogits(ids), try reference.allLogits(ids)), 1e-4)
    }

    func testBertMatchesTheFolder() throws {
        let folder = gguf("bert-tiny"), file = gguf("bert-f16.gguf")
        let reference = try BertModel(folder: folder)
        let (model, pooling) = try loadBert(gguf: file)
        XCTAssertNil(pooling)
        XCTAssertEqual(model.config, reference.config)
        let inputs = [BertInput(ids: [101, 2000, 2001, 2002, 999, 102]), BertInput(ids: [101, 1996, 102], typeIds: [0, 1, 1])]
        let a = try model.lastHiddenStates(inputs), b = try reference.lastHiddenStates(inputs)
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) { XCTAssertLessThan(maxDiff([x.toArray()], [y.toArray()]), 1e-4) }
        // The embedder takes the file as its model: the file's WordPiece vocabulary, mean pooling, unit vectors.
        let embedder = try Embedder(folder: file)
        let plain = try Embedder(folder: folder, pooling: .mean, normalize: true)
        let text = "the quick brown fox, and 42 other animals"
        XCTAssertEqual(try embedder.encoder.tokenizer.encode(text).ids, try plain.encoder.tokenizer.encode(text).ids)
        let (u, _) = try embedder.embed(bytes: [Array(text.utf8)]), (v, _) = try plain.embed(bytes: [Array(text.utf8)])
        XCTAssertLessThan(maxDiff([u.toArray()], [v.toArray()]), 1e-5)
    }

    func testTokenizerComesFromTheFile() throws {
        let tokenizer = try Tokenizer.load(path: gguf("llama32-f16.gguf"))
        let reference = try Tokenizer.load(path: hf("gpt2-small/tokenizer.json"))
        let text = "Hello world, this is Verba reading a GGUF file."
        XCTAssertEqual(try tokenizer.encode(text).ids, try reference.encode(text).ids)
    }

    func testBadFilesNameTheFileAndTheThing() throws {
        let source = gguf("qwen3-f32.gguf")
        // An unknown tensor type.
        let unknown = try rewritten(source, name: "type") { _, t in
            t[3] = GGUFTensorEntry(name: t[3].name, dims: t[3].dims, type: 99, offset: t[3].offset)
        }
        var m = message { _ = try loadCausalLM(gguf: unknown) }
        XCTAssertTrue(m.contains(unknown) && m.contains("tensor type 99") && m.contains("blk.0.ffn_gate.weight"), m)
        // A truncated tensor (the file cut inside the last tensor).
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        let cut = NSTemporaryDirectory() + "verba-gguf-\(UUID().uuidString)-cut.gguf"
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: cut))
        m = message { _ = try loadCausalLM(gguf: cut) }
        XCTAssertTrue(m.contains(cut) && m.contains("truncated") && m.contains("output_norm.weight"), m)
        // A missing key, and a key of the wrong type.
        let missing = try rewritten(source, name: "missing") { meta, _ in meta.removeAll { $0.key == "qwen3.embedding_length" } }
        m = message { _ = try loadCausalLM(gguf: missing) }
        XCTAssertTrue(m.contains(missing) && m.contains("missing metadata key qwen3.embedding_length"), m)
        let wrong = try rewritten(source, name: "wrong") { meta, _ in
            let i = meta.firstIndex { $0.key == "qwen3.block_count" }!
            meta[i].value = .string("two")
        }
        m = message { _ = try loadCausalLM(gguf: wrong) }
        XCTAssertTrue(m.contains(wrong) && m.contains("qwen3.block_count is not an integer"), m)
        // An architecture Verba does not run.
        let arch = try rewritten(source, name: "arch") { meta, _ in
            let i = meta.firstIndex { $0.key == "general.architecture" }!
            meta[i].value = .string("mamba")
        }
        m = message { _ = try loadCausalLM(gguf: arch) }
        XCTAssertTrue(m.contains(arch) && m.contains("unsupported architecture \"mamba\""), m)
        // A tensor whose offset lies about its place (overlapping the one before it).
        let overlap = try rewritten(source, name: "overlap") { _, t in
            t[2] = GGUFTensorEntry(name: t[2].name, dims: t[2].dims, type: t[2].type, offset: t[1].offset)
        }
        m = message { _ = try loadCausalLM(gguf: overlap) }
        XCTAssertTrue(m.contains(overlap) && m.contains("overlapping"), m)
        // A misaligned offset, and a count of keys the file cannot hold.
        let misaligned = try rewritten(source, name: "align") { _, t in
            t[0] = GGUFTensorEntry(name: t[0].name, dims: t[0].dims, type: t[0].type, offset: t[0].offset + 4)
        }
        m = message { _ = try loadCausalLM(gguf: misaligned) }
        XCTAssertTrue(m.contains(misaligned) && m.contains("token_embd.weight") && m.contains("alignment"), m)
        var lying = data
        lying.replaceSubrange(16..<24, with: [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        let liar = NSTemporaryDirectory() + "verba-gguf-\(UUID().uuidString)-kv.gguf"
        try lying.write(to: URL(fileURLWithPath: liar))
        m = message { _ = try loadCausalLM(gguf: liar) }
        XCTAssertTrue(m.contains(liar) && m.contains("metadata keys claimed"), m)
        // A shape that disagrees with the metadata.
        let shape = try rewritten(source, name: "shape") { meta, _ in
            let i = meta.firstIndex { $0.key == "qwen3.feed_forward_length" }!
            meta[i].value = .int(96, .uint32)
        }
        m = message { _ = try loadCausalLM(gguf: shape) }
        XCTAssertTrue(m.contains(shape) && m.contains("blk.0.ffn_gate.weight"), m)
    }

    func testWriterRoundTrip() throws {
        let source = try GGUFFile(path: gguf("qwen3-f32.gguf"))
        let out = NSTemporaryDirectory() + "verba-gguf-\(UUID().uuidString)-copy.gguf"
        let tensors = source.names.map { name -> GGUFOutputTensor in
            let info = source.tensors[name]!
            return GGUFOutputTensor(name: name, type: info.type, shape: info.shape) { write in try write(source.rawBytes(info)) }
        }
        try GGUFWriter.write(to: out, metadata: source.header.metadata, tensors: tensors)
        let copy = try GGUFFile(path: out)
        XCTAssertEqual(copy.names, source.names)
        XCTAssertEqual(copy.header.metadata.map(\.key), source.header.metadata.map(\.key))
        XCTAssertEqual(copy.header.metadata.map(\.value), source.header.metadata.map(\.value))
        for name in source.names {
            XCTAssertEqual(Array(copy.rawBytes(copy.tensors[name]!)), Array(source.rawBytes(source.tensors[name]!)), name)
        }
    }
}
