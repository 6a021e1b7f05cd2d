import Foundation
import XCTest
@testable import VerbaModels
@testable import VerbaTensor
@testable import VerbaTokenizers

/// Files that claim enormous counts or sizes (2^40 tokens, 2^62-byte tensors, 2^32 layers) are refused
/// with an error at once: every length read from a file is checked before it sizes an allocation.
final class CraftedSizesTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-crafted-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    private func ggufString(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    /// `body` throws an error whose description contains `expected`, within a second.
    private func assertRefused(_ expected: String, _ body: () throws -> Void, line: UInt = #line) {
        let start = Date()
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0, line: line)
    }

    func testGGUFVocabularyClaimingTrillionsOfTokens() throws {
        // tokenizer.ggml.tokens: an array of 2^40 strings in a file of a hundred bytes.
        let bytes = Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(0)) + le(UInt64(2))
            + ggufString("tokenizer.ggml.model") + le(UInt32(8)) + ggufString("gpt2")
            + ggufString("tokenizer.ggml.tokens") + le(UInt32(9)) + le(UInt32(8)) + le(UInt64(1) << 40)
        let path = try file("huge.gguf", bytes)
        assertRefused("huge.gguf") { _ = try Tokenizer.load(path: path) }
    }

    func testGGUFModelClaimingBillionsOfLayers() throws {
        var bytes = Array(try Data(contentsOf: packageFolder().appendingPathComponent("Tests/FuzzCorpus/gguf-model/gpt2.gguf")))
        let key = ggufString("gpt2.block_count") + le(UInt32(4))  // then the uint32 value
        guard let at = bytes.firstRange(of: key)?.upperBound else { return XCTFail("no gpt2.block_count in the seed") }
        bytes.replaceSubrange(at..<(at + 4), with: le(UInt32.max))
        let path = try file("layers.gguf", bytes)
        assertRefused("block_count") { _ = try loadCausalLM(gguf: path, maxContext: 16) }
    }

    func testGGUFModelWithAnEmptyPositionTable() throws {
        // A GPT-2 GGUF whose position_embd.weight has 0 rows (found by fuzzing): a context of 0 positions
        // trapped in the KV cache; now an error naming the tensor.
        let path = packageFolder().appendingPathComponent("Tests/FuzzCorpus/gguf-model/regression-empty-positions").path
        assertRefused("position_embd.weight") { _ = try loadCausalLM(gguf: path, maxContext: 16) }
    }

    func testGGUFModelClaimingMoreBlocksThanTensors() throws {
        // block_count 2^24 - 1 in a file of 16 tensors: listing the blocks' tensor names ran past the
        // fuzzer's 10 s timeout; now an error at once.
        var bytes = Array(try Data(contentsOf: packageFolder().appendingPathComponent("Tests/FuzzCorpus/gguf-model/llama.gguf")))
        let key = ggufString("llama.block_count") + le(UInt32(4))
        guard let at = bytes.firstRange(of: key)?.upperBound else { return XCTFail("no llama.block_count in the seed") }
        bytes.replaceSubrange(at..<(at + 4), with: le(UInt32((1 << 24) - 1)))
        let path = try file("blocks.gguf", bytes)
        assertRefused("block_count") { _ = try loadCausalLM(gguf: path, maxContext: 16) }
    }

    func testSafetensorsClaimingExabyteTensors() throws {
        for (name, shape) in [("2^62 bytes", "[1152921504606846976]"), ("overflowing", "[4294967296,4294967296,4294967296]")] {
            var header = Array(#"{"w":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,16]}}"#.utf8)
            while header.count % 8 != 0 { header.append(0x20) }
            let path = try file("big.safetensors", le(UInt64(header.count)) + header + [UInt8](repeating: 0, count: 16))
            assertRefused("big.safetensors") { _ = try SafeTensorsFile(path: path) }
            _ = name
        }
        // A header length of 2^62.
        let path = try file("header.safetensors", le(UInt64(1) << 62) + Array("{}".utf8))
        assertRefused("header.safetensors") { _ = try SafeTensorsFile(path: path) }
    }

    func testSentencePieceModelClaimingAHugePiece() throws {
        // Field 1 (pieces), length-delimited, length 2^40 as a varint.
        var varint: [UInt8] = []
        var n = UInt64(1) << 40
        while n >= 0x80 { varint.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
        varint.append(UInt8(n))
        let path = try file("huge.model", [0x0A] + varint + Array("abc".utf8))
        assertRefused("huge.model") { _ = try Tokenizer.load(path: path) }
    }

    func testConfigClaimingHugeSizes() throws {
        let base = try String(contentsOf: packageFolder().appendingPathComponent("Tests/Fixtures/gpt2-small/config.json"), encoding: .utf8)
        for (field, value) in [("n_layer", "2"), ("n_embd", "64"), ("n_positions", "64"), ("vocab_size", "512")] {
            for huge in ["1099511627776", "4611686018427387904"] {
                let text = base.replacingOccurrences(of: "\"\(field)\": \(value)", with: "\"\(field)\": \(huge)")
                XCTAssertNotEqual(text, base, field)
                let path = try file("config.json", Array(text.utf8))
                assertRefused(field) { _ = try GPT2Config(path: path) }
            }
        }
    }

    func testTokenFileClaimingMoreTokensThanItHolds() throws {
        for claimed in [UInt64(1) << 40, UInt64(1) << 62, UInt64.max] {
            let path = try file("tokens.bin", Array("VTOK".utf8) + le(UInt32(1)) + le(UInt32(4)) + le(UInt32(100)) + le(claimed) + le(UInt32(7)))
            assertRefused("tokens.bin") { _ = try TokenFile.read(path: path) }
        }
    }

    private func packageFolder() -> URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }
}
