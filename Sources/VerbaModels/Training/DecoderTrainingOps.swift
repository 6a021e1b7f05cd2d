// Forward and backward passes of the layers Llama-family decoders add to TrainingOps.swift: RMSNorm,
// rotary position embeddings and the SwiGLU gate. The forwards are the inference kernels of
// VerbaTensor (DecoderKernels.swift); the backwards are plain loops. As in TrainingOps.swift, every
// backward accumulates (+=) into parameter gradients and into input gradients unless noted.
import Foundation
import VerbaTensor

// MARK: - RMSNorm

/// Backward of `rmsNorm` (out = x · r · w with r = 1/√(mean(x²) + eps)), per row of C:
/// dx += r · (w ∘ dout) − x · r³ · Σ(w ∘ dout ∘ x) / C; dw += Σ_rows dout ∘ x · r.
/// r is recomputed from x (in Double), so the forward keeps no statistics.
/// - Complexity: O(N·C).
func rmsNormBackward(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                     x: UnsafePointer<Float>, w: UnsafePointer<Float>, n: Int, c: Int, eps: Float) {
    for r in 0..<n {
        let xi = x + r * c, d = dout + r * c, dxi = dx + r * c
        var squares: Double = 0
        for j in 0..<c { squares += Double(xi[j]) * Double(xi[j]) }
        let rstd = 1 / (squares / Double(c) + Double(eps)).squareRoot()
        var dot: Double = 0
        for j in 0..<c { dot += Double(w[j] * d[j]) * Double(xi[j]) }
        let k = Float(dot * rstd * rstd * rstd / Double(c)), rs = Float(rstd)
        for j in 0..<c {
            dxi[j] += rs * w[j] * d[j] - xi[j] * k
            dw[j] += d[j] * xi[j] * rs
        }
    }
}

// MARK: - Rotary position embedding

/// The cosines and sines (T, headSize / 2) of positions 0..<T for inverse frequencies `inverseFrequencies`
/// (float32 position × float32 frequency, as `transformers` and `LlamaModel` compute the angles).
func rotaryTables(positions t: Int, inverseFrequencies inv: [Float]) -> (cos: [Float], sin: [Float]) {
    let half = inv.count
    var cosines = [Float](repeating: 0, count: t * half), sines = cosines
    for p in 0..<t {
        for i in 0..<half {
            let angle = Double(Float(p) * inv[i])
            cosines[p * half + i] = Float(Foundation.cos(angle))
            sines[p * half + i] = Float(Foundation.sin(angle))
        }
    }
    return (cosines, sines)
}

/// Backward of `applyRotary` on one row of `heads` heads: the rotation is orthogonal, so the gradient is
/// rotated back by the opposite angle, in place: (d1, d2) → (d1·cos + d2·sin, d2·cos − d1·sin).
func rotaryBackward(_ dx: UnsafeMutablePointer<Float>, heads: Int, headSize: Int,
                    cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = headSize / 2
    for h in 0..<heads {
        let a = dx + h * headSize, b = a + half
        for d in 0..<half {
            let d1 = a[d], d2 = b[d]
            a[d] = d1 * cos[d] + d2 * sin[d]
            b[d] = d2 * cos[d] - d1 * sin[d]
        }
    }
}

// MARK: - SwiGLU

/// out (N, I) = silu(gate) ∘ up, from the fused projection gateUp (N, 2I) laid out [gate | up] per row.
/// VerbaTensor's `siluMultiply`, the one inference uses.
func swigluForward(_ out: UnsafeMutablePointer<Float>, gateUp: UnsafePointer<Float>, n: Int, width i: Int) {
    for r in 0..<n {
        let o = out + r * i, g = gateUp + r * 2 * i
        o.update(from: g, count: i)
        siluMultiply(o, g + i, count: i)
    }
}

/// Backward of `swigluForward`: dgateUp (N, 2I) = ∂L/∂[gate | up] (overwritten, not accumulated), with
/// σ = sigmoid(g): d gate = dout · up · σ · (1 + g · (1 − σ)), d up = dout · g · σ.
func swigluBackward(dgateUp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, gateUp: UnsafePointer<Float>,
                    n: Int, width i: Int) {
    for r in 0..<n {
        let g = gateUp + r * 2 * i, u = g + i, d = dout + r * i
        let dg = dgateUp + r * 2 * i, du = dg + i
        for j in 0..<i {
            let sigma = 1 / (1 + expf(-g[j]))
            du[j] = d[j] * g[j] * sigma
            dg[j] = d[j] * u[j] * sigma * (1 + g[j] * (1 - sigma))
        }
    }
}
