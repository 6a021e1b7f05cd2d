import ArgumentParser
import Foundation
import VerbaServer
import VerbaTensor

/// `verba serve`: an OpenAI-compatible HTTP server over one model, with continuous batching.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over OpenAI's HTTP API (completions, chat, embeddings), batching requests.",
        discussion: """
        Endpoints: POST /v1/completions, POST /v1/chat/completions (the model's chat template), \
        POST /v1/embeddings (with --embedding-model), GET /v1/models, GET /health, GET /metrics \
        (Prometheus text). Requests and responses follow OpenAI's shapes, and `"stream": true` sends \
        server-sent events ending with `data: [DONE]`, so the official clients work unchanged. The \
        `model` field of a request must name the model (as /v1/models lists it: the folder's name, or the \
        GGUF file's without .gguf). A GGUF file (llama.cpp's format, float or quantized) brings its own \
        vocabulary and chat template.

        Up to --parallel sequences are decoded together, one batched step at a time; new requests join \
        between steps and finished ones leave at once. Beyond that, up to --queue sequences wait; past \
        them a request gets 503 with Retry-After. SIGTERM or SIGINT stops accepting connections, lets \
        in-flight requests finish (at most --shutdown-timeout seconds) and exits 0. The server binds \
        127.0.0.1 unless --host says otherwise.

        Examples:
          verba serve --model models/SmolLM2-135M-Instruct --port 8080 --parallel 8
          verba serve --model models/gpt2 --embedding-model models/all-MiniLM-L6-v2 --api-key secret
          verba serve --model qwen2.5-0.5b-instruct-q8_0.gguf --parallel 4 --context 4096
          curl http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' \\
            -d '{"model": "gpt2", "prompt": "Hello", "max_tokens": 16, "temperature": 0}'
        """)

    @Option(name: .long, help: "Text-generation model: a folder (config.json, weights, tokenizer files) or a GGUF file.")
    var model: String

    @Option(name: .long, help: "Sentence-embedding model folder for /v1/embeddings.")
    var embeddingModel: String?

    @Option(name: .long, help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to bind (0: any free port; the address is printed on standard error).")
    var port = 8080

    @Option(name: .long, help: "Sequences decoded together (each holds a KV cache for the context).")
    var parallel = 4

    @Option(name: .long, help: "Sequences that may wait for a free slot before requests get 503.")
    var queue = 64

    @Option(name: .long, help: "Positions a sequence may use (default: the model's own limit, at most 8192).")
    var context: Int?

    @Option(name: .long, help: "Require `Authorization: Bearer KEY` on every endpoint but /health.")
    var apiKey: String?

    @Option(name: .long, help: "Compute threads (default: all available cores).")
    var threads: Int?

    @Option(name: .long, help: "Largest request body, in bytes.")
    var maxBodyBytes = 4 << 20

    @Option(name: .long, help: "Seconds in-flight requests get to finish after SIGTERM.")
    var shutdownTimeout = 30.0

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if parallel < 1 { throw ValidationError("--parallel must be at least 1") }
        if queue < 0 { throw ValidationError("--queue must be 0 or more") }
        if let context, context < 2 { throw ValidationError("--context must be at least 2") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535") }
        if maxBodyBytes < 1024 { throw ValidationError("--max-body-bytes must be at least 1024") }
        if !(shutdownTimeout >= 0) { throw ValidationError("--shutdown-timeout must be 0 or more") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func run() throws {
        if let threads { ThreadPool.shared.setThreads(threads) }
        var configuration = ServerConfiguration(model: model)
        configuration.embeddingModel = embeddingModel
        configuration.host = host
        configuration.port = port
        configuration.parallel = parallel
        configuration.queueLimit = queue
        configuration.context = context
        configuration.apiKey = apiKey
        configuration.maxBodyBytes = maxBodyBytes
        configuration.shutdownTimeout = shutdownTimeout
        let server = try OpenAIServer(configuration: configuration)
        let id = server.modelId, slots = parallel
        let outcome = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run { host, port in
                    printNote("verba: serving \(id) on http://\(host):\(port) (\(slots) slots)")
                }
            } catch {
                outcome.set("\(error)")
            }
            done.signal()
        }
        done.wait()
        if let failure = outcome.get() { throw ServeError(message: failure) }
        printNote("verba: server stopped")
    }
}

/// A failure to start or run the server.
struct ServeError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The error the server's task ended with, handed to the waiting command.
private final class ServeOutcome: @unchecked Sendable {
    // @unchecked: written once by the server task before the semaphore is signalled, read after it.
    private var failure: String?
    func set(_ message: String) { failure = message }
    func get() -> String? { failure }
}
