// The tokenizer vocabulary of a GGUF file (llama.cpp's format): only the header and the key/value
// metadata are read (by VerbaSupport's `GGUFHeader`, which checks every length against the file's size).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VerbaSupport

/// The `tokenizer.ggml.*` metadata of a GGUF file.
struct GGUFVocabulary {
    var model: String = ""
    var pre: String?
    var tokens: [String] = []
    var merges: [String] = []
    var tokenTypes: [Int] = []
    var ids: [String: Int] = [:]
    var flags: [String: Bool] = [:]

    /// Parses the metadata of `data` (the container is read by VerbaSupport's `GGUFHeader`); `path`
    /// names the file in errors.
    init(_ data: UnsafeRawBufferPointer, path: String) throws {
        let header: GGUFHeader
        do {
            header = try GGUFHeader(data, path: path, tensorInfos: false)
        } catch let e as GGUFError {
            throw e.tokenizerError
        }
        func fail(_ reason: String) -> TokenizerError { .malformed(path: path, reason: "GGUF: \(reason)") }
        do {
            model = try header.optionalString("tokenizer.ggml.model") ?? ""
            pre = try header.optionalString("tokenizer.ggml.pre")
            tokens = try header.optionalStrings("tokenizer.ggml.tokens") ?? []
            merges = try header.optionalStrings("tokenizer.ggml.merges") ?? []
            tokenTypes = try header.optionalInts("tokenizer.ggml.token_type") ?? []
        } catch let e as GGUFError {
            throw e.tokenizerError
        }
        for (key, value) in header.metadata where key.hasPrefix("tokenizer.ggml.") {
            if case let .bool(b) = value { flags[key] = b } else if let v = value.intValue { ids[key] = v }
        }
        guard !model.isEmpty else { throw fail("no tokenizer.ggml.model: the file has no tokenizer vocabulary") }
        guard !tokens.isEmpty else { throw fail("no tokenizer.ggml.tokens") }
        if !tokenTypes.isEmpty && tokenTypes.count != tokens.count {
            throw fail("tokenizer.ggml.token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
    }

    func id(_ key: String) -> Int? {
        guard let v = ids["tokenizer.ggml." + key], v >= 0, v < tokens.count else { return nil }
        return v
    }
}

extension GGUFError {
    /// The same error as the tokenizers report it.
    var tokenizerError: TokenizerError {
        switch self {
        case let .unsupported(path, what): return .unsupported(path: path, what: what)
        case let .malformed(path, _), let .missingKey(path, _), let .wrongKeyType(path, _, _):
            let text = description
            let prefix = path + ": GGUF: "
            return .malformed(path: path, reason: "GGUF: " + (text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text))
        }
    }
}

extension Tokenizer {
    /// A tokenizer from a GGUF file's vocabulary: `gpt2` (byte-level BPE with merges; the split pattern
    /// from `tokenizer.ggml.pre`) or `bert` (WordPiece; llama.cpp stores word-initial pieces with a
    /// leading "▁" and continuations bare, which is turned back into BERT's `##` spelling).
    static func fromGGUF(_ data: [UInt8], path: String) throws -> Tokenizer {
        try fromGGUF(try data.withUnsafeBytes { try GGUFVocabulary($0, path: path) }, path: path)
    }

    /// The vocabulary of the GGUF file at `path` read through a read-only mapping (a model file may be
    /// gigabytes; only its header is touched), or nil when the file does not start with "GGUF".
    static func fromGGUFFile(path: String) throws -> Tokenizer? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 4 else { return nil }
        var magic = [UInt8](repeating: 0, count: 4)
        guard pread(fd, &magic, 4, 0) == 4, magic == Array("GGUF".utf8) else { return nil }
        let size = Int(st.st_size)
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw TokenizerError.unreadable(path: path, reason: "mmap: \(errnoText())")
        }
        defer { munmap(map, size) }
        let g = try GGUFVocabulary(UnsafeRawBufferPointer(start: map, count: size), path: path)
        return try fromGGUF(g, path: path)
    }

    private static func fromGGUF(_ g: GGUFVocabulary, path: String) throws -> Tokenizer {
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(g.tokens.count)
        switch g.model {
        case "gpt2":
            for (i, t) in g.tokens.enumerated() where vocab[t] == nil { vocab[t] = i }
            var merges: [(String, String)] = []
            merges.reserveCapacity(g.merges.count)
            for (i, m) in g.merges.enumerated() {
                guard let pair = splitMerge(m) else {
                    throw TokenizerError.malformed(path: path, reason: "GGUF: merge \(i + 1) \"\(m)\" is not two tokens separated by a space")
                }
                merges.append(pair)
            }
            let pattern: SplitPattern
            switch g.pre ?? "gpt-2" {
            case "gpt-2", "default", "gpt2": pattern = .gpt2
            case "llama-bpe", "llama3", "smaug-bpe": pattern = .llama3
            case "qwen2": pattern = .qwen2
            case "gpt-4o": pattern = .o200k
            case let other: throw TokenizerError.unsupported(path: path, what: "GGUF pre-tokenizer \"\(other)\"")
            }
            let model = try BPE(vocab: vocab, merges: merges, options: BPE.Options(byteLevel: true), path: path)
            // Control (3) and user-defined (4) tokens are matched whole, as llama.cpp does.
            var added: [AddedToken] = []
            for (i, type) in g.tokenTypes.enumerated() where type == 3 || type == 4 {
                added.append(AddedToken(content: g.tokens[i], id: i, special: type == 3, normalized: false))
            }
            var layout: [TemplateProcessing.Piece] = [.sequence(isB: false, typeId: 0)]
            var specials: [(name: String, token: TemplateProcessing.SpecialToken)] = []
            if g.flags["tokenizer.ggml.add_bos_token"] == true, let bos = g.id("bos_token_id") {
                layout.insert(.special(name: g.tokens[bos], typeId: 0), at: 0)
                specials.append((g.tokens[bos], .init(ids: [bos], tokens: [g.tokens[bos]])))
            }
            if g.flags["tokenizer.ggml.add_eos_token"] == true, let eos = g.id("eos_token_id") {
                layout.append(.special(name: g.tokens[eos], typeId: 0))
                specials.append((g.tokens[eos], .init(ids: [eos], tokens: [g.tokens[eos]])))
            }
            let post: (any PostProcessor)? = specials.isEmpty ? nil
                : TemplateProcessing(single: layout, pair: layout + [.sequence(isB: true, typeId: 1)], specialTokens: specials)
            let preJSON: JSONValue = pattern == .gpt2 ? byteLevelJSON(addPrefixSpace: false, useRegex: true)
                : .object([("type", .string("Sequence")), ("pretokenizers", .array([
                    .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern.hfRegex))])),
                             ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                    byteLevelJSON(addPrefixSpace: false, useRegex: false),
                ]))])
            return Tokenizer(normalizer: nil, preTokenizer: PatternSplitter(pattern), model: model,
                             postProcessor: post, decoder: ByteLevelDecoder(), addedTokens: added, byteLevel: true,
                             preTokenizerJSON: preJSON)
        case "bert":
            for (i, t) in g.tokens.enumerated() {
                // Scalars and bytes, not Characters: "▁" followed by a combining mark is one Character.
                let u = Array(t.utf8)
                let bracketed = u.first == UInt8(ascii: "[") && u.last == UInt8(ascii: "]")
                let isControl = !g.tokenTypes.isEmpty && g.tokenTypes[i] == 3
                let bert: String
                if isControl || bracketed {
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
        case let other:
            throw TokenizerError.unsupported(path: path, what: "GGUF tokenizer model \"\(other)\" (Verba reads gpt2 and bert)")
        }
    }
}
