// The shared vocabulary of the tokenizer pipeline:
//   text ─▶ Normalizer ─▶ PreTokenizer ─▶ TokenizationModel ─▶ PostProcessor ─▶ Encoding
// Every stage works on UTF-8 bytes and Unicode scalars, never on Swift `Character`.

/// Text after normalization, with the way back to the original bytes.
///
/// `bytes` is the normalized UTF-8. `origins[i]` is the byte range, in the original text, of the
/// character that produced normalized byte `i` (every byte of one normalized scalar carries the same
/// range). When `origins` is empty the normalization was the identity and byte `i` came from byte `i`.
package struct NormalizedText: Sendable {
    package var bytes: [UInt8]
    package var origins: [Range<Int>]

    package init(bytes: [UInt8], origins: [Range<Int>] = []) {
        self.bytes = bytes
        self.origins = origins
    }

    /// The original byte range covered by the normalized byte range `r`.
    package func originalRange(of r: Range<Int>) -> Range<Int> {
        if origins.isEmpty { return r }
        if r.isEmpty {
            let at = r.lowerBound < origins.count ? origins[r.lowerBound].lowerBound : (origins.last?.upperBound ?? 0)
            return at..<at
        }
        return origins[r.lowerBound].lowerBound..<origins[r.upperBound - 1].upperBound
    }
}

/// Rewrites text before it is split (lowercasing, accent stripping, Unicode normalization...).
package protocol Normalizer: Sendable {
    /// Normalizes `text` (UTF-8, possibly invalid: invalid bytes pass through unchanged).
    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText
}

/// Splits (normalized) text into the pieces that the model encodes one at a time.
package protocol PreTokenizer: Sendable {
    /// Appends to `pieces` the byte ranges of `text` to encode, in order. Ranges do not overlap; bytes
    /// that belong to no range (BERT's whitespace) are dropped.
    func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>])
}

/// Turns one pre-tokenized piece into token ids (BPE merges, WordPiece longest match).
package protocol TokenizationModel: Sendable {
    /// Number of ids the model can produce (the largest id plus one).
    var vocabSize: Int { get }
    func tokenToId(_ token: String) -> Int?
    func idToToken(_ id: Int) -> String?
    /// Encodes `piece`, appending its ids to `ids` and, when `ranges` is non-nil, each token's byte
    /// range within `piece` (for `##ing` the range of `ing`; for an `[UNK]` word, the whole piece).
    func encode(piece: UnsafeBufferPointer<UInt8>, ids: inout [Int], ranges: UnsafeMutablePointer<[Range<Int>]>?)
    /// Encodes each piece `text[r]` for `r` in `pieces`, in order, appending the ids to `ids`: the same
    /// ids as `encode(piece:ids:ranges:)` on each. One call for a text's pieces, so a model shared by
    /// several threads is reached once per text rather than once per word.
    func encode(pieces: UnsafeBufferPointer<Range<Int>>, in text: UnsafeBufferPointer<UInt8>, ids: inout [Int])
}

extension TokenizationModel {
    package func encode(pieces: UnsafeBufferPointer<Range<Int>>, in text: UnsafeBufferPointer<UInt8>, ids: inout [Int]) {
        for r in pieces { encode(piece: UnsafeBufferPointer(rebasing: text[r]), ids: &ids, ranges: nil) }
    }
}

/// One encoded text (or pair of texts): what a model consumes.
///
/// ```swift
/// let tokenizer = try Tokenizer.load(path: "models/bert-base-uncased")
/// let encoding = try tokenizer.encode("Hello world")
/// print(encoding.tokens)       // ["[CLS]", "hello", "world", "[SEP]"]
/// print(encoding.ids)          // [101, 7592, 2088, 102]
/// print(encoding.offsets[2])   // 6..<11, "world" in the text
/// ```
public struct Encoding: Sendable, Equatable {
    /// Token ids.
    public var ids: [Int]
    /// Token strings as the vocabulary spells them (`Ġthe`, `##ing`).
    public var tokens: [String]
    /// Each token's UTF-8 byte range in the original text (empty range for added special tokens).
    public var byteOffsets: [Range<Int>]
    /// Each token's range in Unicode scalars (code points) of the original text, as HF reports offsets.
    public var offsets: [Range<Int>]
    /// 0 for the first sequence, 1 for the second of a pair.
    public var typeIds: [Int]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
    /// 1 for tokens added by the post-processor (`[CLS]`, `[SEP]`) and padding, 0 otherwise.
    public var specialTokensMask: [Int]
    /// Windows cut off by truncation with a stride, each a full Encoding.
    public var overflowing: [Encoding]

    public init(ids: [Int] = [], tokens: [String] = [], byteOffsets: [Range<Int>] = [], offsets: [Range<Int>] = [],
                typeIds: [Int] = [], attentionMask: [Int] = [], specialTokensMask: [Int] = [], overflowing: [Encoding] = []) {
        self.ids = ids
        self.tokens = tokens
        self.byteOffsets = byteOffsets
        self.offsets = offsets
        self.typeIds = typeIds
        self.attentionMask = attentionMask
        self.specialTokensMask = specialTokensMask
        self.overflowing = overflowing
    }

    public var count: Int { ids.count }
}

/// Errors from reading or interpreting tokenizer files. Each names the file and what is wrong with it.
///
/// ```swift
/// do {
///     let tokenizer = try Tokenizer.load(path: "models/missing")
/// } catch let error as TokenizerError {
///     print(error)   // "models/missing: cannot read: no such file or folder"
/// }
/// ```
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file or folder cannot be read.
    case unreadable(path: String, reason: String)
    /// The file cannot be written.
    case unwritable(path: String, reason: String)
    /// The file was read but its content is not what its format requires.
    case malformed(path: String, reason: String)
    /// A setting or component this implementation does not support.
    case unsupported(path: String, what: String)
    /// A folder holds none of the tokenizer files Verba knows.
    case noTokenizerFiles(path: String)
    /// Input that cannot be encoded or decoded (an id out of range, text over a limit).
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .unwritable(path, reason): return "\(path): cannot write: \(reason)"
        case let .malformed(path, reason): return "\(path): \(reason)"
        case let .unsupported(path, what): return "\(path): unsupported \(what)"
        case let .noTokenizerFiles(path):
            return "\(path): no tokenizer files (tokenizer.json, vocab.json + merges.txt, or vocab.txt)"
        case let .invalidInput(what): return what
        }
    }
}
