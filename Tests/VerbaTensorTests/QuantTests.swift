import Foundation
@testable import VerbaTensor
import XCTest

/// ggml's block formats against gguf-py / ggml (fixtures from scripts/fixtures/quants.py), and the
/// quantized products at every CPU level against their plain versions.
final class QuantTests: XCTestCase {
    static let fixtureTypes: [GGMLType] = [.f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]
    static let kernelTypes: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    func fixture(_ type: GGMLType, _ kind: String) throws -> Data {
        try Data(contentsOf: packageRoot.appendingPathComponent("Tests/Fixtures/quants/\(type.name).\(kind)"))
    }

    func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
    }

    func testTypeLayouts() {
        XCTAssertEqual(GGMLType(rawValue: 12), .q4_K)
        XCTAssertEqual(GGMLType.q4_K.rowBytes(columns: 4096), 16 * 144)
        XCTAssertEqual(GGMLType.q8_0.rowBytes(columns: 64), 68)
        XCTAssertEqual(GGMLType.q6_K.bytesPerBlock, 210)
        XCTAssertEqual(GGMLType.q5_K.bytesPerBlock, 176)
        XCTAssertEqual(GGMLType.bf16.rowBytes(columns: 3), 6)
        XCTAssertEqual(GGMLType.q6_K.name, "q6_K")
    }

    /// Dequantized random blocks equal gguf-py's `dequantize`, bit for bit.
    func testDequantizeMatchesGGUFPy() throws {
        for type in Self.fixtureTypes {
            let blocks = try fixture(type, "blocks"), expected = floats(try fixture(type, "floats"))
            XCTAssertEqual(blocks.count, type.rowBytes(columns: expected.count), "\(type)")
            var got = [Float](repeating: .nan, count: expected.count)
            blocks.withUnsafeBytes { dequantizeRow(type, $0.baseAddress!, &got, count: expected.count) }
            let mismatches = (0..<expected.count).filter { got[$0].bitPattern != expected[$0].bitPattern }
            XCTAssertEqual(mismatches.count, 0, "\(type): first at \(mismatches.first.map { "\($0): \(got[$0]) vs \(expected[$0])" } ?? "")")
        }
    }

    /// Quantized rows equal the reference quantizer's bytes (gguf-py's, or ggml's quantize_row_*_ref for
    /// the K-quants), including the K-quants' scale searches.
    func testQuantizeMatchesReference() throws {
        for type in Self.fixtureTypes {
            let input = floats(try fixture(type, "input")), expected = [UInt8](try fixture(type, "quantized"))
            var got = [UInt8](repeating: 0xAA, count: type.rowBytes(columns: input.count))
            XCTAssertEqual(got.count, expected.count, "\(type)")
            got.withUnsafeMutableBytes { quantizeRow(type, input, $0.baseAddress!, count: input.count) }
            let blocks = got.count / type.bytesPerBlock
            let differing = (0..<blocks).filter { b in
                got[(b * type.bytesPerBlock)..<((b + 1) * type.bytesPerBlock)] != expected[(b * type.bytesPerBlock)..<((b + 1) * type.bytesPerBlock)]
            }
            XCTAssertEqual(differing, [], "\(type): blocks that differ from the reference quantizer")
        }
    }

    /// Quantize then dequantize stays within about one step of each format (Q4_0 and Q5_0 clip the top level
    /// at the side opposite the largest magnitude, a full step).
    func testRoundTripError() {
        let x = randomFloats(4096, -2...2, seed: 7)
        let bound: [GGMLType: Float] = [.q8_0: 0.01, .q4_0: 0.26, .q4_1: 0.14, .q5_0: 0.13, .q5_1: 0.07,
                                        .q4_K: 0.16, .q5_K: 0.13, .q6_K: 0.04, .f16: 0.001, .bf16: 0.008]
        for type in Self.fixtureTypes {
            var bytes = [UInt8](repeating: 0, count: type.rowBytes(columns: x.count))
            var back = [Float](repeating: 0, count: x.count)
            bytes.withUnsafeMutableBytes { quantizeRow(type, x, $0.baseAddress!, count: x.count) }
            bytes.withUnsafeBytes { dequantizeRow(type, $0.baseAddress!, &back, count: x.count) }
            let worst = zip(x, back).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, bound[type]!, "\(type)")
        }
    }

    /// Activation quantization is the same bytes at every level, and equals its plain version.
    func testActivationQuantizationMatchesReference() {
        let n = 1024
        var x = randomFloats(n, -3...3, seed: 11)
        for i in 64..<96 { x[i] = 0 }
        x[200] = 40
        let reference = referenceQuantizeActivations(x, count: n)
        forEachLevel { level in
            var act = [UInt8](repeating: 0, count: quantizedActivationBytes(n))
            act.withUnsafeMutableBytes { quantizeActivations(x, $0.baseAddress!, count: n) }
            act.withUnsafeBytes { raw in
                XCTAssertEqual((0..<n).map { raw.load(fromByteOffset: $0, as: Int8.self) }, reference.q, "\(level) values")
                XCTAssertEqual((0..<(n / 32)).map { raw.loadUnaligned(fromByteOffset: n + 4 * $0, as: Float.self) }, reference.d, "\(level) scales")
                XCTAssertEqual((0..<(n / 32)).map { raw.loadUnaligned(fromByteOffset: n + n / 8 + 4 * $0, as: Float.self) },
                               reference.dsums, "\(level) scaled sums")
                XCTAssertEqual((0..<(n / 16)).map { raw.loadUnaligned(fromByteOffset: n + n / 4 + 2 * $0, as: Int16.self) },
                               reference.sums, "\(level) sums")
            }
        }
    }

    /// Random weights of `type`, `rows` × `cols`, from ggml's reference quantizer.
    func quantizedWeights(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> [UInt8] {
        let w = randomFloats(rows * cols, -1...1, seed: seed)
        var bytes = [UInt8](repeating: 0, count: rows * type.rowBytes(columns: cols))
        bytes.withUnsafeMutableBytes { quantizeRow(type, w, $0.baseAddress!, count: rows * cols) }
        return bytes
    }

    /// GEMV and GEMM over quantized weights at every level, serial and threaded, against the plain version
    /// of the same arithmetic (dequantized weights × dequantized activations in Double) and, loosely, the
    /// float product.
    func testQuantizedProductsMatchReference() {
        for type in Self.kernelTypes {
            // 608 columns: 19 blocks of 32, so the eight-block loop leaves a remainder.
            let odd = type.blockSize == 32 ? 608 : 512
            for (rows, cols, m) in [(37, 512, 1), (37, odd, 5), (21, odd, 1), (300, 1024, 1), (130, 768, 9)] {
                let bytes = quantizedWeights(type, rows: rows, cols: cols, seed: UInt64(rows + cols))
                let a = randomFloats(m * cols, -2...2, seed: UInt64(m * 31 + cols))
                let bias = randomFloats(rows, seed: 5)
                var reference = [Float](repeating: 0, count: m * rows), float = reference
                bytes.withUnsafeBytes { raw in
                    let w = WeightMatrix(base: raw.baseAddress!, type: type, rows: rows, cols: cols)
                    referenceQuantizedLinear(a, type, raw.baseAddress!, &reference, m: m, rows: rows, cols: cols)
                    referenceLinear(a, w, &float, m: m)
                }
                // Scale of the sums, for tolerances: Σ|w·x| ≤ max|w| · Σ|x| per row of A.
                let tolerance = 2e-5 * Float(cols), loose = 0.02 * Float(cols).squareRoot()
                for i in 0..<(m * rows) { XCTAssertEqual(reference[i], float[i], accuracy: loose, "\(type) float \(i)") }
                forEachLevel { level in
                    var got = [Float](repeating: .nan, count: m * rows)
                    bytes.withUnsafeBytes { raw in
                        let w = WeightMatrix(base: raw.baseAddress!, type: type, rows: rows, cols: cols)
                        if m == 1 { gemv(w, a, &got) } else { matmul(a, w, &got, m: m) }
                    }
                    let worst = zip(got, reference).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, tolerance, "\(level) \(type) \(rows)×\(cols) m=\(m)")
                    if m == 1 {
                        // Bias and accumulation.
                        var y = [Float](repeating: 1, count: rows)
                        bytes.withUnsafeBytes { raw in
                            let w = WeightMatrix(base: raw.baseAddress!, type: type, rows: rows, cols: cols)
                            gemv(w, a, &y, bias: bias, accumulate: true)
                        }
                        for r in 0..<rows { XCTAssertEqual(y[r], 1 + bias[r] + reference[r], accuracy: tolerance, "\(level) \(type) bias") }
                    } else {
                        var c = [Float](repeating: 2, count: m * rows)
                        bytes.withUnsafeBytes { raw in
                            matmul(a, WeightMatrix(base: raw.baseAddress!, type: type, rows: rows, cols: cols), &c, m: m, beta: 0.5)
                        }
                        for i in 0..<(m * rows) { XCTAssertEqual(c[i], 1 + reference[i], accuracy: tolerance, "\(level) \(type) beta") }
                    }
                }
            }
        }
    }

    /// A quantized matrix's rows convert to the floats `dequantizeRow` gives.
    func testConvertRowsDequantizes() {
        let type = GGMLType.q4_K, rows = 3, cols = 256
        let bytes = quantizedWeights(type, rows: rows, cols: cols, seed: 3)
        var viaMatrix = [Float](repeating: 0, count: rows * cols), direct = viaMatrix
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, type: type, rows: rows, cols: cols)
            XCTAssertEqual(w.byteCount, bytes.count)
            w.convertRows(1, 3, into: &viaMatrix)
            dequantizeRow(type, raw.baseAddress! + w.rowBytes, &direct, count: 2 * cols)
        }
        XCTAssertEqual(Array(viaMatrix[0..<(2 * cols)]), Array(direct[0..<(2 * cols)]))
    }
}
