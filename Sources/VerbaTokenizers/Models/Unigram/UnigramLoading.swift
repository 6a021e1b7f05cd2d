// The `Unigram` model section of `tokenizer.json`: reading it and writing it back.

extension TokenizerJSONReader {
    /// `{"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["▁the", -3.1], ...], "byte_fallback": false}`.
    /// `spaceMark`: the Metaspace replacement when the pre-tokenizer is Metaspace (see `Unigram.spaceMark`).
    /// `prefixEachPiece`: see `Unigram.prefixEachPiece`.
    func unigram(_ v: JSONValue, spaceMark: [UInt8]?, prefixEachPiece: Bool = false) throws -> Unigram {
        guard let list = v["vocab"]?.arrayValue else { throw fail("model.vocab is missing or not a list of [piece, score] pairs") }
        var pieces: [String] = []
        var scores: [Double] = []
        pieces.reserveCapacity(list.count)
        scores.reserveCapacity(list.count)
        for (i, item) in list.enumerated() {
            guard let pair = item.arrayValue, pair.count == 2, let piece = pair[0].stringValue, let score = pair[1].doubleValue,
                  score.isFinite else {
                throw fail("model.vocab[\(i)] is not a [piece, score] pair")
            }
            pieces.append(piece)
            scores.append(score)
        }
        var unkId: Int? = nil
        if let u = v["unk_id"], !u.isNull {
            guard let i = u.intValue else { throw fail("model.unk_id is not an integer") }
            unkId = i
        }
        if let b = v["byte_fallback"], !b.isNull, b.boolValue == nil { throw fail("model.byte_fallback is not a boolean") }
        do {
            return try Unigram(pieces: pieces, scores: scores, unkId: unkId, byteFallback: bool(v, "byte_fallback", false),
                               spaceMark: spaceMark, prefixEachPiece: prefixEachPiece)
        } catch TokenizerError.malformed(_, let reason) {
            throw fail(reason)
        }
    }

}

extension Unigram {
    /// The model section of `tokenizer.json`, as HF writes it.
    var json: JSONValue {
        .object([("type", .string("Unigram")), ("unk_id", unkId.map { .int($0) } ?? .null),
                 ("vocab", .array(zip(pieces, scores).map { .array([.string($0), .double($1)]) })),
                 ("byte_fallback", .bool(byteFallback))])
    }
}

extension Tokenizer {
    /// The token string HF gives an unknown Unigram token: its text as the model saw it (a space as
    /// the Metaspace mark).
    func unknownTokenText(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        let bytes = Array(text[range])
        return String(decoding: prefixMark.map { replaceAll(bytes, [0x20], $0) } ?? bytes, as: UTF8.self)
    }
}
