import CBLAS
import Foundation

// The kernels of the engine, as free functions over contiguous row-major float32 buffers.
// Each fast kernel has a plain reference version (`reference*`) that the tests check it against.
// Shapes are written as comments: `x // (T, C)` is T rows of C floats.
// Fast kernels work on SIMD16<Float> (one zmm register with AVX-512, two ymm with AVX2) and use fused
// multiply-add; the transcendental functions (exp, erfc) are vectorized polynomials within ~2e-7 relative.

typealias V16 = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> V16 {
    UnsafeRawPointer(p).loadUnaligned(as: V16.self)
}

@inline(__always) func store16(_ v: V16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self)
}

/// Loads `n` < 16 floats, zero-filling the other lanes.
@inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ n: Int) -> V16 {
    var v = V16()
    for l in 0..<n { v[l] = p[l] }
    return v
}

@inline(__always) func storePartial(_ v: V16, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for l in 0..<n { p[l] = v[l] }
}

// MARK: - Matrix multiplication

/// C = alpha * A · op(B) + beta * C, row-major.  A: (m, k); B: (k, n), or (n, k) when `transposeB`;
/// C: (m, n). With `beta` 0 the previous content of C is ignored. OpenBLAS `cblas_sgemm`, split across
/// `ThreadPool.shared` for large products (see ThreadPool for the threading rule).
/// - Complexity: 2·m·n·k flops.
public func matmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                   m: Int, n: Int, k: Int, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0) {
    matmul(a, lda: k, b, ldb: transposeB ? k : n, c, ldc: n, m: m, n: n, k: k,
           transposeB: transposeB, alpha: alpha, beta: beta)
}

/// `matmul` on strided matrices (each row `ld*` floats apart), e.g. one attention head's slice of a (T, 3C)
/// projection: A (m, k) with row stride `lda`, or (k, m) when `transposeA`; B (k, n) with stride `ldb`, or
/// (n, k) when `transposeB`; C (m, n) with stride `ldc`. Training's weight gradients use `transposeA`.
/// - Complexity: 2·m·n·k flops.
public func matmul(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
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

// MARK: - Elementwise and vector helpers

/// Adds `bias` (n) to every row of `x` (rows, n) in place.
public func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
    precondition(rows >= 0 && n >= 0)
    for r in 0..<rows {
        let row = x + r * n
        var j = 0
        while j + 16 <= n { store16(load16(row + j) + load16(bias + j), row + j); j += 16 }
        while j < n { row[j] += bias[j]; j += 1 }
    }
}

/// y[i] += x[i] for i in 0..<count (residual connections).
public func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    var i = 0
    while i + 16 <= count { store16(load16(y + i) + load16(x + i), y + i); i += 16 }
    while i < count { y[i] += x[i]; i += 1 }
}

/// x[i] *= s for i in 0..<count.
public func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
    precondition(count >= 0)
    var i = 0
    while i + 16 <= count { store16(load16(x + i) * s, x + i); i += 16 }
    while i < count { x[i] *= s; i += 1 }
}

/// The dot product of `a` and `b` (count floats each), accumulated in four SIMD16 lanes with FMA.
/// - Complexity: 2·count flops.
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    precondition(count >= 0)
    var s0 = V16(), s1 = V16(), s2 = V16(), s3 = V16()
    var i = 0
    while i + 64 <= count {
        s0.addProduct(load16(a + i), load16(b + i))
        s1.addProduct(load16(a + i + 16), load16(b + i + 16))
        s2.addProduct(load16(a + i + 32), load16(b + i + 32))
        s3.addProduct(load16(a + i + 48), load16(b + i + 48))
        i += 64
    }
    while i + 16 <= count { s0.addProduct(load16(a + i), load16(b + i)); i += 16 }
    if i < count { s1.addProduct(loadPartial(a + i, count - i), loadPartial(b + i, count - i)) }
    return horizontalSum((s0 + s1) + (s2 + s3))
}

// MARK: - Layer normalization

/// Layer normalization of each row of `x` (rows, n) into `out` (may alias `x`):
/// out = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance, as PyTorch computes it.
/// - Complexity: O(rows·n), three vectorized passes over each row.
public func layerNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                      beta: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
    precondition(rows >= 0 && n > 0, "layerNorm: empty rows")
    let tail = n % 16, body = n - tail
    for r in 0..<rows {
        let xi = x + r * n, o = out + r * n
        var s0 = V16(), s1 = V16()
        var j = 0
        while j + 32 <= body { s0 += load16(xi + j); s1 += load16(xi + j + 16); j += 32 }
        if j < body { s0 += load16(xi + j) }
        if tail > 0 { s1 += loadPartial(xi + body, tail) }
        let mean = horizontalSum(s0 + s1) / Float(n)
        let mv = V16(repeating: mean)
        var q0 = V16(), q1 = V16()
        j = 0
        while j + 32 <= body {
            let d0 = load16(xi + j) - mv, d1 = load16(xi + j + 16) - mv
            q0.addProduct(d0, d0); q1.addProduct(d1, d1)
            j += 32
        }
        if j < body { let d = load16(xi + j) - mv; q0.addProduct(d, d) }
        var variance = horizontalSum(q0 + q1)
        for t in body..<n { let d = xi[t] - mean; variance += d * d }
        variance /= Float(n)
        let inv = 1 / (variance + eps).squareRoot()
        let iv = V16(repeating: inv)
        j = 0
        while j < body {
            let v = (load16(xi + j) - mv) * iv
            store16(load16(beta + j).addingProduct(v, load16(gamma + j)), o + j)
            j += 16
        }
        for t in body..<n { o[t] = (xi[t] - mean) * inv * gamma[t] + beta[t] }
    }
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

// MARK: - Vectorized exp and erfc

/// e^x per lane, within ~2 ulp over the whole float32 range: subnormal results down to x ≈ −103.97, 0 below,
/// +inf above 88.72, NaN for NaN. Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-7 Taylor
/// polynomial (truncation error < 1e-8), and 2^n applied as two factors so neither over- nor underflows early.
/// Public (and inlinable) so that the training kernels of VerbaModels use this same exp.
@inlinable @inline(__always)
public func expSIMD(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V16 = SIMD16<Float>
    let xc = clamp(x, -104, 88.75)
    // n = round(x·log2 e) by the 1.5·2^23 trick: the sum's low mantissa bits hold n in two's complement.
    let shifted = V16(repeating: 12_582_912).addingProduct(xc, V16(repeating: 1.44269504088896341))
    let n = shifted - 12_582_912
    var r = xc.addingProduct(n, V16(repeating: -0.693145751953125))  // ln2 high part (n·hi is exact)
    r = r.addingProduct(n, V16(repeating: -1.42860682030941723212e-6)) // ln2 low part
    var p = V16(repeating: 1.0 / 5040)
    p = V16(repeating: 1.0 / 720).addingProduct(p, r)
    p = V16(repeating: 1.0 / 120).addingProduct(p, r)
    p = V16(repeating: 1.0 / 24).addingProduct(p, r)
    p = V16(repeating: 1.0 / 6).addingProduct(p, r)
    p = V16(repeating: 0.5).addingProduct(p, r)
    p = V16(repeating: 1).addingProduct(p, r)
    p = V16(repeating: 1).addingProduct(p, r)
    let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4b40_0000
    let n1 = ni &>> 1, n2 = ni &- n1                                 // 2^n = 2^n1 · 2^n2, each normal
    let f1 = unsafeBitCast((n1 &+ 127) &<< 23, to: V16.self)
    let f2 = unsafeBitCast((n2 &+ 127) &<< 23, to: V16.self)
    var result = p * f1 * f2
    result.replace(with: 0, where: x .< -104)
    result.replace(with: .infinity, where: x .> 88.75)
    result.replace(with: x, where: x .!= x)     // NaN in, NaN out
    return result
}

/// erfc(|x|/√2) per lane (relative error ~3e-7; 0 once it underflows, |x| > 14.1):
/// erfc(u) = e^(−u²)·erfcx(u) with erfcx from two fitted polynomials (scripts/fit-erfc.py). The exponent
/// −x²/2 is formed from x itself with the rounding error of x² restored through FMA, so no digits are lost
/// in the tail (u = |x|/√2 rounded would cost ~u²·6e-8 relative).
@_transparent func erfcOfScaledSIMD(_ x: V16) -> V16 {
    let u = absolute(x) * Float(0.70710678118654752)
    // Near: u in [0, 1.5], polynomial in (u − 0.75).
    let a = u - 0.75
    var pn = V16(repeating: 0.0003958303132094443)
    pn = V16(repeating: -0.0011485640425235033).addingProduct(pn, a)
    pn = V16(repeating: 0.0024283358361572027).addingProduct(pn, a)
    pn = V16(repeating: -0.005931811407208443).addingProduct(pn, a)
    pn = V16(repeating: 0.014283794909715652).addingProduct(pn, a)
    pn = V16(repeating: -0.03192635998129845).addingProduct(pn, a)
    pn = V16(repeating: 0.06679260730743408).addingProduct(pn, a)
    pn = V16(repeating: -0.12983322143554688).addingProduct(pn, a)
    pn = V16(repeating: 0.23095795512199402).addingProduct(pn, a)
    pn = V16(repeating: -0.3679727613925934).addingProduct(pn, a)
    pn = V16(repeating: 0.5069376230239868).addingProduct(pn, a)
    // Far: t = 1/u in [0.1, 2/3], erfcx(u) = g(t)·t, g a polynomial in (t − 0.38333333). Skipped (with its
    // division) when no lane needs it, the common case for activations.
    let far = u .> 1.5
    var erfcx = pn
    if any(far) {
        let t = 1 / clamp(u, 1.5, 10)
        let b = t - 0.38333333
        var pf = V16(repeating: 0.04302576929330826)
        pf = V16(repeating: -0.2083783596754074).addingProduct(pf, b)
        pf = V16(repeating: 0.18881390988826752).addingProduct(pf, b)
        pf = V16(repeating: -0.030928075313568115).addingProduct(pf, b)
        pf = V16(repeating: -0.117856465280056).addingProduct(pf, b)
        pf = V16(repeating: 0.1734282225370407).addingProduct(pf, b)
        pf = V16(repeating: -0.08765508979558945).addingProduct(pf, b)
        pf = V16(repeating: -0.15308323502540588).addingProduct(pf, b)
        pf = V16(repeating: 0.5295908451080322).addingProduct(pf, b)
        erfcx.replace(with: pf * t, where: far)
    }
    let square = x * x
    let low = (-square).addingProduct(x, x)           // x·x − square, exactly (FMA)
    let e = expSIMD(square * -0.5)
    return e.addingProduct(e, low * -0.5) * erfcx     // e^(−(square + low)/2) to first order in low
}

// MARK: - Softmax

/// Softmax of each row of `x` (rows, n) in place, max-subtracted for stability (a row of all −∞ gives NaN,
/// as PyTorch does).
/// - Complexity: O(rows·n), vectorized exp.
public func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    precondition(rows >= 0 && n >= 0)
    if n == 0 { return }
    let tail = n % 16, body = n - tail
    for r in 0..<rows {
        let row = x + r * n
        var m = V16(repeating: -.infinity)
        var j = 0
        while j < body { m = pointwiseMax(m, load16(row + j)); j += 16 }
        var mx = m.max()
        for t in body..<n { mx = max(mx, row[t]) }
        let mv = V16(repeating: mx)
        var s = V16()
        j = 0
        while j < body { let e = expSIMD(load16(row + j) - mv); store16(e, row + j); s += e; j += 16 }
        if tail > 0 {
            var e = expSIMD(loadPartial(row + body, tail) - mv)
            for l in tail..<16 { e[l] = 0 }
            storePartial(e, row + body, tail)
            s += e
        }
        scale(row, by: 1 / horizontalSum(s), count: n)
    }
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

// MARK: - GELU

/// GELU, exact form: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (BERT's `gelu`), in place over `count` floats.
/// Computed as x·(1 − ½·erfc(x/√2)) for x ≥ 0 and x·½·erfc(−x/√2) below, so it stays accurate (relative
/// ~5e-7) even far out in the negative tail, where the textbook form loses digits.
/// - Complexity: O(count), vectorized.
public func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    @inline(__always) func apply(_ v: V16) -> V16 {
        let half = erfcOfScaledSIMD(v) * 0.5
        let phi = (1 - half).replacing(with: half, where: v .< 0)
        return v * phi
    }
    var i = 0
    while i + 16 <= count { store16(apply(load16(x + i)), x + i); i += 16 }
    if i < count { storePartial(apply(loadPartial(x + i, count - i)), x + i, count - i) }
}

/// Plain version of `geluErf`.
public func referenceGeluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
}

/// GELU, tanh approximation (GPT-2's `gelu_new`):
/// 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))), in place over `count` floats.
/// Computed as x / (1 + e^(−2y)), the same function without the cancellation of 1 + tanh(y) for y ≪ 0.
/// - Complexity: O(count), vectorized.
public func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    @inline(__always) func apply(_ v: V16) -> V16 {
        let y = v.addingProduct(0.044715 * v * v, v) * Float(0.79788456080286535588)
        return v / (1 + expSIMD(-2 * y))
    }
    var i = 0
    while i + 16 <= count { store16(apply(load16(x + i)), x + i); i += 16 }
    if i < count { storePartial(apply(loadPartial(x + i, count - i)), x + i, count - i) }
}

/// Plain version of `geluTanh`.
public func referenceGeluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = x[i]
        x[i] = 0.5 * v * (1 + tanhf(0.79788456080286535588 * (v + 0.044715 * v * v * v)))
    }
}

/// exp(x) for each of `count` floats in place (vectorized; ~2 ulp).
public func expInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    var i = 0
    while i + 16 <= count { store16(expSIMD(load16(x + i)), x + i); i += 16 }
    if i < count { storePartial(expSIMD(loadPartial(x + i, count - i)), x + i, count - i) }
}

@inline(__always) func absolute(_ v: V16) -> V16 {
    unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7fff_ffff, to: V16.self)
}

/// The sum of the lanes of `v` by halving (the generic `SIMD.sum()` is not always specialized).
@inline(__always) func horizontalSum(_ v: V16) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

@usableFromInline @inline(__always) func clamp(_ v: SIMD16<Float>, _ lo: Float, _ hi: Float) -> SIMD16<Float> {
    let l = SIMD16<Float>(repeating: lo), h = SIMD16<Float>(repeating: hi)
    return v.replacing(with: l, where: v .< l).replacing(with: h, where: v .> h)
}

@inline(__always) func pointwiseMax(_ a: V16, _ b: V16) -> V16 { a.replacing(with: b, where: b .> a) }
