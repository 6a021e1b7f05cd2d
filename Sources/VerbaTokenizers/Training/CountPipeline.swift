import Foundation

/// How corpus lines become counted words: a normalizer and a pre-tokenizer, with the names a counts
/// file's header gives them (so counts of different pipelines are never mixed).
///
/// The named pre-tokenizers are those the trainers use: `gpt2`, `cl100k` and `o200k` split as byte-level
/// BPE does (raw bytes are counted); `bert` is BertNormalizer + BertPreTokenizer (WordPiece); `whitespace`
/// splits as HF's `Whitespace` (character BPE); `metaspace` cuts lines into SentencePiece's words
/// (extra spaces removed, spaces as `▁`, a `▁` in front, a word before each `▁`; Unigram).
package struct CountPipeline: Sendable {
    package var name: CountsPipelineName
    package var normalizer: (any Normalizer)?
    package var preTokenizer: any PreTokenizer

    package static let preTokenizerNames = ["gpt2", "cl100k", "o200k", "bert", "whitespace", "metaspace"]

    /// The named pipeline, lowercasing or not.
    /// - Throws: `TrainerError.invalidOption` for an unknown name.
    package static func named(_ preTokenizer: String, lowercase: Bool) throws -> CountPipeline {
        let lower: (any Normalizer)? = lowercase ? LowercaseNormalizer() : nil
        let lowerName = lowercase ? "lowercase" : "none"
        switch preTokenizer {
        case "gpt2", "cl100k", "o200k":
            let pattern: SplitPattern = preTokenizer == "gpt2" ? .gpt2 : preTokenizer == "cl100k" ? .llama3 : .o200k
            return CountPipeline(name: .init(preTokenizer: preTokenizer, normalizer: lowerName), normalizer: lower,
                                 preTokenizer: PatternSplitter(pattern))
        case "bert":
            return CountPipeline(name: .init(preTokenizer: "bert", normalizer: lowercase ? "bert-lowercase" : "bert"),
                                 normalizer: BertNormalizer(lowercase: lowercase), preTokenizer: BertPreTokenizer())
        case "whitespace":
            return CountPipeline(name: .init(preTokenizer: "whitespace", normalizer: lowerName), normalizer: lower,
                                 preTokenizer: WhitespacePreTokenizer())
        case "metaspace":
            let words = SentencePieceWords(lowercase: lowercase)
            return CountPipeline(name: .init(preTokenizer: "metaspace", normalizer: lowercase ? "lowercase,line-end" : "line-end"), normalizer: words,
                                 preTokenizer: MetaspacePreTokenizer(replacement: "▁", prependScheme: "never", split: true))
        default:
            throw TrainerError.invalidOption("unknown pre-tokenizer \(preTokenizer) (one of \(preTokenizerNames.joined(separator: ", ")))")
        }
    }

    /// The normalizer and pre-tokenizer of a loaded tokenizer; the header holds their tokenizer.json
    /// values, so only counts made `--like` the same file merge.
    package static func like(_ tokenizer: Tokenizer) -> CountPipeline {
        func oneLine(_ v: JSONValue) -> String {
            // The writer indents with newlines and spaces, never inside strings (escaped there).
            var out: [UInt8] = []
            var skipping = false
            for b in v.serialized(indent: 0) {
                if b == 10 { skipping = true; continue }
                if skipping && b == 32 { continue }
                skipping = false
                out.append(b)
            }
            return "json:" + String(decoding: out, as: UTF8.self)
        }
        return CountPipeline(name: .init(preTokenizer: oneLine(tokenizer.preTokenizerJSON), normalizer: oneLine(tokenizer.normalizerJSON)),
                             normalizer: tokenizer.normalizer, preTokenizer: tokenizer.preTokenizer ?? WholeTextPreTokenizer())
    }

    /// A counter over this pipeline.
    package func counter(threads: Int) -> CorpusCounter {
        CorpusCounter(normalizer: normalizer, preTokenizer: preTokenizer, threads: threads)
    }
}

/// The whole text as one piece (a tokenizer without a pre-tokenizer).
struct WholeTextPreTokenizer: PreTokenizer {
    func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        if !text.isEmpty { pieces.append(0..<text.count) }
    }
}

/// SentencePiece's view of a corpus line before it cuts words: the line ending dropped, leading,
/// trailing and repeated spaces removed (`remove_extra_whitespaces`), each space replaced by `▁` and a
/// `▁` put in front (`add_dummy_prefix`). A NUL marks the end of the line, so the last word of a line
/// is counted apart (`▁word\0`): sentencepiece's Unigram trainer finds its seed pieces in whole lines
/// ended by NUL, where what follows a word's end (a `▁` or the line's end) decides which substrings
/// are seeds. Offsets are not kept: only counting uses it.
struct SentencePieceWords: Normalizer {
    var lowercase: Bool

    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        var end = text.count
        while end > 0 && (text[end - 1] == 10 || text[end - 1] == 13) { end -= 1 }
        var start = 0
        while start < end && text[start] == 32 { start += 1 }
        while end > start && text[end - 1] == 32 { end -= 1 }
        var out: [UInt8] = []
        guard start < end else { return NormalizedText(bytes: out) }
        out.reserveCapacity((end - start) + 8)
        let mark: [UInt8] = [0xE2, 0x96, 0x81]
        out.append(contentsOf: mark)
        var i = start
        var lastSpace = false
        while i < end {
            let b = text[i]
            if b == 32 {
                if !lastSpace { out.append(contentsOf: mark) }
                lastSpace = true
            } else {
                out.append(b)
                lastSpace = false
            }
            i += 1
        }
        out.append(0)
        if lowercase {
            return out.withUnsafeBufferPointer { LowercaseNormalizer().normalize($0) }
        }
        return NormalizedText(bytes: out)
    }
}
