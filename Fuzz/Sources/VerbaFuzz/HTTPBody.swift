// The `http-body` target: the bytes are the body of a POST to /v1/completions, /v1/chat/completions and
// /v1/embeddings of `verba serve`, decoded as the server decodes them (before any model is involved).
// Every body is either refused with an OpenAI-style 4xx error carrying a message, or accepted as a
// request whose fields are inside the server's limits.

@testable import VerbaServer

let httpBodyTarget = FuzzTarget(name: "http-body") { bytes in
    decodeChecked(bytes) { try CompletionRequest(body: $0) }.map(checkAccepted)
    decodeChecked(bytes) { try ChatRequest(body: $0) }.map(checkAccepted)
    decodeChecked(bytes) { try EmbeddingRequest(body: $0) }.map(checkAccepted)
}

/// The request `decode` makes of `bytes`, or nil after checking the error it refused them with.
func decodeChecked<R>(_ bytes: [UInt8], _ decode: ([UInt8]) throws -> R) -> R? {
    do {
        return try decode(bytes)
    } catch let error as APIError {
        check((400..<500).contains(error.status), "a refused body gave status \(error.status): \(error)")
        check(!error.message.isEmpty && !error.type.isEmpty, "an error without a message or type: \(error)")
        // The error body a client gets: {"error": {"message", "type", "param", "code"}}.
        check(error.json["error"]?["message"]?.stringValue == error.message && !error.json.serialized().isEmpty,
              "the error body lacks the message: \(error)")
        return nil
    } catch {
        check(false, "a body was refused with \(type(of: error)), not an API error: \(error)")
        return nil
    }
}

func checkGeneration(_ f: GenerationFields) {
    if let m = f.maxTokens { check((1...1_000_000).contains(m), "max_tokens \(m)") }
    check((1...16).contains(f.n), "n \(f.n)")
    check(f.stop.count <= 4, "\(f.stop.count) stop strings")
    let s = f.sampling
    check(s.temperature.isFinite && (0...2).contains(s.temperature), "temperature \(s.temperature)")
    check(s.topP > 0 && s.topP <= 1, "top_p \(s.topP)")
    check((0...1_000_000).contains(s.topK), "top_k \(s.topK)")
    check(s.minP.isFinite && (0...1).contains(s.minP), "min_p \(s.minP)")
    check((-2...2).contains(f.presencePenalty) && (-2...2).contains(f.frequencyPenalty),
          "penalties \(f.presencePenalty), \(f.frequencyPenalty)")
    check(!f.includeUsage || f.stream, "include_usage without stream")
}

func checkAccepted(_ r: CompletionRequest) {
    checkGeneration(r.fields)
    check(!r.prompts.isEmpty && r.prompts.count * r.fields.n <= 64, "\(r.prompts.count) prompts × n \(r.fields.n)")
    for case .ids(let ids) in r.prompts { check(!ids.isEmpty, "an empty list of prompt ids") }
    if let l = r.logprobs { check((0...20).contains(l), "logprobs \(l)") }
}

func checkAccepted(_ r: ChatRequest) {
    checkGeneration(r.fields)
    check(!r.messages.isEmpty, "no messages")
    if let t = r.topLogprobs { check((0...20).contains(t) && r.logprobs, "top_logprobs \(t) with logprobs \(r.logprobs)") }
}

func checkAccepted(_ r: EmbeddingRequest) {
    check((1...2048).contains(r.inputs.count), "\(r.inputs.count) inputs")
}
