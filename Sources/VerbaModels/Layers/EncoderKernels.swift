// The fused kernels of the BERT encoder, vectorized with SIMD16<Float> (zmm on AVX-512, two ymm on AVX2):
// bias + GELU, bias + residual + layer norm, and packed bidirectional self-attention. Each has a plain
// reference version (`reference*`) that the tests compare it with.
import Foundation

typealias F16x = SIMD16<Float>

@inline(__always) private func load16(_ p: UnsafePointer<Float>) -> F16x {
    UnsafeRawPointer(p).loadUnaligned(as: F16x.self)
}

/// a·b + c with one fused multiply-add per lane.
@inline(__always) private func fma(_ a: F16x, _ b: F16x, _ c: Float) -> F16x {
    F16x(repeating: c).addingProduct(a, b)
}

/// Lane-wise minimum and maximum (compare + blend; the generic library versions do not vectorize).
@inline(__always) private func vmin(_ a: F16x, _ b: F16x) -> F16x { a.replacing(with: b, where: b .< a) }
@inline(__always) private func vmax(_ a: F16x, _ b: F16x) -> F16x { a.replacing(with: b, where: b .> a) }

@inline(__always) private func store16(_ v: F16x, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16x.self)
}

/// e^x for 16 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor polynomial to degree 7
/// (relative error below 1e-8 before rounding), times 2^n built in the exponent bits. Inputs are
/// clamped to [-87.3, 88.7], so results stay finite and normal (e^-87.3 ≈ 1.2e-38 stands for 0).
@inline(__always) func simdExp(_ x: F16x) -> F16x {
    let xc = vmax(vmin(x, F16x(repeating: 88.7)), F16x(repeating: -87.3))
    // n = round(x / ln2): adding 1.5·2^23 rounds to an integer held in the low mantissa bits.
    let magic = F16x(repeating: 12582912.0)
    let t = fma(xc, F16x(repeating: 1.44269504088896341), 12582912.0)
    let n = t - magic
    var r = xc - n * 0.693145751953125          // ln2, high part (exact product with small n)
    r = r - n * 1.428606765330187045e-06         // ln2, low part
    var p = F16x(repeating: 1.0 / 5040.0)
    p = fma(p, r, 1.0 / 720.0)
    p = fma(p, r, 1.0 / 120.0)
    p = fma(p, r, 1.0 / 24.0)
    p = fma(p, r, 1.0 / 6.0)
    p = fma(p, r, 0.5)
    p = fma(p, r, 1)
    p = fma(p, r, 1)
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let bits = (ni &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: F16x.self)
}

/// erf(x) for 16 lanes as a rational function, x·P(x²)/Q(x²) on x clamped to [-4, 4] (beyond which
/// erf is ±1 in float32), with the minimax coefficients of the fast float erf of Eigen / XLA; absolute
/// error about 1e-7, no exp.
@inline(__always) func simdErf(_ x: F16x) -> F16x {
    let xc = vmax(vmin(x, F16x(repeating: 4)), F16x(repeating: -4))
    let x2 = xc * xc
    var p = F16x(repeating: -2.72614225801306e-10)
    p = fma(p, x2, 2.77068142495902e-08)
    p = fma(p, x2, -2.10102402082508e-06)
    p = fma(p, x2, -5.69250639462346e-05)
    p = fma(p, x2, -7.34990630326855e-04)
    p = fma(p, x2, -2.95459980854025e-03)
    p = fma(p, x2, -1.60960333262415e-02)
    var q = F16x(repeating: -1.45660718464996e-05)
    q = fma(q, x2, -2.13374055278905e-04)
    q = fma(q, x2, -1.68282697438203e-03)
    q = fma(q, x2, -7.37332916720468e-03)
    q = fma(q, x2, -1.42647390514189e-02)
    return xc * p / q
}

/// Adds `bias` (n) to every row of `x` (rows, n) and applies the exact GELU, x·Φ(x), in place.
/// - Complexity: O(rows · n).
public func biasGeluErf(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, n: Int) {
    precondition(rows >= 0 && n >= 0)
    let vec = n / 16 * 16
    for r in 0..<rows {
        let row = x + r * n
        var j = 0
        while j < vec {
            let v = load16(row + j) + load16(bias + j)
            store16(0.5 * v * (1 + simdErf(v * 0.70710678118654752)), row + j)
            j += 16
        }
        while j < n {
            let v = row[j] + bias[j]
            row[j] = 0.5 * v * (1 + erff(v * 0.70710678118654752))
            j += 1
        }
    }
}

/// Plain version of `biasGeluErf`.
public func referenceBiasGeluErf(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, n: Int) {
    for r in 0..<rows {
        for j in 0..<n {
            let v = x[r * n + j] + bias[j]
            x[r * n + j] = 0.5 * v * (1 + erff(v * 0.70710678118654752))
        }
    }
}

/// residual ← LayerNorm(x + bias + residual) · gamma + beta, row by row ((rows, n) each; BERT's post-norm
/// "add & norm"). Mean and biased variance are taken in two passes in float32, as PyTorch does.
/// - Complexity: O(rows · n).
public func biasResidualLayerNorm(_ x: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                  residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                                  beta: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
    precondition(rows >= 0 && n > 0)
    let vec = n / 16 * 16
    for r in 0..<rows {
        let xi = x + r * n, o = residual + r * n
        // Pass 1: v = x + bias + residual (stored in o), sum.
        var acc = F16x(), tail: Float = 0
        var j = 0
        while j < vec {
            let v = load16(xi + j) + load16(bias + j) + load16(o + j)
            store16(v, o + j); acc += v; j += 16
        }
        while j < n { let v = xi[j] + bias[j] + o[j]; o[j] = v; tail += v; j += 1 }
        let mean = (acc.sum() + tail) / Float(n)
        // Pass 2: variance.
        var acc2 = F16x(), tail2: Float = 0
        j = 0
        let m = F16x(repeating: mean)
        while j < vec { let d = load16(o + j) - m; acc2.addProduct(d, d); j += 16 }
        while j < n { let d = o[j] - mean; tail2 += d * d; j += 1 }
        let variance = (acc2.sum() + tail2) / Float(n)
        let inv = 1 / (variance + eps).squareRoot()
        let iv = F16x(repeating: inv)
        j = 0
        while j < vec {
            store16((load16(o + j) - m) * iv * load16(gamma + j) + load16(beta + j), o + j); j += 16
        }
        while j < n { o[j] = (o[j] - mean) * inv * gamma[j] + beta[j]; j += 1 }
    }
}

/// Plain version of `biasResidualLayerNorm` (accumulates in Double).
public func referenceBiasResidualLayerNorm(_ x: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                           residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                                           beta: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
    for r in 0..<rows {
        var v = [Double](repeating: 0, count: n)
        for j in 0..<n { v[j] = Double(x[r * n + j]) + Double(bias[j]) + Double(residual[r * n + j]) }
        let mean = v.reduce(0, +) / Double(n)
        let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        let inv = 1 / (variance + Double(eps)).squareRoot()
        for j in 0..<n { residual[r * n + j] = Float((v[j] - mean) * inv) * gamma[j] + beta[j] }
    }
}

/// Bidirectional multi-head self-attention over packed sequences.
///
/// `qkv` (N, 3C) holds, for every token of every sequence, its query, key and value rows (each C =
/// heads · headDim wide, head h in columns h·headDim..<(h+1)·headDim). Sequence s occupies rows
/// `offsets[s]..<offsets[s+1]`; tokens attend only within their sequence. `keyMask`, when given (N), is
/// the attention mask: keys with mask 0 get −3.4e38 added to their score (as transformers does), so they
/// receive no weight. Writes softmax(q·kᵀ/√headDim)·v for every token and head into `out` (N, C).
/// `scratch` needs `attentionScratchCount(maxLength:headDim:)` floats. With `firstQueryOnly`, only the
/// first token of each sequence is computed (its row of `out`; the other rows are left as they were).
/// - Complexity: O(Σ T_s² · C), or O(Σ T_s · C) with `firstQueryOnly`.
public func packedSelfAttention(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, offsets: [Int],
                                keyMask: UnsafePointer<Int32>?, heads: Int, headDim: Int,
                                sequences: Range<Int>, scratch: UnsafeMutablePointer<Float>,
                                firstQueryOnly: Bool = false) {
    precondition(sequences.upperBound < offsets.count && heads > 0 && headDim > 0)
    let c = heads * headDim, stride = 3 * c
    let scale = 1 / Float(headDim).squareRoot()
    let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    for s in sequences {
        let start = offsets[s], t = offsets[s + 1] - start
        if t == 0 { continue }
        let tPad = (t + 15) / 16 * 16
        let kT = scratch                           // (headDim, tPad): this head's keys, transposed
        let scores = scratch + headDim * tPad       // (4, tPad): scores, then probabilities, of 4 queries
        for h in 0..<heads {
            let kBase = qkv + start * stride + c + h * headDim
            let vBase = qkv + start * stride + 2 * c + h * headDim
            for j in 0..<t {
                let k = kBase + j * stride
                for d in 0..<headDim { kT[d * tPad + j] = k[d] }
            }
            if tPad > t { for d in 0..<headDim { (kT + d * tPad + t).update(repeating: 0, count: tPad - t) } }
            let queries = firstQueryOnly ? 1 : t
            var i = 0
            while i < queries {
                // Four queries at a time (the last block repeats its last query).
                let rows = min(4, queries - i)
                let q0 = qkv + (start + i) * stride + h * headDim
                let q1 = rows > 1 ? q0 + stride : q0
                let q2 = rows > 2 ? q0 + 2 * stride : q1
                let q3 = rows > 3 ? q0 + 3 * stride : q2
                var jb = 0
                while jb < tPad {
                    var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
                    for d in 0..<headDim {
                        let kv = load16(kT + d * tPad + jb)
                        a0.addProduct(F16x(repeating: q0[d]), kv)
                        a1.addProduct(F16x(repeating: q1[d]), kv)
                        a2.addProduct(F16x(repeating: q2[d]), kv)
                        a3.addProduct(F16x(repeating: q3[d]), kv)
                    }
                    store16(a0 * scale, scores + jb)
                    store16(a1 * scale, scores + tPad + jb)
                    store16(a2 * scale, scores + 2 * tPad + jb)
                    store16(a3 * scale, scores + 3 * tPad + jb)
                    jb += 16
                }
                // Softmax of each row over the t real keys (masked keys pushed to -3.4e38).
                var inv: (Float, Float, Float, Float) = (0, 0, 0, 0)
                for r in 0..<4 {
                    let row = scores + r * tPad
                    if let keyMask {
                        for j in 0..<t where keyMask[start + j] == 0 { row[j] += -Float.greatestFiniteMagnitude }
                    }
                    var mx = F16x(repeating: -Float.greatestFiniteMagnitude)
                    jb = 0
                    while jb < tPad {
                        let v = load16(row + jb)
                        mx = vmax(mx, v.replacing(with: -Float.greatestFiniteMagnitude, where: lanes &+ Int32(jb) .>= Int32(t)))
                        jb += 16
                    }
                    let m = F16x(repeating: mx.max())
                    var sum = F16x()
                    jb = 0
                    while jb < tPad {
                        let e = simdExp(load16(row + jb) - m).replacing(with: 0, where: lanes &+ Int32(jb) .>= Int32(t))
                        store16(e, row + jb); sum += e; jb += 16
                    }
                    let v = 1 / sum.sum()
                    switch r { case 0: inv.0 = v; case 1: inv.1 = v; case 2: inv.2 = v; default: inv.3 = v }
                }
                // out = P · V, 16 columns of the head at a time.
                let o0 = out + (start + i) * c + h * headDim
                if headDim % 16 == 0 {
                    var d0 = 0
                    while d0 < headDim {
                        var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
                        for j in 0..<t {
                            let v = load16(vBase + j * stride + d0)
                            a0.addProduct(F16x(repeating: scores[j]), v)
                            a1.addProduct(F16x(repeating: scores[tPad + j]), v)
                            a2.addProduct(F16x(repeating: scores[2 * tPad + j]), v)
                            a3.addProduct(F16x(repeating: scores[3 * tPad + j]), v)
                        }
                        store16(a0 * inv.0, o0 + d0)
                        if rows > 1 { store16(a1 * inv.1, o0 + c + d0) }
                        if rows > 2 { store16(a2 * inv.2, o0 + 2 * c + d0) }
                        if rows > 3 { store16(a3 * inv.3, o0 + 3 * c + d0) }
                        d0 += 16
                    }
                } else {
                    for r in 0..<rows {
                        let o = o0 + r * c, p = scores + r * tPad
                        let iv = r == 0 ? inv.0 : r == 1 ? inv.1 : r == 2 ? inv.2 : inv.3
                        for d in 0..<headDim {
                            var acc: Float = 0
                            for j in 0..<t { acc += p[j] * vBase[j * stride + d] }
                            o[d] = acc * iv
                        }
                    }
                }
                i += 4
            }
        }
    }
}

/// Floats of scratch space `packedSelfAttention` needs for sequences up to `maxLength` tokens.
public func attentionScratchCount(maxLength: Int, headDim: Int) -> Int {
    let tPad = (maxLength + 15) / 16 * 16
    return headDim * tPad + 4 * tPad + 16
}

/// Plain version of `packedSelfAttention` (Double accumulation, scalar exp).
public func referencePackedSelfAttention(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, offsets: [Int],
                                         keyMask: UnsafePointer<Int32>?, heads: Int, headDim: Int) {
    let c = heads * headDim, stride = 3 * c
    let scale = 1 / Double(headDim).squareRoot()
    for s in 0..<(offsets.count - 1) {
        let start = offsets[s], t = offsets[s + 1] - start
        for h in 0..<heads {
            for i in 0..<t {
                var scores = [Double](repeating: 0, count: t)
                for j in 0..<t {
                    var dot = 0.0
                    for d in 0..<headDim {
                        dot += Double(qkv[(start + i) * stride + h * headDim + d]) * Double(qkv[(start + j) * stride + c + h * headDim + d])
                    }
                    scores[j] = dot * scale + ((keyMask.map { $0[start + j] == 0 } ?? false) ? -Double(Float.greatestFiniteMagnitude) : 0)
                }
                let mx = scores.max() ?? 0
                let e = scores.map { Foundation.exp($0 - mx) }
                let sum = e.reduce(0, +)
                for d in 0..<headDim {
                    var acc = 0.0
                    for j in 0..<t { acc += e[j] * Double(qkv[(start + j) * stride + 2 * c + h * headDim + d]) }
                    out[(start + i) * c + h * headDim + d] = Float(acc / sum)
                }
            }
        }
    }
}
