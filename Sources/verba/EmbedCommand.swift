import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor
import VerbaTokenizers

extension Pooling: ExpressibleByArgument {}

/// `verba embed`: one JSON array of floats (a sentence embedding) per input line.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed each line of standard input with a BERT sentence-embedding model.",
        discussion: """
        Each input line (without its newline) is one text and gives exactly one output line: a JSON \
        array of floats (shortest round-trip decimal form). An empty line still gives a vector (that of \
        [CLS] [SEP]).

        The model folder is a Hugging Face BERT folder (config.json, model.safetensors or a sharded \
        checkpoint, tokenizer.json or vocab.txt). When it is a sentence-transformers folder, modules.json, \
        1_Pooling/config.json and sentence_bert_config.json give the pooling, the L2 normalisation and \
        the length limit (all-MiniLM-L6-v2: mean pooling, normalised, 256 tokens); otherwise mean \
        pooling, no normalisation, and the model's positions. --pooling and --normalize/--no-normalize \
        override the folder.

        A line longer than --max-length tokens (special tokens included) is truncated as Hugging Face \
        does; the first such line is reported once on standard error.

        Input is read in chunks (memory stays bounded on any input size); within a chunk, lines are \
        sorted by length and packed into batches of --batch-size lines without padding, run on \
        --threads threads, and written back in input order.

        Examples:
          echo "A man is eating food." | verba embed --model downloads/minilm
          verba embed --model downloads/minilm --pooling cls --no-normalize < sentences.txt > vectors.jsonl
          verba embed --model downloads/minilm --max-length 128 --batch-size 64 --threads 2 < corpus.txt
        """)

    @Option(name: .long, help: "Model folder (config.json, safetensors weights, tokenizer files).")
    var model: String

    @Option(name: .long, help: "Pooling: mean, cls or max (default: the folder's, else mean).")
    var pooling: Pooling?

    @Flag(name: .long, inversion: .prefixedNo, help: "L2-normalise the vectors (default: as the folder's modules.json says).")
    var normalize: Bool?

    @Option(name: .long, help: "Longest input in tokens, special tokens included (default: the folder's max_seq_length, else the model's positions).")
    var maxLength: Int?

    @Option(name: .long, help: "Lines per forward pass, after sorting by length.")
    var batchSize: Int = 32

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print timings and the encoder's GFLOP/s on standard error at the end.")
    var stats = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
    }

    func run() throws {
        let started = DispatchTime.now().uptimeNanoseconds
        if let threads { ThreadPool.shared.setThreads(threads) }
        let embedder = try Embedder(folder: model, pooling: pooling, normalize: normalize, maxLength: maxLength)
        embedder.batchSize = batchSize
        let c = embedder.dimension
        let out = StandardOutput.shared
        var line: [UInt8] = []
        try streamChunks(maxLength: embedder.encoder.maxLength) { chunk in
            let result = try embedder.embed(bytes: chunk)
            for i in 0..<chunk.count {
                line.removeAll(keepingCapacity: true)
                line.append(UInt8(ascii: "["))
                let v = result.vectors.buffer.baseAddress! + i * c
                for j in 0..<c {
                    if j > 0 { line.append(UInt8(ascii: ",")) }
                    appendFloat(v[j], to: &line)
                }
                line.append(UInt8(ascii: "]"))
                line.append(10)
                line.withUnsafeBufferPointer { out.write(bytes: $0) }
            }
            return result.truncated
        }
        if stats {
            out.flush()
            let s = embedder.statistics
            let total = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            printNote(String(format: "embed: %d lines, %d tokens in %.3f s (%.1f lines/s); tokenize %.3f s, encoder %.3f s (%.1f GFLOP, %.1f GFLOP/s), %d threads",
                             s.texts, s.tokens, total, Double(s.texts) / max(total, 1e-9), s.tokenizeSeconds, s.encodeSeconds,
                             s.flops / 1e9, s.flops / 1e9 / max(s.encodeSeconds, 1e-9), ThreadPool.shared.threadCount))
        }
    }
}

/// Reads standard input in chunks of lines, calls `process` on each chunk (it returns the truncated
/// lines: index in the chunk, tokens before), and reports the first truncated line once on standard error.
func streamChunks(maxLength: Int, _ process: ([[UInt8]]) throws -> [(index: Int, tokens: Int)]) throws {
    var firstLine = 1, reported = false
    try LineInput(fileDescriptor: 0).forEachChunk { chunk in
        let truncated = try process(chunk)
        if let first = truncated.first, !reported {
            let tokens = first.tokens > 0 ? "\(first.tokens) tokens" : "more than \(maxLength) tokens"
            printNote("verba: note: line \(firstLine + first.index) has \(tokens), truncated to --max-length \(maxLength) (further truncations are not reported one by one)")
            reported = true
        }
        firstLine += chunk.count
    }
}

/// Appends the shortest decimal form of `v` that reads back as the same Float (valid JSON).
func appendFloat(_ v: Float, to out: inout [UInt8]) {
    if !v.isFinite { out.append(contentsOf: "null".utf8); return }
    var s = v.description
    s.withUTF8 { out.append(contentsOf: $0) }
}

/// Appends `v` with exactly 6 decimals (`0.123457`), rounded half away from zero.
func appendFixed6(_ v: Float, to out: inout [UInt8]) {
    if !v.isFinite { out.append(contentsOf: "nan".utf8); return }
    var x = (Double(v) * 1_000_000).rounded()
    if x < 0 { out.append(UInt8(ascii: "-")); x = -x }
    let n = Int(x)
    out.append(contentsOf: String(n / 1_000_000).utf8)
    out.append(UInt8(ascii: "."))
    let frac = String(n % 1_000_000)
    out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 6 - frac.utf8.count))
    out.append(contentsOf: frac.utf8)
}
