import Foundation

/// What `TokenizerTrainer` learns and how it reads the corpus.
///
/// ```swift
/// var options = TokenizerTrainingOptions()
/// options.byteLevel = true          // GPT-2 style byte-level BPE
/// options.split = .cl100k
/// options.vocabSize = 8_000
/// print(options.effectiveSpecialTokens)   // ["<|endoftext|>"]
/// ```
public struct TokenizerTrainingOptions: Sendable {
    /// The kind of tokenizer to learn: byte-pair encoding, or WordPiece as BERT uses it.
    ///
    /// ```swift
    /// var options = TokenizerTrainingOptions()
    /// options.model = TokenizerTrainingOptions.Model(rawValue: "wordpiece")!   // .wordPiece
    /// ```
    public enum Model: String, Sendable { case bpe, wordPiece = "wordpiece", unigram }
    /// How byte-level BPE splits text into words before counting them: GPT-2's pattern, or cl100k_base's
    /// as Hugging Face tokenizer.json files spell it (`SplitPattern.llama3`).
    ///
    /// ```swift
    /// var options = TokenizerTrainingOptions()
    /// options.byteLevel = true
    /// options.split = .cl100k   // digits in groups of up to three, as cl100k_base splits them
    /// ```
    public enum Split: String, Sendable {
        case gpt2, cl100k, o200k
        var pattern: SplitPattern {
            switch self {
            case .gpt2: return .gpt2
            case .cl100k: return .llama3
            case .o200k: return .o200k
            }
        }
    }

    public var model: Model = .bpe
    /// Byte-level BPE (GPT-2's byte-to-unicode alphabet, every byte encodable). Ignored for WordPiece.
    public var byteLevel: Bool = false
    public var split: Split = .gpt2
    public var vocabSize: Int = 30_000
    public var minFrequency: Int = 0
    /// Special tokens, given ids 0, 1, ... in this order. Empty means the model's usual ones:
    /// `<|endoftext|>` for byte-level BPE, `[PAD] [UNK] [CLS] [SEP] [MASK]` for WordPiece.
    public var specialTokens: [String]? = nil
    /// Lowercase the text (WordPiece: BertNormalizer's `lowercase`, which also strips accents).
    public var lowercase: Bool = false
    public var limitAlphabet: Int? = nil
    public var initialAlphabet: [Unicode.Scalar] = []
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Unigram: the share of the corpus's characters the alphabet covers (sentencepiece's default).
    public var characterCoverage: Double = 0.9995
    /// Unigram and SentencePiece BPE: 256 byte pieces `<0x00>`...`<0xFF>` after the special tokens, so no
    /// character is unknown.
    public var byteFallback: Bool = false
    /// BPE as sentencepiece trains it (`model_type=bpe`): SentencePiece words (`▁` before each), an alphabet
    /// by `characterCoverage`, pieces within one script; the tokenizer.json has a Metaspace pre-tokenizer.
    public var metaspace: Bool = false

    public init() {}

    /// The special tokens in effect.
    public var effectiveSpecialTokens: [String] {
        if let s = specialTokens { return s }
        switch model {
        case .bpe where metaspace: return ["<unk>", "<s>", "</s>"]
        case .bpe: return byteLevel ? ["<|endoftext|>"] : ["[UNK]"]
        case .wordPiece: return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        case .unigram: return ["<unk>", "<s>", "</s>"]
        }
    }
}

/// Learns a tokenizer from corpora: counts words in parallel (streamed, memory bounded by the distinct
/// words), then runs `BPETrainer`. WordPiece is trained as HF's WordPieceTrainer does: BPE with the
/// `##` continuing-subword prefix over BERT-normalized, BERT-pre-tokenized words.
///
/// ```swift
/// var options = TokenizerTrainingOptions()
/// options.model = .wordPiece
/// options.lowercase = true
/// var trainer = TokenizerTrainer(options: options)
/// trainer.onMerging = { done, target in print("\(done)/\(target) merges") }
/// try trainer.train(paths: ["corpus.txt"]).write(to: "tokenizer.json")
/// ```
public struct TokenizerTrainer {
    public var options: TokenizerTrainingOptions
    /// Progress callbacks, for a progress line on a terminal.
    public var onCounting: ((_ bytesRead: Int, _ totalBytes: Int?, _ distinctWords: Int) -> Void)?
    public var onMerging: ((_ merges: Int, _ target: Int) -> Void)?
    /// Unigram: a line on each stage (seeds, each EM and pruning round).
    public var onUnigramStep: ((String) -> Void)?

    public init(options: TokenizerTrainingOptions) { self.options = options }

    /// The normalizer and pre-tokenizer that turn corpus lines into the words the model learns from.
    package func textPipeline() -> (normalizer: (any Normalizer)?, preTokenizer: any PreTokenizer) {
        let p = countPipeline()
        return (p.normalizer, p.preTokenizer)
    }

    /// The counting pipeline of these options, with the names a counts file must carry to train them.
    package func countPipeline() -> CountPipeline {
        let name: String
        switch options.model {
        case .wordPiece: name = "bert"
        case .bpe where options.metaspace: name = "metaspace"
        case .bpe where options.byteLevel: name = options.split.rawValue
        case .bpe: name = "whitespace"
        case .unigram: name = "metaspace"
        }
        // The names are the trainers' own: this cannot fail.
        guard let p = try? CountPipeline.named(name, lowercase: options.lowercase) else { preconditionFailure("pipeline \(name)") }
        return p
    }

    /// Counts the words of `paths` (`-` is standard input).
    public func countWords(paths: [String]) throws -> WordCounts {
        var counter = countPipeline().counter(threads: options.threads)
        counter.progress = onCounting
        return try counter.count(paths: paths)
    }

    /// Reads a counts file (`verba tokenizer count`, `merge-counts`) made by the pipeline these options
    /// train with.
    /// - Throws: `TrainerError` when the file is unreadable or malformed, or its pipeline is another.
    public func readCounts(path: String) throws -> WordCounts {
        let (counts, name) = try readWordCounts(path: path)
        let expected = countPipeline().name
        guard name == expected else {
            throw TrainerError.invalidOption("\(path): counts made with \(name), but this training needs \(expected) (count with --pre-tokenizer \(expected.preTokenizer)\(expected.normalizer.contains("lowercase") ? " --lowercase" : ""))")
        }
        return counts
    }

    /// Trains on the files in `paths`.
    public func train(paths: [String]) throws -> TrainedTokenizer {
        try train(counts: countWords(paths: paths))
    }

    /// Trains on words already counted.
    public func train(counts: WordCounts) throws -> TrainedTokenizer {
        if options.model == .unigram { return try trainUnigram(counts: counts) }
        if options.model == .bpe && options.metaspace { return try trainSentencePieceBPE(counts: counts) }
        var words: [[Unicode.Scalar]] = []
        var wordCounts: [Int] = []
        words.reserveCapacity(counts.count)
        wordCounts.reserveCapacity(counts.count)
        let byteLevel = options.model == .bpe && options.byteLevel
        counts.forEach { bytes, count in
            var scalars: [Unicode.Scalar] = []
            scalars.reserveCapacity(bytes.count)
            if byteLevel {
                for b in bytes { scalars.append(Unicode.Scalar(ByteLevel.byteToScalar[Int(b)])!) }
            } else {
                // Invalid UTF-8 in a corpus becomes U+FFFD for character-level models.
                for s in UTF8Codec.decodeScalars(bytes).scalars {
                    scalars.append(UTF8Codec.isRawByte(s) ? "\u{FFFD}" : Unicode.Scalar(s) ?? "\u{FFFD}")
                }
            }
            words.append(scalars)
            wordCounts.append(count)
        }
        if words.isEmpty { throw TrainerError.emptyCorpus }

        var bpe = BPETrainerOptions()
        bpe.vocabSize = options.vocabSize
        bpe.minFrequency = options.minFrequency
        bpe.specialTokens = options.effectiveSpecialTokens
        bpe.limitAlphabet = options.limitAlphabet
        bpe.initialAlphabet = options.initialAlphabet
        if byteLevel {
            bpe.initialAlphabet += ByteLevel.byteToScalar.map { Unicode.Scalar($0)! }
        }
        if options.model == .wordPiece { bpe.continuingSubwordPrefix = "##" }

        let target = options.vocabSize
        let result = BPETrainer(options: bpe).train(words: words, counts: wordCounts) { [onMerging] n in
            onMerging?(n, target)
        }
        return TrainedTokenizer(result: result, options: options)
    }
}

extension TokenizerTrainer {
    /// Unigram (sentencepiece's trainer) on SentencePiece words: special tokens first, then the byte
    /// pieces with byte fallback, then the learned pieces by score.
    func trainUnigram(counts: WordCounts) throws -> TrainedTokenizer {
        let specials = options.effectiveSpecialTokens
        guard let unk = specials.firstIndex(of: "<unk>") else {
            throw TrainerError.invalidOption("Unigram needs <unk> among the special tokens")
        }
        var words: [[UInt32]] = []
        var wordCounts: [Int] = []
        counts.forEach { bytes, count in
            words.append(UTF8Codec.decodeScalars(bytes).scalars.map { UTF8Codec.isRawByte($0) ? 0xFFFD : $0 })
            wordCounts.append(count)
        }
        if words.isEmpty { throw TrainerError.emptyCorpus }
        let bytePieces = options.byteFallback ? (0..<256).map { String(format: "<0x%02X>", $0) } : []
        var u = UnigramTrainerOptions()
        u.vocabSize = options.vocabSize
        u.characterCoverage = options.characterCoverage
        u.metaPieceCount = specials.count + bytePieces.count
        u.threads = options.threads
        // sentencepiece 0.2.3's seed count when none is given: 8 per vocabulary entry, at least 100,000.
        u.seedSize = max(100_000, 8 * options.vocabSize)
        let learned = try UnigramTrainer(options: u).train(words: words, counts: wordCounts) { [onUnigramStep] line in onUnigramStep?(line) }
        var vocab = specials + bytePieces
        var scores = [Double](repeating: 0, count: vocab.count)
        let taken = Set(vocab)
        for (piece, score) in learned {
            let s = String(String.UnicodeScalarView(piece.compactMap(Unicode.Scalar.init)))
            if taken.contains(s) { continue }
            vocab.append(s)
            scores.append(score)
        }
        var trained = TrainedTokenizer(result: BPETrainingResult(vocab: vocab, merges: [], specialTokens: specials), options: options)
        trained.scores = scores
        trained.unkId = unk
        return trained
    }
}
