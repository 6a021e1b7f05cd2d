import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor
import VerbaTokenizers
#if canImport(Glibc)
import Glibc
#endif

/// Set by the SIGINT handler while `verba chat` runs at a terminal; the reply being generated polls it.
nonisolated(unsafe) private var chatInterrupted: sig_atomic_t = 0

/// `verba chat`: a conversation with a model through its chat template, at the terminal or scripted.
struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model through its chat template, keeping the conversation in the KV cache.",
        discussion: """
        The model folder's tokenizer_config.json gives the chat template. Each turn renders the whole \
        conversation with it (the assistant's generation prompt added); what the KV cache already holds \
        of that rendering is kept and only the new tokens are prefilled. A reply ends at the model's \
        end-of-sequence token, at the template's eos_token, or after --max-tokens tokens. When the \
        conversation no longer fits in the context, the oldest turns are dropped (the system message \
        stays), the rest recomputed, and a note on standard error says so.

        At a terminal: type a message after the "> " prompt (on standard error); the reply streams to \
        standard output. Commands: /reset starts over (the system message stays), /save FILE writes the \
        conversation as a JSON array of messages, /quit (or Ctrl-D) ends the session. Ctrl-C stops the \
        reply being generated, not the session.

        Standard input not a terminal: each line is one JSON array of messages \
        ([{"role": "user", "content": "Hi"}]), answered with one line of JSON, \
        {"role":"assistant","content":"..."}. --system is put first when a line has no system message. \
        A line that is not such an array is an error naming the line.

        Sampling options are those of verba generate (--temperature 0 is greedy).

        Examples:
          verba chat --model models/SmolLM2-135M-Instruct --system "You are concise."
          echo '[{"role": "user", "content": "Name a color."}]' | verba chat --model models/SmolLM2-135M-Instruct --temperature 0
          verba chat --model models/Qwen2.5-0.5B-Instruct --max-tokens 512 --top-p 0.9 --seed 7 --stats < conversations.jsonl
        """)

    @Option(name: .long, help: "Model folder (config.json, weights, tokenizer files, tokenizer_config.json with a chat_template).")
    var model: String

    @Option(name: .long, parsing: .unconditional, help: "The system message a conversation starts with.")
    var system: String?

    @Option(name: .long, help: "New tokens at most in a reply.")
    var maxTokens = 512

    @OptionGroup var sampling: SamplingOptions

    @Flag(name: .long, help: "Print 'prefill: N tokens, X tok/s; decode: M tokens, Y tok/s' on standard error after each reply.")
    var stats = false

    @Option(name: .long, help: "Compute threads (default: all available cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw MessagesError("--threads must be at least 1") }
        if maxTokens < 1 { throw MessagesError("--max-tokens must be at least 1") }
    }

    func run() throws {
        if let threads { ThreadPool.shared.setThreads(threads) }
        let options = GenerationOptions(maxTokens: maxTokens, sampling: sampling.parameters, seed: sampling.seed)
        try options.sampling.validate()
        let session = try ChatSession(folder: model, systemPrompt: system)
        session.onTruncate = { dropped in
            printNote("verba: note: the conversation no longer fits in the context of \(session.generator.model.contextLength) tokens: dropped the \(dropped) oldest message\(dropped == 1 ? "" : "s") and recomputed the rest")
        }
        if isatty(0) != 0 {
            try runInteractive(session, options)
        } else {
            try runLines(session, options)
        }
    }

    private func reportStats(_ session: ChatSession) {
        if stats, let s = session.lastStats { printNote(s.summary) }
    }

    /// One JSON array of messages per input line, one JSON reply per output line.
    private func runLines(_ session: ChatSession, _ options: GenerationOptions) throws {
        let out = StandardOutput.shared
        var number = 0
        try LineInput(fileDescriptor: 0).forEachLine { line in
            number += 1
            var conversation: [ChatMessage]
            do {
                conversation = try parseMessages(Data(line))
            } catch {
                throw LineError(line: number, reason: "\(error)")
            }
            if let system, conversation.first?.role != "system" {
                conversation.insert(ChatMessage(role: "system", content: system), at: 0)
            }
            let reply: String
            do {
                reply = try session.reply(toConversation: conversation, options: options)
            } catch {
                throw LineError(line: number, reason: "\(error)")
            }
            out.write("{\"role\":\"assistant\",\"content\":\(jsonString(reply))}\n")
            out.flush()
            reportStats(session)
            return true
        }
    }

    /// The prompt loop at a terminal.
    private func runInteractive(_ session: ChatSession, _ options: GenerationOptions) throws {
        let out = StandardOutput.shared
        signal(SIGINT) { _ in chatInterrupted = 1 }
        defer { signal(SIGINT, SIG_DFL) }
        while true {
            writeStandardError("> ")
            guard let text = readLine(strippingNewline: true) else { break }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed == "/quit" { return }
            if trimmed == "/reset" {
                session.reset()
                printNote("(conversation reset)")
                continue
            }
            if trimmed == "/save" || trimmed.hasPrefix("/save ") {
                let path = String(trimmed.dropFirst(5)).trimmingCharacters(in: .whitespaces)
                if path.isEmpty { printError("/save needs a file name"); continue }
                do {
                    try session.save(to: path)
                    printNote("(saved \(session.messages.count) messages to \(path))")
                } catch {
                    printError("cannot write \(path): \(error)")
                }
                continue
            }
            chatInterrupted = 0
            do {
                _ = try session.reply(to: text, options: options, isCancelled: { chatInterrupted != 0 }) { piece in
                    out.write(piece)
                    out.flush()
                }
                out.write("\n")
                out.flush()
                if session.lastStopReason == .cancelled { printNote("(stopped)") }
                reportStats(session)
            } catch let error as ModelError {
                // A turn that does not fit does not end the session.
                guard case .invalidInput = error else { throw error }
                printError("\(error)")
            }
        }
        writeStandardError("\n")
    }
}

/// The messages of one JSON array of `{"role": …, "content": …}` objects.
private func parseMessages(_ data: Data) throws -> [ChatMessage] {
    let value: Any
    do {
        value = try JSONSerialization.jsonObject(with: data)
    } catch {
        throw MessagesError("not JSON: expected an array of messages like [{\"role\": \"user\", \"content\": \"Hi\"}]")
    }
    guard let list = value as? [Any] else { throw MessagesError("expected a JSON array of messages") }
    return try list.enumerated().map { i, item in
        guard let object = item as? [String: Any], let role = object["role"] as? String,
              let content = object["content"] as? String else {
            throw MessagesError("message \(i + 1) is not an object with string \"role\" and \"content\"")
        }
        return ChatMessage(role: role, content: content)
    }
}

/// A line of `verba chat`'s input that is not a JSON array of messages.
private struct MessagesError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
