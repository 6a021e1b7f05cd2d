// Writing sentencepiece `.model` files: the `ModelProto` of sentencepiece_model.proto in protobuf's wire
// format (the fields `SentencePieceModelProto` reads, and the trainer settings that describe them).

import Foundation

/// A protobuf wire-format writer: varints, 32-bit floats and length-delimited fields, in field order.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    private mutating func tag(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }

    /// An int32 or enum field (negative values take ten bytes, as protobuf writes them).
    mutating func int(_ field: Int, _ value: Int) {
        tag(field, 0)
        varint(UInt64(bitPattern: Int64(value)))
    }
    mutating func bool(_ field: Int, _ value: Bool) { tag(field, 0); varint(value ? 1 : 0) }
    mutating func float(_ field: Int, _ value: Float) {
        tag(field, 5)
        let b = value.bitPattern
        for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: b >> (8 * k))) }
    }
    mutating func data(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes += value
    }
    mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }
}

extension SentencePieceModelProto {
    /// The protobuf bytes of this model: the pieces, a trainer spec (model type, vocabulary size, byte
    /// fallback, the unknown/begin/end ids) and a normalizer spec, as sentencepiece reads them.
    func serialized(bosId: Int, eosId: Int, characterCoverage: Double) -> [UInt8] {
        var w = ProtobufWriter()
        for p in pieces {
            var piece = ProtobufWriter()
            piece.string(1, p.piece)
            piece.float(2, p.score)
            if p.type != .normal { piece.int(3, p.type.rawValue) }
            w.data(1, piece.bytes)
        }
        var trainer = ProtobufWriter()
        trainer.int(3, modelType)
        trainer.int(4, pieces.count)
        trainer.float(10, Float(characterCoverage))
        trainer.bool(35, byteFallback)
        trainer.int(40, unkId)
        trainer.int(41, bosId)
        trainer.int(42, eosId)
        trainer.int(43, -1)
        w.data(2, trainer.bytes)
        var normalizer = ProtobufWriter()
        normalizer.string(1, normalizerName)
        if !precompiledCharsmap.isEmpty { normalizer.data(2, precompiledCharsmap) }
        normalizer.bool(3, addDummyPrefix)
        normalizer.bool(4, removeExtraWhitespaces)
        normalizer.bool(5, escapeWhitespaces)
        w.data(3, normalizer.bytes)
        return w.bytes
    }
}

extension TrainedTokenizer {
    /// The sentencepiece model of a Unigram or SentencePiece BPE tokenizer: `<unk>` unknown, `<s>` and
    /// `</s>` control pieces, other special tokens user-defined (matched in text, as tokenizer.json's added
    /// tokens are), byte pieces, then the learned pieces with their scores. Identity normalization, a
    /// dummy `▁` in front, spaces kept as they are (each one a `▁`), as the tokenizer.json's Metaspace.
    func sentencePieceModel() -> SentencePieceModelProto {
        var proto = SentencePieceModelProto()
        let scores = self.scores ?? []
        let byteCount = options.byteFallback ? 256 : 0
        let specials = result.specialTokens.count
        for (id, token) in result.vocab.enumerated() {
            var piece = SentencePieceModelProto.Piece()
            piece.piece = token
            piece.score = Float(id < scores.count ? scores[id] : 0)
            if id == unkId {
                piece.type = .unknown
            } else if id < specials {
                piece.type = token == "<s>" || token == "</s>" ? .control : .userDefined
            } else if id < specials + byteCount {
                piece.type = .byte
            }
            proto.pieces.append(piece)
        }
        proto.modelType = options.model == .unigram ? 1 : 2
        proto.byteFallback = options.byteFallback
        proto.unkId = unkId
        proto.normalizerName = "identity"
        proto.addDummyPrefix = true
        proto.removeExtraWhitespaces = false
        proto.escapeWhitespaces = true
        return proto
    }

    /// Writes the sentencepiece `.model` of a Unigram or SentencePiece BPE tokenizer to `path` atomically.
    /// - Throws: `TrainerError.invalidOption` for other models or a lowercasing tokenizer (a `.model`
    ///   has no lowercasing), `TrainerError.unwritable` when the file cannot be written.
    public func writeSentencePieceModel(to path: String) throws {
        guard options.model == .unigram || (options.model == .bpe && options.metaspace) else {
            throw TrainerError.invalidOption("\(path): a sentencepiece .model holds Unigram or SentencePiece BPE (--metaspace) tokenizers only")
        }
        guard !options.lowercase else {
            throw TrainerError.invalidOption("\(path): a sentencepiece .model cannot lowercase; train without --lowercase to write one")
        }
        let bos = result.specialTokens.firstIndex(of: "<s>") ?? -1
        let eos = result.specialTokens.firstIndex(of: "</s>") ?? -1
        try atomicWrite(sentencePieceModel().serialized(bosId: bos, eosId: eos, characterCoverage: options.characterCoverage), to: path)
    }
}
