// Truncation (longest-first, only-first, only-second, with a stride that keeps the cut-off windows as
// `overflowing`) and padding (to the longest, to a fixed length, to a multiple; left or right), with the
// exact semantics of Hugging Face `tokenizers`.

/// Which side of a sequence truncation or padding works on.
///
/// ```swift
/// // Keep the end of long texts, and pad on the left (as decoder-only models want):
/// let tokenizer = try Tokenizer.load(path: "models/gpt2").with(
///     truncation: TruncationParams(maxLength: 512, direction: .left),
///     padding: PaddingParams(direction: .left, padId: 50256, padToken: "<|endoftext|>"))
/// ```
public enum Side: String, Sendable {
    case left = "Left"
    case right = "Right"
}

/// How to truncate a text or a pair to `maxLength` tokens (special tokens included).
///
/// ```swift
/// let base = try Tokenizer.load(path: "models/bert-base-uncased")
/// let tokenizer = base.with(truncation: TruncationParams(maxLength: 128, stride: 16), padding: nil)
/// let encoding = try tokenizer.encode(longText)
/// // encoding.ids.count <= 128; the rest is in encoding.overflowing, windows overlapping by 16 tokens
/// ```
public struct TruncationParams: Sendable, Equatable {
    /// Which sequence of a pair gives up tokens when the pair is too long.
    ///
    /// ```swift
    /// // Keep the question whole and cut the passage it is paired with:
    /// let truncation = TruncationParams(maxLength: 384, strategy: .onlySecond, stride: 128)
    /// let encoding = try tokenizer.with(truncation: truncation, padding: nil).encode(question, pair: passage)
    /// ```
    public enum Strategy: String, Sendable {
        /// Remove tokens from the longer sequence of a pair first.
        case longestFirst = "LongestFirst"
        /// Remove tokens from the first sequence only.
        case onlyFirst = "OnlyFirst"
        /// Remove tokens from the second sequence only.
        case onlySecond = "OnlySecond"
    }
    public var maxLength: Int
    public var strategy: Strategy
    /// Tokens shared by consecutive overflowing windows.
    public var stride: Int
    public var direction: Side

    public init(maxLength: Int, strategy: Strategy = .longestFirst, stride: Int = 0, direction: Side = .right) {
        self.maxLength = maxLength; self.strategy = strategy; self.stride = stride; self.direction = direction
    }

    var json: JSONValue {
        .object([("direction", .string(direction.rawValue)), ("max_length", .int(maxLength)),
                 ("strategy", .string(strategy.rawValue)), ("stride", .int(stride))])
    }
}

/// How to pad encodings.
///
/// ```swift
/// let base = try Tokenizer.load(path: "models/bert-base-uncased")
/// let tokenizer = base.with(truncation: nil, padding: PaddingParams(strategy: .fixed(8)))
/// let encoding = try tokenizer.encode("Hello world")
/// print(encoding.ids)             // [101, 7592, 2088, 102, 0, 0, 0, 0]
/// print(encoding.attentionMask)   // [1, 1, 1, 1, 0, 0, 0, 0]
/// ```
public struct PaddingParams: Sendable, Equatable {
    /// The length encodings are padded to.
    ///
    /// ```swift
    /// let batchPadded = PaddingParams(strategy: .batchLongest, padToMultipleOf: 8)
    /// let fixed = PaddingParams(strategy: .fixed(128))
    /// let encodings = try tokenizer.with(truncation: nil, padding: batchPadded).encodeBatch(["a", "b c d"])
    /// ```
    public enum Strategy: Sendable, Equatable {
        /// To the longest encoding of the batch.
        case batchLongest
        /// To this many tokens.
        case fixed(Int)
    }
    public var strategy: Strategy
    public var direction: Side
    /// Round the length up to a multiple of this (nil or 0: no rounding).
    public var padToMultipleOf: Int?
    public var padId: Int
    public var padTypeId: Int
    public var padToken: String

    public init(strategy: Strategy = .batchLongest, direction: Side = .right, padToMultipleOf: Int? = nil,
                padId: Int = 0, padTypeId: Int = 0, padToken: String = "[PAD]") {
        self.strategy = strategy; self.direction = direction; self.padToMultipleOf = padToMultipleOf
        self.padId = padId; self.padTypeId = padTypeId; self.padToken = padToken
    }

    var json: JSONValue {
        let s: JSONValue
        switch strategy {
        case .batchLongest: s = .string("BatchLongest")
        case let .fixed(n): s = .object([("Fixed", .int(n))])
        }
        return .object([("strategy", s), ("direction", .string(direction.rawValue)),
                        ("pad_to_multiple_of", padToMultipleOf.map { .int($0) } ?? .null),
                        ("pad_id", .int(padId)), ("pad_type_id", .int(padTypeId)), ("pad_token", .string(padToken))])
    }
}

extension Encoding {
    /// The tokens `range` of this encoding, without overflowing windows.
    func slice(_ range: Range<Int>) -> Encoding {
        Encoding(ids: Array(ids[range]), tokens: Array(tokens[range]), byteOffsets: Array(byteOffsets[range]),
                 offsets: Array(offsets[range]), typeIds: Array(typeIds[range]), attentionMask: Array(attentionMask[range]),
                 specialTokensMask: Array(specialTokensMask[range]))
    }

    /// Keeps `maxLength` tokens; the rest goes to `overflowing` in windows of `maxLength` tokens that
    /// overlap by `stride` (HF's `Encoding::truncate`).
    package mutating func truncate(maxLength: Int, stride: Int, direction: Side) throws {
        let n = ids.count
        if maxLength >= n { return }
        if maxLength == 0 {
            let whole = self
            self = Encoding()
            overflowing.append(whole)
            return
        }
        guard stride < maxLength else {
            throw TokenizerError.invalidInput("truncation: stride \(stride) must be less than the length \(maxLength) left for the sequence (max length minus the special tokens)")
        }
        let step = maxLength - stride
        var parts: [Range<Int>] = []
        switch direction {
        case .right:
            var start = 0
            while start < n {
                let stop = min(start + maxLength, n)
                parts.append(start..<stop)
                if stop == n { break }
                start += step
            }
        case .left:
            var last = n - 1
            while last >= 0 {
                let stop = last + 1
                let start = stop < maxLength ? 0 : stop - maxLength
                if start < stop { parts.append(start..<stop) }
                if start == 0 { break }
                last -= step
            }
        }
        var first = slice(parts[0])
        first.overflowing = parts.dropFirst().map { slice($0) }
        self = first
    }

    /// Pads to `length` tokens (and each overflowing window too): padding tokens get `padId`,
    /// `padTypeId`, empty offsets, attention 0 and special-tokens mask 1.
    package mutating func pad(to length: Int, padId: Int, padTypeId: Int, padToken: String, direction: Side) {
        for i in overflowing.indices {
            overflowing[i].pad(to: length, padId: padId, padTypeId: padTypeId, padToken: padToken, direction: direction)
        }
        let k = length - ids.count
        if k <= 0 { return }
        func padded<T>(_ a: [T], _ v: T) -> [T] {
            direction == .right ? a + Array(repeating: v, count: k) : Array(repeating: v, count: k) + a
        }
        ids = padded(ids, padId)
        tokens = padded(tokens, padToken)
        byteOffsets = padded(byteOffsets, 0..<0)
        offsets = padded(offsets, 0..<0)
        typeIds = padded(typeIds, padTypeId)
        attentionMask = padded(attentionMask, 0)
        specialTokensMask = padded(specialTokensMask, 1)
    }
}

/// Truncates a text (and its pair) so that together they hold at most `params.maxLength` tokens,
/// as HF's `truncate_encodings` does.
package func truncateEncodings(_ encoding: inout Encoding, pair: inout Encoding?, params: TruncationParams) throws {
    if params.maxLength == 0 {
        try encoding.truncate(maxLength: 0, stride: params.stride, direction: params.direction)
        try pair?.truncate(maxLength: 0, stride: params.stride, direction: params.direction)
        return
    }
    let total = encoding.count + (pair?.count ?? 0)
    if total <= params.maxLength { return }
    let toRemove = total - params.maxLength
    switch params.strategy {
    case .longestFirst:
        if var other = pair {
            var n1 = encoding.count, n2 = other.count
            var swap = false
            if n1 > n2 { swap = true; Swift.swap(&n1, &n2) }
            if n1 > params.maxLength { n2 = n1 } else { n2 = max(n1, params.maxLength - n1) }
            if n1 + n2 > params.maxLength {
                n1 = params.maxLength / 2
                n2 = n1 + params.maxLength % 2
            }
            if swap { Swift.swap(&n1, &n2) }
            try encoding.truncate(maxLength: n1, stride: params.stride, direction: params.direction)
            try other.truncate(maxLength: n2, stride: params.stride, direction: params.direction)
            pair = other
        } else {
            try encoding.truncate(maxLength: total - toRemove, stride: params.stride, direction: params.direction)
        }
    case .onlyFirst, .onlySecond:
        if params.strategy == .onlySecond && pair == nil {
            throw TokenizerError.invalidInput("truncation: only_second needs a pair of texts")
        }
        let targetCount = params.strategy == .onlyFirst ? encoding.count : pair!.count
        guard targetCount > toRemove else {
            throw TokenizerError.invalidInput("truncation: the \(params.strategy == .onlyFirst ? "first" : "second") sequence (\(targetCount) tokens) is too short to remove \(toRemove) tokens")
        }
        if params.strategy == .onlyFirst {
            try encoding.truncate(maxLength: targetCount - toRemove, stride: params.stride, direction: params.direction)
        } else {
            try pair!.truncate(maxLength: targetCount - toRemove, stride: params.stride, direction: params.direction)
        }
    }
}

/// Pads every encoding of a batch as `params` says (HF's `pad_encodings`).
package func padEncodings(_ encodings: inout [Encoding], params: PaddingParams) {
    guard !encodings.isEmpty else { return }
    var length: Int
    switch params.strategy {
    case let .fixed(n): length = n
    case .batchLongest: length = encodings.map { $0.count }.max() ?? 0
    }
    if let m = params.padToMultipleOf, m > 0, length % m > 0 { length += m - length % m }
    for i in encodings.indices {
        encodings[i].pad(to: length, padId: params.padId, padTypeId: params.padTypeId, padToken: params.padToken,
                         direction: params.direction)
    }
}
