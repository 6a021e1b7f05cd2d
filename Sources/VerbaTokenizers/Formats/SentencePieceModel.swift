// sentencepiece `tokenizer.model` files: the protobuf `ModelProto` (sentencepiece_model.proto), read
// with a small wire-format reader, and the tokenizer that encodes as the `sentencepiece` package does.
//
// The tokenizer is the one `transformers`' slow-to-fast converters build (Llama's legacy form:
// Prepend("▁") and Replace(" ", "▁") normalizers, no pre-tokenizer; BPE merges derived from the piece
// scores), with what makes it sentencepiece's rather than HF's: the charsmap and extra-whitespace
// removal applied as sentencepiece applies them, the dummy prefix before a text starting with a
// space too, control pieces (`<s>`, `</s>`) written in the text encoded as text, a Unigram model
// that segments with normal and user-defined pieces only, summing scores in Float, and decoding as
// sentencepiece decodes (the unknown piece is " ⁇ ", where HF writes its text `<unk>`).

import Foundation
import VerbaSupport

/// A protobuf wire-format reader over a byte buffer: varints, fixed 32/64-bit values and
/// length-delimited fields. Every read past the end or malformed value throws `reason`.
struct ProtobufReader {
    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    struct Malformed: Error { let reason: String }

    init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        self.bytes = bytes
        position = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var atEnd: Bool { position >= end }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw Malformed(reason: "a varint runs past the end at byte \(position)") }
            let b = bytes[position]
            position += 1
            guard shift < 64 else { throw Malformed(reason: "a varint longer than 10 bytes at byte \(position)") }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// The next field's number and wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
    mutating func tag() throws -> (field: Int, wireType: Int) {
        let key = try varint()
        let field = Int(truncatingIfNeeded: key >> 3), wire = Int(key & 7)
        guard field > 0 else { throw Malformed(reason: "field number 0 at byte \(position)") }
        return (field, wire)
    }

    /// The byte range of a length-delimited field's content.
    mutating func lengthDelimited() throws -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - position) else {
            throw Malformed(reason: "a field of \(length) bytes runs past the end at byte \(position)")
        }
        let start = position
        position += Int(length)
        return start ..< position
    }

    mutating func fixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw Malformed(reason: "a 32-bit value runs past the end at byte \(position)") }
        var v: UInt32 = 0
        for k in 0 ..< 4 { v |= UInt32(bytes[position + k]) << (8 * UInt32(k)) }
        position += 4
        return v
    }

    /// Steps over a field's value of `wireType`.
    mutating func skip(_ wireType: Int) throws {
        switch wireType {
        case 0: _ = try varint()
        case 1:
            guard end - position >= 8 else { throw Malformed(reason: "a 64-bit value runs past the end at byte \(position)") }
            position += 8
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw Malformed(reason: "wire type \(wireType) (groups or unknown) at byte \(position)")
        }
    }

    /// The UTF-8 text of `range`.
    func string(_ range: Range<Int>, _ what: @autoclosure () -> String) throws -> String {
        let s: String? = bytes.withUnsafeBufferPointer { String(validating: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
        guard let s else { throw Malformed(reason: "\(what()) is not UTF-8") }
        return s
    }
}

/// The parts of a sentencepiece `ModelProto` that encoding needs.
struct SentencePieceModelProto {
    enum PieceType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }
    struct Piece { var piece = "", score: Float = 0, type = PieceType.normal }

    var pieces: [Piece] = []
    /// 1 Unigram, 2 BPE, 3 word, 4 char (`TrainerSpec.model_type`).
    var modelType = 1
    var byteFallback = false
    var unkId = 0
    var treatWhitespaceAsSuffix = false
    var normalizerName = ""
    /// The normalization rules (empty: identity).
    var precompiledCharsmap: [UInt8] = []
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    /// An empty model (pieces and settings filled in by the caller).
    init() {}

    init(_ bytes: [UInt8]) throws {
        var r = ProtobufReader(bytes)
        while !r.atEnd {
            let (field, wire) = try r.tag()
            switch (field, wire) {
            case (1, 2): pieces.append(try Self.piece(bytes, try r.lengthDelimited(), index: pieces.count))
            case (2, 2): try trainerSpec(bytes, try r.lengthDelimited())
            case (3, 2): try normalizerSpec(bytes, try r.lengthDelimited())
            case (1 ... 3, _): throw ProtobufReader.Malformed(reason: "ModelProto field \(field) has wire type \(wire), not 2")
            default: try r.skip(wire)
            }
        }
    }

    private static func piece(_ bytes: [UInt8], _ range: Range<Int>, index: Int) throws -> Piece {
        var r = ProtobufReader(bytes, range: range)
        var p = Piece()
        var named = false
        while !r.atEnd {
            let (field, wire) = try r.tag()
            switch (field, wire) {
            case (1, 2): p.piece = try r.string(try r.lengthDelimited(), "piece \(index)"); named = true
            case (2, 5): p.score = Float(bitPattern: try r.fixed32())
            case (3, 0):
                let t = try r.varint()
                guard let type = PieceType(rawValue: Int(truncatingIfNeeded: t)) else {
                    throw ProtobufReader.Malformed(reason: "piece \(index) has the unknown type \(t)")
                }
                p.type = type
            case (1 ... 3, _): throw ProtobufReader.Malformed(reason: "piece \(index): field \(field) has wire type \(wire)")
            default: try r.skip(wire)
            }
        }
        guard named, !p.piece.isEmpty else { throw ProtobufReader.Malformed(reason: "piece \(index) has no text") }
        return p
    }

    private mutating func trainerSpec(_ bytes: [UInt8], _ range: Range<Int>) throws {
        var r = ProtobufReader(bytes, range: range)
        while !r.atEnd {
            let (field, wire) = try r.tag()
            switch (field, wire) {
            case (3, 0): modelType = Int(truncatingIfNeeded: try r.varint())
            case (24, 0): treatWhitespaceAsSuffix = try r.varint() != 0
            case (35, 0): byteFallback = try r.varint() != 0
            case (40, 0): unkId = Int(Int32(truncatingIfNeeded: try r.varint()))
            default: try r.skip(wire)
            }
        }
    }

    private mutating func normalizerSpec(_ bytes: [UInt8], _ range: Range<Int>) throws {
        var r = ProtobufReader(bytes, range: range)
        while !r.atEnd {
            let (field, wire) = try r.tag()
            switch (field, wire) {
            case (1, 2): normalizerName = try r.string(try r.lengthDelimited(), "normalizer_spec.name")
            case (2, 2): precompiledCharsmap = Array(bytes[try r.lengthDelimited()])
            case (3, 0): addDummyPrefix = try r.varint() != 0
            case (4, 0): removeExtraWhitespaces = try r.varint() != 0
            case (5, 0): escapeWhitespaces = try r.varint() != 0
            default: try r.skip(wire)
            }
        }
    }

    /// `merges(ids:)` packed, found without a String per split: the pieces' bytes go into a trie, the
    /// prefixes of each piece that are pieces come from one walk, and the rest is looked up whole. Equal
    /// byte strings are the same piece (the later id wins, as in `ids`); merges are ordered as there.
    func packedMerges() -> PackedMerges {
        var arena: [UInt8] = []
        var starts: [Int] = [0]
        starts.reserveCapacity(pieces.count + 1)
        for p in pieces {
            var s = p.piece
            s.withUTF8 { arena.append(contentsOf: $0) }
            starts.append(arena.count)
        }
        let trie = PieceTrie(keys: starts.indices.dropLast().map { Array(arena[starts[$0]..<starts[$0 + 1]]) },
                             ids: (0..<Int32(pieces.count)).map { $0 })
        struct Split { var score: Float; var left: Int32; var right: Int32; var piece: Int32; var at: Int32; var order: Int32 }
        var all: [Split] = []
        var seen = [Bool](repeating: false, count: pieces.count)
        var local: [(left: Int32, right: Int32, at: Int32, leftScalars: Int32)] = []
        arena.withUnsafeBufferPointer { a in
            for i in pieces.indices {
                let piece = UnsafeBufferPointer(rebasing: a[starts[i]..<starts[i + 1]])
                guard let canonical = trie.exactMatch(piece), !seen[Int(canonical)] else { continue }
                seen[Int(canonical)] = true
                local.removeAll(keepingCapacity: true)
                trie.forEachPrefix(of: piece, at: 0) { end, left in
                    guard end < piece.count,
                          let right = trie.exactMatch(UnsafeBufferPointer(rebasing: piece[end...])) else { return }
                    var scalars: Int32 = 0
                    for k in 0..<end where piece[k] & 0xC0 != 0x80 { scalars += 1 }
                    local.append((left, right, Int32(end), scalars))
                }
                guard !local.isEmpty else { continue }
                var total: Int32 = 0
                for b in piece where b & 0xC0 != 0x80 { total += 1 }
                // Distinct prefixes are distinct pieces: the left ids never tie.
                local.sort { $0.left < $1.left }
                for s in local {
                    all.append(Split(score: pieces[i].score, left: s.leftScalars, right: total - s.leftScalars,
                                     piece: Int32(i), at: s.at, order: Int32(all.count)))
                }
            }
            all.sort { a, b in
                if a.score != b.score { return a.score > b.score }
                if a.left != b.left { return a.left > b.left }
                if a.right != b.right { return a.right > b.right }
                return a.order < b.order
            }
        }
        var merges = PackedMerges()
        merges.reserve(textBytes: all.count * 12)
        arena.withUnsafeBufferPointer { a in
            for s in all {
                let from = starts[Int(s.piece)], cut = from + Int(s.at), to = starts[Int(s.piece) + 1]
                merges.append(UnsafeBufferPointer(rebasing: a[from..<cut]), UnsafeBufferPointer(rebasing: a[cut..<to]))
            }
        }
        return merges
    }

    /// BPE merges from the pieces, as `transformers`' converter derives them: every split of a piece
    /// into two pieces (at a code point), ordered by the merged piece's score (highest first), then by
    /// the longer left part, then the longer right part; ties keep the order of the pieces and, within
    /// one piece, of the parts' ids. The plain version of `packedMerges()`.
    func merges(ids: [String: Int]) -> [(String, String)] {
        var all: [(left: String, right: String, score: Float, lengths: (Int, Int), order: Int)] = []
        var seen = Set<String>()
        for p in pieces where seen.insert(p.piece).inserted {
            let scalars = Array(p.piece.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(String, String, Int, Int, Int)] = []
            for k in 1 ..< scalars.count {
                var l = "", r = ""
                l.unicodeScalars.append(contentsOf: scalars[..<k])
                r.unicodeScalars.append(contentsOf: scalars[k...])
                if let a = ids[l], let b = ids[r] { local.append((l, r, a, b, k)) }
            }
            local.sort { ($0.2, $0.3) < ($1.2, $1.3) }
            for (l, r, _, _, k) in local {
                all.append((l, r, p.score, (k, scalars.count - k), all.count))
            }
        }
        all.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.lengths.0 != b.lengths.0 { return a.lengths.0 > b.lengths.0 }
            if a.lengths.1 != b.lengths.1 { return a.lengths.1 > b.lengths.1 }
            return a.order < b.order
        }
        return all.map { ($0.left, $0.right) }
    }
}

extension Tokenizer {
    /// A tokenizer from the bytes of a sentencepiece `.model` file (BPE or Unigram); `path` names it
    /// in errors.
    static func fromSentencePieceModel(_ bytes: [UInt8], path: String) throws -> Tokenizer {
        let proto: SentencePieceModelProto
        do {
            proto = try SentencePieceModelProto(bytes)
        } catch let e as ProtobufReader.Malformed {
            throw TokenizerError.malformed(path: path, reason: "not a sentencepiece model: \(e.reason)")
        }
        return try fromSentencePiece(proto, path: path)
    }

    /// The tokenizer of a sentencepiece model. As sentencepiece encodes by default; with
    /// `huggingFace`, as `transformers`' converted tokenizer does instead (control pieces are special
    /// tokens matched in the text) with `bos`/`eos` added around each sequence (llama.cpp's GGUF
    /// vocabularies, whose test vectors are HF's ids).
    static func fromSentencePiece(_ proto: SentencePieceModelProto, path: String, huggingFace: Bool = false,
                                  bos: Int? = nil, eos: Int? = nil) throws -> Tokenizer {
        func unsupported(_ what: String) -> TokenizerError { .unsupported(path: path, what: what) }
        guard !proto.pieces.isEmpty else { throw TokenizerError.malformed(path: path, reason: "not a sentencepiece model: no pieces") }
        guard proto.pieces.indices.contains(proto.unkId) else {
            throw TokenizerError.malformed(path: path, reason: "trainer_spec.unk_id \(proto.unkId) is not a piece (\(proto.pieces.count) pieces)")
        }
        guard proto.modelType == 1 || proto.modelType == 2 else {
            throw unsupported("sentencepiece model type \(proto.modelType) (Verba reads 1 UNIGRAM and 2 BPE)")
        }
        var charsmap: PrecompiledCharsmapNormalizer?
        if !proto.precompiledCharsmap.isEmpty {
            do {
                charsmap = try PrecompiledCharsmapNormalizer(proto.precompiledCharsmap)
            } catch let e as PrecompiledCharsmapNormalizer.Malformed {
                throw TokenizerError.malformed(path: path, reason: "normalizer_spec: \(e.reason)")
            }
        }
        if proto.treatWhitespaceAsSuffix { throw unsupported("sentencepiece trainer_spec.treat_whitespace_as_suffix true") }
        if !proto.escapeWhitespaces { throw unsupported("sentencepiece normalizer_spec.escape_whitespaces false") }

        let mark = "\u{2581}"
        // Normalization as sentencepiece's: its rules (the charsmap) and extra spaces removed (both
        // added below, as no tokenizer.json normalizer does them as sentencepiece does), the dummy prefix before any text (a
        // text starting with a space included), each space written as the mark.
        var normalizers: [JSONValue] = []
        if proto.addDummyPrefix { normalizers.append(.object([("type", .string("Prepend")), ("prepend", .string(mark))])) }
        normalizers.append(.object([("type", .string("Replace")), ("pattern", .object([("String", .string(" "))])),
                                    ("content", .string(mark))]))
        // The model is built here, not read from a tokenizer.json value: the merges come packed, and
        // the Unigram model segments with sentencepiece's pieces only, summing in Float.
        let tokenModel: any TokenizationModel
        if proto.modelType == 2 {
            var strings = ByteStringTable.PackedKeys()
            for (i, p) in proto.pieces.enumerated() {
                var piece = p.piece
                piece.withUTF8 { strings.append(id: i, $0) }
            }
            let options = BPE.Options(byteLevel: false, ignoreMerges: false, byteFallback: proto.byteFallback,
                                      unkToken: proto.pieces[proto.unkId].piece, fuseUnk: true)
            tokenModel = try BPE(vocabularyStrings: strings, merges: proto.packedMerges(), options: options, path: path)
        } else {
            do {
                tokenModel = try Unigram(pieces: proto.pieces.map(\.piece), scores: proto.pieces.map { Double($0.score) },
                                         unkId: proto.unkId, byteFallback: proto.byteFallback,
                                         matchable: proto.pieces.map { $0.type == .normal || $0.type == .userDefined },
                                         floatScores: true)
            } catch TokenizerError.malformed(_, let reason) {
                throw TokenizerError.malformed(path: path, reason: reason)
            }
        }
        var decoders: [JSONValue] = [
            .object([("type", .string("Replace")), ("pattern", .object([("String", .string(mark))])), ("content", .string(" "))]),
        ]
        if proto.byteFallback { decoders.append(.object([("type", .string("ByteFallback"))])) }
        decoders.append(.object([("type", .string("Fuse"))]))
        if proto.addDummyPrefix {
            decoders.append(.object([("type", .string("Strip")), ("content", .string(" ")), ("start", .int(1)), ("stop", .int(0))]))
        }
        // Control pieces are special (skipped when decoding, never matched in the text, as
        // sentencepiece has them); user-defined pieces are matched in the text.
        let added: [JSONValue] = proto.pieces.enumerated().compactMap { i, p in
            guard p.type == .control || p.type == .userDefined else { return nil }
            return .object([("id", .int(i)), ("content", .string(p.piece)), ("special", .bool(p.type == .control)),
                            ("normalized", .bool(false))])
        }
        let root = JSONValue.object([
            ("added_tokens", .array(added)),
            ("normalizer", normalizers.isEmpty ? .null : .object([("type", .string("Sequence")), ("normalizers", .array(normalizers))])),
            ("decoder", .object([("type", .string("Sequence")), ("decoders", .array(decoders))])),
        ])
        let t = try TokenizerJSONReader(path: path).tokenizer(root, model: tokenModel)
        var normalizer = t.normalizer
        if let n = normalizer as? SequenceNormalizer {
            var first: [any Normalizer] = []
            if let charsmap { first.append(charsmap) }
            if proto.removeExtraWhitespaces { first.append(SentencePieceWhitespaceNormalizer()) }
            let chain = SequenceNormalizer(first + n.normalizers)
            // The same chain in one pass for the ids-only path (the chain itself gives the offsets).
            normalizer = SentencePieceNormalizer(chain: chain, charsmap: charsmap, removeExtraWhitespaces: proto.removeExtraWhitespaces,
                                                 addDummyPrefix: proto.addDummyPrefix)
        }
        var layout: [TemplateProcessing.Piece] = [.sequence(isB: false, typeId: 0)]
        var specials: [(name: String, token: TemplateProcessing.SpecialToken)] = []
        for (id, atStart) in [(bos, true), (eos, false)] {
            guard let id, proto.pieces.indices.contains(id) else { continue }
            let name = proto.pieces[id].piece
            layout.insert(.special(name: name, typeId: 0), at: atStart ? 0 : layout.count)
            if !specials.contains(where: { $0.name == name }) { specials.append((name, .init(ids: [id], tokens: [name]))) }
        }
        let post: (any PostProcessor)? = specials.isEmpty ? nil
            : TemplateProcessing(single: layout, pair: layout + layout.map {
                if case .sequence = $0 { return .sequence(isB: true, typeId: 1) }
                if case let .special(name, _) = $0 { return .special(name: name, typeId: 1) }
                return $0
            }, specialTokens: specials)
        return Tokenizer(normalizer: normalizer, preTokenizer: t.preTokenizer, model: tokenModel, postProcessor: post,
                         decoder: huggingFace ? t.decoder : SentencePieceDecoder(
                             unknown: Array(proto.pieces[proto.unkId].piece.utf8), stripsFirstMark: proto.addDummyPrefix,
                             byteFallback: proto.byteFallback, hfChain: t.decoder),
                         addedTokens: t.addedVocabulary.tokens, encodeSpecialTokens: !huggingFace,
                         byteLevel: false, addPrefixSpace: t.addPrefixSpace,
                         normalizerJSON: t.normalizerJSON, preTokenizerJSON: t.preTokenizerJSON)
    }
}

/// sentencepiece's decoding: the unknown piece is " ⁇ " wherever it stands; the first other piece
/// loses one leading mark (the dummy prefix) and every mark becomes a space; byte pieces are bytes.
/// Saved as the closest tokenizer.json chain (`hfChain`), which writes the unknown piece's text.
struct SentencePieceDecoder: TokenDecoder {
    let unknown: [UInt8]
    let stripsFirstMark: Bool
    let byteFallback: Bool
    let hfChain: (any TokenDecoder)?

    static let unknownSurface = Array(" \u{2047} ".utf8)
    static let mark = Array("\u{2581}".utf8)

    private func pieces(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(tokens.count)
        var first = true
        for t in tokens {
            if t == unknown {
                out.append(Self.unknownSurface)
            } else {
                var b = t
                if first && stripsFirstMark && b.starts(with: Self.mark) { b.removeFirst(Self.mark.count) }
                out.append(replaceAll(b, Self.mark, [0x20]))
            }
            first = false
        }
        return out
    }

    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        let p = pieces(tokens)
        return [Array((byteFallback ? ByteFallbackDecoder().decodeChain(p) : p).joined())]
    }

    func rawDecodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        let p = pieces(tokens)
        return [Array((byteFallback ? ByteFallbackDecoder().rawDecodeChain(p) : p).joined())]
    }

    var json: JSONValue { hfChain?.json ?? .null }
}

/// sentencepiece's `remove_extra_whitespaces`: spaces (U+0020) at the start are removed, each run of
/// spaces inside becomes its first space, and spaces and marks (`▁`, which sentencepiece compares
/// after writing spaces as marks) at the end are removed. Kept characters keep their offsets.
struct SentencePieceWhitespaceNormalizer: BuilderNormalizer {
    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText { normalizeWithBuilder(text) }

    func fill(_ b: inout NormalizedBuilder, _ text: UnsafeBufferPointer<UInt8>) {
        var lo = 0, hi = text.count
        while lo < hi && text[lo] == 0x20 { lo += 1 }
        while hi > lo {
            if text[hi - 1] == 0x20 {
                hi -= 1
            } else if hi - lo >= 3 && text[hi - 3] == 0xE2 && text[hi - 2] == 0x96 && text[hi - 1] == 0x81 {
                hi -= 3
            } else {
                break
            }
        }
        guard let p = text.baseAddress, lo < hi else { return }
        var i = lo
        var previousSpace = false
        while i < hi {
            if p[i] < 0x80 {
                let c = p[i]
                if !(c == 0x20 && previousSpace) { b.appendASCII(c, at: i) }
                previousSpace = c == 0x20
                i += 1
                continue
            }
            let (s, len) = UTF8Codec.decode(p, at: i, end: hi)
            if !(s == 0x20 && previousSpace) { b.append(s, from: i ..< i + len) }
            previousSpace = s == 0x20
            i += len
        }
    }
}
