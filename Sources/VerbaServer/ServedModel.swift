// The models a server answers with: a causal LM with its tokenizer, chat template and batch scheduler,
// and optionally an embedding model; how requests become token ids.
import Foundation
import VerbaModels
import VerbaTokenizers

/// A loaded text-generation model ready to serve.
final class ServedModel: Sendable {
    /// The name clients pass as `model` (the folder's name, or the GGUF file's without `.gguf`).
    let id: String
    let generator: TextGenerator
    /// The folder's (or GGUF file's) chat template, if it has one (otherwise chat prompts use a plain `role: content` form).
    let template: ChatTemplate?
    /// Ids that end a chat reply: the model's end-of-sequence ids and the template's `eos_token`.
    let chatStopIds: [Int]
    let scheduler: BatchScheduler

    init(folder: String, maxContext: Int?, slots: Int, queueLimit: Int) throws {
        let model = try loadCausalLM(folder: folder, maxContext: maxContext ?? LlamaModel.defaultMaxContext)
        generator = try TextGenerator(model: model, tokenizer: try Tokenizer.load(path: folder), source: folder)
        let name = URL(fileURLWithPath: folder).standardized.lastPathComponent
        if isGGUFFile(folder) {
            // A GGUF file: its name without the extension; the template from its metadata when it has one.
            id = name.hasSuffix(".gguf") ? String(name.dropLast(5)) : name
            template = try? ChatTemplate(ggufFile: folder)
        } else {
            id = name
            let hasTemplate = FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("tokenizer_config.json"))
            template = hasTemplate ? try? ChatTemplate(tokenizerPath: folder) : nil
        }
        var stops = model.eosTokenIds
        if let eos = template?.eosToken, let tokenId = generator.tokenizer.tokenToId(eos), !stops.contains(tokenId) {
            stops.append(tokenId)
        }
        chatStopIds = stops
        scheduler = BatchScheduler(generator: generator, slots: slots, queueLimit: queueLimit)
    }

    var contextLength: Int { generator.model.contextLength }

    /// A completion prompt's ids: text encoded without special tokens (an empty text starts from BOS),
    /// or ids checked against the vocabulary.
    func promptIds(_ prompt: CompletionRequest.Prompt) throws -> [Int] {
        switch prompt {
        case .text(let text):
            do { return try generator.promptIds(text) } catch { throw APIError.invalid("\(error)", param: "prompt") }
        case .ids(let ids):
            let v = generator.model.vocabSize
            if let bad = ids.first(where: { $0 < 0 || $0 >= v }) {
                throw APIError.invalid("Token id \(bad) is outside the vocabulary 0..<\(v).", param: "prompt", code: "invalid_value")
            }
            return ids
        }
    }

    /// A chat's ids: the messages rendered with the template and its generation prompt.
    func chatIds(_ messages: [(role: String, content: String)]) throws -> [Int] {
        let text: String
        if let template {
            do {
                text = try template.render(messages: messages.map { ChatMessage(role: $0.role, content: $0.content) },
                                           addGenerationPrompt: true)
            } catch {
                throw APIError.invalid("The chat template refused the messages: \(error)", param: "messages")
            }
        } else {
            text = messages.map { "\($0.role): \($0.content)\n" }.joined() + "assistant:"
        }
        return try promptIds(.text(text))
    }

    /// The new-token limit of a request: `requested`, or `defaultLimit`, else what the context leaves;
    /// a 400 when the prompt and the limit do not fit in the context.
    func maxTokens(requested: Int?, defaultLimit: Int?, promptCount: Int, param: String) throws -> Int {
        let room = contextLength - promptCount
        let limit = requested ?? min(defaultLimit ?? room, room)
        guard room >= 1, limit <= room else {
            throw APIError(status: 400,
                           message: "This model's maximum context length is \(contextLength) tokens. However, you requested \(promptCount + limit) tokens (\(promptCount) in the prompt, \(limit) in the completion). Please reduce the prompt or the completion length.",
                           type: "invalid_request_error", param: param, code: "context_length_exceeded")
        }
        return limit
    }
}

/// A loaded embedding model; requests run one at a time on a queue of their own.
final class ServedEmbedder: Sendable {
    let id: String
    let embedder: Embedder
    private let queue = DispatchQueue(label: "verba-embeddings")

    init(folder: String) throws {
        embedder = try Embedder(folder: folder)
        id = URL(fileURLWithPath: folder).standardized.lastPathComponent
    }

    /// The vectors of `texts` and the tokens they took.
    func embed(_ texts: [String]) async throws -> (vectors: [[Float]], tokens: Int) {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [embedder] in
                do {
                    let before = embedder.statistics.tokens
                    let vectors = try embedder.embed(texts)
                    continuation.resume(returning: (vectors, embedder.statistics.tokens - before))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
