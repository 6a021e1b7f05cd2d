import Foundation
@testable import VerbaTensor
import VerbaSupport
import XCTest

func randomFloats(_ count: Int, _ range: ClosedRange<Float> = -1...1, seed: UInt64 = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float.random(in: range, using: &rng) }
}

final class KernelTests: XCTestCase {
    let widths = [1, 3, 16, 17, 383, 1537]

    func testMatmulMatchesReference() {
        for (m, n, k) in [(7, 5, 9), (1, 17, 383), (3, 383, 17), (33, 1537, 5), (64, 384, 384), (128, 1536, 384),
                          (2, 3, 1), (300, 40, 64)] {
            for transposeB in [false, true] {
                let a = randomFloats(m * k, seed: 1), b = randomFloats(k * n, seed: 2)
                var c = randomFloats(m * n, seed: 3), r = c
                matmul(a, b, &c, m: m, n: n, k: k, transposeB: transposeB, alpha: 0.5, beta: 0.25)
                referenceMatmul(a, b, &r, m: m, n: n, k: k, transposeB: transposeB, alpha: 0.5, beta: 0.25)
                for i in 0..<(m * n) where abs(c[i] - r[i]) > 1e-5 * Float(k).squareRoot() + 1e-6 {
                    XCTFail("matmul m=\(m) n=\(n) k=\(k) T=\(transposeB) [\(i)]: \(c[i]) vs \(r[i])"); break
                }
            }
        }
    }

    func testSmallRowProductsMatchTheReferenceOnEveryLevel() {
        // m ≤ smallProductRows takes the small-M kernels: every row count of a group of four, tails of the
        // 16- and 32-column tiles and of k, strided A and C, beta 0 (C's old content ignored) and not.
        forEachLevel { level in
            for (n, k) in [(5, 9), (33, 17), (100, 64), (2304, 768), (47, 3072)] {
                for m in [1, 2, 3, 4, 5, 8, 9, 16] {
                    for transposeB in [false, true] {
                        for beta: Float in [0, 0.25] {
                            let lda = k + 3, ldc = n + 2
                            let a = randomFloats(m * lda, seed: 8), b = randomFloats(k * n, seed: 9)
                            var c = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : randomFloats(m * ldc, seed: 10)
                            var dense = [Float](repeating: 0, count: m * k), r = [Float](repeating: 0, count: m * n)
                            for i in 0..<m { for p in 0..<k { dense[i * k + p] = a[i * lda + p] } }
                            for i in 0..<m { for j in 0..<n where beta != 0 { r[i * n + j] = c[i * ldc + j] } }
                            referenceMatmul(dense, b, &r, m: m, n: n, k: k, transposeB: transposeB, beta: beta)
                            a.withUnsafeBufferPointer { pa in
                                b.withUnsafeBufferPointer { pb in
                                    matmul(pa.baseAddress!, lda: lda, pb.baseAddress!, ldb: transposeB ? k : n, &c, ldc: ldc,
                                           m: m, n: n, k: k, transposeB: transposeB, beta: beta)
                                }
                            }
                            outer: for i in 0..<m {
                                for j in 0..<n where !(abs(c[i * ldc + j] - r[i * n + j]) <= 1e-5 * Float(k).squareRoot() + 1e-6) {
                                    XCTFail("\(level) small matmul m=\(m) n=\(n) k=\(k) T=\(transposeB) beta=\(beta) [\(i), \(j)]: \(c[i * ldc + j]) vs \(r[i * n + j])")
                                    break outer
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func testMatmulWithTransposedAMatchesTheTransposedCopy() {
        // A stored (k, m): the product equals matmul of its explicit (m, k) transpose, split or not.
        for (m, n, k) in [(7, 5, 9), (300, 40, 64), (128, 1536, 384), (384, 192, 2048)] {
            let at = randomFloats(k * m, seed: 5), b = randomFloats(k * n, seed: 6)
            var a = [Float](repeating: 0, count: m * k)
            for i in 0..<m { for p in 0..<k { a[i * k + p] = at[p * m + i] } }
            var c = randomFloats(m * n, seed: 7), r = c
            at.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    matmul(pa.baseAddress!, lda: m, pb.baseAddress!, ldb: n, &c, ldc: n, m: m, n: n, k: k,
                           transposeA: true, alpha: 0.5, beta: 0.25)
                }
            }
            referenceMatmul(a, b, &r, m: m, n: n, k: k, alpha: 0.5, beta: 0.25)
            for i in 0..<(m * n) where abs(c[i] - r[i]) > 1e-5 * Float(k).squareRoot() + 1e-6 {
                XCTFail("matmul transposeA m=\(m) n=\(n) k=\(k) [\(i)]: \(c[i]) vs \(r[i])"); break
            }
        }
    }

    func testStridedMatmulOnHeadSlices() {
        // Q·Kᵀ for head 1 of a (T, 3·C) projection with C = 8, two heads of 4.
        let t = 5, c = 8, head = 4
        let qkv = randomFloats(t * 3 * c, seed: 4)
        var scores = [Float](repeating: 0, count: t * t)
        qkv.withUnsafeBufferPointer { p in
            matmul(p.baseAddress! + head, lda: 3 * c, p.baseAddress! + c + head, ldb: 3 * c, &scores, ldc: t,
                   m: t, n: t, k: head, transposeB: true)
        }
        for i in 0..<t {
            for j in 0..<t {
                var s: Float = 0
                for d in 0..<head { s += qkv[i * 3 * c + head + d] * qkv[j * 3 * c + c + head + d] }
                XCTAssertEqual(scores[i * t + j], s, accuracy: 1e-5)
            }
        }
    }

    func testAddBiasAddScaleDot() {
        forEachLevel { level in
            for n in widths {
                let rows = 3
                var x = randomFloats(rows * n, seed: 5)
                let bias = randomFloats(n, seed: 6)
                let original = x
                addBias(&x, bias, rows: rows, n: n)
                for i in 0..<(rows * n) { XCTAssertEqual(x[i], original[i] + bias[i % n]) }
                var y = original
                add(bias, into: &y, count: n)
                for i in 0..<n { XCTAssertEqual(y[i], original[i] + bias[i]) }
                scale(&y, by: 2, count: n)
                XCTAssertEqual(y[0], 2 * (original[0] + bias[0]))
                var exact: Double = 0
                for i in 0..<n { exact += Double(original[i]) * Double(bias[i]) }
                XCTAssertEqual(Double(dot(original, bias, count: n)), exact, accuracy: 1e-6 * Double(n).squareRoot() + 1e-7)
            }
        }
    }

    func testLayerNormMatchesReference() {
        forEachLevel { level in
            for n in widths where n > 1 {
                for offset: Float in [0, 100] {
                    let rows = 4
                    let x = randomFloats(rows * n, -3...3, seed: UInt64(n)).map { $0 + offset }
                    let gamma = randomFloats(n, 0.5...1.5, seed: 7), beta = randomFloats(n, seed: 8)
                    var fast = [Float](repeating: 0, count: rows * n), ref = fast
                    layerNorm(x, &fast, gamma: gamma, beta: beta, rows: rows, n: n, eps: 1e-12)
                    referenceLayerNorm(x, &ref, gamma: gamma, beta: beta, rows: rows, n: n, eps: 1e-12)
                    let tolerance: Float = offset == 0 ? 2e-6 : 2e-4   // a large mean costs float32 digits in x itself
                    for i in 0..<(rows * n) where abs(fast[i] - ref[i]) > tolerance * max(1, abs(ref[i])) {
                        XCTFail("layerNorm n=\(n) offset=\(offset) [\(i)]: \(fast[i]) vs \(ref[i])"); break
                    }
                    var inPlace = x
                    inPlace.withUnsafeMutableBufferPointer { p in
                        layerNorm(p.baseAddress!, p.baseAddress!, gamma: gamma, beta: beta, rows: rows, n: n, eps: 1e-12)
                    }
                    XCTAssertEqual(inPlace, fast)
                }
            }
        }
    }

    func testSoftmaxMatchesReference() {
        forEachLevel { level in
            for n in widths {
                for range: ClosedRange<Float> in [-1...1, -30...30] {
                    let rows = 3
                    let x = randomFloats(rows * n, range, seed: UInt64(n) + 11)
                    var fast = x, ref = x
                    softmax(&fast, rows: rows, n: n)
                    referenceSoftmax(&ref, rows: rows, n: n)
                    for r in 0..<rows {
                        let row = x[(r * n)..<((r + 1) * n)].map(Double.init)
                        let mx = row.max()!
                        let sum = row.reduce(0) { $0 + Foundation.exp($1 - mx) }
                        for j in 0..<n {
                            let i = r * n + j, truth = Foundation.exp(row[j] - mx) / sum
                            // x − max is rounded to float32 (in every float32 softmax): relative error up to |x − max|·2⁻²⁴.
                            let inherent = abs(row[j] - mx) * 6e-8
                            if abs(Double(fast[i]) - truth) > (1e-6 + inherent) * truth + 1e-30 || abs(fast[i] - ref[i]) > 3e-6 * ref[i] + 1e-30 {
                                XCTFail("softmax n=\(n) [\(i)]: \(fast[i]) vs \(ref[i]), truth \(truth)"); break
                            }
                        }
                    }
                    for r in 0..<rows {
                        XCTAssertEqual(fast[(r * n)..<((r + 1) * n)].reduce(0, +), 1, accuracy: 1e-5)
                    }
                }
            }
            // Masked positions: −∞ and the most negative float (HF's attention mask) both become exactly 0.
            var masked: [Float] = [0.5, -.infinity, 1.5, -Float.greatestFiniteMagnitude, 0, -1e4, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
            softmax(&masked, rows: 1, n: masked.count)
            XCTAssertEqual(masked[1], 0)
            XCTAssertEqual(masked[3], 0)
            XCTAssertEqual(masked[5], 0)
            XCTAssertFalse(masked.contains { $0.isNaN })
        }
    }

    func testExpAccuracy() {
        forEachLevel { level in
            var x: [Float] = stride(from: Float(-90), through: 89, by: 0.01).map { $0 }
            x += [-.infinity, .infinity, 0, -0.0, 1e-30, -1e-30, 88.0, -87.3]
            var fast = x
            expInPlace(&fast, count: fast.count)
            for (i, v) in x.enumerated() {
                let truth = Foundation.exp(Double(v))
                if truth < 1.2e-38 { XCTAssertLessThan(fast[i], 1.2e-38, "exp(\(v))"); continue }
                if truth > Double(Float.greatestFiniteMagnitude) { XCTAssertEqual(fast[i], .infinity, "exp(\(v))"); continue }
                XCTAssertEqual(Double(fast[i]), truth, accuracy: 3e-7 * truth, "exp(\(v))")
            }
            var nan: [Float] = [.nan]
            expInPlace(&nan, count: 1)
            XCTAssertTrue(nan[0].isNaN)
        }
    }

    /// GELU against the float reference (absolute, scaled by |x|) and against a Double evaluation (relative).
    /// `conditioning(x)` is the relative error any float32 evaluation inherits (e.g. from rounding an inner argument).
    private func checkGelu(fast: (UnsafeMutablePointer<Float>, Int) -> Void, reference: (UnsafeMutablePointer<Float>, Int) -> Void,
                           truth: (Double) -> Double, conditioning: (Float) -> Double = { _ in 0 }, name: String) {
        var inputs = stride(from: Float(-12), through: 12, by: 0.001).map { $0 }
        inputs += randomFloats(1537, -6...6, seed: 12)
        inputs += [0, -0.0, 1e-20, -1e-20, 30, -30, 1e4, -1e4]
        var f = inputs, r = inputs
        f.withUnsafeMutableBufferPointer { fast($0.baseAddress!, $0.count) }
        r.withUnsafeMutableBufferPointer { reference($0.baseAddress!, $0.count) }
        var failures = 0
        for (i, x) in inputs.enumerated() {
            let t = truth(Double(x))
            if !t.isFinite { XCTAssertEqual(Double(f[i]), t, "\(name)(\(x))"); continue }
            let okTruth = abs(Double(f[i]) - t) <= (1e-6 + conditioning(x)) * abs(t) + 1e-37
            let okReference = abs(f[i] - r[i]) <= 2e-7 * max(1, abs(x))
            if !(okTruth && okReference) {
                failures += 1
                if failures < 5 { XCTFail("\(name)(\(x)) = \(f[i]); reference \(r[i]); truth \(t)") }
            }
        }
        // Odd widths: the vector body and the partial tail agree with the element-wise result.
        for n in widths {
            var v = Array(inputs[5000..<(5000 + n)])
            v.withUnsafeMutableBufferPointer { fast($0.baseAddress!, n) }
            XCTAssertEqual(v, Array(f[5000..<(5000 + n)]), "\(name) width \(n)")
        }
    }

    func testGeluErf() {
        forEachLevel { level in
            checkGelu(fast: { geluErf($0, count: $1) }, reference: { referenceGeluErf($0, count: $1) },
                      truth: { x in x.isInfinite ? (x > 0 ? x : 0) : 0.5 * x * erfc(-x / 2.0.squareRoot()) }, name: "geluErf")
        }
    }

    func testGeluTanh() {
        forEachLevel { level in
            checkGelu(fast: { geluTanh($0, count: $1) }, reference: { referenceGeluTanh($0, count: $1) },
                      truth: { x in
                          if x.isInfinite { return x > 0 ? x : 0 }
                          let y = 0.79788456080286535588 * (x + 0.044715 * x * x * x)
                          return x / (1 + Foundation.exp(-2 * y))
                      },
                      // The inner argument 2y is rounded to float32 (in PyTorch too): relative error up to |2y|·2⁻²³.
                      conditioning: { x in 2 * abs(0.79788456 * (Double(x) + 0.044715 * Double(x) * Double(x) * Double(x))) * 2.4e-7 },
                      name: "geluTanh")
        }
    }
}
