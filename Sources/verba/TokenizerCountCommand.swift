import ArgumentParser
import Foundation
import VerbaTokenizers

/// `verba tokenizer count`: pre-tokenizes corpora and writes their word counts, mergeable and trainable.
struct TokenizerCountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count",
        abstract: "Count the pre-tokenized words of text files into a word-counts file.",
        discussion: """
        Streams the corpus (memory grows with the number of distinct words) and writes one record per \
        distinct word, sorted by the word's bytes, with a 64-bit count, after a header naming the \
        pre-tokenizer and normalizer. Count files of parts of a corpus merge (`verba tokenizer \
        merge-counts`) into the counts of the whole, and `verba tokenizer train --from-counts` learns from \
        them the same tokenizer as from the corpus itself. Counts of different pipelines are refused.

        Pre-tokenizers: gpt2, cl100k, o200k (byte-level BPE: train --model bpe --byte-level --split ...), \
        bert (WordPiece), whitespace (character BPE), metaspace (SentencePiece words: Unigram). \
        --like counts with the normalizer and pre-tokenizer of an existing tokenizer.json.

        Examples:
          verba tokenizer count --pre-tokenizer gpt2 --output part1.counts part1.txt
          zcat shard-*.txt.gz | verba tokenizer count --pre-tokenizer bert --lowercase - > shard.counts
          verba tokenizer count --like tokenizer.json --output all.counts a.txt b.txt
        """
    )

    @Option(help: "Pre-tokenizer: gpt2, cl100k, o200k, bert, whitespace or metaspace.")
    var preTokenizer: String?

    @Option(help: "Count with the normalizer and pre-tokenizer of this tokenizer.json.")
    var like: String?

    @Flag(help: "Lowercase before splitting (bert: BERT uncased's normalization).")
    var lowercase = false

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "The counts file to write (atomically); - is standard output.")
    var output: String = "-"

    @Flag(help: "No statistics on stderr.")
    var quiet = false

    @Argument(help: "Corpus files; - reads standard input.")
    var files: [String] = []

    func validate() throws {
        if (preTokenizer == nil) == (like == nil) { throw ValidationError("give one of --pre-tokenizer and --like") }
        if like != nil && lowercase { throw ValidationError("--lowercase goes with --pre-tokenizer; --like takes the tokenizer's normalizer") }
        if let p = preTokenizer, !CountPipeline.preTokenizerNames.contains(p) {
            throw ValidationError("--pre-tokenizer must be one of \(CountPipeline.preTokenizerNames.joined(separator: ", ")), not \(p)")
        }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if files.isEmpty { throw ValidationError("give at least one corpus file, or - for standard input") }
    }

    func run() throws {
        let pipeline: CountPipeline
        if let like {
            pipeline = CountPipeline.like(try Tokenizer.load(path: like))
        } else {
            pipeline = try CountPipeline.named(preTokenizer ?? "", lowercase: lowercase)
        }
        let start = Date()
        let counter = pipeline.counter(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let counts = try counter.count(paths: files)
        try writeWordCounts(counts, pipeline: pipeline.name, to: output)
        if !quiet {
            printNote(String(format: "counted %d words, %d distinct, %.2f s -> %@", counts.total, counts.count,
                             Date().timeIntervalSince(start), output == "-" ? "standard output" : output))
        }
    }
}

/// `verba tokenizer merge-counts`: merges word-counts files by streaming.
struct TokenizerMergeCountsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-counts",
        abstract: "Merge word-counts files into one (a streaming k-way merge).",
        discussion: """
        The inputs must come from the same pre-tokenizer and normalizer. Memory holds one record per \
        input, whatever the files' sizes; the output is written atomically.

        Examples:
          verba tokenizer merge-counts part-*.counts --output all.counts
          verba tokenizer merge-counts a.counts b.counts --output - | wc -c
        """
    )

    @Option(help: "The merged counts file (atomically); - is standard output.")
    var output: String

    @Flag(help: "No statistics on stderr.")
    var quiet = false

    @Argument(help: "Counts files (from verba tokenizer count or merge-counts); - reads standard input.")
    var files: [String] = []

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one counts file") }
    }

    func run() throws {
        let (distinct, total) = try mergeWordCounts(paths: files, output: output)
        if !quiet { printNote("merged \(files.count) files: \(total) words, \(distinct) distinct -> \(output)") }
    }
}
