// Post-processors: add the special tokens a model expects ([CLS] A [SEP] B [SEP], <s> A </s></s> B </s>),
// set type ids, trim byte-level offsets, and merge a pair (and the windows truncation cut off) into one
// Encoding, the way Hugging Face `tokenizers` does, overflowing windows included.

/// One item of the layout a post-processor gives a single text: fixed ids, or the text's own ids.
package enum LayoutPiece: Sendable, Equatable {
    /// Ids added by the post-processor.
    case ids([Int])
    /// The encoded text.
    case text
}

/// Adds special tokens and type ids to encoded texts and merges a pair into one Encoding.
package protocol PostProcessor: Sendable {
    /// How many tokens `process` adds to one text (`isPair` false) or to a pair.
    func addedTokens(isPair: Bool) -> Int
    /// Processes the encodings of one text or of a pair (HF's `process_encodings`); the result is
    /// merged in order into the final Encoding.
    func processEncodings(_ encodings: [Encoding], addSpecialTokens: Bool) -> [Encoding]
    /// The ids around a single text, for encoders that only need ids; nil when the processor does more
    /// than surround the text with fixed ids.
    func singleLayout(addSpecialTokens: Bool) -> [LayoutPiece]?
    /// The processor as a `tokenizer.json` `post_processor` value.
    var json: JSONValue { get }
}

extension PostProcessor {
    /// Processes `encoding` (and `pair`) and merges the result into one Encoding.
    package func process(_ encoding: Encoding, pair: Encoding?, addSpecialTokens: Bool) -> Encoding {
        let parts = processEncodings(pair.map { [encoding, $0] } ?? [encoding], addSpecialTokens: addSpecialTokens)
        return Encoding.merged(parts)
    }
}

extension Encoding {
    /// Appends `pair` to this encoding as HF's `merge_with` does: every overflowing window of either
    /// side is combined with the other side, so the windows of a truncated pair cover all combinations.
    package mutating func merge(with pair: Encoding) {
        var overflowings: [Encoding] = []
        for selfO in overflowing {
            var n = selfO
            n.merge(with: pair)
            overflowings.append(n)
            for otherO in pair.overflowing {
                var m = selfO
                m.merge(with: otherO)
                overflowings.append(m)
            }
        }
        for otherO in pair.overflowing {
            var n = self
            n.merge(with: otherO)
            overflowings.append(n)
        }
        ids += pair.ids
        tokens += pair.tokens
        byteOffsets += pair.byteOffsets
        offsets += pair.offsets
        typeIds += pair.typeIds
        attentionMask += pair.attentionMask
        specialTokensMask += pair.specialTokensMask
        overflowing = overflowings
    }

    /// The merge, in order, of `parts` (HF's `Encoding::merge`).
    package static func merged(_ parts: [Encoding]) -> Encoding {
        if parts.count == 1 { return parts[0] }
        var result = Encoding()
        for p in parts { result.merge(with: p) }
        return result
    }

    /// An encoding of special tokens only (empty offsets, special-tokens mask 1).
    static func special(ids: [Int], tokens: [String], typeId: Int) -> Encoding {
        let n = ids.count
        return Encoding(ids: ids, tokens: tokens, byteOffsets: Array(repeating: 0..<0, count: n),
                        offsets: Array(repeating: 0..<0, count: n), typeIds: Array(repeating: typeId, count: n),
                        attentionMask: Array(repeating: 1, count: n), specialTokensMask: Array(repeating: 1, count: n))
    }

    /// Sets every type id, in this encoding and (when `overflowingToo`) in its overflowing windows.
    mutating func setTypeIds(_ typeId: Int, overflowingToo: Bool) {
        typeIds = Array(repeating: typeId, count: ids.count)
        if overflowingToo {
            for i in overflowing.indices { overflowing[i].setTypeIds(typeId, overflowingToo: true) }
        }
    }
}

/// HF's `TemplateProcessing`: a list of special tokens and sequences, each with a type id.
package struct TemplateProcessing: PostProcessor {
    /// An item of a template.
    package enum Piece: Sendable, Equatable {
        /// Sequence A (`isB` false) or B, given `typeId`.
        case sequence(isB: Bool, typeId: Int)
        /// The special token named `name` (a key of `specialTokens`), given `typeId`.
        case special(name: String, typeId: Int)
    }

    /// Ids and token strings of a named special token (one name may stand for several tokens).
    package struct SpecialToken: Sendable, Equatable {
        package var ids: [Int]
        package var tokens: [String]
        package init(ids: [Int], tokens: [String]) { self.ids = ids; self.tokens = tokens }
    }

    package var single: [Piece]
    package var pair: [Piece]
    /// Named special tokens, in file order.
    package var specialTokens: [(name: String, token: SpecialToken)]

    package init(single: [Piece], pair: [Piece], specialTokens: [(name: String, token: SpecialToken)]) {
        self.single = single
        self.pair = pair
        self.specialTokens = specialTokens
    }

    func special(_ name: String) -> SpecialToken {
        for (n, t) in specialTokens where n == name { return t }
        return SpecialToken(ids: [], tokens: [])
    }

    package func addedTokens(isPair: Bool) -> Int {
        (isPair ? pair : single).reduce(0) { n, p in
            if case let .special(name, _) = p { return n + special(name).ids.count }
            return n
        }
    }

    package func processEncodings(_ encodings: [Encoding], addSpecialTokens: Bool) -> [Encoding] {
        let template = encodings.count == 2 ? pair : single
        var out: [Encoding] = []
        for piece in template {
            switch piece {
            case let .sequence(isB, typeId):
                let i = isB ? 1 : 0
                guard i < encodings.count else { continue }
                var e = encodings[i]
                e.setTypeIds(typeId, overflowingToo: false)
                out.append(e)
            case let .special(name, typeId):
                if addSpecialTokens {
                    let t = special(name)
                    out.append(.special(ids: t.ids, tokens: t.tokens, typeId: typeId))
                }
            }
        }
        return out
    }

    package func singleLayout(addSpecialTokens: Bool) -> [LayoutPiece]? {
        var layout: [LayoutPiece] = []
        for piece in single {
            switch piece {
            case let .sequence(isB, _): if !isB { layout.append(.text) }
            case let .special(name, _): if addSpecialTokens { layout.append(.ids(special(name).ids)) }
            }
        }
        return layout
    }

    package var json: JSONValue {
        func pieces(_ p: [Piece]) -> JSONValue {
            .array(p.map {
                switch $0 {
                case let .sequence(isB, typeId):
                    return .object([("Sequence", .object([("id", .string(isB ? "B" : "A")), ("type_id", .int(typeId))]))])
                case let .special(name, typeId):
                    return .object([("SpecialToken", .object([("id", .string(name)), ("type_id", .int(typeId))]))])
                }
            })
        }
        return .object([
            ("type", .string("TemplateProcessing")), ("single", pieces(single)), ("pair", pieces(pair)),
            ("special_tokens", .object(specialTokens.map { name, t in
                (name, .object([("id", .string(name)), ("ids", .array(t.ids.map { .int($0) })),
                                ("tokens", .array(t.tokens.map { .string($0) }))]))
            })),
        ])
    }
}

/// HF's `BertProcessing`: `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`, B's tokens with type id 1.
package struct BertProcessing: PostProcessor {
    package var sep: (token: String, id: Int)
    package var cls: (token: String, id: Int)

    package init(sep: (token: String, id: Int), cls: (token: String, id: Int)) { self.sep = sep; self.cls = cls }

    package func addedTokens(isPair: Bool) -> Int { isPair ? 3 : 2 }

    func wrap(_ e: Encoding, first: Bool) -> Encoding {
        var out = first ? Encoding.special(ids: [cls.id], tokens: [cls.token], typeId: 0) : Encoding()
        var body = e
        body.overflowing = []
        out.merge(with: body)
        out.merge(with: .special(ids: [sep.id], tokens: [sep.token], typeId: first ? 0 : 1))
        out.overflowing = e.overflowing.map { wrap($0, first: first) }
        return out
    }

    package func processEncodings(_ encodings: [Encoding], addSpecialTokens: Bool) -> [Encoding] {
        guard addSpecialTokens else { return encodings }
        return encodings.enumerated().map { wrap($1, first: $0 == 0) }
    }

    package func singleLayout(addSpecialTokens: Bool) -> [LayoutPiece]? {
        addSpecialTokens ? [.ids([cls.id]), .text, .ids([sep.id])] : [.text]
    }

    package var json: JSONValue {
        .object([("type", .string("BertProcessing")),
                 ("sep", .array([.string(sep.token), .int(sep.id)])),
                 ("cls", .array([.string(cls.token), .int(cls.id)]))])
    }
}

/// HF's `RobertaProcessing`: `<s> A </s>` and `<s> A </s></s> B </s>`, all type ids 0, with optional
/// byte-level offset trimming.
package struct RobertaProcessing: PostProcessor {
    package var sep: (token: String, id: Int)
    package var cls: (token: String, id: Int)
    package var trimOffsets: Bool
    package var addPrefixSpace: Bool

    package init(sep: (token: String, id: Int), cls: (token: String, id: Int), trimOffsets: Bool = true, addPrefixSpace: Bool = true) {
        self.sep = sep; self.cls = cls; self.trimOffsets = trimOffsets; self.addPrefixSpace = addPrefixSpace
    }

    package func addedTokens(isPair: Bool) -> Int { isPair ? 4 : 2 }

    func wrap(_ e: Encoding, first: Bool) -> Encoding {
        var out = Encoding.special(ids: [first ? cls.id : sep.id], tokens: [first ? cls.token : sep.token], typeId: 0)
        var body = e
        body.overflowing = []
        body.setTypeIds(0, overflowingToo: false)
        out.merge(with: body)
        out.merge(with: .special(ids: [sep.id], tokens: [sep.token], typeId: 0))
        out.overflowing = e.overflowing.map { wrap($0, first: first) }
        return out
    }

    package func processEncodings(_ encodings: [Encoding], addSpecialTokens: Bool) -> [Encoding] {
        var encodings = encodings
        if trimOffsets {
            for i in encodings.indices { ByteLevelProcessing.trimOffsets(&encodings[i], addPrefixSpace: addPrefixSpace) }
        }
        guard addSpecialTokens else { return encodings }
        return encodings.enumerated().map { wrap($1, first: $0 == 0) }
    }

    package func singleLayout(addSpecialTokens: Bool) -> [LayoutPiece]? {
        addSpecialTokens ? [.ids([cls.id]), .text, .ids([sep.id])] : [.text]
    }

    package var json: JSONValue {
        .object([("type", .string("RobertaProcessing")),
                 ("sep", .array([.string(sep.token), .int(sep.id)])),
                 ("cls", .array([.string(cls.token), .int(cls.id)])),
                 ("trim_offsets", .bool(trimOffsets)), ("add_prefix_space", .bool(addPrefixSpace))])
    }
}

/// HF's `ByteLevel` post-processor: adds nothing; with `trimOffsets`, offsets leave out the spaces
/// (`Ġ`) at the edges of each token.
package struct ByteLevelProcessing: PostProcessor {
    package var trimOffsets: Bool
    package var addPrefixSpace: Bool
    package var useRegex: Bool

    package init(trimOffsets: Bool = true, addPrefixSpace: Bool = true, useRegex: Bool = true) {
        self.trimOffsets = trimOffsets; self.addPrefixSpace = addPrefixSpace; self.useRegex = useRegex
    }

    package func addedTokens(isPair: Bool) -> Int { 0 }

    package func processEncodings(_ encodings: [Encoding], addSpecialTokens: Bool) -> [Encoding] {
        guard trimOffsets else { return encodings }
        var encodings = encodings
        for i in encodings.indices { Self.trimOffsets(&encodings[i], addPrefixSpace: addPrefixSpace) }
        return encodings
    }

    package func singleLayout(addSpecialTokens: Bool) -> [LayoutPiece]? { [.text] }

    /// HF's `process_offsets`: moves offsets past leading and trailing spaces of each token (and of
    /// its overflowing windows).
    static func trimOffsets(_ e: inout Encoding, addPrefixSpace: Bool) {
        for i in e.ids.indices {
            let scalars = Array(e.tokens[i].unicodeScalars)
            func isSpace(_ s: Unicode.Scalar) -> Bool { s.value == 0x120 || UnicodeProperties.isWhitespace(s.value) }
            func width(_ s: Unicode.Scalar) -> Int { s.value == 0x120 ? 1 : UTF8Codec.encodedLength(s.value) }
            var leading = 0, leadingBytes = 0
            for s in scalars { if isSpace(s) { leading += 1; leadingBytes += width(s) } else { break } }
            var trailing = 0, trailingBytes = 0
            for s in scalars.reversed() { if isSpace(s) { trailing += 1; trailingBytes += width(s) } else { break } }
            if leading == 0 && trailing == 0 { continue }
            var o = e.offsets[i], b = e.byteOffsets[i]
            var lo = o.lowerBound, hi = o.upperBound, blo = b.lowerBound, bhi = b.upperBound
            if leading > 0 {
                let isFirst = i == 0 || lo == 0
                if !(isFirst && addPrefixSpace && leading == 1) {
                    lo = min(lo + leading, hi)
                    blo = min(blo + leadingBytes, bhi)
                }
            }
            if trailing > 0 && hi >= trailing {
                hi = max(hi - trailing, lo)
                bhi = max(bhi - trailingBytes, blo)
            }
            o = lo..<hi
            b = blo..<bhi
            e.offsets[i] = o
            e.byteOffsets[i] = b
        }
        for j in e.overflowing.indices { trimOffsets(&e.overflowing[j], addPrefixSpace: addPrefixSpace) }
    }

    package var json: JSONValue {
        .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)),
                 ("trim_offsets", .bool(trimOffsets)), ("use_regex", .bool(useRegex))])
    }
}

/// HF's `Sequence` post-processor: each processor in turn works on the previous one's output.
package struct SequenceProcessing: PostProcessor {
    package var processors: [PostProcessor]

    package init(_ processors: [PostProcessor]) { self.processors = processors }

    package func addedTokens(isPair: Bool) -> Int { processors.reduce(0) { $0 + $1.addedTokens(isPair: isPair) } }

    package func processEncodings(_ encodings: [Encoding], addSpecialTokens: Bool) -> [Encoding] {
        var e = encodings
        for p in processors { e = p.processEncodings(e, addSpecialTokens: addSpecialTokens) }
        return e
    }

    package func singleLayout(addSpecialTokens: Bool) -> [LayoutPiece]? {
        // Only when at most one processor adds tokens: then its layout is the whole story.
        var chosen: [LayoutPiece] = [.text]
        var adders = 0
        for p in processors {
            guard let l = p.singleLayout(addSpecialTokens: addSpecialTokens) else { return nil }
            if l != [.text] { adders += 1; chosen = l }
        }
        return adders <= 1 ? chosen : nil
    }

    package var json: JSONValue {
        .object([("type", .string("Sequence")), ("processors", .array(processors.map { $0.json }))])
    }
}
