// Perplexity of a causal language model over a token sequence longer than its context, with the
// sliding window of Hugging Face's "Perplexity of fixed-length models" guide: windows of `context`
// tokens start every `stride` tokens; each window scores only the tokens the previous window did not
// reach, and the tokens before them serve as context. With stride == context the windows are disjoint;
// a smaller stride gives every scored token more context (a better estimate, more compute).
//
// The result is exp(mean negative log-likelihood) over every scored token, each counted once. (The
// guide weights each window's mean loss by its target count minus one; the two agree whenever windows
// do not overlap, and differ slightly otherwise.)
import Foundation

/// The outcome of a perplexity evaluation.
///
/// ```swift
/// let result = try Perplexity.evaluate(model: model, ids: ids, context: 1024, stride: 512)
/// print(String(format: "perplexity %.2f (%.3f nats/token)", result.perplexity, result.meanNegativeLogLikelihood))
/// print("\(result.scoredTokens) of \(result.tokens) tokens scored in \(result.windows) windows")
/// ```
public struct PerplexityResult: Sendable, Equatable {
    /// exp of the mean negative log-likelihood (natural log) of the scored tokens.
    public var perplexity: Double
    /// Mean negative log-likelihood per scored token, in nats.
    public var meanNegativeLogLikelihood: Double
    /// Tokens whose probability was scored (every token but the first).
    public var scoredTokens: Int
    /// Tokens in the input.
    public var tokens: Int
    /// Windows the model ran.
    public var windows: Int
}

/// Sliding-window perplexity of a causal language model (GPT-2 or Llama-family).
///
/// ```swift
/// let model = try GPT2Model(folder: "models/gpt2")
/// let tokenizer = try Tokenizer.load(path: "models/gpt2")
/// let ids = tokenizer.encodeIds(try String(contentsOfFile: "wiki.test.raw", encoding: .utf8))
/// let result = try Perplexity.evaluate(model: model, ids: ids)   // 1024-token windows every 512
/// print(result.perplexity)
/// ```
public enum Perplexity {
    /// Evaluates `ids` with windows of `context` tokens (default: the model's context) every `stride`
    /// tokens (default: context / 2, as the guide's 1024 / 512).
    /// - Throws: `ModelError.invalidInput` for fewer than 2 tokens, a context outside 2...n_positions,
    ///   or a stride outside 1...context.
    /// - Complexity: one forward pass of at most `context` tokens per window, ⌈n / stride⌉ windows.
    public static func evaluate(model: any CausalLM, ids: [Int], context: Int? = nil, stride: Int? = nil) throws -> PerplexityResult {
        let ctx = context ?? model.contextLength
        guard ctx >= 2 && ctx <= model.contextLength else {
            throw ModelError.invalidInput("perplexity: context must be in 2...\(model.contextLength) (the model's context), got \(ctx)")
        }
        let step = stride ?? max(1, ctx / 2)
        guard step >= 1 && step <= ctx else {
            throw ModelError.invalidInput("perplexity: stride must be in 1...\(ctx) (the context), got \(step)")
        }
        guard ids.count >= 2 else {
            throw ModelError.invalidInput("perplexity: need at least 2 tokens, got \(ids.count)")
        }
        let cache = model.makeCache()
        var nll: Double = 0
        var scored = 0, windows = 0
        var previousEnd = 0
        var begin = 0
        while begin < ids.count {
            let end = min(begin + ctx, ids.count)
            let window = Array(ids[begin..<end])
            // Targets are the tokens from previousEnd on; the logits at window position p predict p + 1.
            let firstTarget = max(previousEnd, begin + 1)
            cache.reset()
            try model.forEachLogits(window, cache: cache, from: firstTarget - 1 - begin, until: window.count - 1) { p, logits in
                nll += negativeLogLikelihood(logits, target: window[p + 1])
                scored += 1
            }
            windows += 1
            previousEnd = end
            if end == ids.count { break }
            begin += step
        }
        let mean = nll / Double(scored)
        return PerplexityResult(perplexity: exp(mean), meanNegativeLogLikelihood: mean, scoredTokens: scored,
                                tokens: ids.count, windows: windows)
    }

    /// Evaluates `ids` as llama.cpp's `llama-perplexity` does (without a BOS token): the first
    /// ⌊count / context⌋ · context tokens in disjoint chunks of `context` tokens, each scoring its second
    /// half (the tokens after position context / 2) with the chunk's first half as context only. For
    /// comparing with llama.cpp on the same tokens.
    /// - Throws: `ModelError.invalidInput` for a context outside 4...n_positions or fewer than
    ///   2 · context tokens (llama.cpp's own requirement).
    ///
    /// ```swift
    /// let result = try Perplexity.evaluateChunks(model: model, ids: ids, context: 128)
    /// print(result.perplexity, result.windows)   // llama-perplexity -c 128 prints the same estimate
    /// ```
    public static func evaluateChunks(model: any CausalLM, ids: [Int], context n: Int) throws -> PerplexityResult {
        guard n >= 4 && n <= model.contextLength else {
            throw ModelError.invalidInput("perplexity: context must be in 4...\(model.contextLength) (the model's context), got \(n)")
        }
        guard ids.count >= 2 * n else {
            throw ModelError.invalidInput("perplexity: chunks of \(n) tokens need at least \(2 * n) tokens, got \(ids.count)")
        }
        let cache = model.makeCache()
        let chunks = ids.count / n, first = n / 2
        var nll: Double = 0
        var scored = 0
        for k in 0..<chunks {
            let chunk = Array(ids[(k * n)..<((k + 1) * n)])
            cache.reset()
            try model.forEachLogits(chunk, cache: cache, from: first, until: n - 1) { p, logits in
                nll += negativeLogLikelihood(logits, target: chunk[p + 1])
                scored += 1
            }
        }
        let mean = nll / Double(scored)
        return PerplexityResult(perplexity: exp(mean), meanNegativeLogLikelihood: mean, scoredTokens: scored,
                                tokens: ids.count, windows: chunks)
    }

    /// -log softmax(logits)[target], with the log-sum-exp taken in Double around the maximum.
    package static func negativeLogLikelihood(_ logits: UnsafeBufferPointer<Float>, target: Int) -> Double {
        var mx = -Float.infinity
        for v in logits where v > mx { mx = v }
        var sum: Double = 0
        let m = Double(mx)
        for v in logits { sum += exp(Double(v) - m) }
        return m + log(sum) - Double(logits[target])
    }
}
