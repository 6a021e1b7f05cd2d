import CBLAS
import CVerbaKernels
import Foundation

// The kernels of the engine, as free functions over contiguous row-major float32 buffers.
// Each fast kernel has a plain reference version (`reference*`) that the tests check it against.
// Shapes are written as comments: `x // (T, C)` is T rows of C floats.
// The fast kernels are CVerbaKernels' (16-float vectors with fused multiply-add where the CPU level has it,
// see `CPULevel`); the transcendental functions (exp, erfc) are vectorized polynomials within ~2e-7 relative.

// MARK: - Matrix multiplication

/// Products with at most this many rows of A run on the small-M kernels (`verba_gemm_small_*`).
package let smallProductRows = 8

/// C = alpha * A · op(B) + beta * C, row-major.  A: (m, k); B: (k, n), or (n, k) when `transposeB`;
/// C: (m, n). With `beta` 0 the previous content of C is ignored. OpenBLAS `cblas_sgemm` (the small-M kernels
/// for at most `smallProductRows` rows), split across `ThreadPool.shared` for large products (see ThreadPool for the threading rule).
/// - Complexity: 2·m·n·k flops.
package func matmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                   m: Int, n: Int, k: Int, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0) {
    matmul(a, lda: k, b, ldb: transposeB ? k : n, c, ldc: n, m: m, n: n, k: k,
           transposeB: transposeB, alpha: alpha, beta: beta)
}

/// `matmul` on strided matrices (each row `ld*` floats apart), e.g. one attention head's slice of a (T, 3C)
/// projection: A (m, k) with row stride `lda`, or (k, m) when `transposeA`; B (k, n) with stride `ldb`, or
/// (n, k) when `transposeB`; C (m, n) with stride `ldc`. Training's weight gradients use `transposeA`.
/// - Complexity: 2·m·n·k flops.
package func matmul(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                   _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int,
                   transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0) {
    precondition(m >= 0 && n >= 0 && k >= 0, "matmul: negative size")
    precondition(lda >= (transposeA ? m : k) && ldc >= n && ldb >= (transposeB ? k : n), "matmul: leading dimension too small")
    if m == 0 || n == 0 { return }
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    let pool = ThreadPool.shared
    let work = m * n * k
    let parts = pool.isBusy ? 1 : min(pool.threadCount, max(1, work / 200_000))
    if m <= smallProductRows && !transposeA && alpha == 1 {
        // A few rows (batched decode): the small-M kernels read B once, where sgemm would pack it whole.
        let blocks = (n + 31) / 32
        let small = { (j0: Int, j1: Int) in
            if transposeB {
                verba_gemm_small_nt(a, lda, b, ldb, c, ldc, m, j0, j1, k, beta)
            } else {
                verba_gemm_small_nn(a, lda, b, ldb, c, ldc, m, j0, j1, k, beta)
            }
        }
        if parts <= 1 { small(0, n); return }
        pool.parallelFor(count: parts) { p in
            let j0 = min(n, p * blocks / parts * 32), j1 = min(n, (p + 1) * blocks / parts * 32)
            if j1 > j0 { small(j0, j1) }
        }
        return
    }
    func gemm(_ i0: Int, _ rows: Int, _ j0: Int, _ cols: Int) {
        verba_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(rows), Int32(cols), Int32(k), alpha, transposeA ? a + i0 : a + i0 * lda, Int32(lda),
                    transposeB ? b + j0 * ldb : b + j0, Int32(ldb), beta, c + i0 * ldc + j0, Int32(ldc))
    }
    if parts <= 1 { gemm(0, m, 0, n); return }
    if n >= 64 * parts && n >= m {
        // Split the columns of C (the rows of B when transposed) in multiples of 16.
        let blocks = (n + 15) / 16
        pool.parallelFor(count: parts) { p in
            let j0 = min(n, p * blocks / parts * 16), j1 = min(n, (p + 1) * blocks / parts * 16)
            if j1 > j0 { gemm(0, m, j0, j1 - j0) }
        }
    } else if m >= 2 * parts {
        pool.parallelFor(count: parts) { p in
            let i0 = p * m / parts, i1 = (p + 1) * m / parts
            if i1 > i0 { gemm(i0, i1 - i0, 0, n) }
        }
    } else {
        gemm(0, m, 0, n)
    }
}

/// Plain triple loop for `matmul`, for tests.
package func referenceMatmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                            m: Int, n: Int, k: Int, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0) {
    for i in 0..<m {
        for j in 0..<n {
            var s: Double = 0
            for p in 0..<k {
                let bv = transposeB ? b[j * k + p] : b[p * n + j]
                s += Double(a[i * k + p]) * Double(bv)
            }
            c[i * n + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * n + j])
        }
    }
}

// MARK: - Elementwise and vector helpers

/// Adds `bias` (n) to every row of `x` (rows, n) in place.
package func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
    precondition(rows >= 0 && n >= 0)
    verba_add_bias(x, bias, rows, n)
}

/// y[i] += x[i] for i in 0..<count (residual connections).
package func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    verba_add(x, y, count)
}

/// x[i] *= s for i in 0..<count.
package func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
    precondition(count >= 0)
    verba_scale(x, s, count)
}

/// The dot product of `a` and `b` (count floats each), accumulated in four vectors with FMA.
/// - Complexity: 2·count flops.
package func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    precondition(count >= 0)
    return verba_dot(a, b, count)
}

/// Plain version of `dot` (Double accumulation).
package func referenceDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var s: Double = 0
    for i in 0..<count { s += Double(a[i]) * Double(b[i]) }
    return Float(s)
}

// MARK: - Layer normalization

/// Layer normalization of each row of `x` (rows, n) into `out` (may alias `x`):
/// out = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance, as PyTorch computes it.
/// When given, `mean` and `rstd` (rows) receive each row's mean and 1/sqrt(var + eps) (training's backward
/// needs them). The one layer norm of the engine: inference, the fused encoder one and training use it.
/// - Complexity: O(rows·n), three vectorized passes over each row.
package func layerNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                       beta: UnsafePointer<Float>, rows: Int, n: Int, eps: Float,
                       mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil) {
    precondition(rows >= 0 && n > 0, "layerNorm: empty rows")
    verba_layer_norm(x, out, gamma, beta, rows, n, eps, mean, rstd)
}

/// Plain version of `layerNorm`, accumulating in Double.
package func referenceLayerNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                                beta: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
    for r in 0..<rows {
        let xi = x + r * n, o = out + r * n
        var mean: Double = 0
        for j in 0..<n { mean += Double(xi[j]) }
        mean /= Double(n)
        var variance: Double = 0
        for j in 0..<n { let d = Double(xi[j]) - mean; variance += d * d }
        variance /= Double(n)
        let inv = 1 / (variance + Double(eps)).squareRoot()
        for j in 0..<n { o[j] = Float((Double(xi[j]) - mean) * inv) * gamma[j] + beta[j] }
    }
}

// MARK: - Softmax

/// Softmax of each row of `x` (rows, n) in place, max-subtracted for stability (a row of all −∞ gives NaN,
/// as PyTorch does). exp is a vectorized polynomial within ~2 ulp.
/// - Complexity: O(rows·n).
package func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    precondition(rows >= 0 && n >= 0)
    verba_softmax(x, rows, n)
}

/// Plain version of `softmax`.
package func referenceSoftmax(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    for r in 0..<rows {
        let row = x + r * n
        var mx = -Float.infinity
        for j in 0..<n { mx = max(mx, row[j]) }
        var sum: Float = 0
        for j in 0..<n { let e = expf(row[j] - mx); row[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<n { row[j] *= inv }
    }
}

// MARK: - GELU and exp

/// GELU, exact form: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (BERT's `gelu`), in place over `count` floats.
/// Computed as x·(1 − ½·erfc(x/√2)) for x ≥ 0 and x·½·erfc(−x/√2) below, so it stays accurate (relative
/// ~5e-7) even far out in the negative tail, where the textbook form loses digits.
/// - Complexity: O(count), vectorized.
package func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    verba_gelu_erf(x, nil, 1, count)
}

/// Plain version of `geluErf`.
package func referenceGeluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
}

/// GELU, tanh approximation (GPT-2's `gelu_new`):
/// 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))), in place over `count` floats.
/// Computed as x / (1 + e^(−2y)), the same function without the cancellation of 1 + tanh(y) for y ≪ 0.
/// - Complexity: O(count), vectorized.
package func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    verba_gelu_tanh(x, count)
}

/// Plain version of `geluTanh`.
package func referenceGeluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = x[i]
        x[i] = 0.5 * v * (1 + tanhf(0.79788456080286535588 * (v + 0.044715 * v * v * v)))
    }
}

/// dx = gelu_tanh'(x) · dout over `count` floats (dx may alias dout): training's backward of `geluTanh`.
package func geluTanhBackward(dx: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                              count: Int) {
    precondition(count >= 0)
    verba_gelu_tanh_backward(dx, x, dout, count)
}

/// exp(x) for each of `count` floats in place (vectorized; ~2 ulp; subnormal results down to x ≈ −103.97,
/// 0 below, +inf above 88.72, NaN for NaN).
package func expInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    verba_exp_inplace(x, count)
}
