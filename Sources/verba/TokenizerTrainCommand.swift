import ArgumentParser
import Foundation
import VerbaTokenizers

/// `verba tokenizer ...`: commands that make tokenizers.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Make tokenizers: count words, merge counts, learn a tokenizer from corpora or counts.",
        subcommands: [TokenizerTrainCommand.self, TokenizerCountCommand.self, TokenizerMergeCountsCommand.self]
    )
}

/// `verba tokenizer train`: learns a BPE or WordPiece tokenizer from corpora and writes tokenizer.json.
struct TokenizerTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a BPE, WordPiece or Unigram tokenizer from text files and write a Hugging Face tokenizer.json.",
        discussion: """
        Corpora are streamed line by line (memory grows with the number of distinct words, not with the \
        corpus). Byte-level BPE learns the same merges in the same order as Hugging Face tokenizers' \
        BpeTrainer with a ByteLevel(add_prefix_space=False) pre-tokenizer and the 256-byte initial \
        alphabet; WordPiece learns the same tokens as its WordPieceTrainer with BertNormalizer and \
        BertPreTokenizer. Unigram follows sentencepiece's trainer (seed pieces from frequent substrings, EM \
        with its digamma M-step, pruning by likelihood loss to the size, --character-coverage, \
        --byte-fallback) on SentencePiece words (spaces as ▁, one before each word), with special tokens \
        <unk>,<s>,</s> by default; the tokenizer.json has a Metaspace pre-tokenizer. --model bpe --metaspace follows \
        sentencepiece's BPE trainer (the same words and alphabet; the most frequent pair of symbols within \
        one script merged at each step, equal counts to the shorter then smaller piece); its tokenizer.json \
        is a byte-fallback BPE with a Metaspace pre-tokenizer, encoding as sentencepiece's model does. Progress goes to stderr when it is a terminal. Invalid UTF-8 in a corpus: byte-level \
        BPE learns the raw bytes; WordPiece and character BPE read each invalid byte as U+FFFD.

        Examples:
          verba tokenizer train --model bpe --byte-level --vocab-size 32000 --output tok.json corpus.txt
          cat *.txt | verba tokenizer train --model wordpiece --lowercase --vocab-size 30000 --output wp.json -
          verba tokenizer train --model bpe --byte-level --split cl100k --vocab-size 8000 \\
              --special-tokens '<|endoftext|>,<|pad|>' --vocab-files --output out/tokenizer.json a.txt b.txt
          verba tokenizer train --model bpe --byte-level --vocab-size 32000 --from-counts all.counts --output tok.json
          verba tokenizer train --model unigram --vocab-size 8000 --byte-fallback --threads 2 --output spm.json corpus.txt
          verba tokenizer train --model bpe --metaspace --byte-fallback --vocab-size 8000 --vocab-files --output out/tokenizer.json corpus.txt

        --from-counts learns from word-counts files (verba tokenizer count / merge-counts) instead of a \
        corpus: the same tokenizer.json, byte for byte, as training on the corpus they counted. Their \
        pre-tokenizer must be the one the model trains with (gpt2/cl100k/o200k for byte-level BPE as \
        --split says, bert for WordPiece, whitespace for character BPE, metaspace for Unigram and --metaspace BPE; --lowercase \
        alike).
        """
    )

    @Option(help: "The model to learn: bpe, wordpiece or unigram.")
    var model: String = "bpe"

    @Flag(help: "Byte-level BPE (GPT-2 style): every byte is in the alphabet, so any input encodes.")
    var byteLevel = false

    @Flag(help: "Unigram or --metaspace BPE: 256 byte pieces <0x00>...<0xFF> after the special tokens, so no text is unknown.")
    var byteFallback = false

    @Flag(help: "BPE as sentencepiece trains it (model_type=bpe): SentencePiece words, --character-coverage alphabet, Metaspace pre-tokenizer.")
    var metaspace = false

    @Option(help: "Unigram: share of the corpus's characters the alphabet covers (0.98 to 1).")
    var characterCoverage: Double = 0.9995

    @Option(help: "Byte-level split: gpt2 (GPT-2's pattern), cl100k (cl100k_base's) or o200k (o200k_base's).")
    var split: String = "gpt2"

    @Option(help: "Size of the vocabulary to reach (special tokens and alphabet included).")
    var vocabSize: Int

    @Option(help: "Never merge a pair seen fewer times than this.")
    var minFrequency: Int = 0

    @Option(parsing: .unconditional, help: "Special tokens, comma-separated, given ids 0, 1, ... (default: <|endoftext|> for byte-level BPE, [PAD],[UNK],[CLS],[SEP],[MASK] for WordPiece).")
    var specialTokens: String?

    @Flag(help: "Lowercase the text (WordPiece: also strips accents, as BERT uncased).")
    var lowercase = false

    @Option(help: "Keep at most this many characters in the initial alphabet (the most frequent).")
    var limitAlphabet: Int?

    @Option(parsing: .unconditional, help: "Characters always in the alphabet, given as one string.")
    var initialAlphabet: String?

    @Flag(help: "Also write vocab.json + merges.txt (BPE) or vocab.txt (WordPiece, Unigram) beside the output; for Unigram and --metaspace BPE also the sentencepiece model tokenizer.model.")
    var vocabFiles = false

    @Option(help: "Threads for counting words (default: all cores).")
    var threads: Int?

    @Flag(help: "No progress on stderr.")
    var quiet = false

    @Option(help: "The tokenizer.json to write (atomically).")
    var output: String

    @Option(help: "Learn from this word-counts file instead of a corpus (repeatable: the files are added up).")
    var fromCounts: [String] = []

    @Argument(help: "Corpus files; - reads standard input.")
    var files: [String] = []

    func validate() throws {
        guard ["bpe", "wordpiece", "unigram"].contains(model) else { throw ValidationError("--model must be bpe, wordpiece or unigram, not \(model)") }
        guard (0.98...1).contains(characterCoverage) else { throw ValidationError("--character-coverage must be between 0.98 and 1") }
        if metaspace && (model != "bpe" || byteLevel) { throw ValidationError("--metaspace goes with --model bpe, without --byte-level") }
        if byteFallback && model != "unigram" && !metaspace { throw ValidationError("--byte-fallback goes with --model unigram or --model bpe --metaspace") }
        if vocabFiles && lowercase && (model == "unigram" || metaspace) {
            throw ValidationError("--vocab-files writes a sentencepiece .model, which cannot lowercase: drop --lowercase or --vocab-files")
        }
        guard ["gpt2", "cl100k", "o200k"].contains(split) else { throw ValidationError("--split must be gpt2, cl100k or o200k, not \(split)") }
        guard vocabSize > 0 else { throw ValidationError("--vocab-size must be positive") }
        guard minFrequency >= 0 else { throw ValidationError("--min-frequency must not be negative") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if files.isEmpty && fromCounts.isEmpty { throw ValidationError("give at least one corpus file, or - for standard input, or --from-counts") }
        if !files.isEmpty && !fromCounts.isEmpty { throw ValidationError("give corpus files or --from-counts, not both") }
    }

    func run() throws {
        var options = TokenizerTrainingOptions()
        options.model = TokenizerTrainingOptions.Model(rawValue: model) ?? .bpe
        options.byteFallback = byteFallback
        options.metaspace = metaspace
        options.characterCoverage = characterCoverage
        options.byteLevel = byteLevel
        options.split = TokenizerTrainingOptions.Split(rawValue: split) ?? .gpt2
        options.vocabSize = vocabSize
        options.minFrequency = minFrequency
        options.lowercase = lowercase
        options.limitAlphabet = limitAlphabet
        if let s = specialTokens {
            options.specialTokens = s.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
        }
        if let a = initialAlphabet { options.initialAlphabet = Array(a.unicodeScalars) }
        if let t = threads { options.threads = t }

        let showProgress = !quiet && isatty(2) != 0
        var trainer = TokenizerTrainer(options: options)
        let start = Date()
        var lastReport = Date.distantPast
        if showProgress {
            trainer.onCounting = { read, total, words in
                let now = Date()
                guard now.timeIntervalSince(lastReport) > 0.25 else { return }
                lastReport = now
                let elapsed = now.timeIntervalSince(start)
                let rate = Double(read) / max(elapsed, 1e-9) / 1e6
                var line = String(format: "\rcounting: %.1f MB read, %d distinct words, %.1f MB/s", Double(read) / 1e6, words, rate)
                if let total, total > 0, read > 0 {
                    let eta = Double(total - read) / max(Double(read) / max(elapsed, 1e-9), 1)
                    line += String(format: ", %.0f%%, ETA %.0fs", 100 * Double(read) / Double(total), eta)
                }
                writeStandardError(line + "   ")
            }
            trainer.onUnigramStep = { line in writeStandardError("\runigram: \(line)\u{1B}[K") }
            let mergeStart = Date()
            trainer.onMerging = { merges, target in
                let now = Date()
                guard now.timeIntervalSince(lastReport) > 0.25 else { return }
                lastReport = now
                let rate = Double(merges) / max(now.timeIntervalSince(mergeStart), 1e-9)
                writeStandardError(String(format: "\rmerging: %d merges (vocab target %d), %.0f merges/s   ", merges, target, rate))
            }
        }
        var counts = WordCounts()
        if fromCounts.isEmpty {
            counts = try trainer.countWords(paths: files)
        } else {
            for path in fromCounts { counts.merge(try trainer.readCounts(path: path)) }
        }
        if showProgress { writeStandardError("\n") }
        let trained = try trainer.train(counts: counts)
        if showProgress { writeStandardError("\n") }
        if trained.alphabetExceedsVocabSize {
            printNote("verba: warning: the special tokens and the alphabet alone make \(trained.result.vocab.count) tokens, more than --vocab-size \(vocabSize): no merges learned")
        }
        try trained.write(to: output)
        if vocabFiles {
            try trained.writeVocabFiles(to: URL(fileURLWithPath: output).deletingLastPathComponent().path)
        }
        if !quiet {
            let seconds = Date().timeIntervalSince(start)
            printNote(String(format: "trained %@: %d tokens, %d merges, %d distinct words, %.2f s -> %@",
                             model, trained.result.vocab.count, trained.result.merges.count, counts.count, seconds, output))
        }
    }
}
