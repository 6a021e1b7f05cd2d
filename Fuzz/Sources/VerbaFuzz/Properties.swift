// What every tokenizer must do with any input: encode without crashing, ids inside the vocabulary,
// offsets inside the text with non-decreasing starts, the id-only fast path agreeing with the full
// encoding, byte-level tokenizers decoding back to the exact input bytes; and decode any ids.

@testable import VerbaTokenizers

func exercise(_ t: Tokenizer, _ input: [UInt8], roundTrip: Bool = false) {
    guard let e = try? t.encode(bytes: input, addSpecialTokens: false) else { return }
    let vocabSize = t.vocabSize
    check(e.tokens.count == e.ids.count && e.byteOffsets.count == e.ids.count && e.offsets.count == e.ids.count,
          "counts differ: \(e.ids.count) ids, \(e.tokens.count) tokens, \(e.byteOffsets.count)/\(e.offsets.count) offsets")
    for id in e.ids { check(id >= 0 && id < vocabSize, "id \(id) outside 0..<\(vocabSize)") }
    // Byte-level tokenizers see the bytes as given; the others the text with invalid bytes replaced.
    let text: [UInt8] = t.byteLevel ? input : Array(String(decoding: input, as: UTF8.self).utf8)
    // Each invalid byte a byte-level tokenizer keeps counts as one position at most.
    let valid = String(validating: input, as: UTF8.self) != nil
    let scalars = t.byteLevel && !valid ? text.count : String(decoding: text, as: UTF8.self).unicodeScalars.count
    var lastByte = 0, lastScalar = 0
    for (i, (b, s)) in zip(e.byteOffsets, e.offsets).enumerated() {
        check(b.lowerBound >= 0 && b.upperBound <= text.count, "token \(i): byte range \(b) outside 0..<\(text.count)")
        check(s.lowerBound >= 0 && s.upperBound <= scalars, "token \(i): range \(s) outside 0..<\(scalars) scalars")
        check(b.lowerBound >= lastByte, "token \(i): byte offset \(b) starts before \(lastByte)")
        check(s.lowerBound >= lastScalar, "token \(i): offset \(s) starts before \(lastScalar)")
        lastByte = b.lowerBound
        lastScalar = s.lowerBound
    }
    var fast: [Int] = []
    input.withUnsafeBufferPointer { t.encodeIds(bytes: $0, addSpecialTokens: false, into: &fast) }
    check(fast == e.ids, "encodeIds \(fast) differs from encode \(e.ids)")
    let decoded = t.decodeBytes(e.ids)
    if roundTrip { check(decoded == input, "decode(encode(x)) = \(decoded) for x = \(input)") }
    _ = t.decode(e.ids, skipSpecialTokens: true)
    // The input read as ids (two bytes each, some past the vocabulary): decoding skips or reports them.
    var ids: [Int] = []
    var i = 0
    while i + 1 < input.count {
        ids.append(Int(input[i]) << 8 | Int(input[i + 1]) % max(1, vocabSize + 16))
        i += 2
    }
    let text2 = t.decode(ids)
    if ids.allSatisfy({ t.idToToken($0) != nil }) {
        check((try? t.decodeChecked(ids)) == text2, "decodeChecked differs from decode")
    }
    var stream = t.incrementalDecoder()
    var streamed = ""
    for id in ids where t.idToToken(id) != nil { streamed += stream.push(id) }
}
