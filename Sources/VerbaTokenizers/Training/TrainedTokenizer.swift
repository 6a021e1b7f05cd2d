import Foundation

/// A tokenizer learned by `TokenizerTrainer`, ready to be written in the formats the field uses.
///
/// ```swift
/// let trained = try TokenizerTrainer(options: TokenizerTrainingOptions()).train(paths: ["corpus.txt"])
/// try trained.write(to: "out/tokenizer.json")      // Hugging Face tokenizer.json
/// try trained.writeVocabFiles(to: "out")           // vocab.json + merges.txt (vocab.txt for WordPiece)
/// let tokenizer = try Tokenizer.load(path: "out/tokenizer.json")
/// ```
public struct TrainedTokenizer: Sendable {
    /// What was learned.
    public var result: BPETrainingResult
    /// How it was learned (model, split, normalization).
    public var options: TokenizerTrainingOptions
    /// Unigram: each piece's score (log-probability), by id.
    public var scores: [Double]? = nil
    /// Unigram: the id of `<unk>`.
    public var unkId: Int = 0

    /// A trained tokenizer from what was learned and how.
    public init(result: BPETrainingResult, options: TokenizerTrainingOptions) {
        self.result = result
        self.options = options
    }

    /// True when the special tokens and the alphabet alone reach the requested size: then, as in HF,
    /// the vocabulary holds all of them (more than asked) and no merges.
    public var alphabetExceedsVocabSize: Bool { result.vocab.count > options.vocabSize }

    /// The Hugging Face `tokenizer.json` document: model, normalizer, pre-tokenizer, post-processor,
    /// decoder and added tokens, so that HF `tokenizers` loads it and encodes as Verba does.
    package func tokenizerJSON() -> JSONValue {
        var vocab: [(String, JSONValue)] = []
        vocab.reserveCapacity(result.vocab.count)
        for (id, token) in result.vocab.enumerated() { vocab.append((token, .int(id))) }
        let added: [JSONValue] = result.specialTokens.enumerated().map { id, token in
            .object([("id", .int(id)), ("content", .string(token)), ("single_word", .bool(false)),
                     ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                     ("special", .bool(true))])
        }
        let model: JSONValue, normalizer: JSONValue, preTokenizer: JSONValue, postProcessor: JSONValue, decoder: JSONValue
        switch options.model {
        case .bpe:
            let merges: [JSONValue] = result.merges.map { .array([.string(result.vocab[$0.0]), .string(result.vocab[$0.1])]) }
            let unkName = options.metaspace ? "<unk>" : "[UNK]"
            let unk: JSONValue = options.byteLevel ? .null : (result.specialTokens.contains(unkName) ? .string(unkName) : .null)
            // SentencePiece BPE: unknown characters fuse into one <unk>, as sentencepiece encodes them.
            model = .object([("type", .string("BPE")), ("dropout", .null), ("unk_token", unk),
                             ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null),
                             ("fuse_unk", .bool(options.metaspace)), ("byte_fallback", .bool(options.metaspace && options.byteFallback)),
                             ("ignore_merges", .bool(false)),
                             ("vocab", .object(vocab)), ("merges", .array(merges))])
        case .unigram:
            let scores = self.scores ?? []
            let pieces: [JSONValue] = result.vocab.enumerated().map { id, p in .array([.string(p), .double(id < scores.count ? scores[id] : 0)]) }
            model = .object([("type", .string("Unigram")), ("unk_id", .int(unkId)), ("vocab", .array(pieces)),
                             ("byte_fallback", .bool(options.byteFallback))])
        case .wordPiece:
            model = .object([("type", .string("WordPiece")), ("unk_token", .string("[UNK]")),
                             ("continuing_subword_prefix", .string("##")), ("max_input_chars_per_word", .int(100)),
                             ("vocab", .object(vocab))])
        }
        if options.model == .unigram || options.metaspace {
            // sentencepiece's words without its extra-space removal: a `▁` in front of the text (one more
            // when it starts with a space, as sentencepiece's dummy prefix), each space a `▁` starting a
            // word; the written `.model` says the same (`sentencePieceModel()`).
            let prepend: JSONValue = .object([("type", .string("Prepend")), ("prepend", .string("▁"))])
            normalizer = options.lowercase
                ? .object([("type", .string("Sequence")), ("normalizers", .array([.object([("type", .string("Lowercase"))]), prepend]))])
                : prepend
            preTokenizer = .object([("type", .string("Metaspace")), ("replacement", .string("▁")),
                                    ("prepend_scheme", .string("never")), ("split", .bool(true))])
            postProcessor = .null
            var decoders: [JSONValue] = [
                .object([("type", .string("Replace")), ("pattern", .object([("String", .string("▁"))])), ("content", .string(" "))]),
            ]
            if options.byteFallback { decoders.append(.object([("type", .string("ByteFallback"))])) }
            decoders.append(.object([("type", .string("Fuse"))]))
            decoders.append(.object([("type", .string("Strip")), ("content", .string(" ")), ("start", .int(1)), ("stop", .int(0))]))
            decoder = .object([("type", .string("Sequence")), ("decoders", .array(decoders))])
        } else if options.model == .wordPiece {
            normalizer = .object([("type", .string("BertNormalizer")), ("clean_text", .bool(true)),
                                  ("handle_chinese_chars", .bool(true)), ("strip_accents", .null),
                                  ("lowercase", .bool(options.lowercase))])
            preTokenizer = .object([("type", .string("BertPreTokenizer"))])
            decoder = .object([("type", .string("WordPiece")), ("prefix", .string("##")), ("cleanup", .bool(true))])
            postProcessor = bertTemplate()
        } else if options.byteLevel {
            normalizer = options.lowercase ? .object([("type", .string("Lowercase"))]) : .null
            let byteLevel: JSONValue = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
                                                ("trim_offsets", .bool(true)), ("use_regex", .bool(options.split == .gpt2))])
            switch options.split {
            case .gpt2:
                preTokenizer = byteLevel
            case .cl100k, .o200k:
                preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                    .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(options.split.pattern.regex))])),
                             ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                    byteLevel,
                ]))])
            }
            postProcessor = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                     ("trim_offsets", .bool(false)), ("use_regex", .bool(true))])
            decoder = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                               ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])
        } else {
            normalizer = options.lowercase ? .object([("type", .string("Lowercase"))]) : .null
            preTokenizer = .object([("type", .string("Whitespace"))])
            postProcessor = .null
            decoder = .null
        }
        return .object([("version", .string("1.0")), ("truncation", .null), ("padding", .null),
                         ("added_tokens", .array(added)), ("normalizer", normalizer), ("pre_tokenizer", preTokenizer),
                         ("post_processor", postProcessor), ("decoder", decoder), ("model", model)])
    }

    /// `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1 [SEP]:1` when both tokens were trained, else nothing.
    private func bertTemplate() -> JSONValue {
        guard let cls = result.specialTokens.firstIndex(of: "[CLS]"),
              let sep = result.specialTokens.firstIndex(of: "[SEP]") else { return .null }
        func special(_ id: String, _ type: Int) -> JSONValue {
            .object([("SpecialToken", .object([("id", .string(id)), ("type_id", .int(type))]))])
        }
        func sequence(_ id: String, _ type: Int) -> JSONValue {
            .object([("Sequence", .object([("id", .string(id)), ("type_id", .int(type))]))])
        }
        return .object([
            ("type", .string("TemplateProcessing")),
            ("single", .array([special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)])),
            ("pair", .array([special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0), sequence("B", 1), special("[SEP]", 1)])),
            ("special_tokens", .object([
                ("[CLS]", .object([("id", .string("[CLS]")), ("ids", .array([.int(cls)])), ("tokens", .array([.string("[CLS]")]))])),
                ("[SEP]", .object([("id", .string("[SEP]")), ("ids", .array([.int(sep)])), ("tokens", .array([.string("[SEP]")]))])),
            ])),
        ])
    }

    /// Writes `tokenizer.json` to `path` atomically: a temporary file beside it, flushed, then renamed,
    /// so a kill never leaves a half-written tokenizer.
    public func write(to path: String) throws {
        var bytes = tokenizerJSON().serialized(indent: 0)
        bytes.append(10)
        try atomicWrite(bytes, to: path)
    }

    /// Writes the vocabulary files of the older formats into `folder`: `vocab.json` + `merges.txt` for
    /// BPE, `vocab.txt` (one token per line, line number = id) for WordPiece and Unigram, and for
    /// Unigram and SentencePiece BPE the sentencepiece model `tokenizer.model` too.
    public func writeVocabFiles(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if options.model == .unigram || options.metaspace {
            try writeSentencePieceModel(to: folder + "/tokenizer.model")
        }
        switch options.model {
        case .wordPiece, .unigram:
            var text: [UInt8] = []
            for t in result.vocab { text.append(contentsOf: t.utf8); text.append(10) }
            try atomicWrite(text, to: folder + "/vocab.txt")
        case .bpe:
            var vocab: [(String, JSONValue)] = []
            for (id, token) in result.vocab.enumerated() { vocab.append((token, .int(id))) }
            var json = JSONValue.object(vocab).serialized(indent: 0)
            json.append(10)
            try atomicWrite(json, to: folder + "/vocab.json")
            var merges = Array("#version: 0.2\n".utf8)
            for (a, b) in result.merges {
                merges.append(contentsOf: result.vocab[a].utf8)
                merges.append(32)
                merges.append(contentsOf: result.vocab[b].utf8)
                merges.append(10)
            }
            try atomicWrite(merges, to: folder + "/merges.txt")
        }
    }
}

/// Writes `bytes` to `path` atomically (see `writeFileAtomically`), failing with a `TrainerError`.
func atomicWrite(_ bytes: [UInt8], to path: String) throws {
    do { try writeFileAtomically(bytes, to: path) } catch {
        throw TrainerError.unwritable(path: path, reason: error.reason)
    }
}
