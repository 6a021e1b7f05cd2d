import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor
import VerbaTokenizers
#if canImport(Glibc)
import Glibc
#endif

/// `verba generate`: continue a prompt with a decoder (GPT-2 or the Llama family), streaming the new text.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a decoder (GPT-2, Llama, Qwen2/3, Mistral), streaming the new text as it is produced.",
        discussion: """
        The prompt comes from --prompt, or else from standard input (all of it, as one prompt, without a \
        final newline). Only the continuation is printed, token by token, through an incremental \
        detokenizer that never prints half a UTF-8 character. Generation ends after --max-tokens new tokens, at the end-of-sequence token \
        (unless --ignore-eos), before a --stop string (which is not printed), or when the model's context \
        is full (a note on standard error says so). A prompt longer than the context is an error.

        --temperature 0 is greedy decoding; otherwise tokens are sampled after the repetition penalty, \
        temperature, top-k, top-p and min-p (Hugging Face's order and meanings), from a generator seeded \
        with --seed, so the same seed gives the same text. Without --model, the first folder under \
        models/ whose config.json says model_type "gpt2" is used.

        Examples:
          verba generate --model models/gpt2 --prompt "The old man said" --max-tokens 40
          echo "Once upon a time" | verba generate --model models/gpt2 --temperature 0 --stats
          verba generate --model models/gpt2 --prompt "Q: Why?" --stop "Q:" --top-p 0.9 --seed 7
          verba generate --model models/gpt2 --interactive
        """)

    @Option(name: .long, help: "Model folder (config.json, model.safetensors or shards, tokenizer files): GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM or MistralForCausalLM. Default: the GPT-2 folder in models/.")
    var model: String?

    // Free text may start with "-" ("- Nie ma mowy"): the word after the option is always its value.
    @Option(name: .long, parsing: .unconditional, help: "The prompt (default: read standard input).")
    var prompt: String?

    @Option(name: .long, help: "New tokens at most.")
    var maxTokens = 128

    @OptionGroup var sampling: SamplingOptions

    @Option(name: .long, parsing: .unconditionalSingleValue, help: "Stop before this text (repeatable).")
    var stop: [String] = []

    @Flag(name: .long, help: "Do not stop at the end-of-sequence token.")
    var ignoreEos = false

    @Flag(name: .long, help: "Print 'prefill: N tokens, X tok/s; decode: M tokens, Y tok/s' on standard error.")
    var stats = false

    @Flag(name: .long, help: "A prompt loop: each line typed is a prompt; Ctrl-D quits.")
    var interactive = false

    @Option(name: .long, help: "Compute threads (default: all available cores).")
    var threads: Int?

    /// For scripts/bench-gpt2.sh: print this machine's decode bandwidth limit and exit.
    @Flag(name: .long, help: .hidden)
    var measureBandwidth = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if maxTokens < 0 { throw ValidationError("--max-tokens must be 0 or more") }
    }

    func run() throws {
        if let threads { ThreadPool.shared.setThreads(threads) }
        if measureBandwidth {
            // The best of a large gemv (Verba's) and OpenBLAS sgemv (with the kernels models get), on
            // the same threads.
            try BLAS.load()
            let gbs = max(measureBandwidthGBs(megabytes: 256, repetitions: 5),
                          measureBandwidthGBs(megabytes: 256, repetitions: 5, useBLAS: true))
            StandardOutput.shared.write("bandwidth: \(String(format: "%.2f", gbs)) GB/s\n")
            return
        }
        let folder = try model ?? DefaultModels.find(.modelType("gpt2"))
        let generator = try TextGenerator(folder: folder)
        let options = GenerationOptions(
            maxTokens: maxTokens,
            sampling: sampling.parameters, seed: sampling.seed, stopStrings: stop, ignoreEOS: ignoreEos)
        try options.sampling.validate()
        if interactive {
            try runInteractive(generator, options)
            return
        }
        let text: String
        if let prompt {
            text = prompt
        } else {
            var bytes = try LineInput(fileDescriptor: 0).readAll()
            if bytes.last == 10 { bytes.removeLast() }  // the newline `echo` adds is not part of the prompt
            text = String(decoding: bytes, as: UTF8.self)
        }
        try complete(text, generator, options)
    }

    private func complete(_ text: String, _ generator: TextGenerator, _ options: GenerationOptions) throws {
        let out = StandardOutput.shared
        let result = try generator.generate(prompt: text, options: options) { piece in
            out.write(piece)
            out.flush()
        }
        out.flush()
        if result.stopReason == .contextFull {
            printNote("verba: note: stopped after \(result.ids.count) new tokens: the model's context of \(generator.model.contextLength) tokens is full")
        }
        if stats { printNote(result.stats.summary) }
    }

    private func runInteractive(_ generator: TextGenerator, _ options: GenerationOptions) throws {
        let out = StandardOutput.shared
        // readLine returns each line as soon as it is typed (a block reader would wait for a full buffer
        // at a terminal); invalid UTF-8 in a typed line becomes U+FFFD.
        while true {
            writeStandardError("> ")
            guard let text = readLine(strippingNewline: true) else { break }
            if text.isEmpty { continue }
            do {
                try complete(text, generator, options)
                out.write("\n")
                out.flush()
            } catch let error as ModelError {
                // A bad prompt (longer than the context) does not end the session.
                guard case .invalidInput = error else { throw error }
                printError("\(error)")
            }
        }
        writeStandardError("\n")
    }
}
