// The fused kernels of the BERT encoder, vectorized with SIMD16<Float> (zmm on AVX-512, two ymm on AVX2):
// bias + GELU, bias + residual + layer norm, and packed bidirectional self-attention. Each has a plain
// reference version (`reference*`) that the tests compare it with.
import Foundation

typealias F16x = SIMD16<Float>

@inline(__always) private func load16(_ p: UnsafePointer<Float>) -> F16x {
    UnsafeRawPointer(p).loadUnaligned(as: F16x.self)
}

@inline(__always) private func store16(_ v: F16x, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16x.self)
}

/// e^x for 16 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor polynomial to degree 7
/// (relative error below 1e-8 before rounding), times 2^n built in the exponent bits. Inputs are
/// clamped to [-87.3, 88.7], so results stay finite and normal (e^-87.3 ≈ 1.2e-38 stands for 0).
@inline(__always) func simdExp(_ x: F16x) -> F16x {
    let xc = x.clamped(lowerBound: F16x(repeating: -87.3), upperBound: F16x(repeating: 88.7))
    let n = (xc * 1.44269504088896341).rounded(.toNearestOrEven)
    var r = xc - n * 0.693145751953125          // ln2, high part (exact product with small n)
    r = r - n * 1.428606765330187045e-06         // ln2, low part
    var p = F16x(repeating: 1.0 / 5040.0)
    p = p * r + (1.0 / 720.0)
    p = p * r + (1.0 / 120.0)
    p = p * r + (1.0 / 24.0)
    p = p * r + (1.0 / 6.0)
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let bits = (SIMD16<Int32>(n, rounding: .towardZero) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: F16x.self)
}

/// erf(x) for 16 lanes (Abramowitz & Stegun 7.1.26 form, absolute error below 1.5e-7):
/// erf(|x|) = 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(−x²), t = 1/(1 + 0.3275911·|x|).
@inline(__always) func simdErf(_ x: F16x) -> F16x {
    let ax = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7fff_ffff, to: F16x.self)
    let one = F16x(repeating: 1)
    let t = one / (one + ax * 0.3275911)
    var p = F16x(repeating: 1.061405429)
    p = p * t - 1.453152027
    p = p * t + 1.421413741
    p = p * t - 0.284496736
    p = p * t + 0.254829592
    let y = one - p * t * simdExp(-(ax * ax))
    return y.replacing(with: -y, where: x .< 0)
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
/// `scratch` needs `attentionScratchCount(maxLength:headDim:)` floats.
/// - Complexity: O(Σ T_s² · C).
public func packedSelfAttention(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, offsets: [Int],
                                keyMask: UnsafePointer<Int32>?, heads: Int, headDim: Int,
                                sequences: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
    let c = heads * headDim, stride = 3 * c
    let scale = 1 / Float(headDim).squareRoot()
    for s in sequences {
        let start = offsets[s], t = offsets[s + 1] - start
        if t == 0 { continue }
        let tPad = (t + 15) / 16 * 16
        let kT = scratch                          // (headDim, tPad): this head's keys, transposed
        let scores = scratch + headDim * tPad      // (tPad)
        for h in 0..<heads {
            // Transpose the keys of head h into kT.
            for j in 0..<t {
                let k = qkv + (start + j) * stride + c + h * headDim
                for d in 0..<headDim { kT[d * tPad + j] = k[d] }
            }
            for d in 0..<headDim { for j in t..<tPad { kT[d * tPad + j] = 0 } }
            for i in 0..<t {
                let q = qkv + (start + i) * stride + h * headDim
                // scores[j] = q · k_j · scale, 16 keys at a time.
                var j = 0
                while j < tPad {
                    var acc = F16x()
                    for d in 0..<headDim { acc.addProduct(F16x(repeating: q[d]), load16(kT + d * tPad + j)) }
                    store16(acc * scale, scores + j)
                    j += 16
                }
                if let keyMask {
                    for j in 0..<t where keyMask[start + j] == 0 { scores[j] += -Float.greatestFiniteMagnitude }
                }
                for j in t..<tPad { scores[j] = -Float.infinity }
                // Softmax over the t real keys.
                var mx = F16x(repeating: -Float.infinity)
                j = 0
                while j < tPad { mx = pointwiseMax(mx, load16(scores + j)); j += 16 }
                let m = F16x(repeating: mx.max())
                var sum = F16x()
                j = 0
                while j < tPad {
                    var e = simdExp(load16(scores + j) - m)
                    if j + 16 > t { e = e.replacing(with: 0, where: SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) &+ Int32(j) .>= Int32(t)) }
                    store16(e, scores + j); sum += e; j += 16
                }
                let inv = 1 / sum.sum()
                // out_i = Σ_j p_j · v_j.
                let o = out + (start + i) * c + h * headDim
                if headDim % 16 == 0 {
                    var d0 = 0
                    while d0 < headDim {
                        var acc = F16x()
                        for j in 0..<t {
                            acc.addProduct(F16x(repeating: scores[j]), load16(qkv + (start + j) * stride + 2 * c + h * headDim + d0))
                        }
                        store16(acc * inv, o + d0)
                        d0 += 16
                    }
                } else {
                    for d in 0..<headDim { o[d] = 0 }
                    for j in 0..<t {
                        let v = qkv + (start + j) * stride + 2 * c + h * headDim
                        let p = scores[j]
                        for d in 0..<headDim { o[d] += p * v[d] }
                    }
                    for d in 0..<headDim { o[d] *= inv }
                }
            }
        }
    }
}

/// Floats of scratch space `packedSelfAttention` needs for sequences up to `maxLength` tokens.
public func attentionScratchCount(maxLength: Int, headDim: Int) -> Int {
    let tPad = (maxLength + 15) / 16 * 16
    return headDim * tPad + tPad + 16
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
