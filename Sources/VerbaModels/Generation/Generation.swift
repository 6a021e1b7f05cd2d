// Text generation with a GPT-2 model and its tokenizer: the prompt is prefilled in one batched pass,
// then tokens are sampled and fed back one at a time through the KV cache. Text is streamed through the
// tokenizer's incremental decoder (never half a UTF-8 character), and held back while it could still be
// the start of a stop string, so a stop string itself is never printed.
import Foundation
import VerbaTokenizers

/// What to generate and when to stop.
package struct GenerationOptions: Sendable {
    /// New tokens at most.
    package var maxTokens: Int
    /// How each token is chosen.
    package var sampling: SamplingParameters
    /// Seed of the sampler's generator: the same seed, prompt and options give the same output.
    package var seed: UInt64
    /// Generation stops before any of these strings would be printed (the string itself is not printed).
    package var stopStrings: [String]
    /// Keep going past the end-of-sequence token (its text is not printed).
    package var ignoreEOS: Bool

    package init(maxTokens: Int = 128, sampling: SamplingParameters = SamplingParameters(), seed: UInt64 = 0,
                stopStrings: [String] = [], ignoreEOS: Bool = false) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.seed = seed
        self.stopStrings = stopStrings
        self.ignoreEOS = ignoreEOS
    }
}

/// Why generation ended.
package enum StopReason: String, Sendable, Equatable {
    /// `maxTokens` new tokens were produced.
    case maxTokens
    /// The model produced its end-of-sequence token.
    case endOfSequence
    /// A stop string appeared.
    case stopString
    /// The context window is full: no position is left for another token.
    case contextFull
}

/// Timing of one generation.
package struct GenerationStats: Sendable, Equatable {
    /// Prompt tokens run in the prefill pass.
    package var prefillTokens: Int
    /// Seconds of the prefill pass.
    package var prefillSeconds: Double
    /// Tokens generated (the first comes from the prefill's logits; each later one needs a decode step).
    package var decodeTokens: Int
    /// Seconds from the end of the prefill to the last generated token.
    package var decodeSeconds: Double

    package var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(prefillTokens) / prefillSeconds : 0 }
    package var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodeTokens) / decodeSeconds : 0 }

    /// `prefill: N tokens, X tok/s; decode: M tokens, Y tok/s` (the command-line contract's form).
    package var summary: String {
        "prefill: \(prefillTokens) tokens, \(String(format: "%.2f", prefillTokensPerSecond)) tok/s; "
            + "decode: \(decodeTokens) tokens, \(String(format: "%.2f", decodeTokensPerSecond)) tok/s"
    }
}

/// The outcome of `GPT2Generator.generate`.
package struct GenerationResult: Sendable {
    /// The prompt's token ids (what the model saw first).
    package var promptIds: [Int]
    /// Every generated id (including a final EOS, and the tokens of a stop string).
    package var ids: [Int]
    /// The text that was streamed (without a stop string and what follows it).
    package var text: String
    package var stopReason: StopReason
    package var stats: GenerationStats
}

/// Generates text with a GPT-2 model and its tokenizer, reusing one KV cache across calls.
package final class GPT2Generator {
    package let model: GPT2Model
    package let tokenizer: Tokenizer
    private let cache: KVCache

    /// Pairs a model with its tokenizer.
    /// - Throws: `ModelError.malformed` when the tokenizer can produce ids the checkpoint has no
    ///   embedding for (its vocabulary is larger than `vocab_size`).
    package init(model: GPT2Model, tokenizer: Tokenizer, source: String = "model") throws {
        guard tokenizer.vocabSize <= model.config.vocabSize else {
            throw ModelError.malformed(path: source,
                reason: "the tokenizer has \(tokenizer.vocabSize) tokens but the checkpoint's vocabulary (vocab_size, wte rows) has only \(model.config.vocabSize)")
        }
        self.model = model
        self.tokenizer = tokenizer
        cache = model.makeCache()
    }

    /// Loads the model (config.json, model.safetensors) and tokenizer files of a model folder.
    package convenience init(folder: String) throws {
        let model = try GPT2Model(folder: folder)
        let tokenizer: Tokenizer
        do {
            tokenizer = try Tokenizer.load(path: folder)
        } catch let error as TokenizerError {
            if case .noTokenizerFiles = error { throw ModelError.noTokenizerFiles(path: folder) }
            throw error
        }
        try self.init(model: model, tokenizer: tokenizer, source: folder)
    }

    /// The prompt's ids (no special tokens added; an empty prompt starts from BOS).
    package func promptIds(_ prompt: String) throws -> [Int] {
        var ids = tokenizer.encodeIds(prompt, addSpecialTokens: false)
        if ids.isEmpty {
            guard let bos = model.config.bosTokenId ?? model.config.eosTokenId else {
                throw ModelError.invalidInput("empty prompt, and the model has no bos_token_id to start from")
            }
            ids = [bos]
        }
        return ids
    }

    /// Generates a continuation of `prompt`, calling `onText` with each piece of text as soon as it is
    /// final (complete UTF-8, not possibly part of a stop string).
    /// - Throws: `ModelError.invalidInput` when the prompt has more tokens than the context, or for bad
    ///   sampling parameters.
    package func generate(prompt: String, options: GenerationOptions, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try generate(promptIds: try promptIds(prompt), options: options, onText: onText)
    }

    /// Generates a continuation of the token ids `prompt`.
    package func generate(promptIds prompt: [Int], options: GenerationOptions, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try options.sampling.validate()
        guard options.maxTokens >= 0 else { throw ModelError.invalidInput("max tokens must be 0 or more, got \(options.maxTokens)") }
        let context = model.config.contextLength
        guard prompt.count <= context else {
            throw ModelError.invalidInput("the prompt has \(prompt.count) tokens, more than the model's context of \(context) tokens")
        }
        guard !prompt.isEmpty else { throw ModelError.invalidInput("empty prompt") }
        var stats = GenerationStats(prefillTokens: prompt.count, prefillSeconds: 0, decodeTokens: 0, decodeSeconds: 0)
        var result = GenerationResult(promptIds: prompt, ids: [], text: "", stopReason: .maxTokens, stats: stats)
        if options.maxTokens == 0 { return result }

        var sampler = Sampler(parameters: options.sampling, seed: options.seed)
        var decoder = tokenizer.incrementalDecoder(skipSpecialTokens: true)
        var stops = StopStringFilter(options.stopStrings)
        var history = prompt
        var emitted: [UInt8] = []
        func emit(_ bytes: [UInt8]) {
            if bytes.isEmpty { return }
            emitted += bytes
            onText(String(decoding: bytes, as: UTF8.self))
        }

        cache.reset()
        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try model.logits(for: prompt, cache: cache)
        let t1 = DispatchTime.now().uptimeNanoseconds
        stats.prefillSeconds = Double(t1 - t0) / 1e9
        var reason = StopReason.maxTokens
        while true {
            let next = sampler.next(logits: &logits, history: history)
            if !options.ignoreEOS, let eos = model.config.eosTokenId, next == eos {
                result.ids.append(next)
                reason = .endOfSequence
                break
            }
            result.ids.append(next)
            history.append(next)
            let (ready, stopped) = stops.push(Array(decoder.push(next).utf8))
            emit(ready)
            if stopped { reason = .stopString; break }
            if result.ids.count >= options.maxTokens { reason = .maxTokens; break }
            if cache.count >= context { reason = .contextFull; break }
            logits = try model.logits(for: [next], cache: cache)
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        if reason != .stopString {
            // The end of the stream: what the decoder held (an incomplete character) and what the stop
            // filter held (a possible stop-string start that never completed) are final now.
            let (ready, stopped) = stops.push(Array(decoder.finish().utf8))
            emit(ready)
            if stopped { reason = .stopString } else { emit(stops.finish()) }
        }
        stats.decodeTokens = result.ids.count
        stats.decodeSeconds = Double(t2 - t1) / 1e9
        result.stopReason = reason
        result.stats = stats
        result.text = String(decoding: emitted, as: UTF8.self)
        return result
    }
}

/// Holds back streamed bytes while they could be the beginning of a stop string, and cuts the stream
/// at the first complete stop string.
package struct StopStringFilter {
    private let stops: [[UInt8]]
    private var pending: [UInt8] = []
    /// True once a stop string has been seen; nothing more is released.
    package private(set) var stopped = false

    package init(_ stopStrings: [String]) {
        stops = stopStrings.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Adds streamed bytes; returns the bytes that are now final and whether a stop string was found
    /// (the returned bytes then end right before it).
    package mutating func push(_ bytes: [UInt8]) -> (ready: [UInt8], stopped: Bool) {
        if stopped { return ([], true) }
        if stops.isEmpty { return (bytes, false) }
        pending += bytes
        // The earliest complete stop string in what is pending (text already released cannot hold the
        // start of one: it was released only once no stop string could begin there).
        var cut: Int?
        for s in stops {
            if let at = firstIndex(of: s, in: pending), cut == nil || at < cut! { cut = at }
        }
        if let cut {
            stopped = true
            let ready = Array(pending[..<cut])
            pending.removeAll()
            return (ready, true)
        }
        // Keep the longest suffix that is a proper prefix of some stop string.
        var keep = 0
        for s in stops {
            var k = min(s.count - 1, pending.count)
            while k > keep {
                if pending[(pending.count - k)...].elementsEqual(s[..<k]) { keep = k; break }
                k -= 1
            }
        }
        let ready = Array(pending[..<(pending.count - keep)])
        pending.removeFirst(pending.count - keep)
        return (ready, false)
    }

    /// Releases what is held back (the stream ended without completing a stop string).
    package mutating func finish() -> [UInt8] {
        if stopped { return [] }
        defer { pending.removeAll() }
        return pending
    }

    private func firstIndex(of needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = 0
        while i + needle.count <= hay.count {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
