import ArgumentParser
import Foundation
import VerbaTokenizers

/// `verba tokenize`: one line of ids (or tokens, or a JSON object) per input line.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode each line of standard input with a tokenizer.",
        discussion: """
        Each input line (without its newline; a \\r before it is part of the text) is one text, and gives \
        exactly one output line: ids separated by single spaces (--format ids), token strings separated \
        by single spaces (--format tokens), or one JSON object with ids, tokens, offsets (code points), \
        byte_offsets, type_ids, attention_mask and special_tokens_mask (--format json). An empty line \
        gives an empty line, or just the special tokens when the post-processor adds some.

        Special tokens ([CLS] ... [SEP]) are added as the tokenizer's post-processor says, unless \
        --no-special-tokens. Truncation and padding settings in a tokenizer.json are not applied: every \
        line is encoded whole.

        Invalid UTF-8: byte-level tokenizers (GPT-2, tiktoken) encode the raw bytes; other tokenizers \
        see each ill-formed sequence replaced by U+FFFD. NUL bytes are ordinary characters.

        Lines are encoded in parallel on --threads workers (default: all cores) in chunks, and written \
        in input order.

        PATH may be a tokenizer.json, a folder (tokenizer.json, vocab.json + merges.txt, vocab.txt, or \
        tokenizer.model), a sentencepiece .model file, a .tiktoken rank file named after its encoding \
        (cl100k_base.tiktoken...), or a GGUF file.

        --chat reads one JSON array of messages per line ([{"role": "user", "content": "Hi"}]), renders \
        it with the chat template of the tokenizer's tokenizer_config.json (the generation prompt added, \
        as transformers' apply_chat_template(..., add_generation_prompt=True) does) and prints the ids of \
        the rendered text (no further special tokens; --format tokens and json work too).

        Examples:
          echo "Hello world" | verba tokenize --tokenizer ../shared/fixtures/gpt2
          echo '[{"role": "user", "content": "Hi"}]' | verba tokenize --chat --tokenizer path/to/SmolLM2-135M-Instruct
          verba tokenize --tokenizer downloads/minilm/tokenizer.json --format json < texts.txt
          verba tokenize --tokenizer downloads/tiktoken/cl100k_base.tiktoken --threads 2 < corpus.txt
          verba tokenize --tokenizer downloads/tiktoken/cl100k_base.tiktoken --stats < corpus.txt > ids.txt

        --stats prints, on standard error when the input ends, how long loading the tokenizer took and \
        how fast the lines were encoded after it:
          tokenize: load 16 ms; 941326 lines, 37986028 bytes in 0.37 s (102.4 MB/s), 2 threads
        """)

    @Option(name: .long, help: "Tokenizer file or folder (tokenizer.json, folder, sentencepiece .model, .tiktoken, GGUF).")
    var tokenizer: String

    @Flag(name: .long, help: "Do not add the post-processor's special tokens.")
    var noSpecialTokens = false

    @Option(name: .long, help: "Output format: ids, tokens or json.")
    var format: LineOutputFormat = .ids

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print load time and encoding speed to standard error at the end.")
    var stats = false

    @Flag(name: .long, help: "Each line is a JSON array of messages: render the tokenizer's chat template, then encode.")
    var chat = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        if chat { return try runChat() }
        let started = DispatchTime.now().uptimeNanoseconds
        let workers = threads ?? ProcessInfo.processInfo.activeProcessorCount
        // With several workers a core is free while the tokenizer loads: it reads the input meanwhile.
        let input = LineInput(fileDescriptor: 0)
        if workers > 1 { input.readAhead(batches: 8) }
        let tok = try Tokenizer.load(path: tokenizer, threads: workers)
        let loaded = DispatchTime.now().uptimeNanoseconds
        let encoder = LineEncoder(workers: workers, input: input)
        try encoder.run(format: tok.lineFormat(format, addSpecialTokens: !noSpecialTokens)) {
            StandardOutput.shared.write(bytes: $0)
        }
        if stats {
            StandardOutput.shared.flush()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - loaded) / 1e9
            let mb = Double(encoder.bytesRead) / 1e6
            let line = String(format: "tokenize: load %.0f ms; %d lines, %d bytes in %.2f s (%.1f MB/s), %d thread%@\n",
                              Double(loaded - started) / 1e6, encoder.linesRead, encoder.bytesRead, seconds,
                              seconds > 0 ? mb / seconds : 0, workers, workers == 1 ? "" : "s")
            writeStandardError(line)
        }
    }

    /// `--chat`: a conversation per line, rendered with the chat template, then encoded whole.
    private func runChat() throws {
        let tok = try Tokenizer.load(path: tokenizer, threads: threads ?? 1)
        let template = try ChatTemplate(tokenizerPath: tokenizer)
        var number = 0
        try LineInput(fileDescriptor: 0).forEachLine { line in
            number += 1
            let prompt: String
            do {
                prompt = try template.render(messagesText: String(decoding: line, as: UTF8.self), addGenerationPrompt: true)
            } catch {
                throw LineError(line: number, reason: "\(error)")
            }
            var out: [UInt8] = []
            switch format {
            case .ids:
                out = Array(tok.encodeIds(prompt, addSpecialTokens: false).map(String.init).joined(separator: " ").utf8)
            case .tokens:
                out = Array(tok.encodeIds(prompt, addSpecialTokens: false).map { tok.idToToken($0) ?? "" }.joined(separator: " ").utf8)
            case .json:
                appendEncodingJSON(try tok.encode(prompt, addSpecialTokens: false), to: &out)
            }
            out.append(0x0A)
            out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
            return true
        }
    }
}

extension LineOutputFormat: ExpressibleByArgument {}

/// A line of standard input that cannot be used: `line N: <reason>`.
struct LineError: Error, CustomStringConvertible {
    let line: Int
    let reason: String
    var description: String { "line \(line): \(reason)" }
}
