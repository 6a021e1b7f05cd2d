import CBLAS
import Foundation

// The kernels of the engine, as free functions over contiguous row-major float32 buffers.
// Each fast kernel has a plain reference version (`reference*`) that the tests check it against.
// Shapes are written as comments: `x // (T, C)` is T rows of C floats.

/// C = alpha * A · op(B) + beta * C, row-major.  A: (m, k); B: (k, n), or (n, k) when `transposeB`;
/// C: (m, n). With `beta` 0 the previous content of C is ignored. Goes through OpenBLAS `cblas_sgemm`.
/// - Complexity: 2·m·n·k flops.
public func matmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                   m: Int, n: Int, k: Int, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0) {
    precondition(m >= 0 && n >= 0 && k >= 0, "matmul: negative size")
    if m == 0 || n == 0 { return }
    if k == 0 {
        for i in 0..<(m * n) { c[i] = beta == 0 ? 0 : beta * c[i] }
        return
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(k), b, Int32(transposeB ? k : n),
                beta, c, Int32(n))
}

/// Plain triple loop for `matmul`, for tests.
public func referenceMatmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
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

/// Adds `bias` (n) to every row of `x` (rows, n) in place.
public func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
    for r in 0..<rows {
        let row = x + r * n
        for j in 0..<n { row[j] += bias[j] }
    }
}

/// Layer normalization of each row of `x` (rows, n) into `out` (may alias `x`):
/// out = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance, as PyTorch computes it.
public func layerNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                      beta: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
    referenceLayerNorm(x, out, gamma: gamma, beta: beta, rows: rows, n: n, eps: eps)
}

/// Plain version of `layerNorm`, accumulating in Double.
public func referenceLayerNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
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

/// Softmax of each row of `x` (rows, n) in place, max-subtracted for stability.
public func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    referenceSoftmax(x, rows: rows, n: n)
}

/// Plain version of `softmax`.
public func referenceSoftmax(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
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

/// GELU, exact form: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (BERT's `gelu`), in place over `count` floats.
public func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    referenceGeluErf(x, count: count)
}

/// Plain version of `geluErf`.
public func referenceGeluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
}

/// GELU, tanh approximation (GPT-2's `gelu_new`):
/// 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))), in place over `count` floats.
public func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    referenceGeluTanh(x, count: count)
}

/// Plain version of `geluTanh`.
public func referenceGeluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = x[i]
        x[i] = 0.5 * v * (1 + tanhf(0.79788456080286535588 * (v + 0.044715 * v * v * v)))
    }
}
