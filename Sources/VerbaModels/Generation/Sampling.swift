// Choosing the next token from logits: greedy, or sampling with temperature, top-k, top-p and min-p,
// after an optional repetition penalty, with a seeded generator so a seed reproduces its output.
// The order and semantics follow Hugging Face generate's logits processors: repetition penalty,
// then temperature, top-k, top-p, min-p.
import Foundation
import VerbaSupport
import VerbaTensor

/// How the next token is chosen.
///
/// ```swift
/// let creative = SamplingParameters(temperature: 0.8, topK: 50, topP: 0.95, repetitionPenalty: 1.1)
/// try creative.validate()                    // ModelError.invalidInput for an out-of-range value
/// let options = GenerationOptions(maxTokens: 100, sampling: creative, seed: 7)
/// let exact = GenerationOptions(sampling: .greedy)
/// ```
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax); otherwise logits are divided by it before sampling.
    public var temperature: Float
    /// Keep only the k most likely tokens (0: off).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probabilities sum to at least p (1: off).
    public var topP: Float
    /// Drop tokens less likely than minP times the most likely one (0: off).
    public var minP: Float
    /// Hugging Face's repetition penalty (1: off): the logit of every token already in the sequence
    /// (prompt included) is divided by it when positive and multiplied by it when negative.
    public var repetitionPenalty: Float

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
    }

    /// Greedy decoding.
    public static let greedy = SamplingParameters(temperature: 0)

    /// Checks the ranges; throws `ModelError.invalidInput` naming the bad parameter.
    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw ModelError.invalidInput("temperature must be 0 or more, got \(temperature)") }
        guard topK >= 0 else { throw ModelError.invalidInput("top-k must be 0 (off) or more, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw ModelError.invalidInput("top-p must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP <= 1 else { throw ModelError.invalidInput("min-p must be in [0, 1], got \(minP)") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw ModelError.invalidInput("repetition penalty must be positive, got \(repetitionPenalty)")
        }
    }
}

/// Picks tokens from logits with fixed parameters and a seeded generator.
package struct Sampler {
    package let parameters: SamplingParameters
    private var rng: SeededGenerator
    private var candidates: [(id: Int, logit: Float)] = []
    private var weights: [Float] = []

    package init(parameters: SamplingParameters, seed: UInt64) {
        self.parameters = parameters
        rng = SeededGenerator(seed: seed)
    }

    /// Applies the repetition penalty to `logits` in place for every distinct id of `history`.
    package static func applyRepetitionPenalty(_ logits: inout [Float], history: [Int], penalty: Float) {
        if penalty == 1 { return }
        var seen = Set<Int>()
        for id in history where id >= 0 && id < logits.count && seen.insert(id).inserted {
            let v = logits[id]
            logits[id] = v < 0 ? v * penalty : v / penalty
        }
    }

    /// The next token after `logits` (V), given the tokens so far (`history`, for the repetition penalty).
    /// `logits` is modified (penalized). Greedy picks the first maximal logit.
    /// - Complexity: O(V), plus O(V log k) for top-k and O(m log m) for the m tokens top-p may keep.
    package mutating func next(logits: inout [Float], history: [Int]) -> Int {
        precondition(!logits.isEmpty, "Sampler: no logits")
        Sampler.applyRepetitionPenalty(&logits, history: history, penalty: parameters.repetitionPenalty)
        if parameters.temperature == 0 { return Sampler.argmax(logits) }
        let (ids, probs) = filter(logits)
        if ids.isEmpty { return Sampler.argmax(logits) }
        let sum = probs.reduce(0, +)
        let u = rng.nextUnit() * sum
        var acc: Double = 0
        for (i, p) in probs.enumerated() {
            acc += p
            if u < acc { return ids[i] }
        }
        return ids[ids.count - 1]
    }

    /// The distribution `next` samples from: after the repetition penalty (applied to `logits` in place),
    /// temperature, top-k, top-p and min-p, the surviving token ids and their probabilities (normalized).
    /// For temperature 0, the argmax with probability 1.
    package mutating func distribution(logits: inout [Float], history: [Int]) -> [(id: Int, probability: Double)] {
        Sampler.applyRepetitionPenalty(&logits, history: history, penalty: parameters.repetitionPenalty)
        if parameters.temperature == 0 { return [(Sampler.argmax(logits), 1)] }
        let (ids, probs) = filter(logits)
        let sum = probs.reduce(0, +)
        return zip(ids, probs).map { ($0, $1 / sum) }
    }

    /// Temperature, top-k, top-p, min-p: surviving ids and unnormalized probabilities.
    private mutating func filter(_ logits: [Float]) -> (ids: [Int], probs: [Double]) {
        let invT = 1 / parameters.temperature
        var maxLogit = -Float.infinity
        for v in logits where v > maxLogit { maxLogit = v }
        guard maxLogit.isFinite else { return ([], []) }
        let v = logits.count
        // Unnormalized probabilities relative to the best token, exp((x - max) / T), vectorized.
        if weights.count != v { weights = [Float](repeating: 0, count: v) }
        weights.withUnsafeMutableBufferPointer { w in
            for i in 0..<v { w[i] = logits[i] > -Float.infinity ? (logits[i] - maxLogit) * invT : -1e30 }
            expInPlace(w.baseAddress!, count: v)
        }
        let topK = parameters.topK > 0 && parameters.topK < v ? parameters.topK : 0
        if topK == 0 && parameters.topP >= 1 {
            // Temperature and min-p only: no ordering needed. The best token's weight is exp(0) = 1.
            let threshold = parameters.minP > 0 ? parameters.minP * (weights.max() ?? 1) : 0
            var ids: [Int] = [], probs: [Double] = []
            for i in 0..<v where weights[i] > 0 && weights[i] >= threshold { ids.append(i); probs.append(Double(weights[i])) }
            return (ids, probs)
        }
        var total: Double = 0  // the whole distribution's mass, when the top-p pre-cut needs it
        // Candidates: the top k, or a pre-cut that provably keeps every token top-p could keep.
        candidates.removeAll(keepingCapacity: true)
        var precut = false
        if topK > 0 && topK <= 256 {
            // The k best (and any ties with the k-th, which Hugging Face keeps), by insertion: O(V·log k).
            for (i, x) in logits.enumerated() where x > -Float.infinity {
                if candidates.count >= topK && x < candidates[topK - 1].logit { continue }
                var lo = 0, hi = candidates.count
                while lo < hi { let mid = (lo + hi) / 2; if candidates[mid].logit >= x { lo = mid + 1 } else { hi = mid } }
                candidates.insert((i, x), at: lo)
                if candidates.count > topK {
                    let kth = candidates[topK - 1].logit
                    while candidates.count > topK && candidates[candidates.count - 1].logit < kth { candidates.removeLast() }
                }
            }
        } else if topK == 0 {
            precut = true
            for w in weights { total += Double(w) }
            // A token with probability ≤ (1 - p) / V is always removed by top-p: all such tokens together
            // weigh at most 1 - p, so they form the low end that top-p cuts.
            let cut = Double(1 - parameters.topP) / Double(v) * total
            for (i, x) in logits.enumerated() where Double(weights[i]) > cut { candidates.append((i, x)) }
        } else {
            for (i, x) in logits.enumerated() where x > -Float.infinity { candidates.append((i, x)) }
        }
        // Most likely first; equal logits keep id order.
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if topK > 256 && candidates.count > topK {
            let kth = candidates[topK - 1].logit
            var keep = topK
            while keep < candidates.count && candidates[keep].logit == kth { keep += 1 }
            candidates.removeSubrange(keep...)
        }
        var probs = candidates.map { Double(weights[$0.id]) }
        if parameters.topP < 1 {
            // Keep the shortest prefix whose probability reaches p (of the current, renormalized set:
            // every token when the pre-cut dropped some); like HF, a token is removed when the mass
            // strictly below it is within 1 - p.
            let limit = Double(parameters.topP) * (precut ? total : probs.reduce(0, +))
            var acc: Double = 0, keep = 0
            while keep < probs.count { acc += probs[keep]; keep += 1; if acc >= limit { break } }
            probs.removeSubrange(keep...)
            candidates.removeSubrange(keep...)
        }
        if parameters.minP > 0, let top = probs.max() {
            // Relative to the most likely remaining token (the order of `candidates` does not matter).
            let threshold = Double(parameters.minP) * top
            var kept: [(id: Int, logit: Float)] = [], keptProbs: [Double] = []
            for (c, p) in zip(candidates, probs) where p >= threshold { kept.append(c); keptProbs.append(p) }
            candidates = kept
            probs = keptProbs
        }
        return (candidates.map(\.id), probs)
    }

    /// Index of the first largest value.
    package static func argmax(_ x: [Float]) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in x.enumerated() where v > bestValue { best = i; bestValue = v }
        return best
    }
}
