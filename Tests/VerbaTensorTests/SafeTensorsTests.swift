import Foundation
@testable import VerbaTensor
import XCTest

final class SafeTensorsTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "verba-safetensors-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Writes a file made of the 8-byte length of `header`, `header`, and `data`.
    private func rawFile(_ name: String, header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> String {
        var bytes: [UInt8] = []
        let h = Array(header.utf8)
        var n = (lengthOverride ?? UInt64(h.count)).littleEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes += h + data
        let path = folder + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    private func expectError(_ path: String, file: StaticString = #filePath, line: UInt = #line,
                             _ check: (SafeTensorsError) -> Bool) {
        do {
            _ = try SafeTensorsFile(path: path)
            XCTFail("expected an error for \(path)", file: file, line: line)
        } catch let error as SafeTensorsError {
            XCTAssertTrue(check(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(path), "error does not name the file: \(error)", file: file, line: line)
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    func testRoundTripAllStoredTypes() throws {
        let values: [Float] = [0, 1, -1, 0.5, 3.14159, -2.71828, 65504, 1e-5, 1e-8, 123.456, -0.0, 7]
        let a = FloatTensor(shape: [3, 4], values: values)
        let b = FloatTensor(shape: [12], values: values.reversed())
        let c = FloatTensor(shape: [2, 2, 3], values: values.map { $0 * 0.25 })
        let scalar = FloatTensor(shape: [], values: [42])
        let empty = FloatTensor(shape: [0, 5])
        let path = folder + "/round.safetensors"
        try SafeTensorsWriter.write([("a", a, .f32), ("b", b, .f16), ("c", c, .bf16), ("s", scalar, .f32), ("e", empty, .f16)],
                                    metadata: ["format": "pt", "note": "quote \" and \\ and \n"], to: path)
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "quote \" and \\ and \n"])
        XCTAssertEqual(Set(file.tensors.keys), ["a", "b", "c", "s", "e"])
        XCTAssertEqual(Array(file.names.prefix(4)), ["a", "b", "c", "s"])
        XCTAssertEqual(file.dataOffset % 8, 0)
        XCTAssertEqual(try file.info("b").dtype, .f16)
        XCTAssertEqual(try file.info("c").shape, [2, 2, 3])

        let ra = try file.floats("a", shape: [3, 4])
        XCTAssertFalse(ra.isOwned, "aligned F32 data should be borrowed from the mapping")
        XCTAssertEqual(ra.toArray(), values)
        let rb = try file.floats("b")
        for (x, y) in zip(rb.toArray(), values.reversed()) { XCTAssertEqual(x, halfToFloat(floatToHalf(y))) }
        let rc = try file.floats("c")
        for (x, y) in zip(rc.toArray(), values.map { $0 * 0.25 }) { XCTAssertEqual(x, bfloat16ToFloat(floatToBFloat16(y))) }
        XCTAssertEqual(try file.floats("s").toArray(), [42])
        XCTAssertEqual(try file.floats("e").count, 0)

        XCTAssertEqual(rb[0], 7)
        XCTAssertEqual(rc[1], 0.25)
    }

    func testTensorOutlivesFileObject() throws {
        let path = folder + "/alive.safetensors"
        try SafeTensorsWriter.write([("w", FloatTensor(shape: [1000], values: (0..<1000).map(Float.init)), .f32)],
                                    metadata: [:], to: path)
        var file: SafeTensorsFile? = try SafeTensorsFile(path: path)
        let t = try file!.floats("w")
        file = nil
        XCTAssertEqual(t[999], 999)
    }

    func testWriteIsAtomicAndReplaces() throws {
        let path = folder + "/replace.safetensors"
        try SafeTensorsWriter.write([("x", FloatTensor(shape: [2], values: [1, 2]), .f32)], metadata: [:], to: path)
        try SafeTensorsWriter.write([("y", FloatTensor(shape: [1], values: [3]), .f32)], metadata: [:], to: path)
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(Array(file.tensors.keys), ["y"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
        XCTAssertThrowsError(try SafeTensorsWriter.write([("x", FloatTensor(shape: [1]), .i64)], metadata: [:], to: path))
        XCTAssertThrowsError(try SafeTensorsWriter.write([("x", FloatTensor(shape: [1]), .f32)], metadata: [:],
                                                         to: folder + "/no/such/folder/x.safetensors"))
    }

    func testUnalignedF32IsCopied() throws {
        // Header of odd length: the data section starts at an odd offset.
        var header = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
        if (8 + header.utf8.count) % 4 == 0 { header += " " }
        var data: [UInt8] = []
        for v: Float in [1.5, -2.25] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        let file = try SafeTensorsFile(path: rawFile("odd.safetensors", header: header, data: data))
        let t = try file.floats("t")
        XCTAssertTrue(t.isOwned)
        XCTAssertEqual(t.toArray(), [1.5, -2.25])
    }

    func testTruncatedFile() {
        let path = folder + "/short.safetensors"
        _ = FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))
        expectError(path) { if case .truncated = $0 { return true }; return false }
    }

    func testMissingFile() {
        expectError(folder + "/absent.safetensors") { if case .cannotOpen = $0 { return true }; return false }
    }

    func testDirectoryIsNotAFile() {
        expectError(folder) { if case .cannotOpen(_, "not a regular file") = $0 { return true }; return false }
    }

    func testPaddedHeaderAndMetadataOnlyFile() throws {
        // Trailing spaces after the JSON (writers pad the header to 8 bytes) and a file with no tensors.
        let file = try SafeTensorsFile(path: rawFile("meta.safetensors", header: "{\"__metadata__\":{\"k\":\"\\u00e9\\ud83d\\ude00\"}}   "))
        XCTAssertEqual(file.metadata, ["k": "é😀"])
        XCTAssertTrue(file.tensors.isEmpty)
        XCTAssertEqual(file.names, [])
    }

    func testHeaderLengthPastEnd() {
        let path = rawFile("len.safetensors", header: "{}", lengthOverride: 1000)
        expectError(path) { if case .headerLengthOutOfBounds = $0 { return true }; return false }
        let huge = rawFile("huge.safetensors", header: "{}", lengthOverride: UInt64.max)
        expectError(huge) { if case .headerLengthOutOfBounds = $0 { return true }; return false }
    }

    func testBadJSON() {
        for (i, header) in ["{\"a\":", "{\"a\" 1}", "[1,2", "{\"a\":tru}", "{} x", "{\"a\":\"\\q\"}", "{\"a\":01}",
                            "{\"a\":1,\"a\":2}", "{\"\\ud800\":1}"].enumerated() {
            let path = rawFile("json\(i).safetensors", header: header)
            expectError(path) { if case .invalidJSON = $0 { return true }; return false }
        }
        var bytes = Array("{\"".utf8) + [0xff, 0xfe] + Array("\":1}".utf8)
        let path = folder + "/utf8.safetensors"
        var n = UInt64(bytes.count).littleEndian
        bytes = withUnsafeBytes(of: &n) { Array($0) } + bytes
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        expectError(path) { if case .invalidJSON = $0 { return true }; return false }
    }

    func testNotAHeader() {
        let cases = ["[]", "{\"t\":5}", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}",
                     "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}",
                     "{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}",
                     "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
                     "{\"t\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}",
                     "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}",
                     "{\"__metadata__\":{\"a\":1}}", "{\"__metadata__\":[]}"]
        for (i, header) in cases.enumerated() {
            let path = rawFile("header\(i).safetensors", header: header, data: [0, 0, 0, 0])
            expectError(path) { if case .invalidHeader = $0 { return true }; return false }
        }
    }

    func testUnknownDType() {
        let path = rawFile("dtype.safetensors", header: "{\"w\":{\"dtype\":\"F12\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                           data: [0, 0, 0, 0])
        expectError(path) { if case .unknownDType(_, "w", "F12") = $0 { return true }; return false }
    }

    func testShapeBytesDisagree() {
        let path = rawFile("size.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}",
                           data: [UInt8](repeating: 0, count: 24))
        expectError(path) { if case .sizeMismatch(_, "w", [2, 3], "F32", 20) = $0 { return true }; return false }
        let overflow = rawFile("overflow.safetensors",
                               header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}",
                               data: [0, 0, 0, 0])
        expectError(overflow) { if case .sizeMismatch = $0 { return true }; return false }
    }

    func testOverlappingRanges() {
        let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}"
        let path = rawFile("overlap.safetensors", header: header, data: [UInt8](repeating: 0, count: 12))
        expectError(path) { if case .overlappingRanges(_, "a", "b") = $0 { return true }; return false }
    }

    func testRangePastEnd() {
        let path = rawFile("past.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                           data: [UInt8](repeating: 0, count: 12))
        expectError(path) { if case .rangeOutOfBounds(_, "w", 0, 16, 12) = $0 { return true }; return false }
        let reversed = rawFile("reversed.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}",
                               data: [UInt8](repeating: 0, count: 12))
        expectError(reversed) { if case .rangeOutOfBounds = $0 { return true }; return false }
    }

    func testMissingTensorAndWrongShape() throws {
        let path = folder + "/lookup.safetensors"
        try SafeTensorsWriter.write([("w", FloatTensor(shape: [2, 3]), .f32)], metadata: [:], to: path)
        let file = try SafeTensorsFile(path: path)
        XCTAssertThrowsError(try file.floats("v")) { error in
            XCTAssertEqual(error as? SafeTensorsError, .missingTensor(path: path, tensor: "v"))
            XCTAssertTrue("\(error)".contains("v") && "\(error)".contains(path))
        }
        XCTAssertThrowsError(try file.floats("w", shape: [3, 2])) { error in
            XCTAssertEqual("\(error)", "\(path): tensor w has shape [2,3], expected [3,2]")
        }
    }

    func testIntegerTensorIsNotFloat() throws {
        let path = rawFile("ints.safetensors", header: "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
                           data: [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
        let file = try SafeTensorsFile(path: path)
        XCTAssertThrowsError(try file.floats("ids")) { error in
            guard case .unsupportedConversion = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
        let raw = try file.rawBytes("ids")
        XCTAssertEqual(raw.loadUnaligned(fromByteOffset: 8, as: Int64.self), 2)
    }

    func testRealMiniLM() throws {
        let path = packageRoot.appendingPathComponent("downloads/minilm/model.safetensors").path
        guard FileManager.default.fileExists(atPath: path) else { return XCTFail("\(path) is absent: run scripts/setup.sh") }
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.metadata["format"], "pt")
        XCTAssertEqual(try file.info("embeddings.position_ids").dtype, .i64)
        let words = try file.floats("embeddings.word_embeddings.weight", shape: [30522, 384])
        XCTAssertFalse(words.isOwned)
        XCTAssertTrue(words.buffer.allSatisfy { $0.isFinite })
        XCTAssertEqual(try file.info("encoder.layer.5.intermediate.dense.weight").shape, [1536, 384])
        XCTAssertEqual(try file.info("encoder.layer.0.attention.self.query.weight").shape, [384, 384])
        XCTAssertEqual(try file.floats("encoder.layer.0.attention.output.LayerNorm.weight").shape, [384])
    }
}
