// The public tokenizer: added tokens ─▶ normalizer ─▶ pre-tokenizer ─▶ model ─▶ truncation ─▶
// post-processor ─▶ padding, as Hugging Face `tokenizers` runs them, plus a fast ids-only path and
// batch encoding across all cores.

import Foundation

/// A complete tokenizer: encodes text to `Encoding`s (or bare ids) and decodes ids back to text.
///
/// Immutable and `Sendable`: one instance serves any number of threads.
///
/// ```swift
/// let tokenizer = try Tokenizer.load(path: "models/gpt2")   // or a tokenizer.json, .tiktoken or .gguf file
/// let ids = tokenizer.encodeIds("Hello world")              // [15496, 995]
/// let text = tokenizer.decode(ids)                          // "Hello world"
/// let encoding = try tokenizer.encode("Hello world")        // ids, tokens, offsets and masks
/// ```
public final class Tokenizer: Sendable {
    package let normalizer: (any Normalizer)?
    package let preTokenizer: (any PreTokenizer)?
    package let model: any TokenizationModel
    package let postProcessor: (any PostProcessor)?
    package let decoder: (any TokenDecoder)?
    package let addedVocabulary: AddedVocabulary
    /// Truncation applied by `encode` (nil: none).
    public let truncation: TruncationParams?
    /// Padding applied by `encode` and `encodeBatch` (nil: none).
    public let padding: PaddingParams?
    /// Whether the model encodes raw bytes (byte-level BPE): invalid UTF-8 is then encoded byte for
    /// byte; other tokenizers see each invalid byte replaced by U+FFFD.
    package let byteLevel: Bool
    /// Prepend a space to each text segment that does not start with one (ByteLevel `add_prefix_space`).
    package let addPrefixSpace: Bool
    /// The `tokenizer.json` values of the normalizer and pre-tokenizer, kept for `save`.
    package let normalizerJSON: JSONValue
    package let preTokenizerJSON: JSONValue

    let layoutWith: [LayoutPiece]?
    let layoutWithout: [LayoutPiece]?
    /// The model when it is a `BPE`, and the pre-tokenizer's pattern when it is a single native
    /// scanner: the ids-only path then calls both directly instead of through the existentials.
    let bpeModel: BPE?
    let splitPattern: SplitPattern?
    /// The normalizer when it can write bytes alone (`BytesNormalizer`): the ids-only path then
    /// normalizes into a reused buffer, without offsets.
    let bytesNormalizer: (any BytesNormalizer)?
    /// The Metaspace mark (`▁`): a segment starting with it gets no prefix space, as one starting with a space.
    let prefixMark: [UInt8]?
    /// Metaspace's `prepend_scheme` `first`: only a segment at the start of the text gets the prefix.
    let prefixFirstOnly: Bool
    /// A Unigram model's unknown id: such a token is named by its text, as HF names it.
    let unigramUnkId: Int?

    package init(normalizer: (any Normalizer)?, preTokenizer: (any PreTokenizer)?, model: any TokenizationModel,
                postProcessor: (any PostProcessor)?, decoder: (any TokenDecoder)?, addedTokens: [AddedToken] = [],
                encodeSpecialTokens: Bool = false, truncation: TruncationParams? = nil, padding: PaddingParams? = nil,
                byteLevel: Bool, addPrefixSpace: Bool = false,
                normalizerJSON: JSONValue = .null, preTokenizerJSON: JSONValue = .null) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.addedVocabulary = AddedVocabulary(tokens: addedTokens, normalizer: normalizer, encodeSpecialTokens: encodeSpecialTokens)
        self.truncation = truncation
        self.padding = padding
        self.byteLevel = byteLevel
        self.addPrefixSpace = addPrefixSpace
        self.normalizerJSON = normalizerJSON
        self.preTokenizerJSON = preTokenizerJSON
        layoutWith = postProcessor.map { $0.singleLayout(addSpecialTokens: true) } ?? [.text]
        bpeModel = model as? BPE
        bytesNormalizer = (normalizer as? SequenceNormalizer).flatMap(BytesSequenceNormalizer.init) ?? normalizer as? any BytesNormalizer
        let metaspace = MetaspacePreTokenizer.find(in: preTokenizer)
        prefixMark = metaspace?.markBytes
        prefixFirstOnly = metaspace?.prependScheme == "first"
        unigramUnkId = (model as? Unigram)?.unkId
        if let p = preTokenizer as? PatternSplitter {
            splitPattern = p.pattern
        } else if let p = preTokenizer as? ByteLevelPreTokenizer, p.useRegex {
            splitPattern = .gpt2
        } else {
            splitPattern = nil
        }
        layoutWithout = postProcessor.map { $0.singleLayout(addSpecialTokens: false) } ?? [.text]
    }

    /// A copy with other truncation and padding settings.
    public func with(truncation: TruncationParams?, padding: PaddingParams?) -> Tokenizer {
        Tokenizer(normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: postProcessor,
                  decoder: decoder, addedTokens: addedVocabulary.tokens, encodeSpecialTokens: addedVocabulary.encodeSpecialTokens,
                  truncation: truncation, padding: padding, byteLevel: byteLevel, addPrefixSpace: addPrefixSpace,
                  normalizerJSON: normalizerJSON, preTokenizerJSON: preTokenizerJSON)
    }

    // MARK: Vocabulary

    /// Number of ids: the model's vocabulary and the added tokens beyond it.
    public var vocabSize: Int {
        max(model.vocabSize, (addedVocabulary.tokens.map { $0.id }.max() ?? -1) + 1)
    }

    /// The token string of `id` (an added token's content, or the model's token), nil when unknown.
    public func idToToken(_ id: Int) -> String? {
        addedVocabulary.token(id: id)?.content ?? model.idToToken(id)
    }

    /// The id of `token` (added tokens first, then the model's vocabulary).
    public func tokenToId(_ token: String) -> Int? {
        addedVocabulary.id(of: token) ?? model.tokenToId(token)
    }

    // MARK: Fast ids-only encoding

    /// Encodes one text to ids, appending them to `ids`: no strings, offsets or Encoding are built.
    /// Truncation and padding are not applied (they are `encode`'s). Special tokens are added as the
    /// post-processor says for a single text when `addSpecialTokens`.
    public func encodeIds(bytes: UnsafeBufferPointer<UInt8>, addSpecialTokens: Bool, into ids: inout [Int]) {
        var scratch = EncodeScratch()
        encodeIds(bytes: bytes, addSpecialTokens: addSpecialTokens, into: &ids, scratch: &scratch)
    }

    /// As `encodeIds(bytes:addSpecialTokens:into:)`, reusing the buffers of `scratch` (one per thread)
    /// so that encoding many short texts allocates nothing.
    package func encodeIds(bytes: UnsafeBufferPointer<UInt8>, addSpecialTokens: Bool, into ids: inout [Int],
                          scratch: inout EncodeScratch) {
        guard let layout = addSpecialTokens ? layoutWith : layoutWithout else {
            // A post-processor that does more than surround the text: take the full path (it reads
            // ill-formed UTF-8 as `encodeTextIds(repairing:)` does).
            if let e = try? encodeSingle(bytes, pair: nil, addSpecialTokens: addSpecialTokens, truncate: false, pad: false) {
                ids += e.ids
            }
            return
        }
        for piece in layout {
            switch piece {
            case let .ids(special): ids += special
            case .text: encodeTextIds(repairing: bytes, into: &ids, scratch: &scratch)
            }
        }
    }

    /// Convenience: the ids of `text` (the fast path).
    public func encodeIds(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        var t = text
        t.withUTF8 { encodeIds(bytes: $0, addSpecialTokens: addSpecialTokens, into: &ids) }
        return ids
    }

    /// The ids of `text` without the post-processor's special tokens; for a model that does not read
    /// raw bytes each ill-formed UTF-8 sequence is read as U+FFFD first (as `encodeSequence` does).
    func encodeTextIds(repairing text: UnsafeBufferPointer<UInt8>, into ids: inout [Int], scratch: inout EncodeScratch) {
        if !byteLevel && !isValidUTF8(text) {
            let repaired = replacingInvalidUTF8(text)
            repaired.withUnsafeBufferPointer { encodeTextIds($0, into: &ids, scratch: &scratch) }
        } else {
            encodeTextIds(text, into: &ids, scratch: &scratch)
        }
    }

    private func encodeTextIds(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int], scratch: inout EncodeScratch) {
        if text.isEmpty { return }
        if !addedVocabulary.hasRawTokens {
            encodeNormalizedIds(text, atStart: true, into: &ids, scratch: &scratch)
            return
        }
        var splits = scratch.takeSplits()
        addedVocabulary.split(text, normalized: false, into: &splits)
        for s in splits {
            if s.id >= 0 { ids.append(s.id) } else {
                encodeNormalizedIds(UnsafeBufferPointer(rebasing: text[s.range]), atStart: s.range.lowerBound == 0, into: &ids, scratch: &scratch)
            }
        }
        scratch.giveBack(splits: splits)
    }

    /// `atStart`: the segment begins the text (for a Metaspace prefix on the first segment only).
    private func encodeNormalizedIds(_ segment: UnsafeBufferPointer<UInt8>, atStart: Bool, into ids: inout [Int], scratch: inout EncodeScratch) {
        if let fast = bytesNormalizer {
            let bytes = fast.normalizedBytes(segment, reusing: scratch.normalized)
            encodeAddedNormalizedIds(bytes, atStart: atStart, into: &ids, scratch: &scratch)
        } else if let normalizer {
            let normalized = normalizer.normalize(segment)
            normalized.bytes.withUnsafeBufferPointer { encodeAddedNormalizedIds($0, atStart: atStart, into: &ids, scratch: &scratch) }
        } else {
            encodeAddedNormalizedIds(segment, atStart: atStart, into: &ids, scratch: &scratch)
        }
    }

    private func encodeAddedNormalizedIds(_ text: UnsafeBufferPointer<UInt8>, atStart: Bool, into ids: inout [Int], scratch: inout EncodeScratch) {
        if !addedVocabulary.hasNormalizedTokens {
            encodePreTokenizedIds(text, atStart: atStart, into: &ids, scratch: &scratch)
            return
        }
        var splits = scratch.takeSplits()
        addedVocabulary.split(text, normalized: true, into: &splits)
        for s in splits {
            if s.id >= 0 { ids.append(s.id) } else {
                encodePreTokenizedIds(UnsafeBufferPointer(rebasing: text[s.range]), atStart: atStart && s.range.lowerBound == 0,
                                      into: &ids, scratch: &scratch)
            }
        }
        scratch.giveBack(splits: splits)
    }

    private func encodePreTokenizedIds(_ text: UnsafeBufferPointer<UInt8>, atStart: Bool, into ids: inout [Int], scratch: inout EncodeScratch) {
        if text.isEmpty { return }
        if addPrefixSpace && (atStart || !prefixFirstOnly) && text[0] != 0x20 && !startsWithMark(text) {
            var spaced = scratch.takeBytes()
            spaced.append(0x20)
            spaced.append(contentsOf: text)
            spaced.withUnsafeBufferPointer { modelIds($0, into: &ids, scratch: &scratch) }
            scratch.giveBack(bytes: spaced)
        } else {
            modelIds(text, into: &ids, scratch: &scratch)
        }
    }

    @inline(__always)
    private func modelIds(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int], scratch: inout EncodeScratch) {
        guard let preTokenizer else {
            model.encode(piece: text, ids: &ids, ranges: nil)
            return
        }
        scratch.pieces.removeAll(keepingCapacity: true)
        if let bpe = bpeModel {
            if let pattern = splitPattern {
                PatternSplitter(pattern).split(text, into: &scratch.pieces)
            } else {
                preTokenizer.split(text, into: &scratch.pieces)
            }
            scratch.pieces.withUnsafeBufferPointer { bpe.encode(pieces: $0, in: text, ids: &ids) }
            return
        }
        preTokenizer.split(text, into: &scratch.pieces)
        scratch.pieces.withUnsafeBufferPointer { model.encode(pieces: $0, in: text, ids: &ids) }
    }

    // MARK: Full encoding

    /// Encodes `text` (and `pair`): ids, tokens, offsets, type ids and masks, truncated, post-processed
    /// and padded as this tokenizer's settings say.
    /// - Throws: `TokenizerError.invalidInput` when truncation cannot be applied (HF refuses the same).
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true) throws -> Encoding {
        try encode(bytes: Array(text.utf8), pair: pair.map { Array($0.utf8) }, addSpecialTokens: addSpecialTokens)
    }

    /// Encodes UTF-8 bytes (invalid sequences: see `byteLevel`). Offsets refer to these bytes.
    public func encode(bytes: [UInt8], pair: [UInt8]? = nil, addSpecialTokens: Bool = true) throws -> Encoding {
        try bytes.withUnsafeBufferPointer { a in
            if let pair {
                return try pair.withUnsafeBufferPointer { b in
                    try encodeSingle(a, pair: b, addSpecialTokens: addSpecialTokens, truncate: true, pad: true)
                }
            }
            return try encodeSingle(a, pair: nil, addSpecialTokens: addSpecialTokens, truncate: true, pad: true)
        }
    }

    func encodeSingle(_ a: UnsafeBufferPointer<UInt8>, pair b: UnsafeBufferPointer<UInt8>?, addSpecialTokens: Bool,
                      truncate: Bool, pad: Bool) throws -> Encoding {
        var first = encodeSequence(a, typeId: 0)
        var second = b.map { encodeSequence($0, typeId: 1) }
        return try postProcess(&first, &second, addSpecialTokens: addSpecialTokens, truncate: truncate, pad: pad)
    }

    /// Truncation, post-processing and padding of encoded sequences (HF's `post_process`).
    func postProcess(_ first: inout Encoding, _ second: inout Encoding?, addSpecialTokens: Bool,
                     truncate: Bool, pad: Bool) throws -> Encoding {
        if truncate, var params = truncation {
            let added = postProcessor?.addedTokens(isPair: second != nil) ?? 0
            if addSpecialTokens && added > 0 {
                guard params.maxLength >= added else {
                    throw TokenizerError.invalidInput("truncation: max length \(params.maxLength) is shorter than the \(added) special tokens")
                }
                params.maxLength -= added
            }
            try truncateEncodings(&first, pair: &second, params: params)
        }
        var result: Encoding
        if let postProcessor {
            result = postProcessor.process(first, pair: second, addSpecialTokens: addSpecialTokens)
        } else {
            result = Encoding.merged(second.map { [first, $0] } ?? [first])
        }
        if pad, let padding {
            var one = [result]
            padEncodings(&one, params: padding)
            result = one[0]
        }
        return result
    }

    /// One sequence through added tokens, normalizer, pre-tokenizer and model, with offsets.
    func encodeSequence(_ input: UnsafeBufferPointer<UInt8>, typeId: Int) -> Encoding {
        if !byteLevel && !isValidUTF8(input) {
            // Offsets then refer to the repaired text (each invalid byte became U+FFFD).
            let repaired = replacingInvalidUTF8(input)
            return repaired.withUnsafeBufferPointer { encodeSequence($0, typeId: typeId) }
        }
        var ids: [Int] = []
        var ranges: [Range<Int>] = []
        var addedText: [String?] = []  // per token: the matched text of an added token or a Unigram unknown, else nil
        var rawSplits: [AddedSplit] = []
        if addedVocabulary.hasRawTokens {
            addedVocabulary.split(input, normalized: false, into: &rawSplits)
        } else if !input.isEmpty {
            rawSplits.append(AddedSplit(range: 0..<input.count, id: -1))
        }
        var pieces: [Range<Int>] = []
        var pieceRanges: [Range<Int>] = []
        for s in rawSplits {
            if s.id >= 0 {
                // The token is the text matched (stripped spaces included), as HF reports it.
                ids.append(s.id); ranges.append(s.range); addedText.append(String(decoding: UnsafeBufferPointer(rebasing: input[s.range]), as: UTF8.self))
                continue
            }
            let base = s.range.lowerBound
            let segment = UnsafeBufferPointer(rebasing: input[s.range])
            let normalized = normalizer?.normalize(segment) ?? NormalizedText(bytes: Array(segment))
            func original(_ r: Range<Int>) -> Range<Int> {
                let o = normalized.originalRange(of: r)
                return (o.lowerBound + base)..<(o.upperBound + base)
            }
            normalized.bytes.withUnsafeBufferPointer { nb in
                var splits: [AddedSplit] = []
                if addedVocabulary.hasNormalizedTokens {
                    addedVocabulary.split(nb, normalized: true, into: &splits)
                } else if !nb.isEmpty {
                    splits.append(AddedSplit(range: 0..<nb.count, id: -1))
                }
                for ns in splits {
                    if ns.id >= 0 {
                        ids.append(ns.id); ranges.append(original(ns.range))
                        addedText.append(String(decoding: UnsafeBufferPointer(rebasing: nb[ns.range]), as: UTF8.self))
                        continue
                    }
                    let part = UnsafeBufferPointer(rebasing: nb[ns.range])
                    let lo = ns.range.lowerBound
                    let prefixed = addPrefixSpace && (!self.prefixFirstOnly || original(ns.range).lowerBound == 0)
                        && part[0] != 0x20 && !self.startsWithMark(part)
                    var spaced: [UInt8] = []
                    if prefixed { spaced = [0x20] + Array(part) }
                    let firstCharLength = UTF8Codec.decode(part.baseAddress!, at: 0, end: part.count).length
                    let run = { (text: UnsafeBufferPointer<UInt8>) in
                        pieces.removeAll(keepingCapacity: true)
                        if let pt = self.preTokenizer { pt.split(text, into: &pieces) } else { pieces.append(0..<text.count) }
                        for p in pieces {
                            pieceRanges.removeAll(keepingCapacity: true)
                            let before = ids.count
                            withUnsafeMutablePointer(to: &pieceRanges) { rp in
                                self.model.encode(piece: UnsafeBufferPointer(rebasing: text[p]), ids: &ids, ranges: rp)
                            }
                            for k in 0..<(ids.count - before) {
                                let r = k < pieceRanges.count ? pieceRanges[k] : 0..<(p.count)
                                var a = p.lowerBound + r.lowerBound, b = p.lowerBound + r.upperBound
                                if prefixed {
                                    // Byte 0 is the added space: it stands for the first character.
                                    if a == 0 {
                                        b = max(b - 1, firstCharLength)
                                    } else {
                                        a -= 1; b -= 1
                                    }
                                }
                                ranges.append(original((lo + a)..<(lo + b)))
                                addedText.append(ids[before + k] == self.unigramUnkId
                                    ? self.unknownTokenText(text, (p.lowerBound + r.lowerBound)..<(p.lowerBound + r.upperBound)) : nil)
                            }
                        }
                    }
                    if prefixed { spaced.withUnsafeBufferPointer { run($0) } } else { run(part) }
                }
            }
        }
        let n = ids.count
        var tokens: [String] = []
        tokens.reserveCapacity(n)
        for i in 0..<n {
            tokens.append(addedText[i] ?? model.idToToken(ids[i]) ?? idToToken(ids[i]) ?? "")
        }
        let charIndex = scalarIndexTable(input)
        let charOffsets = ranges.map { r -> Range<Int> in
            let lo = Int(charIndex[r.lowerBound])
            let hi = r.isEmpty ? lo : Int(charIndex[r.upperBound - 1]) + 1
            return lo..<hi
        }
        return Encoding(ids: ids, tokens: tokens, byteOffsets: ranges, offsets: charOffsets,
                        typeIds: Array(repeating: typeId, count: n), attentionMask: Array(repeating: 1, count: n),
                        specialTokensMask: Array(repeating: 0, count: n))
    }

    // MARK: Batches

    /// Encodes many texts on all cores (or `threads`); results are in input order. With padding set to
    /// the longest, every encoding is padded to the longest of the batch.
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, threads: Int? = nil) throws -> [Encoding] {
        try encodeBatch(texts.map { ($0, nil) }, addSpecialTokens: addSpecialTokens, threads: threads)
    }

    /// Encodes many texts or pairs on all cores; results are in input order.
    public func encodeBatch(_ inputs: [(String, String?)], addSpecialTokens: Bool = true, threads: Int? = nil) throws -> [Encoding] {
        let n = inputs.count
        // Sendable: `results` and `error` are written only while `lock` is held, and read after
        // `concurrentPerform` has returned (all workers done).
        final class Box: @unchecked Sendable {
            var results: [Encoding?]
            var error: Error?
            let lock = NSLock()
            init(_ n: Int) { results = Array(repeating: nil, count: n) }
        }
        let box = Box(n)
        let workers = max(1, min(threads ?? ProcessInfo.processInfo.activeProcessorCount, n))
        let chunk = (n + workers - 1) / max(workers, 1)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk, hi = min(n, lo + chunk)
            guard lo < hi else { return }
            var local: [Encoding] = []
            local.reserveCapacity(hi - lo)
            do {
                for i in lo..<hi {
                    var a = Array(inputs[i].0.utf8)
                    let b = inputs[i].1.map { Array($0.utf8) }
                    let e = try a.withUnsafeBufferPointer { ap -> Encoding in
                        if let b {
                            return try b.withUnsafeBufferPointer { bp in
                                try encodeSingle(ap, pair: bp, addSpecialTokens: addSpecialTokens, truncate: true, pad: false)
                            }
                        }
                        return try encodeSingle(ap, pair: nil, addSpecialTokens: addSpecialTokens, truncate: true, pad: false)
                    }
                    local.append(e)
                    a.removeAll()
                }
            } catch {
                box.lock.lock(); if box.error == nil { box.error = error }; box.lock.unlock()
                return
            }
            box.lock.lock()
            for (k, e) in local.enumerated() { box.results[lo + k] = e }
            box.lock.unlock()
        }
        if let error = box.error { throw error }
        var out = box.results.map { $0 ?? Encoding() }
        if let padding { padEncodings(&out, params: padding) }
        return out
    }

    // MARK: Decoding

    /// The text of `ids`: tokens through the decoder (joined by spaces when there is none); invalid
    /// UTF-8 becomes U+FFFD. Unknown ids are skipped, as HF does (`decodeChecked` reports them).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }

    /// As `decode`, but an id outside the vocabulary throws `TokenizerError.invalidInput`.
    public func decodeChecked(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        for id in ids where idToToken(id) == nil {
            throw TokenizerError.invalidInput("id \(id) is not in the vocabulary (0..<\(vocabSize))")
        }
        return decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// The decoded bytes of `ids`, before the UTF-8 check (`raw`: byte-fallback runs stay bytes).
    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool = false, raw: Bool = false) -> [UInt8] {
        var tokens: [[UInt8]] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let t = idToToken(id) else { continue }
            if skipSpecialTokens && addedVocabulary.isSpecial(id: id) { continue }
            tokens.append(Array(t.utf8))
        }
        guard let decoder else {
            var out: [UInt8] = []
            for (i, t) in tokens.enumerated() {
                if i > 0 { out.append(0x20) }
                out += t
            }
            return out
        }
        return Array((raw ? decoder.rawDecodeChain(tokens) : decoder.decodeChain(tokens)).joined())
    }

    /// A streaming decoder over this tokenizer.
    public func incrementalDecoder(skipSpecialTokens: Bool = false) -> IncrementalDecoder {
        IncrementalDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }
}

/// Reusable buffers for `Tokenizer.encodeIds` (one per thread: a copy shares the buffer normalized text
/// is written to, so make a new `EncodeScratch()` for each thread rather than copying one).
package struct EncodeScratch {
    var pieces: [Range<Int>] = []
    var pieceEnds: [Int] = []
    /// The normalized bytes of the text being encoded.
    let normalized = NormalizedBytes()
    private var splitPool: [[AddedSplit]] = []
    private var bytePool: [[UInt8]] = []

    package init() {}

    mutating func takeSplits() -> [AddedSplit] {
        var s = splitPool.popLast() ?? []
        s.removeAll(keepingCapacity: true)
        return s
    }
    mutating func giveBack(splits: [AddedSplit]) { splitPool.append(splits) }
    mutating func takeBytes() -> [UInt8] {
        var b = bytePool.popLast() ?? []
        b.removeAll(keepingCapacity: true)
        return b
    }
    mutating func giveBack(bytes: [UInt8]) { bytePool.append(bytes) }
}

/// Applies pre-tokenizers one after the other, each splitting the previous one's pieces
/// (tokenizer.json `Sequence` pre-tokenizer).
package struct SequencePreTokenizer: PreTokenizer {
    package var preTokenizers: [any PreTokenizer]
    package init(_ preTokenizers: [any PreTokenizer]) { self.preTokenizers = preTokenizers }

    package func split(_ text: UnsafeBufferPointer<UInt8>, into pieces: inout [Range<Int>]) {
        var current: [Range<Int>] = text.isEmpty ? [] : [0..<text.count]
        var next: [Range<Int>] = []
        var sub: [Range<Int>] = []
        for p in preTokenizers {
            next.removeAll(keepingCapacity: true)
            for r in current {
                sub.removeAll(keepingCapacity: true)
                p.split(UnsafeBufferPointer(rebasing: text[r]), into: &sub)
                for s in sub { next.append((s.lowerBound + r.lowerBound)..<(s.upperBound + r.lowerBound)) }
            }
            swap(&current, &next)
        }
        pieces += current
    }
}

// MARK: UTF-8 helpers

/// Whether `bytes` is well-formed UTF-8.
/// - Complexity: O(n), ASCII eight bytes at a time.
package func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let p = bytes.baseAddress else { return true }
    let n = bytes.count
    var i = 0
    while i < n {
        if i + 8 <= n {
            let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            if w & 0x8080_8080_8080_8080 == 0 { i += 8; continue }
        }
        if p[i] < 0x80 { i += 1; continue }
        let d = UTF8Codec.decode(p, at: i, end: n)
        if UTF8Codec.isRawByte(d.scalar) { return false }
        i += d.length
    }
    return true
}

/// `bytes` with ill-formed sequences replaced by U+FFFD, one per maximal ill-formed subpart (as
/// Python's `decode("utf-8", "replace")` and Rust's `from_utf8_lossy` do).
package func replacingInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    Array(String(decoding: bytes, as: UTF8.self).utf8)
}

/// For each byte position of `text` (and its end), the index of the scalar that holds it; an
/// ill-formed byte counts as one scalar.
func scalarIndexTable(_ text: UnsafeBufferPointer<UInt8>) -> [Int32] {
    var table = [Int32](repeating: 0, count: text.count + 1)
    guard let p = text.baseAddress else { return table }
    var i = 0
    var k: Int32 = 0
    while i < text.count {
        let d = UTF8Codec.decode(p, at: i, end: text.count)
        for j in i..<(i + d.length) { table[j] = k }
        k += 1
        i += d.length
    }
    table[text.count] = k
    return table
}
