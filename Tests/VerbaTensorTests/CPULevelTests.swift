import CVerbaKernels
import Foundation
import VerbaTensor
import XCTest

/// Runs `body` once at every CPU level this machine supports, each kernel through that level's own table
/// (the level is printed first, so a failure in the log follows the name of its level).
func forEachLevel(_ body: (CPULevel) throws -> Void) rethrows {
    for level in CPULevel.supported {
        print("CPU level \(level)")
        try CPULevel.withLevel(level) { try body(level) }
    }
}

final class CPULevelTests: XCTestCase {
    func testLevelsAreConsistent() {
        let supported = CPULevel.supported
        XCTAssertEqual(supported.first, .baseline)
        XCTAssertTrue(supported.contains(CPULevel.current))
        // Supported levels are a prefix of the ordered list, and each has its own table.
        XCTAssertEqual(supported, Array(CPULevel.allCases.prefix(supported.count)))
        for level in supported {
            let table = verba_kernels_for_level(level.code)
            XCTAssertEqual(table?.pointee.level, level.code)
            CPULevel.withLevel(level) { XCTAssertEqual(CPULevel.current, level) }
        }
        XCTAssertEqual(CPULevel(rawValue: "avx2"), .avx2)
        #if arch(x86_64)
        // Without VERBA_CPU, the best level is in use.
        if ProcessInfo.processInfo.environment["VERBA_CPU"] == nil { XCTAssertEqual(CPULevel.current, supported.last) }
        #else
        XCTAssertEqual(supported, [.baseline])
        #endif
    }

    /// Every level's entry points, called directly, agree with the baseline's within rounding.
    func testLevelsAgreeOnDirectCalls() {
        let n = 1000
        let a = randomFloats(n, seed: 91), b = randomFloats(n, seed: 92)
        guard let base = verba_kernels_for_level(CPULevel.baseline.code) else { return XCTFail("no baseline table") }
        let reference = referenceDot(a, b, count: n)
        for level in CPULevel.supported {
            guard let table = verba_kernels_for_level(level.code), let dotKernel = table.pointee.dot,
                  let expKernel = table.pointee.exp_inplace, let baseExp = base.pointee.exp_inplace else {
                return XCTFail("no table for \(level)")
            }
            XCTAssertEqual(dotKernel(a, b, n), reference, accuracy: 1e-5, "\(level)")
            var e = a.map { $0 * 20 }, eb = e
            expKernel(&e, n)
            baseExp(&eb, n)
            for i in 0..<n { XCTAssertEqual(e[i], eb[i], accuracy: 4e-7 * eb[i], "\(level) exp \(i)") }
        }
    }

    /// The fused encoder kernels at every level against their plain versions.
    func testEncoderKernelsMatchReferences() {
        forEachLevel { level in
            for (rows, n) in [(3, 384), (5, 40), (1, 7)] {
                let x = randomFloats(rows * n, -8...8, seed: 51), bias = randomFloats(n, seed: 52)
                var fast = x, slow = x
                biasGeluErf(&fast, bias: bias, rows: rows, n: n)
                referenceBiasGeluErf(&slow, bias: bias, rows: rows, n: n)
                for i in fast.indices { XCTAssertEqual(fast[i], slow[i], accuracy: 2e-6 * max(1, abs(slow[i])), "\(level)") }
                let res = randomFloats(rows * n, -3...3, seed: 53)
                let gamma = randomFloats(n, 0.5...1.5, seed: 54), beta = randomFloats(n, seed: 55)
                var a = res, b = res
                biasResidualLayerNorm(x, bias: bias, residual: &a, gamma: gamma, beta: beta, rows: rows, n: n, eps: 1e-12)
                referenceBiasResidualLayerNorm(x, bias: bias, residual: &b, gamma: gamma, beta: beta, rows: rows, n: n, eps: 1e-12)
                for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-5, "\(level)") }
            }
            for headDim in [32, 24] {
                let heads = 3, c = heads * headDim
                let lengths = [1, 5, 16, 17, 40]
                var offsets = [0]
                for t in lengths { offsets.append(offsets.last! + t) }
                let n = offsets.last!
                let qkv = randomFloats(n * 3 * c, -2...2, seed: 56)
                let mask: [Int32] = (0..<n).map { $0 % 7 == 3 ? 0 : 1 }
                var scratch = [Float](repeating: 0, count: attentionScratchCount(maxLength: 40, headDim: headDim))
                for useMask in [false, true] {
                    var fast = [Float](repeating: 0, count: n * c), slow = fast
                    mask.withUnsafeBufferPointer { m in
                        packedSelfAttention(qkv: qkv, out: &fast, offsets: offsets, keyMask: useMask ? m.baseAddress : nil,
                                            heads: heads, headDim: headDim, sequences: 0..<lengths.count, scratch: &scratch)
                        referencePackedSelfAttention(qkv: qkv, out: &slow, offsets: offsets, keyMask: useMask ? m.baseAddress : nil,
                                                     heads: heads, headDim: headDim)
                    }
                    for i in fast.indices where abs(fast[i] - slow[i]) > 1e-5 {
                        XCTFail("\(level) attention headDim \(headDim) mask \(useMask) [\(i)]: \(fast[i]) vs \(slow[i])"); break
                    }
                }
                // Only the first query of each sequence (the CLS row a classifier reads).
                var first = [Float](repeating: 0, count: n * c), all = first
                packedSelfAttention(qkv: qkv, out: &first, offsets: offsets, keyMask: nil, heads: heads, headDim: headDim,
                                    sequences: 0..<lengths.count, scratch: &scratch, firstQueryOnly: true)
                referencePackedSelfAttention(qkv: qkv, out: &all, offsets: offsets, keyMask: nil, heads: heads, headDim: headDim)
                for s in 0..<lengths.count {
                    for j in 0..<c where abs(first[offsets[s] * c + j] - all[offsets[s] * c + j]) > 1e-5 {
                        XCTFail("\(level) first-query attention headDim \(headDim) sequence \(s) [\(j)]"); break
                    }
                    if lengths[s] > 1 { XCTAssertEqual(first[(offsets[s] + 1) * c], 0, "\(level)") }
                }
            }
        }
    }

    func testLayerNormSavesMeanAndRstd() {
        forEachLevel { level in
            let rows = 3, n = 77
            let x = randomFloats(rows * n, -2...2, seed: 61), gamma = randomFloats(n, seed: 62), beta = randomFloats(n, seed: 63)
            var out = [Float](repeating: 0, count: rows * n), mean = [Float](repeating: 0, count: rows), rstd = mean
            layerNorm(x, &out, gamma: gamma, beta: beta, rows: rows, n: n, eps: 1e-5, mean: &mean, rstd: &rstd)
            for r in 0..<rows {
                let row = x[(r * n)..<((r + 1) * n)].map(Double.init)
                let m = row.reduce(0, +) / Double(n)
                let v = row.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n)
                XCTAssertEqual(Double(mean[r]), m, accuracy: 1e-6, "\(level)")
                XCTAssertEqual(Double(rstd[r]), 1 / (v + 1e-5).squareRoot(), accuracy: 1e-5, "\(level)")
            }
        }
    }

    func testGeluTanhBackwardMatchesFiniteDifferences() {
        forEachLevel { level in
            let x = randomFloats(37, -5...5, seed: 71), dout = randomFloats(37, seed: 72)
            var dx = [Float](repeating: 0, count: 37)
            geluTanhBackward(dx: &dx, x: x, dout: dout, count: 37)
            for i in 0..<37 {
                let v = Double(x[i]), h = 1e-4
                func g(_ t: Double) -> Double { 0.5 * t * (1 + tanh(0.7978845608028654 * (t + 0.044715 * t * t * t))) }
                let slope = (g(v + h) - g(v - h)) / (2 * h)
                XCTAssertEqual(Double(dx[i]), slope * Double(dout[i]), accuracy: 2e-5, "\(level) x=\(x[i])")
            }
        }
    }
}
