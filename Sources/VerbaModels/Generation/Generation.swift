// Text generation with a GPT-2 model and its tokenizer: the prompt is prefilled in one batched pass,
// then tokens are sampled and fed back one at a time through the KV cache. Text is streamed through the
// tokenizer's incremental decoder (never half a UTF-8 character), and held back while it could still be
// the start of a stop string, so a stop string itself is never printed.
import Foundation
import Synchronization
import VerbaTokenizers

/// What to generate and when to stop.
///
/// ```swift
/// var options = GenerationOptions(maxTokens: 64, seed: 42, stopStrings: ["\n\n"])
/// options.sampling = SamplingParameters(temperature: 0.8, topP: 0.95)
/// ```
public struct GenerationOptions: Sendable {
    /// New tokens at most.
    public var maxTokens: Int
    /// How each token is chosen.
    public var sampling: SamplingParameters
    /// Seed of the sampler's generator: the same seed, prompt and options give the same output.
    public var seed: UInt64
    /// Generation stops before any of these strings would be printed (the string itself is not printed).
    public var stopStrings: [String]
    /// Keep going past the end-of-sequence token (its text is not printed).
    public var ignoreEOS: Bool

    public init(maxTokens: Int = 128, sampling: SamplingParameters = SamplingParameters(), seed: UInt64 = 0,
                stopStrings: [String] = [], ignoreEOS: Bool = false) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.seed = seed
        self.stopStrings = stopStrings
        self.ignoreEOS = ignoreEOS
    }
}

/// Why generation ended.
///
/// ```swift
/// if result.stopReason == .stopString { print("stopped at a stop string") }
/// ```
public enum StopReason: String, Sendable, Equatable {
    /// `maxTokens` new tokens were produced.
    case maxTokens
    /// The model produced its end-of-sequence token.
    case endOfSequence
    /// A stop string appeared.
    case stopString
    /// The context window is full: no position is left for another token.
    case contextFull
    /// The consumer of a `stream` stopped listening (the task was cancelled or the stream dropped).
    case cancelled
}

/// Timing of one generation.
///
/// ```swift
/// print(result.stats.summary)   // prefill: 5 tokens, 120.00 tok/s; decode: 64 tokens, 30.00 tok/s
/// ```
public struct GenerationStats: Sendable, Equatable {
    /// Prompt tokens run in the prefill pass.
    public var prefillTokens: Int
    /// Seconds of the prefill pass.
    public var prefillSeconds: Double
    /// Tokens generated (the first comes from the prefill's logits; each later one needs a decode step).
    public var decodeTokens: Int
    /// Seconds from the end of the prefill to the last generated token.
    public var decodeSeconds: Double

    /// Prompt tokens per second of the prefill pass.
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(prefillTokens) / prefillSeconds : 0 }
    /// Generated tokens per second after the prefill.
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodeTokens) / decodeSeconds : 0 }

    /// `prefill: N tokens, X tok/s; decode: M tokens, Y tok/s` (the command-line contract's form).
    public var summary: String {
        "prefill: \(prefillTokens) tokens, \(String(format: "%.2f", prefillTokensPerSecond)) tok/s; "
            + "decode: \(decodeTokens) tokens, \(String(format: "%.2f", decodeTokensPerSecond)) tok/s"
    }
}

/// The outcome of `TextGenerator.generate`.
///
/// ```swift
/// let result = try generator.generate(prompt: "Once upon a time", options: GenerationOptions())
/// print(result.text, result.ids.count, result.stopReason)
/// ```
public struct GenerationResult: Sendable {
    /// The prompt's token ids (what the model saw first).
    public var promptIds: [Int]
    /// Every generated id (including a final EOS, and the tokens of a stop string).
    public var ids: [Int]
    /// The text that was streamed (without a stop string and what follows it).
    public var text: String
    /// Why generation ended.
    public var stopReason: StopReason
    /// Token counts and timings.
    public var stats: GenerationStats
}

/// Generates text with a causal language model (GPT-2 or the Llama family, see `CausalLM`) and its
/// tokenizer.
///
/// Every generation owns its KV cache and scratch buffers, so one generator (one copy of the weights)
/// can run several generations at once from different tasks or threads.
///
/// ```swift
/// let generator = try TextGenerator(folder: "models/SmolLM2-135M")   // architecture from config.json
/// let options = GenerationOptions(maxTokens: 32, sampling: .greedy)
/// for try await piece in generator.stream(prompt: "The capital of France is", options: options) {
///     print(piece, terminator: "")
/// }
/// // or, synchronously, with a callback per piece:
/// let result = try generator.generate(prompt: "Hello", options: options) { print($0, terminator: "") }
/// ```
public final class TextGenerator: Sendable {
    /// The language model.
    public let model: any CausalLM
    /// The tokenizer that encodes prompts and decodes generated ids.
    public let tokenizer: Tokenizer

    /// Pairs a model with its tokenizer.
    /// - Throws: `ModelError.malformed` when the tokenizer can produce ids the checkpoint has no
    ///   embedding for (its vocabulary is larger than `vocab_size`).
    public init(model: any CausalLM, tokenizer: Tokenizer, source: String = "model") throws {
        guard tokenizer.vocabSize <= model.vocabSize else {
            throw ModelError.malformed(path: source,
                reason: "the tokenizer has \(tokenizer.vocabSize) tokens but the checkpoint's vocabulary (vocab_size, embedding rows) has only \(model.vocabSize)")
        }
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Loads the model (config.json and its weights, architecture chosen by `loadCausalLM`) and the
    /// tokenizer files of a model folder.
    public convenience init(folder: String) throws {
        try self.init(model: try loadCausalLM(folder: folder), tokenizer: try loadTokenizer(folder: folder), source: folder)
    }

    /// The prompt's ids (no special tokens added; an empty prompt starts from BOS).
    public func promptIds(_ prompt: String) throws -> [Int] {
        var ids = tokenizer.encodeIds(prompt, addSpecialTokens: false)
        if ids.isEmpty {
            guard let bos = model.bosTokenId ?? model.eosTokenIds.first else {
                throw ModelError.invalidInput("empty prompt, and the model has no bos_token_id to start from")
            }
            ids = [bos]
        }
        return ids
    }

    /// Streams the continuation of `prompt` as pieces of text, each final (complete UTF-8, not possibly
    /// part of a stop string). The generation runs on a thread of its own; it stops early when the
    /// consuming task is cancelled or the stream is dropped. Errors are thrown by the iteration.
    public func stream(prompt: String, options: GenerationOptions) -> AsyncThrowingStream<String, Error> {
        let (stream, continuation) = AsyncThrowingStream<String, Error>.makeStream()
        let cancelled = CancellationFlag()
        continuation.onTermination = { _ in cancelled.value.store(true, ordering: .relaxed) }
        let thread = Thread { [self] in
            do {
                _ = try generate(promptIds: try promptIds(prompt), options: options,
                                 isCancelled: { cancelled.value.load(ordering: .relaxed) }) { continuation.yield($0) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
        return stream
    }

    /// Generates a continuation of `prompt`, calling `onText` with each piece of text as soon as it is
    /// final (complete UTF-8, not possibly part of a stop string).
    /// - Throws: `ModelError.invalidInput` when the prompt has more tokens than the context, or for bad
    ///   sampling parameters.
    public func generate(prompt: String, options: GenerationOptions, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try generate(promptIds: try promptIds(prompt), options: options, onText: onText)
    }

    /// Generates a continuation of the token ids `prompt`.
    public func generate(promptIds prompt: [Int], options: GenerationOptions, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try generate(promptIds: prompt, options: options, isCancelled: { false }, onText: onText)
    }

    /// `generate(promptIds:options:onText:)` that stops with `.cancelled` once `isCancelled` returns true
    /// (asked before every decode step).
    func generate(promptIds prompt: [Int], options: GenerationOptions, isCancelled: () -> Bool,
                  onText: (String) -> Void) throws -> GenerationResult {
        try generate(promptIds: prompt, cache: model.makeCache(), options: options, isCancelled: isCancelled, onText: onText)
    }

    /// Generates a continuation of `prompt` on a cache that already holds the keys and values of
    /// `prompt[..<cache.count]` (the caller keeps track of which ids those are): only the ids after
    /// `cache.count` are prefilled (`stats.prefillTokens` counts them). `stopIds` end generation like the
    /// model's end-of-sequence ids (a chat template's end-of-turn token). On return the cache holds the
    /// prompt and every generated id but the last.
    package func generate(promptIds prompt: [Int], cache: KVCache, stopIds: [Int] = [], options: GenerationOptions,
                          isCancelled: () -> Bool, onText: (String) -> Void) throws -> GenerationResult {
        precondition(cache.count < prompt.count || prompt.isEmpty, "generate: the cache must leave at least one prompt id to run")
        try options.sampling.validate()
        guard options.maxTokens >= 0 else { throw ModelError.invalidInput("max tokens must be 0 or more, got \(options.maxTokens)") }
        let context = model.contextLength
        guard prompt.count <= context else {
            throw ModelError.invalidInput("the prompt has \(prompt.count) tokens, more than the model's context of \(context) tokens")
        }
        guard !prompt.isEmpty else { throw ModelError.invalidInput("empty prompt") }
        var stats = GenerationStats(prefillTokens: prompt.count - cache.count, prefillSeconds: 0, decodeTokens: 0, decodeSeconds: 0)
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

        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try model.logits(for: Array(prompt[cache.count...]), cache: cache)
        let t1 = DispatchTime.now().uptimeNanoseconds
        stats.prefillSeconds = Double(t1 - t0) / 1e9
        var reason = StopReason.maxTokens
        while true {
            let next = sampler.next(logits: &logits, history: history)
            if !options.ignoreEOS, model.eosTokenIds.contains(next) || stopIds.contains(next) {
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
            if isCancelled() { reason = .cancelled; break }
            logits = try model.logits(for: [next], cache: cache)
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        if reason != .stopString && reason != .cancelled {
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

/// Set when the consumer of a generation stream goes away; read by the generating thread.
private final class CancellationFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The tokenizer files of a model folder (`ModelError.noTokenizerFiles` when it has none).
private func loadTokenizer(folder: String) throws -> Tokenizer {
    do {
        return try Tokenizer.load(path: folder)
    } catch let error as TokenizerError {
        if case .noTokenizerFiles = error { throw ModelError.noTokenizerFiles(path: folder) }
        throw error
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
