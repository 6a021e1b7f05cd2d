// tokenizer.json's `Precompiled` normalizer: sentencepiece's charsmap applied as Hugging Face
// `tokenizers` applies it, which is not as sentencepiece does (see PrecompiledCharsmap.swift for
// that): the text is taken one extended grapheme cluster at a time; a cluster of under 6 bytes that
// begins with a key of the charsmap is replaced whole by the shortest such key's replacement;
// otherwise each of its characters that is a key is replaced. Offsets follow HF's alignment rules:
// a replacement's characters take the replaced characters' ranges one for one, extra characters the
// range of the last one taken, and characters removed are dropped from the alignment of the character
// written before them.

import VerbaSupport

struct HFPrecompiledNormalizer: Normalizer {
    let charsmap: PrecompiledCharsmapNormalizer

    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> NormalizedText {
        guard !text.isEmpty else { return NormalizedText(bytes: []) }
        let (_, ranges) = UTF8Codec.decodeScalars(text)
        // (scalar, change): change 0 takes the next original character's range, 1 is inserted after
        // the previous one, -k also drops the k original characters that follow.
        var transformations: [(UInt32, Int)] = []
        transformations.reserveCapacity(ranges.count)
        var modified = false
        func replace(_ oldCount: Int, _ new: ArraySlice<UInt8>) {
            let scalars = UTF8Codec.decodeScalars(Array(new))
            let diff = scalars.count - oldCount
            for s in scalars { transformations.append((s, 0)) }
            if diff > 0 {
                for k in (transformations.count - diff) ..< transformations.count { transformations[k].1 = 1 }
            } else if diff < 0, !transformations.isEmpty {
                transformations[transformations.count - 1].1 += diff
            }
        }
        let string = String(decoding: text, as: UTF8.self)
        var at = 0
        for cluster in string {
            let bytes = Array(cluster.utf8)
            defer { at += bytes.count }
            if bytes.count < 6, let new = bytes.withUnsafeBufferPointer({ charsmap.shortestPrefixReplacement($0) }) {
                modified = true
                replace(cluster.unicodeScalars.count, new)
                continue
            }
            var k = 0
            for scalar in cluster.unicodeScalars {
                let len = UTF8Codec.encodedLength(scalar.value)
                let part = Array(bytes[k ..< k + len])
                k += len
                if let new = part.withUnsafeBufferPointer({ charsmap.shortestPrefixReplacement($0) }) {
                    modified = true
                    replace(1, new)
                } else {
                    transformations.append((scalar.value, 0))
                }
            }
        }
        guard modified else { return NormalizedText(bytes: Array(text)) }
        var b = NormalizedBuilder(input: text)
        var offset = 0
        for (s, change) in transformations {
            let align: Range<Int>
            if change > 0 {
                align = offset < 1 ? 0 ..< 0 : ranges[min(offset, ranges.count) - 1]
            } else {
                align = offset < ranges.count ? ranges[offset] : text.count ..< text.count
            }
            offset += 1 - change
            b.append(s, from: align)
        }
        return b.finish()
    }
}
