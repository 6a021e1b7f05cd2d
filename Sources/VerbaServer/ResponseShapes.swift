// OpenAI's response objects, built as `JSONValue`s: completions and chat completions, whole or as
// stream chunks, with usage and log-probabilities; embeddings; the model list.
import Foundation
import VerbaSupport
import VerbaTokenizers

/// What one finished choice produced.
struct ChoiceResult {
    var text = ""
    var finishReason: FinishReason = .stop
    var promptTokens = 0
    var completionTokens = 0
    var promptLogprobs: [TokenLogprob] = []
    var logprobs: [TokenLogprob] = []
}

/// Builds the response objects of one request.
struct ResponseShapes {
    let id: String
    let model: String
    let created: Int
    let tokenizer: Tokenizer

    init(prefix: String, model: String, tokenizer: Tokenizer) {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        id = prefix + String((0..<24).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        self.model = model
        created = Int(Date().timeIntervalSince1970)
        self.tokenizer = tokenizer
    }

    static func usage(prompt: Int, completion: Int) -> JSONValue {
        .object([("prompt_tokens", .int(prompt)), ("completion_tokens", .int(completion)), ("total_tokens", .int(prompt + completion))])
    }

    /// The bytes and text of one token (a token may hold part of a UTF-8 character).
    func token(_ id: Int) -> (text: String, bytes: [UInt8]) {
        let bytes = tokenizer.decodeBytes([id], skipSpecialTokens: false)
        return (String(decoding: bytes, as: UTF8.self), bytes)
    }

    private func header(object: String) -> [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model)),
         ("system_fingerprint", .null)]
    }

    // MARK: Completions

    /// The legacy completions `logprobs` object: tokens, token_logprobs, top_logprobs, text_offset.
    /// `firstIsPrompt` puts a null log-probability first (the echoed prompt's first token).
    func completionLogprobs(_ entries: [TokenLogprob], firstTokenId: Int? = nil, withTop: Bool, textOffset: Int) -> JSONValue {
        var tokens: [JSONValue] = [], values: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        var offset = textOffset
        func add(_ id: Int, _ lp: JSONValue, _ top: JSONValue) {
            let text = token(id).text
            tokens.append(.string(text)); values.append(lp); tops.append(top); offsets.append(.int(offset))
            offset += text.utf8.count
        }
        if let first = firstTokenId { add(first, .null, .null) }
        for e in entries {
            let top: JSONValue = withTop
                ? .object(e.top.map { (token($0.id).text, JSONValue.double(Double($0.logprob))) }) : .null
            add(e.id, .double(Double(e.logprob)), top)
        }
        return .object([("tokens", .array(tokens)), ("token_logprobs", .array(values)),
                        ("top_logprobs", withTop ? .array(tops) : .null), ("text_offset", .array(offsets))])
    }

    func completionChoice(index: Int, text: String, logprobs: JSONValue, finishReason: FinishReason?) -> JSONValue {
        .object([("text", .string(text)), ("index", .int(index)), ("logprobs", logprobs),
                 ("finish_reason", finishReason.map { .string($0.rawValue) } ?? .null)])
    }

    func completion(choices: [JSONValue], usage: JSONValue) -> JSONValue {
        .object(header(object: "text_completion") + [("choices", .array(choices)), ("usage", usage)])
    }

    func completionChunk(choices: [JSONValue], usage: JSONValue? = nil, includeUsage: Bool) -> JSONValue {
        var fields = header(object: "text_completion") + [("choices", .array(choices))]
        if includeUsage { fields.append(("usage", usage ?? .null)) }
        return .object(fields)
    }

    // MARK: Chat completions

    /// The chat `logprobs` object: {"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}.
    func chatLogprobs(_ entries: [TokenLogprob]) -> JSONValue {
        func item(_ id: Int, _ lp: Float) -> [(String, JSONValue)] {
            let t = token(id)
            return [("token", .string(t.text)), ("logprob", .double(Double(lp))), ("bytes", .array(t.bytes.map { .int(Int($0)) }))]
        }
        return .object([("content", .array(entries.map { e in
            .object(item(e.id, e.logprob) + [("top_logprobs", .array(e.top.map { .object(item($0.id, $0.logprob)) }))])
        })), ("refusal", .null)])
    }

    func chatChoice(index: Int, content: String, logprobs: JSONValue, finishReason: FinishReason) -> JSONValue {
        .object([("index", .int(index)),
                 ("message", .object([("role", .string("assistant")), ("content", .string(content)), ("refusal", .null)])),
                 ("logprobs", logprobs), ("finish_reason", .string(finishReason.rawValue))])
    }

    func chatCompletion(choices: [JSONValue], usage: JSONValue) -> JSONValue {
        .object(header(object: "chat.completion") + [("choices", .array(choices)), ("usage", usage)])
    }

    /// A chunk's choice: `delta` holds the role (first chunk), the new content, or nothing (last chunk).
    func chatDelta(index: Int, role: Bool = false, content: String?, logprobs: JSONValue = .null,
                   finishReason: FinishReason? = nil) -> JSONValue {
        var delta: [(String, JSONValue)] = []
        if role { delta.append(("role", .string("assistant"))) }
        if let content { delta.append(("content", .string(content))) }
        return .object([("index", .int(index)), ("delta", .object(delta)), ("logprobs", logprobs),
                        ("finish_reason", finishReason.map { .string($0.rawValue) } ?? .null)])
    }

    func chatChunk(choices: [JSONValue], usage: JSONValue? = nil, includeUsage: Bool) -> JSONValue {
        var fields = header(object: "chat.completion.chunk") + [("choices", .array(choices))]
        if includeUsage { fields.append(("usage", usage ?? .null)) }
        return .object(fields)
    }

    // MARK: Others

    static func embeddings(_ vectors: [[Float]], model: String, base64: Bool, promptTokens: Int) -> JSONValue {
        let data = vectors.enumerated().map { i, v -> JSONValue in
            let value: JSONValue
            if base64 {
                // Little-endian float32, as OpenAI's clients decode it.
                var bytes = [UInt8](); bytes.reserveCapacity(v.count * 4)
                for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
                value = .string(Data(bytes).base64EncodedString())
            } else {
                value = .array(v.map { .double(Double($0)) })
            }
            return .object([("object", .string("embedding")), ("index", .int(i)), ("embedding", value)])
        }
        return .object([("object", .string("list")), ("data", .array(data)), ("model", .string(model)),
                        ("usage", .object([("prompt_tokens", .int(promptTokens)), ("total_tokens", .int(promptTokens))]))])
    }

    static func modelList(_ ids: [String], created: Int) -> JSONValue {
        .object([("object", .string("list")), ("data", .array(ids.map { id in
            .object([("id", .string(id)), ("object", .string("model")), ("created", .int(created)), ("owned_by", .string("verba"))])
        }))])
    }

    /// One server-sent event: `data: <json>` and a blank line.
    static func event(_ value: JSONValue) -> [UInt8] {
        Array("data: ".utf8) + value.compactSerialized() + [10, 10]
    }

    static let done = Array("data: [DONE]\n\n".utf8)
}
