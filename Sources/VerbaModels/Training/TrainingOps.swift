// Forward and backward passes of the layers the trainers use, over flat row-major float32 buffers.
// Every backward *accumulates* (+=) into parameter gradients, and into input gradients unless noted,
// so that gradient accumulation over micro-batches and shared (tied) weights just work.
// Shapes: `x // (N, C)` is N rows of C floats. N is usually B·T (batch × time).
import Foundation
import VerbaTensor

/// C = alpha · op(A) · op(B) + beta · C with explicit leading dimensions (row-major), op(A) (m, k),
/// op(B) (k, n), C (m, n): VerbaTensor's `matmul`, which splits a large product over the shared pool
/// (single-threaded sgemm per block; OpenBLAS's own threads synchronize too often on products this small).
@inline(__always)
func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
          _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
          beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    matmul(a, lda: lda, b, ldb: ldb, c, ldc: ldc, m: m, n: n, k: k, transposeA: transA, transposeB: transB,
           alpha: alpha, beta: beta)
}

/// Sets the number of threads training uses: the shared pool's, which splits the large matrix products
/// (OpenBLAS itself stays single-threaded) and attention over (batch, head) pairs.
package func setTrainingThreads(_ n: Int) {
    let threads = max(1, n)
    ThreadPool.shared.setThreads(threads)
    trainingThreads = threads
}

nonisolated(unsafe) var trainingThreads = 1

/// Runs `body(i)` for i in 0..<count on up to `trainingThreads` threads of the shared pool (inline when 1).
@inline(__always)
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if min(trainingThreads, count) <= 1 { for i in 0..<count { body(i) }; return }
    ThreadPool.shared.parallelFor(count: count, body: body)
}

// MARK: - Linear

/// out (N, OC) = inp (N, IC) · Wᵀ + bias, with W stored (OC, IC) as in `nn.Linear`.
/// - Complexity: 2·N·IC·OC flops.
func linearForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                   _ bias: UnsafePointer<Float>?, n: Int, inC: Int, outC: Int) {
    gemm(transB: true, m: n, n: outC, k: inC, inp, lda: inC, w, ldb: inC, beta: 0, out, ldc: outC)
    if let bias = bias { addBias(out, bias, rows: n, n: outC) }
}

/// Backward of `linearForward`: dinp (N, IC) (+= when `accumulateInput`, else =) dout · W;
/// dW (OC, IC) += doutᵀ · inp; dbias (OC) += Σ_rows dout. `dinp` may be nil when not needed.
/// - Complexity: 4·N·IC·OC flops.
func linearBackward(dinp: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
                    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, w: UnsafePointer<Float>,
                    n: Int, inC: Int, outC: Int, accumulateInput: Bool = false) {
    if let dinp = dinp {
        gemm(m: n, n: inC, k: outC, dout, lda: outC, w, ldb: inC, beta: accumulateInput ? 1 : 0, dinp, ldc: inC)
    }
    gemm(transA: true, m: outC, n: inC, k: n, dout, lda: outC, inp, ldb: inC, beta: 1, dw, ldc: inC)
    if let dbias = dbias {
        for r in 0..<n { add(dout + r * outC, into: dbias, count: outC) }
    }
}

// MARK: - Layer normalization

/// out (N, C) = (x − mean) · rstd · w + b per row; saves `mean` and `rstd` (N) for the backward.
/// VerbaTensor's `layerNorm`, the one inference uses.
@inline(__always)
func layerNormForward(_ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                      _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                      n: Int, c: Int, eps: Float) {
    layerNorm(x, out, gamma: w, beta: b, rows: n, n: c, eps: eps, mean: mean, rstd: rstd)
}

/// Backward of `layerNormForward`: dx (N, C) += ∂L/∂x; dw, db (C) += their gradients.
func layerNormBackward(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
                       dout: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                       mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, n: Int, c: Int) {
    for r in 0..<n {
        let xi = x + r * c, d = dout + r * c, dxi = dx + r * c
        let m = mean[r], s = rstd[r]
        var dnormMean: Float = 0, dnormNormMean: Float = 0
        for j in 0..<c {
            let norm = (xi[j] - m) * s
            let dnorm = w[j] * d[j]
            dnormMean += dnorm
            dnormNormMean += dnorm * norm
        }
        dnormMean /= Float(c)
        dnormNormMean /= Float(c)
        for j in 0..<c {
            let norm = (xi[j] - m) * s
            let dnorm = w[j] * d[j]
            db[j] += d[j]
            dw[j] += norm * d[j]
            dxi[j] += (dnorm - dnormMean - norm * dnormNormMean) * s
        }
    }
}

// MARK: - GELU

/// Which GELU a model uses: `tanh` is GPT-2's `gelu_new`, `erf` is BERT's exact `gelu`.
///
/// ```swift
/// let kind = GeluKind(rawValue: "erf")                     // .erf, as BERT's "hidden_act": "gelu"
/// print(GeluKind.tanh.rawValue)                            // "tanh"
/// let data = try JSONEncoder().encode([GeluKind.tanh])     // Codable: ["tanh"]
/// ```
public enum GeluKind: String, Sendable, Codable {
    case tanh, erf
}

private let sqrt2OverPi: Float = 0.79788456080286535588
private let invSqrt2: Float = 0.70710678118654752
private let invSqrt2Pi: Float = 0.39894228040143267794

/// out = gelu(x) over `count` floats (out may not alias x: the backward needs x). Uses VerbaTensor's
/// vectorized GELUs; `referenceGeluForward` is the plain version.
func geluForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, kind: GeluKind) {
    out.update(from: x, count: count)
    switch kind {
    case .tanh: geluTanh(out, count: count)
    case .erf: geluErf(out, count: count)
    }
}

/// Plain version of `geluForward`.
func referenceGeluForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, kind: GeluKind) {
    switch kind {
    case .tanh:
        for i in 0..<count {
            let v = x[i]
            out[i] = 0.5 * v * (1 + tanhf(sqrt2OverPi * (v + 0.044715 * v * v * v)))
        }
    case .erf:
        for i in 0..<count { let v = x[i]; out[i] = 0.5 * v * (1 + erff(v * invSqrt2)) }
    }
}

/// dx = gelu'(x) · dout (overwrites dx; dx may alias dout). The tanh form is VerbaTensor's vectorized
/// `geluTanhBackward`; the erf form is the plain one.
func geluBackward(dx: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count: Int, kind: GeluKind) {
    if kind == .tanh {
        geluTanhBackward(dx: dx, x: x, dout: dout, count: count)
        return
    }
    referenceGeluBackward(dx: dx, x: x, dout: dout, count: count, kind: kind)
}

/// Plain version of `geluBackward`.
func referenceGeluBackward(dx: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count: Int, kind: GeluKind) {
    switch kind {
    case .tanh:
        for i in 0..<count {
            let v = x[i]
            let u = sqrt2OverPi * (v + 0.044715 * v * v * v)
            let t = tanhf(u)
            let sech2 = 1 - t * t
            let local = 0.5 * (1 + t) + 0.5 * v * sech2 * sqrt2OverPi * (1 + 3 * 0.044715 * v * v)
            dx[i] = local * dout[i]
        }
    case .erf:
        for i in 0..<count {
            let v = x[i]
            let local = 0.5 * (1 + erff(v * invSqrt2)) + v * invSqrt2Pi * expf(-0.5 * v * v)
            dx[i] = local * dout[i]
        }
    }
}

// MARK: - Multi-head attention

/// Scaled dot-product attention over a fused projection qkv (B, T, C + 2·KV·hs) laid out [q | k | v]:
/// NH query heads of size hs = C / NH, then `kvHeads` key heads and `kvHeads` value heads (default NH,
/// plain multi-head attention; fewer is grouped-query attention, query head h reading key/value head
/// h / (NH / kvHeads)). out (B, T, C); att (B, NH, T, T) saves the probabilities.
/// `causal`: position t sees 0...t. `keyMask` (B, T), if given: keys with mask 0 get probability 0.
/// - Complexity: 4·B·T²·C flops.
func attentionForward(_ out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                      keyMask: UnsafePointer<Float>?, causal: Bool, b: Int, t: Int, c: Int, heads: Int, kvHeads: Int? = nil) {
    let kvh = kvHeads ?? heads
    precondition(c % heads == 0 && kvh > 0 && heads % kvh == 0, "attentionForward: heads must divide C and be a multiple of kvHeads")
    let hs = c / heads, group = heads / kvh, stride = c + 2 * kvh * hs
    let scale = 1 / Float(hs).squareRoot()
    parallelFor(b * heads) { pair in
        let bi = pair / heads, h = pair % heads
        do {
            let row0 = qkv + bi * t * stride
            let q = row0 + h * hs
            let k = row0 + c + (h / group) * hs, v = row0 + c + kvh * hs + (h / group) * hs
            let a = att + (bi * heads + h) * t * t
            // scores (T, T) = scale · Q Kᵀ
            gemm(transB: true, m: t, n: t, k: hs, alpha: scale, q, lda: stride, k, ldb: stride, beta: 0, a, ldc: t)
            let mask = keyMask.map { $0 + bi * t }
            for i in 0..<t {
                let row = a + i * t
                let last = causal ? i + 1 : t
                if mask == nil {
                    // Without a key mask, the same softmax as inference over the keys the query sees.
                    softmax(row, rows: 1, n: last)
                    (row + last).update(repeating: 0, count: t - last)
                    continue
                }
                var mx = -Float.infinity
                for j in 0..<last where mask == nil || mask![j] != 0 { mx = max(mx, row[j]) }
                var sum: Float = 0
                for j in 0..<last {
                    if let mask = mask, mask[j] == 0 { row[j] = 0; continue }
                    let e = expf(row[j] - mx)
                    row[j] = e
                    sum += e
                }
                let inv: Float = sum > 0 ? 1 / sum : 0
                for j in 0..<last { row[j] *= inv }
                for j in last..<t { row[j] = 0 }
            }
            // out (T, hs) = P V
            gemm(m: t, n: hs, k: t, a, lda: t, v, ldb: stride, beta: 0, out + bi * t * c + h * hs, ldc: c)
        }
    }
}

/// Backward of `attentionForward`: dqkv (B, T, C + 2·KV·hs) += ∂L/∂qkv. `scratch` holds B·NH·T·T floats.
/// Work is split over (batch, key/value head) pairs; the query heads of a group run in turn, since they
/// all add into the same key and value gradients.
func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, att: UnsafePointer<Float>,
                       qkv: UnsafePointer<Float>, scratch allScratch: UnsafeMutablePointer<Float>,
                       causal: Bool, b: Int, t: Int, c: Int, heads: Int, kvHeads: Int? = nil) {
    let kvh = kvHeads ?? heads
    precondition(c % heads == 0 && kvh > 0 && heads % kvh == 0, "attentionBackward: heads must divide C and be a multiple of kvHeads")
    let hs = c / heads, group = heads / kvh, stride = c + 2 * kvh * hs
    let scale = 1 / Float(hs).squareRoot()
    parallelFor(b * kvh) { pair in
        let bi = pair / kvh, kh = pair % kvh
        for h in (kh * group)..<((kh + 1) * group) {
            let scratch = allScratch + (bi * heads + h) * t * t
            let row0 = qkv + bi * t * stride, drow0 = dqkv + bi * t * stride
            let q = row0 + h * hs, k = row0 + c + kh * hs, v = row0 + c + kvh * hs + kh * hs
            let dq = drow0 + h * hs, dk = drow0 + c + kh * hs, dv = drow0 + c + kvh * hs + kh * hs
            let a = att + (bi * heads + h) * t * t
            let dy = dout + bi * t * c + h * hs
            // dP (T, T) = dY Vᵀ ; dV += Pᵀ dY
            gemm(transB: true, m: t, n: t, k: hs, dy, lda: c, v, ldb: stride, beta: 0, scratch, ldc: t)
            gemm(transA: true, m: t, n: hs, k: t, a, lda: t, dy, ldb: c, beta: 1, dv, ldc: stride)
            // softmax backward: dS = P ∘ (dP − rowsum(P ∘ dP))
            for i in 0..<t {
                let p = a + i * t, d = scratch + i * t
                let last = causal ? i + 1 : t
                var dot: Float = 0
                for j in 0..<last { dot += p[j] * d[j] }
                for j in 0..<last { d[j] = p[j] * (d[j] - dot) }
                for j in last..<t { d[j] = 0 }
            }
            // dQ += scale · dS K ; dK += scale · dSᵀ Q
            gemm(m: t, n: hs, k: t, alpha: scale, scratch, lda: t, k, ldb: stride, beta: 1, dq, ldc: stride)
            gemm(transA: true, m: t, n: hs, k: t, alpha: scale, scratch, lda: t, q, ldb: stride, beta: 1, dk, ldc: stride)
        }
    }
}

// MARK: - Softmax cross-entropy

/// Turns logits (N, V) into probabilities in place and returns Σ −log p[target] over rows whose
/// target is ≥ 0 (rows with a negative target are ignored, as PyTorch's ignore_index).
func softmaxCrossEntropyForward(_ logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, n: Int, v: Int) -> Double {
    var total: Double = 0
    softmax(logits, rows: n, n: v)   // VerbaTensor's vectorized softmax
    for r in 0..<n {
        let row = logits + r * v
        let target = Int(targets[r])
        if target >= 0 { total -= log(Double(max(row[target], Float.leastNormalMagnitude))) }
    }
    return total
}

/// Turns probabilities (N, V) into the logit gradient in place: (p − onehot(target)) · scale
/// (zero rows for ignored targets).
func softmaxCrossEntropyBackward(_ probs: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, n: Int, v: Int, scale: Float) {
    for r in 0..<n {
        let row = probs + r * v
        let target = Int(targets[r])
        if target < 0 {
            for j in 0..<v { row[j] = 0 }
            continue
        }
        row[target] -= 1
        for j in 0..<v { row[j] *= scale }
    }
}

// MARK: - Small helpers

/// a (count) += b.
@inline(__always)
func addInPlace(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    add(b, into: a, count: count)
}

/// out = a + b.
@inline(__always)
func addInto(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = a[i] + b[i] }
}

/// A float buffer owned by a model, zero-initialised, freed with the owner.
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(_ count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { pointer.deallocate() }
    func zero() { pointer.update(repeating: 0, count: count) }
}
