// The optimizer side of training: AdamW with decoupled weight decay (PyTorch's `torch.optim.AdamW`
// update, bit for bit in formula), gradient clipping by global norm (`clip_grad_norm_`), and the
// learning-rate schedule (linear warmup, then cosine decay to a floor). Plus the seeded generator
// every trainer uses, so runs are reproducible and resumable.
import Foundation

/// AdamW state over a flat parameter buffer: first and second moments and the step count.
package final class AdamW {
    /// β₁, β₂, ε and the decoupled weight-decay factor.
    package let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// First moments (parameterCount floats).
    package let m: UnsafeMutablePointer<Float>
    /// Second moments (parameterCount floats).
    package let v: UnsafeMutablePointer<Float>
    /// Number of updates applied so far.
    package var step: Int = 0
    package let count: Int
    private let decayMask: [Bool]
    private let ranges: [Range<Int>]

    /// - Parameters:
    ///   - slices: which ranges decay (matrices and embeddings) and which do not (biases, norms).
    ///   - trainable: when given, only these slices are updated (the rest stay frozen).
    package init(count: Int, slices: [ParameterSlice], beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0.0, trainable: [ParameterSlice]? = nil) {
        ranges = trainable.map { $0.map { $0.offset..<($0.offset + $0.count) } } ?? [0..<count]
        self.count = count
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        m = .allocate(capacity: max(count, 1)); m.initialize(repeating: 0, count: max(count, 1))
        v = .allocate(capacity: max(count, 1)); v.initialize(repeating: 0, count: max(count, 1))
        var mask = [Bool](repeating: false, count: count)
        for s in slices where s.decay { for i in s.offset..<(s.offset + s.count) { mask[i] = true } }
        decayMask = mask
    }

    deinit { m.deallocate(); v.deallocate() }

    /// One update with learning rate `lr`:
    /// p ← p − lr·wd·p (decaying slices only); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    /// p ← p − lr·(m / (1−β₁ᵗ)) / (√v / √(1−β₂ᵗ) + ε).
    /// - Complexity: O(parameterCount).
    package func update(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, lr: Float) {
        step += 1
        let bc1 = 1 - pow(Double(beta1), Double(step)), bc2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(Double(lr) / bc1)
        let sqrtBc2 = Float(bc2.squareRoot())
        let decayFactor = 1 - lr * weightDecay
        let b1 = beta1, b2 = beta2, e = eps
        decayMask.withUnsafeBufferPointer { mask in
            for range in ranges { for i in range {
                let grad = g[i]
                if mask[i] { p[i] *= decayFactor }
                let mi = b1 * m[i] + (1 - b1) * grad
                let vi = b2 * v[i] + (1 - b2) * grad * grad
                m[i] = mi; v[i] = vi
                p[i] -= stepSize * mi / (vi.squareRoot() / sqrtBc2 + e)
            } }
        }
    }
}

/// Scales `gradients` so their global L2 norm is at most `maxNorm` (as `torch.nn.utils.clip_grad_norm_`:
/// factor maxNorm / (norm + 1e-6) when below 1). Returns the norm before clipping.
@discardableResult
package func clipGradientNorm(_ gradients: UnsafeMutablePointer<Float>, count: Int, maxNorm: Float) -> Float {
    var sum: Double = 0
    for i in 0..<count { let x = Double(gradients[i]); sum += x * x }
    let norm = Float(sum.squareRoot())
    if maxNorm > 0 {
        let coef = maxNorm / (norm + 1e-6)
        if coef < 1 { for i in 0..<count { gradients[i] *= coef } }
    }
    return norm
}

/// Learning rate at optimizer step `step` (0-based) of `total`: linear warmup over `warmup` steps to
/// `maxLR`, then cosine decay to `maxLR · minFraction` at the last step.
package func learningRate(step: Int, total: Int, warmup: Int, maxLR: Float, minFraction: Float = 0.1) -> Float {
    if step < warmup { return maxLR * Float(step + 1) / Float(warmup) }
    let span = max(1, total - warmup - 1)
    let progress = min(1, Double(step - warmup) / Double(span))
    let minLR = Double(maxLR * minFraction)
    return Float(minLR + 0.5 * (Double(maxLR) - minLR) * (1 + cos(Double.pi * progress)))
}
