import Foundation
@testable import VerbaTensor
import XCTest

final class QuantizedTests: XCTestCase {
    private let shapes = [(1, 1), (3, 17), (5, 383), (17, 1537), (383, 17), (64, 768), (1000, 777)]

    func testQuantizationErrorIsWithinHalfAStep() {
        for (rows, cols) in shapes {
            let w = randomFloats(rows * cols, -2...2, seed: 51)
            let q = QuantizedMatrix(w, rows: rows, cols: cols)
            let back = q.dequantized()
            for r in 0..<rows {
                let largest = w[(r * cols)..<((r + 1) * cols)].map(abs).max()!
                XCTAssertEqual(q.scales[r], largest / 127, accuracy: 1e-9)
                for j in 0..<cols {
                    XCTAssertLessThanOrEqual(abs(back[r * cols + j] - w[r * cols + j]), q.scales[r] * 0.5001)
                    XCTAssertGreaterThanOrEqual(q.values[r * cols + j], -127)
                }
            }
            XCTAssertEqual(q.byteCount, rows * cols + rows * 4)
        }
        // A zero row keeps a usable scale and zero weights.
        let zero = QuantizedMatrix([Float](repeating: 0, count: 8), rows: 2, cols: 4)
        XCTAssertEqual(zero.dequantized(), [Float](repeating: 0, count: 8))
    }

    func testTransposingMatchesQuantizingTheTranspose() {
        let inputs = 37, outputs = 53
        let conv = randomFloats(inputs * outputs, seed: 52)                 // (in, out)
        var linear = [Float](repeating: 0, count: inputs * outputs)         // (out, in)
        for i in 0..<inputs { for o in 0..<outputs { linear[o * inputs + i] = conv[i * outputs + o] } }
        let a = QuantizedMatrix(transposing: conv, inputs: inputs, outputs: outputs)
        let b = QuantizedMatrix(linear, rows: outputs, cols: inputs)
        XCTAssertEqual(a.rows, outputs)
        XCTAssertEqual(a.cols, inputs)
        XCTAssertEqual(a.dequantized(), b.dequantized())
    }

    func testGemvMatchesReferenceAndFloat() {
        for (rows, cols) in shapes {
            let w = randomFloats(rows * cols, seed: 53), x = randomFloats(cols, seed: 54), bias = randomFloats(rows, seed: 55)
            let q = QuantizedMatrix(w, rows: rows, cols: cols)
            for (useBias, accumulate) in [(false, false), (true, false), (true, true)] {
                var y = randomFloats(rows, seed: 56), r = y, exact = y
                bias.withUnsafeBufferPointer { b in
                    gemv(q, x, &y, bias: useBias ? b.baseAddress : nil, accumulate: accumulate)
                    referenceQuantizedGemv(q, x, &r, bias: useBias ? b.baseAddress : nil, accumulate: accumulate)
                    VerbaTensor.gemv(w, x, &exact, rows: rows, cols: cols, bias: useBias ? b.baseAddress : nil, accumulate: accumulate)
                }
                for i in 0..<rows {
                    XCTAssertEqual(y[i], r[i], accuracy: 2e-6 * Float(cols).squareRoot() + 1e-6, "\(rows)×\(cols) [\(i)]")
                    // Each weight is off by at most half a step, so the row sum by at most scale/2 · Σ|x|.
                    let bound = q.scales[i] * 0.5 * x.map(abs).reduce(0, +) + 1e-5
                    XCTAssertLessThanOrEqual(abs(y[i] - exact[i]), bound, "\(rows)×\(cols) [\(i)] vs float32")
                }
            }
        }
    }
}
