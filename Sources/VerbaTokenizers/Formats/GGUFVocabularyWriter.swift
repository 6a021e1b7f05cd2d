// The other direction of GGUFVocabulary: a Hugging Face byte-level BPE tokenizer.json (GPT-2, Llama 3,
// Qwen2, SmolLM...) as the `tokenizer.ggml.*` metadata llama.cpp's converter writes for it: the tokens by
// id (gaps filled with "[PAD<id>]"), their types (1 normal, 3 control for special added tokens, 4
// user-defined for the other added tokens), the merges as "a b" strings, and the pre-tokenizer's name.
import Foundation
import VerbaSupport

extension Tokenizer {
    /// The `tokenizer.ggml.*` metadata of the byte-level BPE `tokenizer.json` at `path`, with `bos` and
    /// `eos` ids when given, and the token list padded with unused "[PAD<id>]" tokens to `rows` (the
    /// embedding's rows, which llama.cpp requires to equal the token count). Throws
    /// `TokenizerError.unsupported` for another tokenizer model or a split pattern llama.cpp has no name for.
    package static func ggufMetadata(tokenizerJSON path: String, bos: Int?, eos: Int?, addBOS: Bool?,
                                     rows: Int? = nil) throws
        -> [(key: String, value: GGUFValue)] {
        let root = try parseJSON(try readFile(path))
        func bad(_ what: String) -> TokenizerError { .malformed(path: path, reason: what) }
        guard let model = root["model"], model["type"]?.stringValue == "BPE" else {
            throw TokenizerError.unsupported(path: path, what: "tokenizer model \(root["model"]?["type"]?.stringValue ?? "(none)") for GGUF (Verba writes byte-level BPE)")
        }
        guard let vocab = model["vocab"]?.objectValue else { throw bad("model.vocab is not an object") }
        var tokens: [String?] = []
        func put(_ token: String, _ id: Int) throws {
            guard id >= 0, id < 1 << 24 else { throw bad("token id \(id) out of range") }
            if id >= tokens.count { tokens += Array(repeating: nil, count: id + 1 - tokens.count) }
            tokens[id] = token
        }
        for (token, value) in vocab {
            guard case let .int(id) = value else { throw bad("model.vocab entry \(token) is not an integer id") }
            try put(token, id)
        }
        var types = [Int](repeating: 1, count: tokens.count)
        for item in root["added_tokens"]?.arrayValue ?? [] {
            guard let content = item["content"]?.stringValue, case let .int(id)? = item["id"] else { throw bad("an added token has no content or id") }
            try put(content, id)
            if id >= types.count { types += Array(repeating: 1, count: id + 1 - types.count) }
            types[id] = item["special"]?.boolValue == true ? 3 : 4
        }
        if let rows, rows > tokens.count {
            guard rows <= 1 << 24 else { throw bad("\(rows) embedding rows") }
            types += Array(repeating: 1, count: rows - types.count)
            tokens += Array(repeating: nil, count: rows - tokens.count)
        }
        let names = tokens.enumerated().map { $0.element ?? "[PAD\($0.offset)]" }
        for (i, t) in tokens.enumerated() where t == nil { types[i] = 5 }  // unused
        var merges: [String] = []
        for m in model["merges"]?.arrayValue ?? [] {
            if let s = m.stringValue { merges.append(s) } else if let pair = m.arrayValue, pair.count == 2,
                let a = pair[0].stringValue, let b = pair[1].stringValue { merges.append(a + " " + b) } else {
                throw bad("model.merges holds an entry that is not a merge")
            }
        }
        let pre = try ggufPreName(root["pre_tokenizer"], path: path)
        var out: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string, names.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, types.map { .int(Int64($0), .int32) })),
            ("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) })),
        ]
        if let bos { out.append(("tokenizer.ggml.bos_token_id", .int(Int64(bos), .uint32))) }
        if let eos { out.append(("tokenizer.ggml.eos_token_id", .int(Int64(eos), .uint32))) }
        if let addBOS { out.append(("tokenizer.ggml.add_bos_token", .bool(addBOS))) }
        return out
    }

    /// llama.cpp's name for the split of a byte-level pre-tokenizer: GGUF's `tokenizer.ggml.pre`.
    private static func ggufPreName(_ pre: JSONValue?, path: String) throws -> String {
        guard let pre else { throw TokenizerError.unsupported(path: path, what: "tokenizer without a pre-tokenizer for GGUF") }
        var regexes: [String] = []
        var byteLevelRegex = false
        func walk(_ v: JSONValue) {
            switch v["type"]?.stringValue {
            case "ByteLevel": if v["use_regex"]?.boolValue != false { byteLevelRegex = true }
            case "Split": if let r = v["pattern"]?["Regex"]?.stringValue { regexes.append(r) }
            case "Sequence": for p in v["pretokenizers"]?.arrayValue ?? [] { walk(p) }
            default: break
            }
        }
        walk(pre)
        if regexes.isEmpty && byteLevelRegex { return "gpt-2" }
        if regexes.count == 1, let p = SplitPattern(hfRegex: regexes[0]) {
            switch p {
            case .gpt2: return "gpt-2"
            case .llama3, .cl100k: return "llama-bpe"
            case .qwen2: return "qwen2"
            case .o200k: return "gpt-4o"
            }
        }
        throw TokenizerError.unsupported(path: path, what: "pre-tokenizer split for GGUF (Verba names GPT-2's, Llama 3's, Qwen2's and o200k's)")
    }
}

extension Tokenizer {
    /// The `tokenizer.ggml.*` metadata of a BERT WordPiece vocabulary (`vocab.txt`, one token per line),
    /// as llama.cpp's converter writes it: "bert" model, word-initial tokens with a leading "▁" and `##`
    /// continuations bare, the special tokens (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`) as control
    /// tokens kept as they are.
    package static func ggufBertMetadata(vocabTxt path: String, typeCount: Int, padding: Int?) throws
        -> [(key: String, value: GGUFValue)] {
        var lines = String(decoding: try readFile(path), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw TokenizerError.malformed(path: path, reason: "the vocabulary is empty") }
        let specials: Set<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        var tokens: [String] = [], types: [Int] = []
        for raw in lines {
            let t = raw.hasSuffix("\r") ? String(raw.dropLast()) : raw
            if specials.contains(t) {
                tokens.append(t); types.append(3)
            } else {
                tokens.append(t.hasPrefix("##") ? String(t.dropFirst(2)) : "\u{2581}" + t); types.append(1)
            }
        }
        var out: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.token_type_count", .int(Int64(typeCount), .uint32)),
            ("tokenizer.ggml.model", .string("bert")),
            ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, types.map { .int(Int64($0), .int32) })),
        ]
        if let padding { out.append(("tokenizer.ggml.padding_token_id", .int(Int64(padding), .uint32))) }
        return out
    }
}
