// Hugging Face `tokenizer.json`: building a Tokenizer from it and writing one that `tokenizers` loads.

import Foundation

/// Reads the pieces of a `tokenizer.json`; every error names the file and the field.
struct TokenizerJSONReader {
    let path: String
    /// `model.vocab` and `model.merges` as read from the file's bytes while it was parsed (see
    /// `parseJSON(_:capturing:reader:)`); nil when they were parsed as JSON values instead.
    var vocabStrings: ByteStringTable.PackedKeys? = nil
    var merges: PackedMerges? = nil
    /// Threads the model's tables may be built on (see `Tokenizer.fromTokenizerJSON`).
    var threads = 1

    func fail(_ reason: String) -> TokenizerError { .malformed(path: path, reason: reason) }
    func unsupported(_ what: String) -> TokenizerError { .unsupported(path: path, what: what) }

    func type(of v: JSONValue, _ field: String) throws -> String {
        guard let t = v["type"]?.stringValue else { throw fail("\(field) has no \"type\"") }
        return t
    }

    func bool(_ v: JSONValue, _ key: String, _ def: Bool) -> Bool { v[key]?.boolValue ?? def }

    func int(_ v: JSONValue, _ key: String, _ field: String) throws -> Int {
        guard let i = v[key]?.intValue else { throw fail("\(field).\(key) is missing or not an integer") }
        return i
    }

    func string(_ v: JSONValue, _ key: String, _ field: String) throws -> String {
        guard let s = v[key]?.stringValue else { throw fail("\(field).\(key) is missing or not a string") }
        return s
    }

    func scalar(_ v: JSONValue, _ key: String, _ def: Unicode.Scalar, _ field: String) throws -> Unicode.Scalar {
        guard let s = v[key]?.stringValue else { return def }
        guard s.unicodeScalars.count == 1, let c = s.unicodeScalars.first else {
            throw fail("\(field).\(key) must be a single character")
        }
        return c
    }

    /// A `{"String": s}` pattern (Regex patterns are refused unless a native scanner knows them).
    func literalPattern(_ v: JSONValue?, _ field: String) throws -> String {
        if let s = v?["String"]?.stringValue { return s }
        if let r = v?["Regex"]?.stringValue { throw unsupported("\(field) regex pattern \(r)") }
        throw fail("\(field).pattern is missing")
    }

    /// A Replace with a regex pattern, built by `make` from the content; an unsupported construct is
    /// an error naming the field and the pattern.
    func regexReplace<T>(_ v: JSONValue, _ pattern: String, _ field: String, _ make: (String) throws -> T) throws -> T {
        let content = try string(v, "content", field)
        do {
            return try make(content)
        } catch let e as RegexError {
            throw unsupported("\(field) Replace pattern \(pattern): \(e)")
        }
    }

    // MARK: Normalizers

    func normalizer(_ v: JSONValue) throws -> (any Normalizer)? {
        if v.isNull { return nil }
        let field = "normalizer"
        switch try type(of: v, field) {
        case "BertNormalizer":
            return BertNormalizer(cleanText: bool(v, "clean_text", true), handleChineseChars: bool(v, "handle_chinese_chars", true),
                                  stripAccents: v["strip_accents"]?.boolValue, lowercase: bool(v, "lowercase", true))
        case "Lowercase": return LowercaseNormalizer()
        case "NFC": return UnicodeNormalizer(.nfc)
        case "NFD": return UnicodeNormalizer(.nfd)
        case "NFKC": return UnicodeNormalizer(.nfkc)
        case "NFKD": return UnicodeNormalizer(.nfkd)
        case "StripAccents": return StripAccentsNormalizer()
        case "Strip": return StripNormalizer(left: bool(v, "strip_left", true), right: bool(v, "strip_right", true))
        case "Replace":
            if let r = v["pattern"]?["Regex"]?.stringValue { return try regexReplace(v, r, field) { try ReplaceNormalizer(regex: r, content: $0) } }
            return ReplaceNormalizer(pattern: try literalPattern(v["pattern"], field), content: try string(v, "content", field))
        case "Prepend": return PrependNormalizer(prepend: try string(v, "prepend", field))
        case "Precompiled":
            let base64 = try string(v, "precompiled_charsmap", field)
            if base64.isEmpty { return nil }
            var blob = [UInt8](repeating: 0, count: base64.utf8.count / 4 * 3 + 3)
            var b64 = base64
            let count = b64.withUTF8 { s in blob.withUnsafeMutableBufferPointer { BPE.decodeBase64(s, into: $0.baseAddress!) } }
            guard let count else { throw fail("normalizer Precompiled: precompiled_charsmap is not base64") }
            do {
                return HFPrecompiledNormalizer(charsmap: try PrecompiledCharsmapNormalizer(Array(blob[..<count])))
            } catch let e as PrecompiledCharsmapNormalizer.Malformed {
                throw fail("normalizer Precompiled: \(e.reason)")
            }
        case "Sequence":
            guard let list = v["normalizers"]?.arrayValue else { throw fail("normalizer Sequence has no \"normalizers\" list") }
            return SequenceNormalizer(try list.compactMap { try normalizer($0) })
        case let other: throw unsupported("normalizer type \(other)")
        }
    }

    // MARK: Pre-tokenizers

    /// The pre-tokenizer, whether it prefixes a space (ByteLevel `add_prefix_space`), and whether it
    /// is byte-level.
    func preTokenizer(_ v: JSONValue, top: Bool = true) throws -> (pre: (any PreTokenizer)?, prefixSpace: Bool, byteLevel: Bool) {
        if v.isNull { return (nil, false, false) }
        let field = "pre_tokenizer"
        switch try type(of: v, field) {
        case "BertPreTokenizer": return (BertPreTokenizer(), false, false)
        case "Whitespace": return (WhitespacePreTokenizer(), false, false)
        case "WhitespaceSplit": return (WhitespaceSplitPreTokenizer(), false, false)
        case "Punctuation":
            let name = v["behavior"]?.stringValue ?? "Isolated"
            guard let b = DelimiterBehavior(rawValue: name) else { throw unsupported("Punctuation behavior \(name)") }
            return (PunctuationPreTokenizer(behavior: b), false, false)
        case "Digits": return (DigitsPreTokenizer(individualDigits: bool(v, "individual_digits", false)), false, false)
        case "ByteLevel":
            let prefix = bool(v, "add_prefix_space", true)
            if prefix && !top { throw unsupported("ByteLevel pre-tokenizer with add_prefix_space after another pre-tokenizer") }
            return (ByteLevelPreTokenizer(addPrefixSpace: prefix, useRegex: bool(v, "use_regex", true),
                                          trimOffsets: bool(v, "trim_offsets", true)), prefix, true)
        case "Split":
            let regex = v["pattern"]?["Regex"]?.stringValue
            guard let source = regex ?? v["pattern"]?["String"]?.stringValue else {
                throw fail("pre_tokenizer Split has no pattern")
            }
            let name = v["behavior"]?.stringValue ?? "Isolated"
            guard let behavior = DelimiterBehavior(rawValue: name) else { throw unsupported("Split behavior \(name)") }
            let invert = bool(v, "invert", false)
            // A pattern a native scanner implements as Oniguruma reads it (tiktoken's cl100k spelling,
            // `\p{N}{1,3}+`, means `(?:\p{N}{1,3})+` there, so it goes to the regex engine).
            if let regex, behavior == .isolated, !invert,
               let native = SplitPattern(hfRegex: regex) ?? SplitPattern(regex: regex).flatMap({ $0.regex == $0.hfRegex ? $0 : nil }) {
                return (PatternSplitter(native), false, false)
            }
            do {
                return (try RegexSplitPreTokenizer(pattern: source, literal: regex == nil, behavior: behavior, invert: invert), false, false)
            } catch let e as RegexError {
                throw unsupported("Split pre-tokenizer pattern \(source): \(e)")
            }
        case "Metaspace":
            let scheme = v["prepend_scheme"]?.stringValue ?? (bool(v, "add_prefix_space", true) ? "always" : "never")
            guard ["always", "first", "never"].contains(scheme) else { throw unsupported("Metaspace prepend_scheme \(scheme)") }
            // At the top the mark is the tokenizer's prefix space, once per text segment; after another
            // pre-tokenizer (T5's WhitespaceSplit) the model prepends it to each piece, which cannot tell
            // whether its piece begins the text (`first`).
            if scheme == "first" && !top { throw unsupported("Metaspace prepend_scheme first after another pre-tokenizer") }
            let pre = MetaspacePreTokenizer(replacement: try scalar(v, "replacement", "\u{2581}", field), prependScheme: scheme,
                                            split: bool(v, "split", true), prependEachPiece: scheme == "always" && !top)
            return (pre, scheme != "never" && top, false)
        case "Sequence":
            guard let list = v["pretokenizers"]?.arrayValue else { throw fail("pre_tokenizer Sequence has no \"pretokenizers\" list") }
            var parts: [any PreTokenizer] = []
            var prefix = false, byteLevel = false
            for (i, item) in list.enumerated() {
                let p = try preTokenizer(item, top: top && i == 0)
                if let pre = p.pre { parts.append(pre) }
                prefix = prefix || p.prefixSpace
                byteLevel = byteLevel || p.byteLevel
            }
            return (parts.count == 1 ? parts[0] : SequencePreTokenizer(parts), prefix, byteLevel)
        case let other: throw unsupported("pre_tokenizer type \(other)")
        }
    }

    // MARK: Post-processors

    func pair(_ v: JSONValue?, _ name: String) throws -> (token: String, id: Int) {
        guard let a = v?.arrayValue, a.count == 2, let t = a[0].stringValue, let id = a[1].intValue else {
            throw fail("post_processor.\(name) must be [token, id]")
        }
        return (t, id)
    }

    func postProcessor(_ v: JSONValue) throws -> (any PostProcessor)? {
        if v.isNull { return nil }
        let field = "post_processor"
        switch try type(of: v, field) {
        case "TemplateProcessing":
            func pieces(_ key: String) throws -> [TemplateProcessing.Piece] {
                guard let list = v[key]?.arrayValue else { throw fail("post_processor.\(key) is missing") }
                return try list.map { item in
                    if let s = item["Sequence"] {
                        let id = s["id"]?.stringValue ?? "A"
                        return .sequence(isB: id == "B", typeId: s["type_id"]?.intValue ?? 0)
                    }
                    if let s = item["SpecialToken"], let id = s["id"]?.stringValue {
                        return .special(name: id, typeId: s["type_id"]?.intValue ?? 0)
                    }
                    throw fail("post_processor.\(key) has an item that is neither Sequence nor SpecialToken")
                }
            }
            var specials: [(name: String, token: TemplateProcessing.SpecialToken)] = []
            for (name, t) in v["special_tokens"]?.objectValue ?? [] {
                let ids = (t["ids"]?.arrayValue ?? []).compactMap { $0.intValue }
                let tokens = (t["tokens"]?.arrayValue ?? []).compactMap { $0.stringValue }
                guard ids.count == tokens.count else { throw fail("post_processor special token \(name): ids and tokens differ in length") }
                specials.append((name, .init(ids: ids, tokens: tokens)))
            }
            let template = TemplateProcessing(single: try pieces("single"), pair: try pieces("pair"), specialTokens: specials)
            for p in template.single + template.pair {
                if case let .special(name, _) = p, !specials.contains(where: { $0.name == name }) {
                    throw fail("post_processor template names the special token \(name), absent from special_tokens")
                }
            }
            return template
        case "BertProcessing":
            return BertProcessing(sep: try pair(v["sep"], "sep"), cls: try pair(v["cls"], "cls"))
        case "RobertaProcessing":
            return RobertaProcessing(sep: try pair(v["sep"], "sep"), cls: try pair(v["cls"], "cls"),
                                     trimOffsets: bool(v, "trim_offsets", true), addPrefixSpace: bool(v, "add_prefix_space", true))
        case "ByteLevel":
            return ByteLevelProcessing(trimOffsets: bool(v, "trim_offsets", true), addPrefixSpace: bool(v, "add_prefix_space", true),
                                       useRegex: bool(v, "use_regex", true))
        case "Sequence":
            guard let list = v["processors"]?.arrayValue else { throw fail("post_processor Sequence has no \"processors\" list") }
            return SequenceProcessing(try list.compactMap { try postProcessor($0) })
        case let other: throw unsupported("post_processor type \(other)")
        }
    }

    // MARK: Decoders

    func decoder(_ v: JSONValue) throws -> (any TokenDecoder)? {
        if v.isNull { return nil }
        let field = "decoder"
        switch try type(of: v, field) {
        case "ByteLevel": return ByteLevelDecoder()
        case "WordPiece": return WordPieceDecoder(prefix: v["prefix"]?.stringValue ?? "##", cleanup: bool(v, "cleanup", true))
        case "Metaspace":
            let scheme = v["prepend_scheme"]?.stringValue ?? (bool(v, "add_prefix_space", true) ? "always" : "never")
            return MetaspaceDecoder(replacement: try scalar(v, "replacement", "\u{2581}", field), prependScheme: scheme,
                                    split: bool(v, "split", true))
        case "Replace":
            if let r = v["pattern"]?["Regex"]?.stringValue { return try regexReplace(v, r, field) { try ReplaceDecoder(regex: r, content: $0) } }
            return ReplaceDecoder(pattern: try literalPattern(v["pattern"], field), content: try string(v, "content", field))
        case "Fuse": return FuseDecoder()
        case "Strip":
            return StripDecoder(content: try scalar(v, "content", " ", field), start: v["start"]?.intValue ?? 0,
                                stop: v["stop"]?.intValue ?? 0)
        case "ByteFallback": return ByteFallbackDecoder()
        case "BPEDecoder": return BPESuffixDecoder(suffix: v["suffix"]?.stringValue ?? "</w>")
        case "Sequence":
            guard let list = v["decoders"]?.arrayValue else { throw fail("decoder Sequence has no \"decoders\" list") }
            return SequenceDecoder(try list.compactMap { try decoder($0) })
        case let other: throw unsupported("decoder type \(other)")
        }
    }

    // MARK: Models

    func vocab(_ v: JSONValue?) throws -> [String: Int] {
        guard let pairs = v?.objectValue else { throw fail("model.vocab is missing or not an object") }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(pairs.count)
        for (token, id) in pairs {
            guard let i = id.intValue, i >= 0 else { throw fail("model.vocab: the id of \(token) is not a non-negative integer") }
            vocab[token] = i
        }
        return vocab
    }

    func model(_ v: JSONValue, byteLevel: Bool, metaspace: MetaspacePreTokenizer? = nil) throws -> any TokenizationModel {
        guard v["type"] != nil || v["vocab"] != nil else { throw fail("no \"model\"") }
        // Files written by old versions leave out the type: BPE has merges, WordPiece does not.
        let type = v["type"]?.stringValue ?? (v["merges"] != nil ? "BPE" : "WordPiece")
        switch type {
        case "WordPiece":
            let unk = v["unk_token"]?.stringValue ?? "[UNK]"
            let prefix = v["continuing_subword_prefix"]?.stringValue ?? "##"
            let maxChars = v["max_input_chars_per_word"]?.intValue ?? 100
            // Read from the file's bytes when they were (no string per token).
            let keys = try vocabStrings ?? ByteStringTable.PackedKeys(self.vocab(v["vocab"]))
            do {
                return try WordPiece(keys: keys, unkToken: unk, continuingSubwordPrefix: prefix, maxInputCharsPerWord: maxChars)
            } catch let e as TokenizerError {
                throw fail("model: \(e.description)")
            }
        case "BPE":
            let strings = try vocabStrings ?? ByteStringTable.PackedKeys(vocab(v["vocab"]))
            var merges = PackedMerges()
            if let captured = self.merges {
                merges = captured
            } else {
                guard let list = v["merges"]?.arrayValue else { throw fail("model.merges is missing or not a list") }
                for (i, m) in list.enumerated() {
                    let pair: (String, String)
                    if let s = m.stringValue {
                        guard let p = splitMerge(s) else { throw fail("model.merges[\(i)] \"\(s)\" is not two tokens separated by a space") }
                        pair = p
                    } else if let a = m.arrayValue, a.count == 2, let x = a[0].stringValue, let y = a[1].stringValue {
                        pair = (x, y)
                    } else {
                        throw fail("model.merges[\(i)] is neither \"a b\" nor [a, b]")
                    }
                    var (a, b) = pair
                    a.withUTF8 { a in b.withUTF8 { b in merges.append(a, b) } }
                }
            }
            if let d = v["dropout"]?.doubleValue, d > 0 { throw unsupported("BPE dropout \(d)") }
            let options = BPE.Options(byteLevel: byteLevel, ignoreMerges: bool(v, "ignore_merges", false),
                                      byteFallback: bool(v, "byte_fallback", false), unkToken: v["unk_token"]?.stringValue,
                                      fuseUnk: bool(v, "fuse_unk", false),
                                      continuingSubwordPrefix: v["continuing_subword_prefix"]?.stringValue,
                                      endOfWordSuffix: v["end_of_word_suffix"]?.stringValue)
            return try BPE(vocabularyStrings: strings, merges: merges, options: options, path: path, threads: threads)
        case "Unigram": return try unigram(v, spaceMark: metaspace?.markBytes, prefixEachPiece: metaspace?.prependEachPiece ?? false)
        case let other:
            throw fail("unknown model type \(other) (Verba reads BPE, WordPiece and Unigram)")
        }
    }

    // MARK: Whole file

    func addedTokens(_ v: JSONValue?) throws -> [AddedToken] {
        guard let v, !v.isNull else { return [] }
        guard let list = v.arrayValue else { throw fail("added_tokens is not a list") }
        return try list.enumerated().map { i, t in
            guard let id = t["id"]?.intValue, let content = t["content"]?.stringValue else {
                throw fail("added_tokens[\(i)] needs an integer id and a string content")
            }
            let special = bool(t, "special", false)
            return AddedToken(content: content, id: id, special: special, singleWord: bool(t, "single_word", false),
                              lstrip: bool(t, "lstrip", false), rstrip: bool(t, "rstrip", false),
                              normalized: t["normalized"]?.boolValue ?? !special)
        }
    }

    func truncation(_ v: JSONValue?) throws -> TruncationParams? {
        guard let v, !v.isNull else { return nil }
        let strategy = TruncationParams.Strategy(rawValue: v["strategy"]?.stringValue ?? "LongestFirst") ?? .longestFirst
        return TruncationParams(maxLength: try int(v, "max_length", "truncation"), strategy: strategy,
                                stride: v["stride"]?.intValue ?? 0,
                                direction: Side(rawValue: v["direction"]?.stringValue ?? "Right") ?? .right)
    }

    func padding(_ v: JSONValue?) throws -> PaddingParams? {
        guard let v, !v.isNull else { return nil }
        var strategy = PaddingParams.Strategy.batchLongest
        if let fixed = v["strategy"]?["Fixed"]?.intValue { strategy = .fixed(fixed) }
        return PaddingParams(strategy: strategy, direction: Side(rawValue: v["direction"]?.stringValue ?? "Right") ?? .right,
                             padToMultipleOf: v["pad_to_multiple_of"]?.intValue, padId: v["pad_id"]?.intValue ?? 0,
                             padTypeId: v["pad_type_id"]?.intValue ?? 0, padToken: v["pad_token"]?.stringValue ?? "[PAD]")
    }

    /// `prebuilt`: the model, built by the caller (then `root` has none).
    func tokenizer(_ root: JSONValue, model prebuilt: (any TokenizationModel)? = nil) throws -> Tokenizer {
        guard root.objectValue != nil else { throw fail("the JSON value is not an object") }
        let norm = try normalizer(root["normalizer"] ?? .null)
        let pre = try preTokenizer(root["pre_tokenizer"] ?? .null)
        let metaspace = MetaspacePreTokenizer.find(in: pre.pre)
        var model: any TokenizationModel
        if let prebuilt {
            model = prebuilt
        } else if let modelValue = root["model"] {
            model = try self.model(modelValue, byteLevel: pre.byteLevel, metaspace: metaspace)
        } else {
            throw fail("no \"model\"")
        }
        if let metaspace, let bpe = model as? BPE, !pre.byteLevel {
            if metaspace.prependEachPiece { throw unsupported("Metaspace pre-tokenizer after another one with a BPE model") }
            model = MetaspaceBPE(bpe: bpe, mark: metaspace.markBytes)
        } else if metaspace != nil && !(model is Unigram) {
            throw unsupported("Metaspace pre-tokenizer with a model other than Unigram or BPE")
        }
        return Tokenizer(normalizer: norm, preTokenizer: pre.pre, model: model,
                         postProcessor: try postProcessor(root["post_processor"] ?? .null),
                         decoder: try decoder(root["decoder"] ?? .null), addedTokens: try addedTokens(root["added_tokens"]),
                         truncation: try truncation(root["truncation"]), padding: try padding(root["padding"]),
                         byteLevel: pre.byteLevel, addPrefixSpace: pre.prefixSpace,
                         normalizerJSON: root["normalizer"] ?? .null, preTokenizerJSON: root["pre_tokenizer"] ?? .null)
    }
}

extension Tokenizer {
    /// Builds a tokenizer from the text of a Hugging Face `tokenizer.json`; `path` names it in errors.
    /// With `threads` above 1, a large file's vocabulary and merges are read at once on two threads
    /// (each reading the document and stepping over the other's part), and so are the two halves of
    /// the merges when they are resolved to ids; the result is the same.
    public static func fromTokenizerJSON(_ bytes: [UInt8], path: String, threads: Int = 1) throws -> Tokenizer {
        try bytes.withUnsafeBufferPointer { try fromTokenizerJSON(buffer: $0, path: path, threads: threads) }
    }

    /// `fromTokenizerJSON(_:path:threads:)` on bytes in place (a mapped file); nothing built keeps them.
    static func fromTokenizerJSON(buffer: UnsafeBufferPointer<UInt8>, path: String, threads: Int) throws -> Tokenizer {
        do {
            let (root, strings, merges) = try threads > 1 && buffer.count >= 1 << 20
                ? readModelTwoWays(buffer) ?? readModel(buffer) : readModel(buffer)
            let reader = TokenizerJSONReader(path: path, vocabStrings: strings, merges: merges,
                                             threads: threads)
            return try reader.tokenizer(root)
        } catch let e as JSONParseError {
            throw TokenizerError.malformed(path: path, reason: e.message)
        }
    }

    /// The key paths `readModel` reads straight into tables.
    private static let modelTables = [["model", "vocab"], ["model", "merges"]]

    /// The document, with `model.vocab` and `model.merges` read into packed tables (nil when absent
    /// or not of the usual shape: then they are in the document).
    private static func readModel(_ buffer: UnsafeBufferPointer<UInt8>) throws
        -> (JSONValue, ByteStringTable.PackedKeys?, PackedMerges?) {
        var strings = ByteStringTable.PackedKeys()
        var merges = PackedMerges()
        var read = [false, false]
        let root = try parseJSON(buffer, capturing: modelTables) { k, parser in
            read[k] = k == 0 ? try parser.readVocabulary(into: &strings) : try parser.readMerges(into: &merges)
            return read[k]
        }
        return (root, read[0] ? strings : nil, read[1] ? merges : nil)
    }

    /// `readModel` on two threads: this one reads the document and the vocabulary and steps over
    /// the merges, the other steps over the vocabulary and reads the merges. Nil when anything is not
    /// as usual (an error, a vocabulary or merges of another shape): `readModel` then says what.
    private static func readModelTwoWays(_ buffer: UnsafeBufferPointer<UInt8>)
        -> (JSONValue, ByteStringTable.PackedKeys?, PackedMerges?)? {
        let (first, second) = inParallel({ () -> (JSONValue, ByteStringTable.PackedKeys?)? in
            var strings = ByteStringTable.PackedKeys()
            var read = false
            let root = try parseJSON(buffer, capturing: modelTables) { k, parser in
                if k == 1 { return try parser.skipContainer() }
                read = try parser.readVocabulary(into: &strings)
                return read
            }
            return read ? (root, strings) : nil
        }, { () -> PackedMerges?? in
            var merges = PackedMerges()
            var read: Bool? = nil  // nil: there are no merges
            _ = try parseJSON(buffer, capturing: modelTables) { k, parser in
                if k == 0 { return try parser.skipContainer() }
                let ok = try parser.readMerges(into: &merges)
                read = ok
                return ok
            }
            switch read {
            case nil: return .some(nil)
            case true: return merges
            case false: return nil
            }
        })
        guard case .success(let vocabulary?) = first, case .success(let merges?) = second else { return nil }
        return (vocabulary.0, vocabulary.1, merges)
    }

    /// This tokenizer as a Hugging Face `tokenizer.json` value.
    package func tokenizerJSON() -> JSONValue {
        let added: [JSONValue] = addedVocabulary.tokens.map { t in
            .object([("id", .int(t.id)), ("content", .string(t.content)), ("single_word", .bool(t.singleWord)),
                     ("lstrip", .bool(t.lstrip)), ("rstrip", .bool(t.rstrip)), ("normalized", .bool(t.normalized)),
                     ("special", .bool(t.special))])
        }
        return .object([
            ("version", .string("1.0")),
            ("truncation", truncation?.json ?? .null),
            ("padding", padding?.json ?? .null),
            ("added_tokens", .array(added)),
            ("normalizer", normalizerJSON),
            ("pre_tokenizer", preTokenizerJSON),
            ("post_processor", postProcessor?.json ?? .null),
            ("decoder", decoder?.json ?? .null),
            ("model", modelJSON()),
        ])
    }

    /// Writes this tokenizer as a `tokenizer.json` that Hugging Face `tokenizers` loads, atomically.
    public func save(to path: String) throws {
        var bytes = tokenizerJSON().serialized()
        bytes.append(10)
        do { try writeFileAtomically(bytes, to: path) } catch {
            throw TokenizerError.unwritable(path: path, reason: error.reason)
        }
    }

    /// The model section of `tokenizer.json`.
    func modelJSON() -> JSONValue {
        func vocabObject(_ count: Int, _ token: (Int) -> String?) -> JSONValue {
            var pairs: [(String, JSONValue)] = []
            pairs.reserveCapacity(count)
            for id in 0..<count { if let t = token(id) { pairs.append((t, .int(id))) } }
            return .object(pairs)
        }
        if let wp = model as? WordPiece {
            return .object([("type", .string("WordPiece")), ("unk_token", .string(wp.unkToken)),
                            ("continuing_subword_prefix", .string(wp.continuingSubwordPrefix)),
                            ("max_input_chars_per_word", .int(wp.maxInputCharsPerWord)),
                            ("vocab", vocabObject(wp.vocabSize) { wp.idToToken($0) })])
        }
        if let unigram = model as? Unigram { return unigram.json }
        if let bpe = model as? BPE ?? (model as? MetaspaceBPE)?.bpe {
            let o = bpe.options
            let merges: [JSONValue] = (bpe.isTiktoken ? bpe.derivedMerges() : bpe.merges.pairs).map { .array([.string($0.0), .string($0.1)]) }
            return .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", o.unkToken.map { .string($0) } ?? .null),
                ("continuing_subword_prefix", o.continuingSubwordPrefix.map { .string($0) } ?? .null),
                ("end_of_word_suffix", o.endOfWordSuffix.map { .string($0) } ?? .null),
                ("fuse_unk", .bool(o.fuseUnk)), ("byte_fallback", .bool(o.byteFallback)),
                ("ignore_merges", .bool(o.ignoreMerges || bpe.isTiktoken)),
                ("vocab", vocabObject(bpe.vocabSize) { bpe.idToToken($0) }),
                ("merges", .array(merges)),
            ])
        }
        return .null
    }
}

extension BPE {
    /// Merges that rebuild this model's vocabulary in rank order (for tiktoken models, which have none):
    /// each token of two or more bytes is the merge of the two parts that byte-pair merging with the
    /// lower ranks leaves of its bytes, as Hugging Face's tiktoken converter derives them.
    func derivedMerges() -> [(String, String)] {
        var merges: [(rank: Int, a: String, b: String)] = []
        for id in 0..<vocabSize {
            let bytes = Array(table.bytes(of: id))
            guard bytes.count >= 2, table.find(bytes) == id else { continue }
            var parts: [[UInt8]] = bytes.map { [$0] }
            while parts.count > 2 {
                var best = -1, bestRank = Int.max
                for i in 0..<(parts.count - 1) {
                    let r = table.find(parts[i] + parts[i + 1])
                    if r >= 0 && r < id && r < bestRank { best = i; bestRank = r }
                }
                if best < 0 { break }
                parts[best] += parts[best + 1]
                parts.remove(at: best + 1)
            }
            guard parts.count == 2 else { continue }
            merges.append((id, ByteLevel.encode(parts[0]), ByteLevel.encode(parts[1])))
        }
        return merges.map { ($0.a, $0.b) }
    }
}

/// Splits a merge written "a b" into its two tokens (on UTF-8 spaces, never on grapheme clusters);
/// nil unless there are exactly two parts, as Hugging Face requires.
func splitMerge(_ s: String) -> (String, String)? {
    var s = s
    return s.withUTF8 { utf8 in
        splitMerge(utf8).map { (String(decoding: $0, as: UTF8.self), String(decoding: $1, as: UTF8.self)) }
    }
}

/// `splitMerge` on UTF-8 bytes: the two tokens of "a b", nil unless there is exactly one space.
func splitMerge(_ s: UnsafeBufferPointer<UInt8>) -> (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>)? {
    guard let space = s.firstIndex(of: 0x20), !s[(space + 1)...].contains(0x20) else { return nil }
    return (UnsafeBufferPointer(rebasing: s[..<space]), UnsafeBufferPointer(rebasing: s[(space + 1)...]))
}

extension SplitPattern {
    /// The pattern as a `tokenizer.json` regex that Hugging Face (Oniguruma) reads with the same
    /// meaning: Oniguruma takes `{1,3}+` as a repetition of `{1,3}`, not as possessive, so cl100k's
    /// `\p{N}{1,3}+` is written `\p{N}{1,3}` (the same matches: nothing follows it in its branch).
    var hfRegex: String { regex.replacingOccurrences(of: #"\p{N}{1,3}+"#, with: #"\p{N}{1,3}"#) }

    /// Recognizes the Hugging Face spelling written by `hfRegex`.
    init?(hfRegex: String) {
        for p in SplitPattern.allCases where p.hfRegex == hfRegex {
            self = p
            return
        }
        return nil
    }
}
