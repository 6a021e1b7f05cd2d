// The line formats of `verba tokenize`, as `LineEncoder` formats: each input line gives exactly one
// output line of ids, of token strings, or of one JSON object.

/// What `Tokenizer.lineFormat` writes for each line.
///
/// ```swift
/// let tokenizer = try Tokenizer.load(path: "models/gpt2")
/// let encoder = LineEncoder(workers: 2, input: LineInput(bytes: Array("Hello world\n".utf8)))
/// var out: [UInt8] = []
/// try encoder.run(format: tokenizer.lineFormat(.tokens, addSpecialTokens: false)) { out += $0 }
/// // String(decoding: out, as: UTF8.self) == "Hello Ġworld\n"
/// ```
public enum LineOutputFormat: String, CaseIterable, Sendable {
    /// Ids in decimal separated by single spaces.
    case ids
    /// Token strings separated by single spaces.
    case tokens
    /// One JSON object: ids, tokens, offsets (code points), byte_offsets, type_ids, attention_mask and
    /// special_tokens_mask.
    case json
}

extension Tokenizer {
    /// A `LineEncoder` format that encodes each line whole (this tokenizer's truncation and padding are
    /// not applied) and writes one output line for it in `format`, ending with a newline. An empty line
    /// gives an empty line, or just the special tokens when the post-processor adds some.
    ///
    /// ```swift
    /// let encoder = LineEncoder(workers: 2, input: LineInput(bytes: Array("Hello world\n".utf8)))
    /// var text: [UInt8] = []
    /// try encoder.run(format: tokenizer.lineFormat(.ids, addSpecialTokens: false)) { text += $0 }
    /// // text == "15496 995\n" with GPT-2
    /// ```
    public func lineFormat(_ format: LineOutputFormat, addSpecialTokens: Bool) -> LineEncoder.Format {
        let tok = truncation == nil && padding == nil ? self : with(truncation: nil, padding: nil)
        switch format {
        case .ids:
            return { text, start, ends, out, scratch in
                // The whole chunk at once (the fast path prefetches across its lines).
                scratch.ids.removeAll(keepingCapacity: true)
                scratch.idEnds.removeAll(keepingCapacity: true)
                tok.encodeIds(lines: text, start: start, ends: ends, addSpecialTokens: addSpecialTokens,
                              into: &scratch.ids, idEnds: &scratch.idEnds, scratch: &scratch.encode)
                scratch.ids.withUnsafeBufferPointer { ids in
                    var from = 0
                    for end in scratch.idEnds {
                        appendIdList(UnsafeBufferPointer(rebasing: ids[from..<end]), to: &out)
                        out.append(10)
                        from = end
                    }
                }
            }
        case .tokens:
            return { text, start, ends, out, scratch in
                var from = start
                for end in ends {
                    scratch.ids.removeAll(keepingCapacity: true)
                    tok.encodeIds(bytes: UnsafeBufferPointer(rebasing: text[from..<end]), addSpecialTokens: addSpecialTokens,
                                  into: &scratch.ids, scratch: &scratch.encode)
                    for (i, id) in scratch.ids.enumerated() {
                        if i > 0 { out.append(32) }
                        out.append(contentsOf: (tok.idToToken(id) ?? "").utf8)
                    }
                    out.append(10)
                    from = end
                }
            }
        case .json:
            return { text, start, ends, out, _ in
                var from = start
                for end in ends {
                    let line = Array(UnsafeBufferPointer(rebasing: text[from..<end]))
                    let e = (try? tok.encode(bytes: line, addSpecialTokens: addSpecialTokens)) ?? Encoding()
                    appendEncodingJSON(e, to: &out)
                    out.append(10)
                    from = end
                }
            }
        }
    }
}

/// Appends `ids` in decimal separated by single spaces: the whole line is formatted into one
/// temporary buffer (at most 21 bytes an id) and appended at once.
func appendIdList(_ ids: UnsafeBufferPointer<Int>, to out: inout [UInt8]) {
    if ids.isEmpty { return }
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ids.count * 21) { buf in
        let base = buf.baseAddress!
        var k = 0
        for i in 0..<ids.count {
            if i > 0 {
                base[k] = 32
                k += 1
            }
            k += writeDecimal(ids[i], to: base + k)
        }
        out.append(contentsOf: UnsafeBufferPointer(start: base, count: k))
    }
}

/// Writes `e` as one JSON object (no newline).
package func appendEncodingJSON(_ e: Encoding, to out: inout [UInt8]) {
    func ints(_ key: String, _ values: [Int]) {
        out.append(contentsOf: "\"\(key)\":[".utf8)
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(44) }
            appendDecimal(v, to: &out)
        }
        out.append(93)
    }
    func ranges(_ key: String, _ values: [Range<Int>]) {
        out.append(contentsOf: "\"\(key)\":[".utf8)
        for (i, r) in values.enumerated() {
            if i > 0 { out.append(44) }
            out.append(91)
            appendDecimal(r.lowerBound, to: &out)
            out.append(44)
            appendDecimal(r.upperBound, to: &out)
            out.append(93)
        }
        out.append(93)
    }
    out.append(123)
    ints("ids", e.ids)
    out.append(contentsOf: ",\"tokens\":[".utf8)
    for (i, t) in e.tokens.enumerated() {
        if i > 0 { out.append(44) }
        appendJSONString(t, to: &out)
    }
    out.append(contentsOf: "],".utf8)
    ranges("offsets", e.offsets); out.append(44)
    ranges("byte_offsets", e.byteOffsets); out.append(44)
    ints("type_ids", e.typeIds); out.append(44)
    ints("attention_mask", e.attentionMask); out.append(44)
    ints("special_tokens_mask", e.specialTokensMask)
    out.append(125)
}
