import CVerbaKernels
import Foundation

// The kernels of Llama-family decoders: RMSNorm, the SwiGLU gate, and rotary position embeddings, each
// beside a plain reference version the tests check it against. Buffers are row-major float32.

// MARK: - RMSNorm

/// RMS normalization of each row of `x` (rows, n) into `out` (may alias `x`):
/// out = x / sqrt(mean(x²) + eps) * weight, the mean taken in float32 as PyTorch's `LlamaRMSNorm` does.
/// - Complexity: O(rows·n), two passes over each row.
package func rmsNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
                     rows: Int, n: Int, eps: Float) {
    precondition(rows >= 0 && n > 0, "rmsNorm: empty rows")
    for r in 0..<rows {
        let xi = x + r * n, o = out + r * n
        // eight independent partial sums: the loop vectorizes, and rounding stays close to a pairwise sum
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var j = 0
        while j + 8 <= n {
            s0 += xi[j] * xi[j]; s1 += xi[j + 1] * xi[j + 1]; s2 += xi[j + 2] * xi[j + 2]; s3 += xi[j + 3] * xi[j + 3]
            s4 += xi[j + 4] * xi[j + 4]; s5 += xi[j + 5] * xi[j + 5]; s6 += xi[j + 6] * xi[j + 6]; s7 += xi[j + 7] * xi[j + 7]
            j += 8
        }
        while j < n { s0 += xi[j] * xi[j]; j += 1 }
        let sum = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        let inv = 1 / (sum / Float(n) + eps).squareRoot()
        for j in 0..<n { o[j] = weight[j] * (xi[j] * inv) }
    }
}

/// Plain version of `rmsNorm`, accumulating in Double.
package func referenceRMSNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
                              rows: Int, n: Int, eps: Float) {
    for r in 0..<rows {
        let xi = x + r * n, o = out + r * n
        var sum: Double = 0
        for j in 0..<n { sum += Double(xi[j]) * Double(xi[j]) }
        let inv = 1 / (sum / Double(n) + Double(eps)).squareRoot()
        for j in 0..<n { o[j] = Float(Double(weight[j]) * Double(xi[j]) * inv) }
    }
}

// MARK: - SwiGLU

/// gate[i] = silu(gate[i]) · up[i] for i in 0..<count, silu(g) = g / (1 + exp(−g)) (the MLP of Llama-family
/// models: down(silu(gate(h)) * up(h))). exp is the vectorized kernel, in blocks on the stack.
package func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
    precondition(count >= 0)
    let block = 512
    withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { buf in
        let e = buf.baseAddress!
        var i = 0
        while i < count {
            let n = min(block, count - i)
            let g = gate + i, u = up + i
            for j in 0..<n { e[j] = -g[j] }
            verba_exp_inplace(e, n)
            for j in 0..<n { g[j] = g[j] / (1 + e[j]) * u[j] }
            i += n
        }
    }
}

/// Plain version of `siluMultiply` (Double).
package func referenceSiluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let g = Double(gate[i])
        gate[i] = Float(g / (1 + exp(-g)) * Double(up[i]))
    }
}

// MARK: - Rotary position embedding

/// Rotates `heads` heads of `headSize` floats (one row, heads side by side) by the angles whose cosines
/// and sines are `cos` and `sin` (headSize / 2 each), in the "rotate half" convention of Hugging Face's
/// Llama: for d < headSize/2, (x[d], x[d + half]) → (x[d]·cos − x[d + half]·sin, x[d + half]·cos + x[d]·sin).
package func applyRotary(_ x: UnsafeMutablePointer<Float>, heads: Int, headSize: Int,
                         cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    precondition(headSize % 2 == 0 && heads >= 0, "applyRotary: head size must be even")
    let half = headSize / 2
    for h in 0..<heads {
        let a = x + h * headSize, b = a + half
        for d in 0..<half {
            let x1 = a[d], x2 = b[d]
            a[d] = x1 * cos[d] - x2 * sin[d]
            b[d] = x2 * cos[d] + x1 * sin[d]
        }
    }
}
