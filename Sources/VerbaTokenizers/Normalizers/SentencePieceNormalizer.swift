// sentencepiece's whole normalization of a `.model` file in one pass, for the ids-only path: the
// charsmap, `remove_extra_whitespaces`, the dummy prefix and each space written as the mark `▁`, the
// same bytes as the chain of normalizers `Tokenizer.fromSentencePiece` builds (its reference, which
// also gives the offsets), without the chain's intermediate texts.

/// The one-pass form of sentencepiece's normalization chain (see the file comment).
///
/// What the chain does, in order: the charsmap maps the text (`T`); with `removeExtraWhitespaces`,
/// spaces at the start of `T` are dropped, a space after a space is dropped, and the spaces and marks
/// at its end are dropped; with `addDummyPrefix`, a mark goes before a non-empty result; every space
/// becomes a mark. Here `T` is produced a character at a time and each character handled at once:
/// a space is held back until a character other than a space follows it, and the output is cut
/// back, at the end, to just after the last character that is neither a space nor a mark.
struct SentencePieceNormalizer: BytesNormalizer {
    /// The chain of normalizers this pass equals (`normalize` runs it, with offsets).
    let chain: SequenceNormalizer
    let charsmap: PrecompiledCharsmapNormalizer?
    let removeExtraWhitespaces: Bool
    let addDummyPrefix: Bool
    /// The ASCII bytes that are copied as they are and are not a space (taken a run at a time).
    private let plainASCII: [Bool]

    init(chain: SequenceNormalizer, charsmap: PrecompiledCharsmapNormalizer?, removeExtraWhitespaces: Bool, addDummyPrefix: Bool) {
        self.chain = chain
        self.charsmap = charsmap
        self.removeExtraWhitespaces = removeExtraWhitespaces
        self.addDummyPrefix = addDummyPrefix
        plainASCII = (0 ..< 128).map { b in
            b != 0x20 && (charsmap.map { $0.asciiMap[b] == PrecompiledCharsmapNormalizer.asciiCopied } ?? true)
        }
    }

    private static let mark: (UInt8, UInt8, UInt8) = (0xE2, 0x96, 0x81)

    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText { chain.normalize(text) }

    func normalizedBytes(_ text: UnsafeBufferPointer<UInt8>, reusing storage: NormalizedBytes) -> UnsafeBufferPointer<UInt8> {
        guard let p = text.baseAddress, !text.isEmpty else { return UnsafeBufferPointer(start: nil, count: 0) }
        // Room for the most one character of `T` writes: a held space and the prefix (a mark each) and
        // a character of up to 4 bytes.
        let perCharacter = 10
        var (out, capacity) = storage.take(atLeast: 3 * text.count + perCharacter)
        var count = 0
        /// Output length just after the last character that is neither a space nor a mark (with
        /// `removeExtraWhitespaces`, the cut at the end).
        var solidEnd = 0
        /// No character of `T` handed over yet (the prefix is still to write).
        var first = true
        /// A space of `T` held back (with `removeExtraWhitespaces`).
        var heldSpace = false
        let removeExtra = removeExtraWhitespaces, prefix = addDummyPrefix
        let (m0, m1, m2) = Self.mark

        /// Makes room for `extra` more bytes.
        @inline(__always)
        func reserve(_ extra: Int) {
            guard count + extra > capacity else { return }
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * capacity + extra)
            bigger.moveInitialize(from: out, count: count)
            out.deallocate()
            out = bigger
            capacity = 2 * capacity + extra
        }

        /// Hands over one character of `T`, `c[0..<n]`.
        @inline(__always)
        func put(_ c: UnsafePointer<UInt8>, _ n: Int) {
            reserve(perCharacter)
            let isSpace = n == 1 && c[0] == 0x20
            if removeExtra {
                if isSpace {
                    if !first { heldSpace = true }  // at the start: dropped; in a run: one
                    return
                }
                if heldSpace {
                    out[count] = m0; out[count + 1] = m1; out[count + 2] = m2
                    count += 3
                    heldSpace = false
                }
            }
            if first {
                first = false
                if prefix {
                    out[count] = m0; out[count + 1] = m1; out[count + 2] = m2
                    count += 3
                }
            }
            if isSpace {
                out[count] = m0; out[count + 1] = m1; out[count + 2] = m2
                count += 3
                return
            }
            for k in 0 ..< n { out[count + k] = c[k] }
            count += n
            if !(n == 3 && c[0] == m0 && c[1] == m1 && c[2] == m2) { solidEnd = count }
        }

        /// Hands over each character of the replacement at `offset` (NUL-terminated) in `rep`.
        @inline(__always)
        func putReplacement(_ rep: UnsafePointer<UInt8>, _ offset: Int, _ end: Int) {
            var stop = offset
            while stop < end && rep[stop] != 0 { stop += 1 }
            var v = offset
            while v < stop {
                let len = UTF8Codec.decode(rep, at: v, end: stop).length
                put(rep + v, len)
                v += len
            }
        }

        let n = text.count
        var i = 0
        /// Hands over the run of plain ASCII bytes at `i` (each one character of `T` that is neither a
        /// space nor a mark, after the first character): copied at once.
        @inline(__always)
        func putPlainRun(_ plain: UnsafePointer<Bool>) {
            var j = i + 1
            while j < n && p[j] < 0x80 && plain[Int(p[j])] { j += 1 }
            reserve(j - i + 3)
            if heldSpace {
                out[count] = m0; out[count + 1] = m1; out[count + 2] = m2
                count += 3
                heldSpace = false
            }
            (out + count).update(from: p + i, count: j - i)
            count += j - i
            solidEnd = count
            i = j
        }
        let plainASCII = self.plainASCII
        plainASCII.withUnsafeBufferPointer { plainBuffer in
        let plain = plainBuffer.baseAddress!
        if let charsmap {
            charsmap.replacements.withUnsafeBufferPointer { repBuffer in
                charsmap.asciiMap.withUnsafeBufferPointer { ascii in
                    let rep = repBuffer.baseAddress!, repEnd = repBuffer.count
                    while i < n {
                        let b = p[i]
                        if b < 0x80 {
                            if plain[Int(b)] && !first {
                                putPlainRun(plain)
                                continue
                            }
                            let a = ascii[Int(b)]
                            if a == PrecompiledCharsmapNormalizer.asciiCopied {
                                put(p + i, 1)
                                i += 1
                                continue
                            }
                            if a >= 0 {
                                putReplacement(rep, Int(a), repEnd)
                                i += 1
                                continue
                            }
                        }
                        if let m = charsmap.match(p, at: i, end: n) {
                            putReplacement(rep, m.value, repEnd)
                            i += m.length
                        } else {
                            let len = b < 0x80 ? 1 : UTF8Codec.decode(p, at: i, end: n).length
                            put(p + i, len)
                            i += len
                        }
                    }
                }
            }
        } else {
            while i < n {
                let b = p[i]
                if b < 0x80 && plain[Int(b)] && !first {
                    putPlainRun(plain)
                    continue
                }
                let len = b < 0x80 ? 1 : UTF8Codec.decode(p, at: i, end: n).length
                put(p + i, len)
                i += len
            }
        }
        }
        if removeExtra { count = solidEnd }
        storage.give(out, capacity: capacity)
        return UnsafeBufferPointer(start: out, count: count)
    }
}
