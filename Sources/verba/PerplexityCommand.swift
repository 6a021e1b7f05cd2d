import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor
import VerbaTokenizers

/// `verba perplexity`: how well a decoder (GPT-2 or the Llama family) predicts a text.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a decoder (GPT-2, Llama, Qwen2/3, Mistral) on the text from standard input.",
        discussion: """
        All of standard input is one text, tokenized without special tokens. Prints `perplexity: X` \
        (exp of the mean negative log-likelihood per predicted token) and `tokens: N` (the text's token \
        count). A text longer than --context tokens is scored with a sliding window as in Hugging Face's \
        perplexity guide: windows of --context tokens start every --stride tokens, and each scores only \
        the tokens the previous window did not reach, with the rest as context.

        Examples:
          verba perplexity --model models/gpt2 < text.txt
          verba perplexity --model models/gpt2 --context 1024 --stride 512 < book.txt
          verba perplexity --model gpt2-q8_0.gguf --context 512 --chunks < book.txt   # as llama-perplexity -c 512
        """)

    @Option(name: .long, help: "Model folder (config.json, model.safetensors, tokenizer files) or GGUF file.")
    var model: String

    @Option(name: .long, help: "Window length in tokens (default: the model's n_positions).")
    var context: Int?

    @Option(name: .long, help: "Tokens between window starts (default: context / 2).")
    var stride: Int?

    @Flag(name: .long, help: "Score as llama.cpp's llama-perplexity: disjoint chunks of --context tokens, each scoring its second half (needs 2 × context tokens).")
    var chunks = false

    @Option(name: .long, help: "Compute threads (default: all available cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        if let threads { ThreadPool.shared.setThreads(threads) }
        // The generator checks that the tokenizer fits the checkpoint's vocabulary.
        let generator = try TextGenerator(folder: model)
        let tokenizer = generator.tokenizer
        let bytes = try LineInput(fileDescriptor: 0).readAll()
        var ids: [Int] = []
        bytes.withUnsafeBufferPointer { tokenizer.encodeIds(bytes: $0, addSpecialTokens: false, into: &ids) }
        let result = chunks
            ? try Perplexity.evaluateChunks(model: generator.model, ids: ids, context: context ?? generator.model.contextLength)
            : try Perplexity.evaluate(model: generator.model, ids: ids, context: context, stride: stride)
        StandardOutput.shared.write("perplexity: \(String(format: "%.4f", result.perplexity))\n")
        StandardOutput.shared.write("tokens: \(result.tokens)\n")
    }
}
