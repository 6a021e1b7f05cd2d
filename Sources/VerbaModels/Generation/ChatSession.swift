// A multi-turn conversation with a causal language model and its chat template, over one KV cache kept
// across turns. Each turn renders the whole conversation (a template may rewrite earlier turns, so no
// turn is rendered on its own), keeps the longest prefix of the rendered ids the cache already holds,
// and prefills only the ids after it.
import Foundation
import VerbaSupport
import VerbaTokenizers

/// A chat with a model: the conversation, rendered with the model's chat template, stays in one KV cache
/// across turns, so each turn prefills only its new tokens.
///
/// ```swift
/// let session = try ChatSession(folder: "models/SmolLM2-135M-Instruct", systemPrompt: "Be brief.")
/// let options = GenerationOptions(maxTokens: 200, sampling: .greedy)
/// let answer = try session.reply(to: "What is the capital of France?", options: options) { print($0, terminator: "") }
/// _ = try session.reply(to: "And of Italy?", options: options)   // prefills only this turn
/// print(session.messages.count, session.lastStats?.prefillTokens ?? 0)
/// ```
public final class ChatSession {
    /// The model and tokenizer that generate the replies.
    public let generator: TextGenerator
    /// The template that renders the conversation.
    public let template: ChatTemplate
    /// The system message a conversation starts with (also after `reset()`), if any.
    public let systemPrompt: String?
    /// The conversation so far: the system message, then user and assistant turns.
    public private(set) var messages: [ChatMessage] = []
    /// Timing of the last reply; its `prefillTokens` counts only the ids that were not in the cache.
    public private(set) var lastStats: GenerationStats?
    /// Why the last reply ended.
    public private(set) var lastStopReason: StopReason?
    /// Called with the number of messages dropped when the conversation no longer fits in the context
    /// (the oldest user and assistant turns go first; the system message stays).
    public var onTruncate: ((Int) -> Void)?

    private let cache: KVCache
    /// The ids whose keys and values the cache holds, in order (`cachedIds.count == cache.count`).
    private(set) var cachedIds: [Int] = []
    /// Ids that end a reply: the model's end-of-sequence ids and the template's `eos_token`.
    private let stopIds: [Int]

    /// A session over `generator` with `template`; `systemPrompt` becomes the first message.
    public init(generator: TextGenerator, template: ChatTemplate, systemPrompt: String? = nil) {
        self.generator = generator
        self.template = template
        self.systemPrompt = systemPrompt
        cache = generator.model.makeCache()
        var stops = generator.model.eosTokenIds
        if let eos = template.eosToken, let id = generator.tokenizer.tokenToId(eos), !stops.contains(id) {
            stops.append(id)
        }
        stopIds = stops
        reset()
    }

    /// Loads the model, its tokenizer and the chat template of its tokenizer_config.json from a folder.
    public convenience init(folder: String, systemPrompt: String? = nil) throws {
        try self.init(generator: TextGenerator(folder: folder), template: ChatTemplate(tokenizerPath: folder),
                      systemPrompt: systemPrompt)
    }

    /// Starts a new conversation (only the system message, if any). The cache keeps what it holds: a new
    /// conversation with the same beginning reuses it.
    public func reset() {
        messages = systemPrompt.map { [ChatMessage(role: "system", content: $0)] } ?? []
    }

    /// Adds a user turn, generates the assistant's answer (streamed to `onText`), adds it to the
    /// conversation and returns it. A reply stopped by `isCancelled` (asked before each decode step) is
    /// kept as it is.
    /// - Throws: `ModelError.invalidInput` when the system message and this turn alone do not fit in the
    ///   context (the turn is then not added); template and sampling errors.
    public func reply(to userText: String, options: GenerationOptions, isCancelled: () -> Bool = { false },
                      onText: (String) -> Void = { _ in }) throws -> String {
        let before = messages
        messages.append(ChatMessage(role: "user", content: userText))
        do {
            return try respond(options: options, isCancelled: isCancelled, onText: onText)
        } catch {
            messages = before
            throw error
        }
    }

    /// Replaces the conversation with `conversation` and answers it (the reply is added, as by `reply`).
    /// The cache is reused as far as the new conversation's rendering agrees with what it holds.
    public func reply(toConversation conversation: [ChatMessage], options: GenerationOptions,
                      isCancelled: () -> Bool = { false }, onText: (String) -> Void = { _ in }) throws -> String {
        messages = conversation
        return try respond(options: options, isCancelled: isCancelled, onText: onText)
    }

    /// Writes the conversation to `path` as a JSON array of `{"role": …, "content": …}` objects, atomically
    /// (a temporary file renamed over `path`, so a crash never leaves half a file).
    ///
    /// ```swift
    /// try session.save(to: "conversation.json")
    /// ```
    public func save(to path: String) throws {
        let list = JSONValue.array(messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
        var bytes = list.serialized(indent: 2)
        bytes.append(0x0A)
        try writeFileAtomically(bytes, to: path)
    }

    /// The ids of the conversation rendered with the generation prompt.
    func renderedIds() throws -> [Int] {
        let text = try template.render(messages: messages, addGenerationPrompt: true)
        return generator.tokenizer.encodeIds(text, addSpecialTokens: false)
    }

    private func respond(options: GenerationOptions, isCancelled: () -> Bool, onText: (String) -> Void) throws -> String {
        let context = generator.model.contextLength
        var ids = try renderedIds()
        // Room for the whole reply when possible; at least one position for the first new token.
        var dropped = 0
        while ids.count + options.maxTokens > context, let first = droppableTurn() {
            // A user turn and the assistant turn that answered it go together.
            var end = first + 1
            while end < messages.count - 1 && messages[end].role != "user" { end += 1 }
            messages.removeSubrange(first..<end)
            dropped += end - first
            ids = try renderedIds()
        }
        if dropped > 0 { onTruncate?(dropped) }
        guard ids.count < context else {
            throw ModelError.invalidInput("the conversation has \(ids.count) tokens, more than the model's context of \(context) tokens leaves room for")
        }
        guard !ids.isEmpty else { throw ModelError.invalidInput("the chat template rendered an empty prompt") }

        // Keep the longest prefix the cache holds, but always run at least the last id (its logits).
        var keep = 0
        let limit = min(cachedIds.count, ids.count - 1)
        while keep < limit && cachedIds[keep] == ids[keep] { keep += 1 }
        cache.truncate(to: keep)
        cachedIds.removeSubrange(keep...)

        var opts = options
        if let eos = template.eosToken, !eos.isEmpty, !opts.stopStrings.contains(eos) { opts.stopStrings.append(eos) }
        let result: GenerationResult
        do {
            result = try generator.generate(promptIds: ids, cache: cache, stopIds: stopIds, options: opts,
                                            isCancelled: isCancelled, onText: onText)
        } catch {
            // What the cache holds past `keep` is unknown after a failure.
            cache.truncate(to: min(keep, cache.count))
            throw error
        }
        cachedIds = Array((ids + result.ids).prefix(cache.count))
        lastStats = result.stats
        lastStopReason = result.stopReason
        messages.append(ChatMessage(role: "assistant", content: result.text))
        return result.text
    }

    /// The index of the oldest turn that may be dropped: the first non-system message, unless it is the
    /// last message (the turn being answered).
    private func droppableTurn() -> Int? {
        guard let i = messages.firstIndex(where: { $0.role != "system" }), i < messages.count - 1 else { return nil }
        return i
    }
}
