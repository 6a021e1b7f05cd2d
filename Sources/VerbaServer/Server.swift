// The HTTP side of `verba serve`: Hummingbird routes for OpenAI's endpoints, the API-key check, bounded
// request bodies, OpenAI's error JSON for every refusal, and graceful shutdown on SIGTERM or SIGINT.
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import VerbaModels
import VerbaSupport

/// How `OpenAIServer` is set up.
///
/// ```swift
/// var configuration = ServerConfiguration(model: "models/SmolLM2-135M-Instruct")
/// configuration.port = 8080
/// configuration.parallel = 8
/// ```
public struct ServerConfiguration: Sendable {
    /// The text-generation model folder.
    public var model: String
    /// A sentence-embedding model folder for `/v1/embeddings` (none: that endpoint answers 404).
    public var embeddingModel: String?
    /// Address to bind (loopback unless told otherwise).
    public var host = "127.0.0.1"
    /// Port to bind (0: any free port, reported to `onListening`).
    public var port = 8080
    /// Sequences decoded together (KV-cache slots).
    public var parallel = 4
    /// Sequences that may wait for a slot; past them a request gets 503 with Retry-After.
    public var queueLimit = 64
    /// Caps the positions a sequence may use (nil: the model's own limit, or 8192 for Llama-family models).
    public var context: Int?
    /// Clients must send `Authorization: Bearer <apiKey>` when set.
    public var apiKey: String?
    /// Largest request body read, in bytes.
    public var maxBodyBytes = 4 << 20
    /// Seconds in-flight requests get to finish after SIGTERM.
    public var shutdownTimeout = 30.0

    public init(model: String) { self.model = model }
}

/// An OpenAI-compatible HTTP server over one model: `/v1/completions`, `/v1/chat/completions`,
/// `/v1/embeddings`, `/v1/models`, `/health`, `/metrics`, with continuous batching of generations.
///
/// ```swift
/// let server = try OpenAIServer(configuration: ServerConfiguration(model: "models/gpt2"))
/// try await server.run { host, port in print("listening on \(host):\(port)") }   // until SIGTERM
/// ```
public final class OpenAIServer: Sendable {
    public let configuration: ServerConfiguration
    let model: ServedModel
    let embedder: ServedEmbedder?
    let metrics = ServerMetrics()

    /// Loads the models (and starts the scheduler's thread).
    public init(configuration: ServerConfiguration) throws {
        precondition(configuration.parallel >= 1 && configuration.queueLimit >= 0, "ServerConfiguration: bad sizes")
        self.configuration = configuration
        model = try ServedModel(folder: configuration.model, maxContext: configuration.context,
                                slots: configuration.parallel, queueLimit: configuration.queueLimit)
        embedder = try configuration.embeddingModel.map { try ServedEmbedder(folder: $0) }
    }

    /// Name clients use for the generation model.
    public var modelId: String { model.id }

    /// Serves until SIGTERM or SIGINT, then stops accepting connections, lets in-flight requests finish
    /// (at most `shutdownTimeout` seconds) and returns. `onListening` gets the bound address.
    public func run(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: APIMiddleware(apiKey: configuration.apiKey, metrics: metrics))
        addRoutes(to: router)
        var logger = Logger(label: "verba-serve")
        logger.logLevel = .error
        let host = configuration.host
        let app = Application(router: router,
                              configuration: .init(address: .hostname(host, port: configuration.port), serverName: "verba"),
                              onServerRunning: { channel in onListening(host, channel.localAddress?.port ?? 0) },
                              logger: logger)
        var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .milliseconds(Int64(configuration.shutdownTimeout * 1000))
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            model.scheduler.shutdown(timeout: 1)
            throw error
        }
        model.scheduler.shutdown(timeout: 1)
    }

    private func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("health") { _, _ in json(.object([("status", .string("ok"))])) }
        router.get("metrics") { [self] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.prometheus(model.scheduler, slots: configuration.parallel))))
        }
        router.get("v1/models") { [self] _, _ in
            json(ResponseShapes.modelList([model.id] + (embedder.map { [$0.id] } ?? []), created: metrics.started))
        }
        // A generation ends when its client goes away: the wait for a whole (non-streamed) answer is
        // cancelled when the connection closes, which ends its sequences and frees their slots. (A streamed
        // answer notices when a write fails.)
        router.post("v1/completions") { [self] request, _ in
            try await request.body.consumeWithCancellationOnInboundClose { body in
                try await completions(try CompletionRequest(body: try await readBody(body)))
            }
        }
        router.post("v1/chat/completions") { [self] request, _ in
            try await request.body.consumeWithCancellationOnInboundClose { body in
                try await chat(try ChatRequest(body: try await readBody(body)))
            }
        }
        router.post("v1/embeddings") { [self] request, _ in
            try await embeddings(try EmbeddingRequest(body: try await readBody(request.body)))
        }
    }

    private func readBody(_ body: RequestBody) async throws -> [UInt8] {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: configuration.maxBodyBytes)
        } catch {
            throw APIError.tooLarge(limit: configuration.maxBodyBytes)
        }
        return Array(buffer.readableBytesView)
    }

    private func checkModel(_ name: String) throws {
        guard name == model.id else { throw APIError.unknownModel(name) }
    }

    // MARK: Endpoints

    private func completions(_ r: CompletionRequest) async throws -> Response {
        try checkModel(r.fields.model)
        let prompts = try r.prompts.map { try model.promptIds($0) }
        var requests: [SequenceRequest] = []
        for ids in prompts {
            let limit = try model.maxTokens(requested: r.fields.maxTokens, defaultLimit: 16, promptCount: ids.count, param: "max_tokens")
            requests += sequences(r.fields, promptIds: ids, maxTokens: limit, stopIds: r.fields.ignoreEOS ? [] : model.generator.model.eosTokenIds,
                                  logprobs: r.logprobs, promptLogprobs: r.echo && r.logprobs != nil)
        }
        let echoTexts = prompts.map { model.generator.tokenizer.decode($0) }
        let shapes = ResponseShapes(prefix: "cmpl-", model: model.id, tokenizer: model.generator.tokenizer)
        let streams = try submit(requests, endpoint: "completions")
        let n = r.fields.n, echo = r.echo, top = r.logprobs
        if r.fields.stream {
            return stream(streams, includeUsage: r.fields.includeUsage, promptTokens: prompts.reduce(0) { $0 + $1.count }, start: { index in
                echo ? [shapes.completionChunk(choices: [shapes.completionChoice(index: index, text: echoTexts[index / n], logprobs: .null, finishReason: nil)],
                                               includeUsage: r.fields.includeUsage)] : []
            }, chunk: { index, event in
                switch event {
                case .token(_, let text, let lp):
                    if text.isEmpty && lp == nil { return nil }
                    let logprobs = lp.map { shapes.completionLogprobs([$0], withTop: true, textOffset: 0) } ?? .null
                    return shapes.completionChunk(choices: [shapes.completionChoice(index: index, text: text, logprobs: logprobs, finishReason: nil)],
                                                  includeUsage: r.fields.includeUsage)
                case .finished(let reason, _, _, _):
                    return shapes.completionChunk(choices: [shapes.completionChoice(index: index, text: "", logprobs: .null, finishReason: reason)],
                                                  includeUsage: r.fields.includeUsage)
                default: return nil
                }
            }, usageChunk: { usage in shapes.completionChunk(choices: [], usage: usage, includeUsage: true) })
        }
        let results = try await collect(streams)
        var completionTokens = 0
        let choices = results.enumerated().map { index, c -> JSONValue in
            completionTokens += c.completionTokens
            let prefix = echo ? echoTexts[index / n] : ""
            var logprobs = JSONValue.null
            if let top {
                let promptIds = prompts[index / n]
                logprobs = echo
                    ? shapes.completionLogprobs(c.promptLogprobs + c.logprobs, firstTokenId: promptIds[0], withTop: top > 0, textOffset: 0)
                    : shapes.completionLogprobs(c.logprobs, withTop: top > 0, textOffset: 0)
            }
            return shapes.completionChoice(index: index, text: prefix + c.text, logprobs: logprobs, finishReason: c.finishReason)
        }
        let usage = ResponseShapes.usage(prompt: prompts.reduce(0) { $0 + $1.count }, completion: completionTokens)
        return json(shapes.completion(choices: choices, usage: usage))
    }

    private func chat(_ r: ChatRequest) async throws -> Response {
        try checkModel(r.fields.model)
        let ids = try model.chatIds(r.messages)
        let limit = try model.maxTokens(requested: r.fields.maxTokens, defaultLimit: nil, promptCount: ids.count, param: "max_tokens")
        var fields = r.fields
        if let eos = model.template?.eosToken, !eos.isEmpty, !fields.stop.contains(eos) { fields.stop.append(eos) }
        let top = r.logprobs ? (r.topLogprobs ?? 0) : nil
        let requests = sequences(fields, promptIds: ids, maxTokens: limit, stopIds: r.fields.ignoreEOS ? [] : model.chatStopIds, logprobs: top, promptLogprobs: false)
        let shapes = ResponseShapes(prefix: "chatcmpl-", model: model.id, tokenizer: model.generator.tokenizer)
        let streams = try submit(requests, endpoint: "chat")
        if r.fields.stream {
            let usageWanted = r.fields.includeUsage
            return stream(streams, includeUsage: usageWanted, promptTokens: ids.count, start: { index in
                [shapes.chatChunk(choices: [shapes.chatDelta(index: index, role: true, content: "")], includeUsage: usageWanted)]
            }, chunk: { index, event in
                switch event {
                case .token(_, let text, let lp):
                    if text.isEmpty && lp == nil { return nil }
                    return shapes.chatChunk(choices: [shapes.chatDelta(index: index, content: text, logprobs: lp.map { shapes.chatLogprobs([$0]) } ?? .null)],
                                            includeUsage: usageWanted)
                case .finished(let reason, _, _, _):
                    return shapes.chatChunk(choices: [shapes.chatDelta(index: index, content: nil, finishReason: reason)], includeUsage: usageWanted)
                default: return nil
                }
            }, usageChunk: { usage in shapes.chatChunk(choices: [], usage: usage, includeUsage: true) })
        }
        let results = try await collect(streams)
        let choices = results.enumerated().map { index, c in
            shapes.chatChoice(index: index, content: c.text, logprobs: top == nil ? .null : shapes.chatLogprobs(c.logprobs), finishReason: c.finishReason)
        }
        let usage = ResponseShapes.usage(prompt: ids.count, completion: results.reduce(0) { $0 + $1.completionTokens })
        return json(shapes.chatCompletion(choices: choices, usage: usage))
    }

    private func embeddings(_ r: EmbeddingRequest) async throws -> Response {
        guard let embedder, r.model == embedder.id else { throw APIError.unknownModel(r.model) }
        metrics.count("embeddings")
        let (vectors, tokens) = try await embedder.embed(r.inputs)
        return json(ResponseShapes.embeddings(vectors, model: embedder.id, base64: r.base64, promptTokens: tokens))
    }

    // MARK: Generation plumbing

    /// The sequences of `n` choices of one prompt (choice i samples with seed + i).
    private func sequences(_ f: GenerationFields, promptIds: [Int], maxTokens: Int, stopIds: [Int], logprobs: Int?,
                           promptLogprobs: Bool) -> [SequenceRequest] {
        let seed = f.seed ?? UInt64.random(in: 0...UInt64.max)
        return (0..<f.n).map { i in
            SequenceRequest(promptIds: promptIds, maxTokens: maxTokens, sampling: f.sampling, seed: seed &+ UInt64(i),
                            stopStrings: f.stop, stopIds: stopIds, presencePenalty: f.presencePenalty,
                            frequencyPenalty: f.frequencyPenalty, logprobs: logprobs, promptLogprobs: promptLogprobs)
        }
    }

    private func submit(_ requests: [SequenceRequest], endpoint: String) throws -> [AsyncStream<SequenceEvent>] {
        metrics.count(endpoint)
        do {
            return try model.scheduler.submit(requests)
        } catch let error as SchedulerError {
            throw APIError.busy("\(error)")
        }
    }

    /// Waits for every choice to finish.
    private func collect(_ streams: [AsyncStream<SequenceEvent>]) async throws -> [ChoiceResult] {
        try await withThrowingTaskGroup(of: (Int, ChoiceResult).self) { group in
            for (i, stream) in streams.enumerated() {
                group.addTask {
                    var result = ChoiceResult()
                    var finished = false
                    for await event in stream {
                        switch event {
                        case .prompt(let entries): result.promptLogprobs = entries
                        case .token(_, _, let lp): if let lp { result.logprobs.append(lp) }
                        case .finished(let reason, let p, let c, let text):
                            result.finishReason = reason; result.promptTokens = p; result.completionTokens = c; result.text = text
                            finished = true
                        case .failed(let message): throw APIError.internalError(message)
                        }
                    }
                    guard finished else { throw APIError.busy("the server is shutting down") }
                    return (i, result)
                }
            }
            var results = [ChoiceResult](repeating: ChoiceResult(), count: streams.count)
            for try await (i, r) in group { results[i] = r }
            return results
        }
    }

    /// A server-sent-event response: `start` chunks of each choice, one chunk per event that makes one,
    /// the usage chunk if asked, then `data: [DONE]`. A client that goes away ends the sequences.
    private func stream(_ streams: [AsyncStream<SequenceEvent>], includeUsage: Bool, promptTokens: Int,
                        start: @escaping @Sendable (Int) -> [JSONValue],
                        chunk: @escaping @Sendable (Int, SequenceEvent) -> JSONValue?,
                        usageChunk: @escaping @Sendable (JSONValue) -> JSONValue) -> Response {
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (merged, input) = AsyncStream<(Int, SequenceEvent)>.makeStream()
            let forward = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (i, s) in streams.enumerated() {
                        group.addTask { for await e in s { input.yield((i, e)) } }
                    }
                }
                input.finish()
            }
            defer { forward.cancel() }
            for i in streams.indices {
                for value in start(i) { try await writer.write(ByteBuffer(bytes: ResponseShapes.event(value))) }
            }
            var completionTokens = 0
            for await (i, event) in merged {
                if case .finished(_, _, let c, _) = event { completionTokens += c }
                if case .failed(let message) = event {
                    try await writer.write(ByteBuffer(bytes: ResponseShapes.event(APIError.internalError(message).json)))
                    continue
                }
                if let value = chunk(i, event) { try await writer.write(ByteBuffer(bytes: ResponseShapes.event(value))) }
            }
            if includeUsage {
                let usage = ResponseShapes.usage(prompt: promptTokens, completion: completionTokens)
                try await writer.write(ByteBuffer(bytes: ResponseShapes.event(usageChunk(usage))))
            }
            try await writer.write(ByteBuffer(bytes: ResponseShapes.done))
            try await writer.finish(nil)
        })
    }
}

/// A JSON response with `status`.
func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: .init(byteBuffer: ByteBuffer(bytes: value.compactSerialized())))
}

/// Checks the API key, turns every error into OpenAI's error JSON, and counts responses.
struct APIMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let apiKey: String?
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = await respond(request, context: context, next: next)
        metrics.response(status: response.status.code)
        // The generation endpoints watch the connection for the client going away, which ends it after
        // the response: the header tells the client not to send another request on it.
        if request.method == .post && ["/v1/completions", "/v1/chat/completions"].contains(request.uri.path) {
            response.headers[.connection] = "close"
        }
        return response
    }

    private func respond(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async -> Response {
        do {
            if let apiKey, request.uri.path != "/health" {
                let header = request.headers[.authorization] ?? ""
                let prefix = "Bearer "
                let given = header.hasPrefix(prefix) ? String(header.dropFirst(prefix.count)) : ""
                guard constantTimeEqual(Array(given.utf8), Array(apiKey.utf8)) else { throw APIError.unauthorized }
            }
            return try await next(request, context)
        } catch let error as APIError {
            var response = json(error.json, status: .init(code: error.status))
            if error.status == 503 { response.headers[.retryAfter] = "1" }
            return response
        } catch let error as HTTPError {
            let api = error.status == .notFound ? APIError.notFound(request.uri.path)
                : APIError(status: error.status.code, message: error.body ?? "\(error.status)", type: "invalid_request_error", param: nil, code: nil)
            return json(api.json, status: .init(code: api.status))
        } catch {
            return json(APIError.internalError("\(error)").json, status: .internalServerError)
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths, not on where they differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(a.count == b.count ? 0 : 1)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}
