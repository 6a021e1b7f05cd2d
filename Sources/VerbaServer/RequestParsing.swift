// Reading OpenAI request bodies: the fields each endpoint knows, their types and ranges. A field of the
// wrong type or out of range, or one the endpoint does not know, is a 400 naming it (as OpenAI does).
import VerbaModels
import VerbaSupport

/// The fields of a JSON request object, read with type and range checks.
struct RequestFields {
    let object: [(String, JSONValue)]

    /// Parses `body` as a JSON object whose keys are all in `known`.
    init(body: [UInt8], known: Set<String>) throws {
        let value: JSONValue
        do {
            value = try parseJSON(body, options: .strict)
        } catch {
            throw APIError.invalid("We could not parse the JSON body of your request: \(error)", code: "invalid_json")
        }
        guard case .object(let pairs) = value else {
            throw APIError.invalid("The request body must be a JSON object.", code: "invalid_json")
        }
        for (key, _) in pairs where !known.contains(key) {
            throw APIError.invalid("Unrecognized request argument supplied: \(key)", param: key, code: "unknown_parameter")
        }
        object = pairs
    }

    /// The value of `key`, nil when absent or null.
    subscript(key: String) -> JSONValue? {
        for (k, v) in object where k == key { return v.isNull ? nil : v }
        return nil
    }

    private func wrongType(_ key: String, _ expected: String) -> APIError {
        APIError.invalid("Invalid type for '\(key)': expected \(expected).", param: key, code: "invalid_type")
    }

    func string(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard let s = v.stringValue else { throw wrongType(key, "a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        guard let b = v.boolValue else { throw wrongType(key, "a boolean") }
        return b
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = self[key] else { return nil }
        guard let i = v.intValue, case .int = v else { throw wrongType(key, "an integer") }
        guard range.contains(i) else {
            throw APIError.invalid("'\(key)' must be between \(range.lowerBound) and \(range.upperBound), got \(i).", param: key, code: "invalid_value")
        }
        return i
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let v = self[key] else { return nil }
        guard let d = v.doubleValue else { throw wrongType(key, "a number") }
        guard range.contains(d) else {
            throw APIError.invalid("'\(key)' must be between \(range.lowerBound) and \(range.upperBound), got \(d).", param: key, code: "invalid_value")
        }
        return d
    }

    /// `stop`: a string or an array of up to 4 strings.
    func stop() throws -> [String] {
        guard let v = self["stop"] else { return [] }
        if let s = v.stringValue { return [s] }
        guard let items = v.arrayValue, items.count <= 4 else { throw wrongType("stop", "a string or an array of at most 4 strings") }
        return try items.map { item in
            guard let s = item.stringValue else { throw wrongType("stop", "a string or an array of at most 4 strings") }
            return s
        }
    }
}

/// The sampling and stopping fields that completions and chat completions share.
struct GenerationFields {
    var model: String
    var maxTokens: Int?
    var sampling: SamplingParameters
    var n: Int
    var stream: Bool
    var includeUsage: Bool
    var stop: [String]
    var presencePenalty: Float
    var frequencyPenalty: Float
    var seed: UInt64?
    /// Keep generating past the end-of-sequence token (an extension llama.cpp and vLLM accept too).
    var ignoreEOS: Bool

    /// Fields both endpoints accept.
    static let known: Set<String> = [
        "model", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "stop",
        "presence_penalty", "frequency_penalty", "seed", "user", "logit_bias", "top_k", "min_p", "ignore_eos",
    ]

    init(_ f: RequestFields, maxTokensKey: String = "max_tokens") throws {
        guard let model = try f.string("model") else {
            throw APIError.invalid("you must provide a model parameter", param: "model", code: "missing_required_parameter")
        }
        self.model = model
        maxTokens = try f.int(maxTokensKey, in: 1...1_000_000)
        let temperature = try f.number("temperature", in: 0...2) ?? 1
        let topP = try f.number("top_p", in: 0...1) ?? 1
        let topK = try f.int("top_k", in: 0...1_000_000) ?? 0
        let minP = try f.number("min_p", in: 0...1) ?? 0
        sampling = SamplingParameters(temperature: Float(temperature), topK: topK, topP: topP == 0 ? Float.leastNormalMagnitude : Float(topP),
                                      minP: Float(minP))
        n = try f.int("n", in: 1...16) ?? 1
        stream = try f.bool("stream") ?? false
        if let options = f["stream_options"] {
            guard case .object = options else {
                throw APIError.invalid("Invalid type for 'stream_options': expected an object.", param: "stream_options", code: "invalid_type")
            }
            guard stream else {
                throw APIError.invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", param: "stream_options")
            }
            let usage = options["include_usage"]
            if let usage, !usage.isNull, usage.boolValue == nil {
                throw APIError.invalid("Invalid type for 'stream_options.include_usage': expected a boolean.", param: "stream_options.include_usage", code: "invalid_type")
            }
            includeUsage = usage?.boolValue ?? false
        } else {
            includeUsage = false
        }
        stop = try f.stop()
        ignoreEOS = try f.bool("ignore_eos") ?? false
        presencePenalty = Float(try f.number("presence_penalty", in: -2...2) ?? 0)
        frequencyPenalty = Float(try f.number("frequency_penalty", in: -2...2) ?? 0)
        if let v = f["seed"] {
            guard case .int(let s) = v else {
                throw APIError.invalid("Invalid type for 'seed': expected an integer.", param: "seed", code: "invalid_type")
            }
            seed = UInt64(bitPattern: Int64(s))
        }
        if let bias = f["logit_bias"] {
            guard let pairs = bias.objectValue, pairs.isEmpty else {
                throw APIError.invalid("'logit_bias' is not supported by this server.", param: "logit_bias", code: "unsupported_parameter")
            }
        }
    }
}

/// A `/v1/completions` request.
struct CompletionRequest {
    /// One entry per prompt: text or token ids.
    enum Prompt { case text(String), ids([Int]) }

    var fields: GenerationFields
    var prompts: [Prompt]
    var echo: Bool
    var logprobs: Int?

    static let known = GenerationFields.known.union(["prompt", "echo", "logprobs", "best_of", "suffix"])

    init(body: [UInt8]) throws {
        let f = try RequestFields(body: body, known: CompletionRequest.known)
        fields = try GenerationFields(f)
        echo = try f.bool("echo") ?? false
        logprobs = try f.int("logprobs", in: 0...20)
        if let best = try f.int("best_of", in: 1...16), best != fields.n {
            throw APIError.invalid("'best_of' other than 'n' is not supported by this server.", param: "best_of", code: "unsupported_parameter")
        }
        if try f.string("suffix") != nil {
            throw APIError.invalid("'suffix' is not supported by this model.", param: "suffix", code: "unsupported_parameter")
        }
        guard let prompt = f["prompt"] else {
            throw APIError.invalid("you must provide a prompt parameter", param: "prompt", code: "missing_required_parameter")
        }
        let bad = APIError.invalid("Invalid type for 'prompt': expected a string, an array of strings, an array of token ids or an array of such arrays.",
                                   param: "prompt", code: "invalid_type")
        func ids(_ items: [JSONValue]) throws -> [Int] {
            try items.map { item in
                guard case .int(let id) = item else { throw bad }
                return id
            }
        }
        switch prompt {
        case .string(let s): prompts = [.text(s)]
        case .array(let items) where items.isEmpty: throw bad
        case .array(let items):
            if case .int = items[0] { prompts = [.ids(try ids(items))]; break }
            prompts = try items.map { item in
                switch item {
                case .string(let s): return .text(s)
                case .array(let inner) where !inner.isEmpty: return .ids(try ids(inner))
                default: throw bad
                }
            }
        default: throw bad
        }
        if prompts.count * fields.n > 64 {
            throw APIError.invalid("At most 64 completions per request (prompts × n).", param: "n")
        }
    }
}

/// A `/v1/chat/completions` request.
struct ChatRequest {
    var fields: GenerationFields
    var messages: [(role: String, content: String)]
    var logprobs: Bool
    var topLogprobs: Int?

    static let known = GenerationFields.known.union(["messages", "logprobs", "top_logprobs", "max_completion_tokens", "response_format"])

    init(body: [UInt8]) throws {
        let f = try RequestFields(body: body, known: ChatRequest.known)
        fields = try GenerationFields(f)
        if let m = try f.int("max_completion_tokens", in: 1...1_000_000) { fields.maxTokens = m }
        logprobs = try f.bool("logprobs") ?? false
        topLogprobs = try f.int("top_logprobs", in: 0...20)
        if topLogprobs != nil && !logprobs {
            throw APIError.invalid("'logprobs' must be set to true when 'top_logprobs' is used.", param: "top_logprobs")
        }
        if let format = f["response_format"] {
            guard format["type"]?.stringValue == "text" else {
                throw APIError.invalid("Only response_format {\"type\": \"text\"} is supported by this server.", param: "response_format", code: "unsupported_parameter")
            }
        }
        guard let list = f["messages"]?.arrayValue, !list.isEmpty else {
            throw APIError.invalid("'messages' must be a non-empty array of messages.", param: "messages", code: "invalid_type")
        }
        messages = try list.enumerated().map { i, m in
            guard let role = m["role"]?.stringValue else {
                throw APIError.invalid("messages[\(i)].role must be a string.", param: "messages[\(i)].role", code: "invalid_type")
            }
            let content = m["content"] ?? .null
            switch content {
            case .null: return (role, "")
            case .string(let s): return (role, s)
            case .array(let parts):
                // Content parts: only text parts, joined.
                let texts = try parts.map { part -> String in
                    guard part["type"]?.stringValue == "text", let t = part["text"]?.stringValue else {
                        throw APIError.invalid("messages[\(i)].content: only text parts are supported.", param: "messages[\(i)].content", code: "invalid_type")
                    }
                    return t
                }
                return (role, texts.joined(separator: "\n"))
            default:
                throw APIError.invalid("messages[\(i)].content must be a string or an array of text parts.", param: "messages[\(i)].content", code: "invalid_type")
            }
        }
    }
}

/// A `/v1/embeddings` request.
struct EmbeddingRequest {
    var model: String
    var inputs: [String]
    var base64: Bool

    static let known: Set<String> = ["model", "input", "encoding_format", "user", "dimensions"]

    init(body: [UInt8]) throws {
        let f = try RequestFields(body: body, known: EmbeddingRequest.known)
        guard let model = try f.string("model") else {
            throw APIError.invalid("you must provide a model parameter", param: "model", code: "missing_required_parameter")
        }
        self.model = model
        let bad = APIError.invalid("'input' must be a string or a non-empty array of strings.", param: "input", code: "invalid_type")
        switch f["input"] {
        case .string(let s)?: inputs = [s]
        case .array(let items)? where !items.isEmpty && items.count <= 2048:
            inputs = try items.map { item in
                guard let s = item.stringValue else { throw bad }
                return s
            }
        default: throw bad
        }
        switch try f.string("encoding_format") ?? "float" {
        case "float": base64 = false
        case "base64": base64 = true
        case let other:
            throw APIError.invalid("'encoding_format' must be \"float\" or \"base64\", got \"\(other)\".", param: "encoding_format", code: "invalid_value")
        }
        if f["dimensions"] != nil {
            throw APIError.invalid("'dimensions' is not supported by this model.", param: "dimensions", code: "unsupported_parameter")
        }
    }
}
