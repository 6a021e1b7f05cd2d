// One sequence of the batch scheduler: what it asks for, what it reports, and the per-step work on its
// logits (OpenAI's presence and frequency penalties, log-probabilities, the shared `Sampler`, the
// incremental decoder and the stop-string filter of `TextGenerator`).
import Foundation
import VerbaModels
import VerbaTokenizers

/// What one sequence asks the scheduler for (one choice of an OpenAI request).
struct SequenceRequest: Sendable {
    /// The prompt's token ids (at least one).
    var promptIds: [Int]
    /// New tokens at most (at least 1).
    var maxTokens: Int
    /// Temperature, top-p, top-k, min-p (repetition penalty stays 1: OpenAI's penalties replace it).
    var sampling: SamplingParameters
    var seed: UInt64
    var stopStrings: [String] = []
    /// Ids that end the sequence (the model's end of sequence, the chat template's end of turn).
    var stopIds: [Int] = []
    /// OpenAI's penalties, subtracted from the logit of every token already generated: presence once,
    /// frequency once per occurrence.
    var presencePenalty: Float = 0
    var frequencyPenalty: Float = 0
    /// Log-probabilities of each chosen token with this many alternatives (nil: none).
    var logprobs: Int? = nil
    /// Also report the log-probabilities of the prompt's tokens (completions with `echo`).
    var promptLogprobs = false
}

/// A token's log-probability under the model (log-softmax of its logits after the penalties), with
/// the most likely alternatives.
struct TokenLogprob: Sendable, Equatable {
    var id: Int
    var logprob: Float
    var top: [(id: Int, logprob: Float)]

    static func == (a: TokenLogprob, b: TokenLogprob) -> Bool {
        a.id == b.id && a.logprob == b.logprob && a.top.map(\.id) == b.top.map(\.id) && a.top.map(\.logprob) == b.top.map(\.logprob)
    }
}

/// Why a sequence ended, as OpenAI names it.
enum FinishReason: String, Sendable {
    /// End of sequence, an end-of-turn id or a stop string.
    case stop
    /// `maxTokens`, or the context is full.
    case length
}

/// What the scheduler reports about a sequence, in order: the prompt's log-probabilities (if asked),
/// then one `.token` per generated token, then `.finished` (or `.failed`).
enum SequenceEvent: Sendable {
    /// Log-probabilities of prompt tokens 1..<count (the first token has none).
    case prompt([TokenLogprob])
    /// A generated token: the text it made final (possibly empty: an incomplete character or a possible
    /// stop string is held back) and, if asked, its log-probability.
    case token(id: Int, text: String, logprob: TokenLogprob?)
    /// The end, with the token counts for `usage`.
    case finished(FinishReason, promptTokens: Int, completionTokens: Int, text: String)
    case failed(String)
}

/// The decoding state of an active sequence, advanced one token at a time by the scheduler.
struct SequenceDecoding {
    let request: SequenceRequest
    private var sampler: Sampler
    private var decoder: IncrementalDecoder
    private var stops: StopStringFilter
    private var counts: [Int: Int] = [:]
    private var emitted: [UInt8] = []
    /// Tokens generated so far.
    private(set) var generated = 0
    /// The last token chosen: the next decode step runs it.
    private(set) var lastToken = 0

    init(request: SequenceRequest, tokenizer: Tokenizer) {
        self.request = request
        sampler = Sampler(parameters: request.sampling, seed: request.seed)
        decoder = tokenizer.incrementalDecoder(skipSpecialTokens: true)
        stops = StopStringFilter(request.stopStrings)
    }

    /// Chooses the token after `logits` (V, modified in place), reports it through `emit`, and returns the
    /// finish reason when the sequence has ended. `positionsLeft` is how many positions its cache has free.
    mutating func advance(logits: inout [Float], positionsLeft: Int, emit: (SequenceEvent) -> Void) -> FinishReason? {
        if request.presencePenalty != 0 || request.frequencyPenalty != 0 {
            for (id, n) in counts { logits[id] -= request.presencePenalty + Float(n) * request.frequencyPenalty }
        }
        let logprobs = request.logprobs
        let distribution = logprobs.map { _ in LogSoftmax(logits) }
        let next = sampler.next(logits: &logits, history: [])
        let info = distribution.map { $0.entry(for: next, top: logprobs ?? 0) }
        if request.stopIds.contains(next) {
            return finish(.stop, emit: emit)
        }
        generated += 1
        counts[next, default: 0] += 1
        lastToken = next
        let (ready, stopped) = stops.push(Array(decoder.push(next).utf8))
        emitted += ready
        emit(.token(id: next, text: String(decoding: ready, as: UTF8.self), logprob: info))
        if stopped { return finish(.stop, emit: emit) }
        if generated >= request.maxTokens || positionsLeft <= 0 { return finish(.length, emit: emit) }
        return nil
    }

    /// Releases what the decoder and the stop filter held (as `TextGenerator` does at the end) and reports
    /// the end.
    private mutating func finish(_ reason: FinishReason, emit: (SequenceEvent) -> Void) -> FinishReason {
        var reason = reason
        if !stops.stopped {
            let (ready, stopped) = stops.push(Array(decoder.finish().utf8))
            var tail = ready
            if stopped { reason = .stop } else { tail += stops.finish() }
            if !tail.isEmpty {
                emitted += tail
                emit(.token(id: -1, text: String(decoding: tail, as: UTF8.self), logprob: nil))
            }
        }
        emit(.finished(reason, promptTokens: request.promptIds.count, completionTokens: generated,
                       text: String(decoding: emitted, as: UTF8.self)))
        return reason
    }
}

/// Log-probabilities of one row of logits: x − log Σ exp(x).
struct LogSoftmax {
    let logits: [Float]
    let logSum: Float

    init(_ logits: [Float]) {
        self.logits = logits
        var mx = -Float.infinity
        for v in logits where v > mx { mx = v }
        var sum: Double = 0
        for v in logits { sum += Double(expf(v - mx)) }
        logSum = mx + Float(log(sum))
    }

    /// `id`'s log-probability and the `top` most likely tokens (ties in id order).
    func entry(for id: Int, top: Int) -> TokenLogprob {
        var best: [(id: Int, logprob: Float)] = []
        if top > 0 {
            for (i, v) in logits.enumerated() where best.count < top || v > best[best.count - 1].logprob {
                var at = best.count
                while at > 0 && best[at - 1].logprob < v { at -= 1 }
                best.insert((i, v), at: at)
                if best.count > top { best.removeLast() }
            }
        }
        return TokenLogprob(id: id, logprob: logits[id] - logSum, top: best.map { ($0.id, $0.logprob - logSum) })
    }
}
