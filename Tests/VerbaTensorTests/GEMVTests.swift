import Foundation
@testable import VerbaTensor
import XCTest

final class GEMVTests: XCTestCase {
    private let shapes = [(1, 1), (1, 17), (3, 3), (5, 383), (17, 1537), (383, 17), (64, 768), (1537, 5), (96, 1024),
                          (257, 300), (21, 4096), (13, 4111), (40, 1025)]

    func testGemvMatchesReference() {
        forEachLevel { level in
            for (rows, cols) in shapes {
                let w = randomFloats(rows * cols, seed: 21), x = randomFloats(cols, seed: 22), bias = randomFloats(rows, seed: 23)
                for (useBias, accumulate) in [(false, false), (true, false), (true, true)] {
                    var y = randomFloats(rows, seed: 24), r = y
                    bias.withUnsafeBufferPointer { b in
                        gemv(w, x, &y, rows: rows, cols: cols, bias: useBias ? b.baseAddress : nil, accumulate: accumulate)
                        referenceGemv(w, x, &r, rows: rows, cols: cols, bias: useBias ? b.baseAddress : nil, accumulate: accumulate)
                    }
                    for i in 0..<rows where abs(y[i] - r[i]) > 2e-6 * Float(cols).squareRoot() + 1e-6 {
                        XCTFail("gemv \(rows)×\(cols) bias=\(useBias) acc=\(accumulate) [\(i)]: \(y[i]) vs \(r[i])"); break
                    }
                }
            }
        }
    }

    func testGemvTransposedMatchesReference() {
        forEachLevel { level in
            for (rows, cols) in shapes {
                let w = randomFloats(rows * cols, seed: 31), x = randomFloats(rows, seed: 32), bias = randomFloats(cols, seed: 33)
                for (useBias, accumulate) in [(false, false), (true, false), (true, true)] {
                    var y = randomFloats(cols, seed: 34), r = y
                    bias.withUnsafeBufferPointer { b in
                        gemvTransposed(w, x, &y, rows: rows, cols: cols, bias: useBias ? b.baseAddress : nil, accumulate: accumulate)
                        referenceGemvTransposed(w, x, &r, rows: rows, cols: cols, bias: useBias ? b.baseAddress : nil, accumulate: accumulate)
                    }
                    for i in 0..<cols where abs(y[i] - r[i]) > 2e-6 * Float(rows).squareRoot() + 1e-6 {
                        XCTFail("gemvTransposed \(rows)×\(cols) bias=\(useBias) acc=\(accumulate) [\(i)]: \(y[i]) vs \(r[i])"); break
                    }
                }
            }
        }
    }

    func testLargeProductsUseThePoolAndStayExact() {
        forEachLevel { level in
            // Large enough to be split across threads.
            let rows = 1000, cols = 777
            let w = randomFloats(rows * cols, seed: 41), x = randomFloats(cols, seed: 42), xt = randomFloats(rows, seed: 43)
            var y = [Float](repeating: 0, count: rows), r = y
            gemv(w, x, &y, rows: rows, cols: cols)
            referenceGemv(w, x, &r, rows: rows, cols: cols)
            for i in 0..<rows { XCTAssertEqual(y[i], r[i], accuracy: 1e-4) }
            var yt = [Float](repeating: 0, count: cols), rt = yt
            gemvTransposed(w, xt, &yt, rows: rows, cols: cols)
            referenceGemvTransposed(w, xt, &rt, rows: rows, cols: cols)
            for i in 0..<cols { XCTAssertEqual(yt[i], rt[i], accuracy: 1e-4) }
        }
    }

    func testBandwidthMeasurementIsPositive() {
        let gbs = measureBandwidthGBs(megabytes: 8, repetitions: 1)
        XCTAssertTrue(gbs.isFinite && gbs > 0)
    }
}
