// The tokenizer of a GGUF vocabulary, built as the Hugging Face pipeline the vocabulary came from
// (llama.cpp's test vectors for these files are `tokenizers`' ids): a byte-level BPE (`gpt2`) whose
// pre-tokenizer is named by `tokenizer.ggml.pre`, SentencePiece BPE (`llama`, merges derived from the
// scores), Unigram (`t5`), Gemma 4's BPE over raw UTF-8 (`gemma4`) and WordPiece (`bert`).

import VerbaSupport

/// How one `tokenizer.ggml.pre` family pre-tokenizes a byte-level BPE vocabulary: its Split regexes,
/// applied one after another (each isolates its matches within the previous pieces, as llama.cpp's
/// list of expressions does), in the Hugging Face spelling when llama.cpp rewrote one.
struct GGUFPreTokenizer: Sendable {
    var regexes: [String]
    /// The whole piece is looked up before merging (`ignore_merges`).
    var ignoreMerges = false
    /// llama.cpp adds BOS unless the file says otherwise.
    var addBOS = false

    static let contractions = #"'s|'t|'re|'ve|'m|'ll|'d"#
    static let gpt2 = SplitPattern.gpt2.hfRegex
    static let llama3 = SplitPattern.llama3.hfRegex
    static let qwen2 = SplitPattern.qwen2.hfRegex
    static let o200k = SplitPattern.o200k.hfRegex
    static let cjk = "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+"

    /// The family of `name`, nil when llama.cpp does not know it or pre-tokenizes it with code
    /// rather than regexes.
    static func named(_ name: String) -> GGUFPreTokenizer? {
        switch name {
        case "default":
            return .init(regexes: [#"[\p{P}\$\+<=>\^~\|]+"#, "\(contractions)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                                   #"\p{N}+"#, "[0-9][0-9][0-9]"])
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
            return .init(regexes: [llama3], ignoreMerges: true, addBOS: true)
        case "dbrx", "smaug-bpe":
            return .init(regexes: [llama3])
        case "chatglm-bpe":
            return .init(regexes: [llama3])
        case "glm4", "glm5":
            return .init(regexes: [llama3], ignoreMerges: true)
        case "deepseek-llm":
            return .init(regexes: [
                "[\r\n]",
                "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
                "\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+",
                "\\s+$",
                cjk,
                "\\p{N}+",
            ])
        case "deepseek-coder":
            return .init(regexes: ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", cjk, "\\p{N}"])
        case "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4":
            return .init(regexes: [
                "\\p{N}{1,3}", "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
            ])
        case "falcon":
            return .init(regexes: [#"[\p{P}\$\+<=>\^~\|`]+"#, gpt2, "[0-9][0-9][0-9]"])
        case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2":
            return .init(regexes: [#"\p{N}"#, gpt2])
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
             "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe":
            return .init(regexes: [gpt2])
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open":
            return .init(regexes: [qwen2])
        case "qwen35":
            return .init(regexes: [
                #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            ])
        case "poro-chat", "bloom", "gpt3-finnish":
            return .init(regexes: [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+"])
        case "viking":
            return .init(regexes: [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+", #"\p{N}"#])
        case "tekken":
            return .init(regexes: [
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            ], ignoreMerges: true, addBOS: true)
        case "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2":
            return .init(regexes: [o200k])
        case "seed-coder":
            return .init(regexes: [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#])
        case "grok-2":
            return .init(regexes: [qwen2])
        case "ufakzeka":
            return .init(regexes: [#"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#])
        case "minicpm5":
            return .init(regexes: [#"\p{N}{1,3}"#,
                                   #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#],
                         ignoreMerges: true)
        case "chameleon":
            return .init(regexes: ["<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", #"\p{N}"#,
                                   #"[\p{P}!-/:-@\[-`{-~]"#, gpt2], addBOS: true)
        default:
            return nil
        }
    }
}

extension Tokenizer {
    /// A tokenizer from a GGUF file's vocabulary (see the top of this file); an unknown model type or
    /// pre-tokenizer name is an error naming it.
    static func fromGGUF(_ data: [UInt8], path: String) throws -> Tokenizer {
        try fromGGUF(try data.withUnsafeBytes { try GGUFVocabulary($0, path: path) }, path: path)
    }

    /// The tokenizer of an already parsed GGUF vocabulary.
    static func fromGGUF(_ g: GGUFVocabulary, path: String) throws -> Tokenizer {
        switch g.model {
        case "gpt2": return try ggufByteLevelBPE(g, path: path)
        case "gemma4": return try ggufGemma4(g, path: path)
        case "llama", "t5": return try ggufSentencePiece(g, path: path)
        case "bert": return try ggufWordPiece(g, path: path)
        case let other:
            throw TokenizerError.unsupported(path: path, what: "GGUF tokenizer model \"\(other)\" (Verba reads gpt2, llama, t5, gemma4 and bert)")
        }
    }

    /// The tokens packed for the BPE tables (a token given twice is found at its later id, as llama.cpp
    /// finds it) and the merges, each "a b" split at its first space after the first byte.
    private static func ggufTables(_ g: GGUFVocabulary, path: String) throws -> (ByteStringTable.PackedKeys, PackedMerges) {
        var keys = ByteStringTable.PackedKeys()
        for (i, t) in g.tokens.enumerated() {
            var t = t
            t.withUTF8 { keys.append(id: i, $0) }
        }
        var merges = PackedMerges()
        for (i, m) in g.merges.enumerated() {
            guard var (a, b) = splitMerge(m) else {
                throw TokenizerError.malformed(path: path, reason: "GGUF: merge \(i + 1) \"\(m)\" is not two tokens separated by a space")
            }
            a.withUTF8 { a in b.withUTF8 { b in merges.append(a, b) } }
        }
        return (keys, merges)
    }

    /// Control (3) and user-defined (4) tokens, matched whole in the text; control tokens are special.
    private static func ggufAddedTokens(_ g: GGUFVocabulary) -> JSONValue {
        .array(g.tokens.indices.compactMap { i in
            let type = g.type(i)
            guard type == 3 || type == 4 else { return nil }
            return .object([("id", .int(i)), ("content", .string(g.tokens[i])), ("special", .bool(type == 3)),
                            ("normalized", .bool(false))])
        })
    }

    /// `tokenizer.json`'s TemplateProcessing adding BOS and EOS as the file (or llama.cpp's default
    /// for the family) says.
    private static func ggufPostProcessor(_ g: GGUFVocabulary, addBOS: Bool, addEOS: Bool = false) -> JSONValue {
        var single: [JSONValue] = [.object([("Sequence", .object([("id", .string("A")), ("type_id", .int(0))]))])]
        var pair = single + [.object([("Sequence", .object([("id", .string("B")), ("type_id", .int(1))]))])]
        var specials: [(String, JSONValue)] = []
        func special(_ id: Int, first: Bool) {
            let name = g.tokens[id]
            single.insert(.object([("SpecialToken", .object([("id", .string(name)), ("type_id", .int(0))]))]), at: first ? 0 : single.count)
            pair.insert(.object([("SpecialToken", .object([("id", .string(name)), ("type_id", .int(0))]))]), at: first ? 0 : pair.count)
            if !specials.contains(where: { $0.0 == name }) {
                specials.append((name, .object([("id", .string(name)), ("ids", .array([.int(id)])), ("tokens", .array([.string(name)]))])))
            }
        }
        if g.flag("add_bos_token") ?? addBOS, let bos = g.id("bos_token_id") { special(bos, first: true) }
        if g.flag("add_eos_token") ?? addEOS, let eos = g.id("eos_token_id") { special(eos, first: false) }
        if specials.isEmpty { return .null }
        return .object([("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                        ("special_tokens", .object(specials))])
    }

    private static func split(_ regex: String) -> JSONValue {
        .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(regex))])),
                 ("behavior", .string("Isolated")), ("invert", .bool(false))])
    }

    /// `gpt2`: byte-level BPE after the regexes of the file's `tokenizer.ggml.pre` family.
    private static func ggufByteLevelBPE(_ g: GGUFVocabulary, path: String) throws -> Tokenizer {
        let name = g.pre ?? "default"
        guard let family = GGUFPreTokenizer.named(name) else {
            throw TokenizerError.unsupported(path: path, what: "GGUF pre-tokenizer \"\(name)\" (tokenizer.ggml.pre)")
        }
        let pre: JSONValue = family.regexes == [GGUFPreTokenizer.gpt2]
            ? byteLevelJSON(addPrefixSpace: false, useRegex: true)
            : .object([("type", .string("Sequence")),
                       ("pretokenizers", .array(family.regexes.map(split) + [byteLevelJSON(addPrefixSpace: false, useRegex: false)]))])
        let root = JSONValue.object([
            ("added_tokens", ggufAddedTokens(g)),
            ("normalizer", .null),
            ("pre_tokenizer", pre),
            ("post_processor", ggufPostProcessor(g, addBOS: family.addBOS)),
            ("decoder", .object([("type", .string("ByteLevel"))])),
            ("model", .object([("type", .string("BPE")), ("ignore_merges", .bool(family.ignoreMerges))])),
        ])
        let (keys, merges) = try ggufTables(g, path: path)
        return try TokenizerJSONReader(path: path, vocabStrings: keys, merges: merges).tokenizer(root)
    }

    /// `gemma4`: BPE over raw UTF-8 with spaces written "▁", on the text cut at line breaks (a run of
    /// line breaks is one piece), unknown characters as `<0xXX>` byte tokens; BOS always added.
    private static func ggufGemma4(_ g: GGUFVocabulary, path: String) throws -> Tokenizer {
        let mark = "\u{2581}"
        let root = JSONValue.object([
            ("added_tokens", ggufAddedTokens(g)),
            ("normalizer", .object([("type", .string("Replace")), ("pattern", .object([("String", .string(" "))])),
                                    ("content", .string(mark))])),
            ("pre_tokenizer", split("[^\\n]+|[\\n]+")),
            ("post_processor", ggufPostProcessor(g, addBOS: true)),
            ("decoder", .object([("type", .string("Sequence")), ("decoders", .array([
                .object([("type", .string("Replace")), ("pattern", .object([("String", .string(mark))])), ("content", .string(" "))]),
                .object([("type", .string("ByteFallback"))]), .object([("type", .string("Fuse"))]),
            ]))])),
            ("model", .object([("type", .string("BPE")), ("byte_fallback", .bool(true)),
                               ("unk_token", g.id("unknown_token_id").map { .string(g.tokens[$0]) } ?? .null)])),
        ])
        let (keys, merges) = try ggufTables(g, path: path)
        return try TokenizerJSONReader(path: path, vocabStrings: keys, merges: merges).tokenizer(root)
    }

    /// `llama` (SentencePiece BPE, merges from the scores) and `t5` (Unigram): the pieces as a
    /// sentencepiece model, encoded as `transformers`' converted tokenizer encodes.
    private static func ggufSentencePiece(_ g: GGUFVocabulary, path: String) throws -> Tokenizer {
        guard g.scores.count == g.tokens.count else {
            throw TokenizerError.malformed(path: path, reason: "GGUF: tokenizer.ggml.scores is missing (a \(g.model) vocabulary needs one score per token)")
        }
        var proto = SentencePieceModelProto()
        proto.modelType = g.model == "llama" ? 2 : 1
        for (i, t) in g.tokens.enumerated() {
            let type = SentencePieceModelProto.PieceType(rawValue: g.type(i)) ?? .normal
            proto.pieces.append(.init(piece: t, score: g.scores[i], type: type))
            if type == .byte { proto.byteFallback = true }
        }
        proto.unkId = g.id("unknown_token_id") ?? (g.model == "llama" ? 0 : 2)
        proto.addDummyPrefix = g.flag("add_space_prefix") ?? true
        proto.removeExtraWhitespaces = g.flag("remove_extra_whitespaces") ?? false
        proto.precompiledCharsmap = g.precompiledCharsmap
        let llama = g.model == "llama"
        let bos = (g.flag("add_bos_token") ?? llama) ? g.id("bos_token_id") ?? (llama ? 1 : nil) : nil
        let eos = (g.flag("add_eos_token") ?? !llama) ? g.id("eos_token_id") ?? (llama ? 2 : 1) : nil
        return try fromSentencePiece(proto, path: path, huggingFace: true, bos: bos, eos: eos)
    }

    /// `bert`: llama.cpp stores word-initial pieces with a leading "▁" and continuations bare, which
    /// is turned back into BERT's `##` spelling.
    private static func ggufWordPiece(_ g: GGUFVocabulary, path: String) throws -> Tokenizer {
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(g.tokens.count)
        for (i, t) in g.tokens.enumerated() {
            // Scalars and bytes, not Characters: "▁" followed by a combining mark is one Character.
            let u = Array(t.utf8)
            let bracketed = u.first == UInt8(ascii: "[") && u.last == UInt8(ascii: "]")
            let bert: String
            if g.type(i) == 3 || bracketed {
                bert = t
            } else if t.unicodeScalars.first == "\u{2581}" {
                bert = String(String.UnicodeScalarView(t.unicodeScalars.dropFirst()))
            } else {
                bert = "##" + t
            }
            if vocab[bert] == nil { vocab[bert] = i }
        }
        let unk = g.id("unknown_token_id").map { g.tokens[$0] } ?? "[UNK]"
        let model: WordPiece
        do {
            model = try WordPiece(vocab: vocab, unkToken: unk)
        } catch let e as TokenizerError {
            throw TokenizerError.malformed(path: path, reason: "GGUF: \(e.description)")
        }
        return try bert(model: model, lowercase: true, path: path)
    }
}
