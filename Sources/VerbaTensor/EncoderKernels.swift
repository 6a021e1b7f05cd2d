// The fused kernels of the BERT encoder: bias + GELU, bias + residual + layer norm, and packed
// bidirectional self-attention (CVerbaKernels', at the CPU level chosen at run time). Each has a plain
// reference version (`reference*`) that the tests compare it with.
import CVerbaKernels
import Foundation

/// Adds `bias` (n) to every row of `x` (rows, n) and applies the exact GELU, x·Φ(x), in place
/// (the same GELU as `geluErf`).
/// - Complexity: O(rows · n).
package func biasGeluErf(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, n: Int) {
    precondition(rows >= 0 && n >= 0)
    verba_gelu_erf(x, bias, rows, n)
}

/// Plain version of `biasGeluErf`.
package func referenceBiasGeluErf(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, n: Int) {
    for r in 0..<rows {
        for j in 0..<n {
            let v = x[r * n + j] + bias[j]
            x[r * n + j] = 0.5 * v * (1 + erff(v * 0.70710678118654752))
        }
    }
}

/// residual ← LayerNorm(x + bias + residual) · gamma + beta, row by row ((rows, n) each; BERT's post-norm
/// "add & norm"): the sum, then `layerNorm`'s row normalization in place.
/// - Complexity: O(rows · n).
package func biasResidualLayerNorm(_ x: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                   residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                                   beta: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
    precondition(rows >= 0 && n > 0)
    verba_bias_residual_layer_norm(x, bias, residual, gamma, beta, rows, n, eps)
}

/// Plain version of `biasResidualLayerNorm` (accumulates in Double).
package func referenceBiasResidualLayerNorm(_ x: UnsafePointer<Float>, bias: UnsafePointer<Float>,
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
package func packedSelfAttention(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, offsets: [Int],
                                 keyMask: UnsafePointer<Int32>?, heads: Int, headDim: Int,
                                 sequences: Range<Int>, scratch: UnsafeMutablePointer<Float>,
                                 firstQueryOnly: Bool = false) {
    precondition(sequences.lowerBound >= 0 && sequences.upperBound < offsets.count && heads > 0 && headDim > 0)
    offsets.withUnsafeBufferPointer { o in
        verba_packed_attention(qkv, out, o.baseAddress, sequences.lowerBound, sequences.upperBound, keyMask,
                               heads, headDim, scratch, firstQueryOnly ? 1 : 0)
    }
}

/// Floats of scratch space `packedSelfAttention` needs for sequences up to `maxLength` tokens.
package func attentionScratchCount(maxLength: Int, headDim: Int) -> Int {
    let tPad = (maxLength + 15) / 16 * 16
    return headDim * tPad + 4 * tPad + 16
}

/// Plain version of `packedSelfAttention` (Double accumulation, scalar exp).
package func referencePackedSelfAttention(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, offsets: [Int],
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
