import ArgumentParser
import Foundation
import VerbaTokenizers

/// `verba tokenize`: one line of ids (or tokens, or a JSON object) per input line.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode each line of standard input with a tokenizer.",
        discussion: """
        Each input line (without its newline; a \\r before it is part of the text) is one text, and gives
        exactly one output line: ids separated by single spaces (--format ids), token strings separated
        by single spaces (--format tokens), or one JSON object with ids, tokens, offsets (code points),
        byte_offsets, type_ids, attention_mask and special_tokens_mask (--format json). An empty line
        gives an empty line, or just the special tokens when the post-processor adds some.

        Special tokens ([CLS] ... [SEP]) are added as the tokenizer's post-processor says, unless
        --no-special-tokens. Truncation and padding settings in a tokenizer.json are not applied: every
        line is encoded whole.

        Invalid UTF-8: byte-level tokenizers (GPT-2, tiktoken) encode the raw bytes; other tokenizers
        see each ill-formed sequence replaced by U+FFFD. NUL bytes are ordinary characters.

        Lines are encoded in parallel on --threads workers (default: all cores) in chunks, and written
        in input order.

        PATH may be a tokenizer.json, a folder (tokenizer.json, vocab.json + merges.txt, or vocab.txt),
        a .tiktoken rank file named after its encoding (cl100k_base.tiktoken...), or a GGUF file.

        Examples:
          echo "Hello world" | verba tokenize --tokenizer ../shared/fixtures/gpt2
          verba tokenize --tokenizer downloads/minilm/tokenizer.json --format json < texts.txt
          verba tokenize --tokenizer downloads/tiktoken/cl100k_base.tiktoken --threads 2 < corpus.txt
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case ids, tokens, json
    }

    @Option(name: .long, help: "Tokenizer file or folder (tokenizer.json, folder, .tiktoken, GGUF).")
    var tokenizer: String

    @Flag(name: .long, help: "Do not add the post-processor's special tokens.")
    var noSpecialTokens = false

    @Option(name: .long, help: "Output format: ids, tokens or json.")
    var format: Format = .ids

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let tok = try Tokenizer.load(path: tokenizer).with(truncation: nil, padding: nil)
        let workers = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let addSpecial = !noSpecialTokens
        let format = self.format
        let encoder = LineEncoder(workers: workers) { text, start, ends, out, scratch in
            switch format {
            case .ids:
                // The whole chunk at once (the fast path prefetches across its lines).
                scratch.ids.removeAll(keepingCapacity: true)
                scratch.idEnds.removeAll(keepingCapacity: true)
                tok.encodeIds(lines: text, start: start, ends: ends, addSpecialTokens: addSpecial,
                              into: &scratch.ids, idEnds: &scratch.idEnds, scratch: &scratch.encode)
                scratch.ids.withUnsafeBufferPointer { ids in
                    var from = 0
                    for end in scratch.idEnds {
                        appendIdList(UnsafeBufferPointer(rebasing: ids[from..<end]), to: &out)
                        out.append(10)
                        from = end
                    }
                }
            case .tokens:
                var from = start
                for end in ends {
                    scratch.ids.removeAll(keepingCapacity: true)
                    tok.encodeIds(bytes: UnsafeBufferPointer(rebasing: text[from..<end]), addSpecialTokens: addSpecial,
                                  into: &scratch.ids, scratch: &scratch.encode)
                    for (i, id) in scratch.ids.enumerated() {
                        if i > 0 { out.append(32) }
                        out.append(contentsOf: (tok.idToToken(id) ?? "").utf8)
                    }
                    out.append(10)
                    from = end
                }
            case .json:
                var from = start
                for end in ends {
                    let line = Array(UnsafeBufferPointer(rebasing: text[from..<end]))
                    let e = (try? tok.encode(bytes: line, addSpecialTokens: addSpecial)) ?? Encoding()
                    appendEncodingJSON(e, to: &out)
                    out.append(10)
                    from = end
                }
            }
        }
        try encoder.run()
    }
}

/// Appends `ids` in decimal separated by single spaces: the whole line is formatted into one
/// temporary buffer (at most 21 bytes an id) and appended at once.
func appendIdList(_ ids: UnsafeBufferPointer<Int>, to out: inout [UInt8]) {
    if ids.isEmpty { return }
    // 21 bytes an id (sign, 19 digits, space) and 8 of slack for the last word store.
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ids.count * 21 + 8) { buf in
        let base = buf.baseAddress!
        let pairs = digitPairs, words = digitPairWords
        var k = 0
        for i in 0..<ids.count {
            if i > 0 {
                base[k] = 32
                k += 1
            }
            let id = ids[i]
            if id >= 0 && id < 100_000_000 {
                k += writeSmallDecimal(UInt64(id), base + k, words)
            } else {
                k += writeDecimal(id, base + k, pairs)
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(start: base, count: k))
    }
}

/// "00" "01" ... "99": two digits per table entry, so formatting an id takes half the divisions.
private let digitPairs: UnsafeMutablePointer<UInt8> = {
    let t = UnsafeMutablePointer<UInt8>.allocate(capacity: 200)
    for i in 0..<100 {
        t[2 * i] = UInt8(48 + i / 10)
        t[2 * i + 1] = UInt8(48 + i % 10)
    }
    return t
}()

/// The same two digits as `digitPairs`, as a little-endian 16-bit word (tens digit first in memory).
private let digitPairWords: UnsafeMutablePointer<UInt64> = {
    let t = UnsafeMutablePointer<UInt64>.allocate(capacity: 100)
    for i in 0..<100 { t[i] = UInt64(48 + i / 10) | UInt64(48 + i % 10) << 8 }
    return t
}()

/// Writes `v` (< 10^8) in decimal at `p` with one 8-byte store (room for 8 bytes) and returns its
/// length: the digits are gathered at the top of a word, two at a time, then shifted to the front.
@inline(__always)
func writeSmallDecimal(_ value: UInt64, _ p: UnsafeMutablePointer<UInt8>, _ words: UnsafeMutablePointer<UInt64>) -> Int {
    var v = value
    var word: UInt64 = 0
    var shift: UInt64 = 64  // the digits so far fill bits shift..<64, the last digit highest
    while v >= 100 {
        let q = v / 100
        shift -= 16
        word |= words[Int(v - q * 100)] << shift
        v = q
    }
    if v >= 10 {
        shift -= 16
        word |= words[Int(v)] << shift
    } else {
        shift -= 8
        word |= (48 + v) << shift
    }
    let length = Int(8 - shift / 8)
    word >>= shift
    UnsafeMutableRawPointer(p).storeBytes(of: word.littleEndian, as: UInt64.self)
    return length
}

/// Writes `value` in decimal at `p` (room for 20 bytes) and returns the number of bytes written.
@inline(__always)
func writeDecimal(_ value: Int, _ p: UnsafeMutablePointer<UInt8>, _ pairs: UnsafeMutablePointer<UInt8>) -> Int {
    var k = 0
    var v = value.magnitude
    if value < 0 {
        p[0] = 45
        k = 1
    }
    let digits: Int
    if v < 100_000 {
        digits = v < 100 ? (v < 10 ? 1 : 2) : v < 1000 ? 3 : v < 10000 ? 4 : 5
    } else {
        var d = 6
        var limit: UInt = 1_000_000
        while v >= limit && d < 20 {
            d += 1
            let (next, overflow) = limit.multipliedReportingOverflow(by: 10)
            if overflow { break }
            limit = next
        }
        digits = d
    }
    var at = k + digits
    while v >= 100 {
        let q = v / 100
        let r = Int(v - q * 100)
        at -= 2
        p[at] = pairs[2 * r]
        p[at + 1] = pairs[2 * r + 1]
        v = q
    }
    if v >= 10 {
        p[at - 2] = pairs[2 * Int(v)]
        p[at - 1] = pairs[2 * Int(v) + 1]
    } else {
        p[at - 1] = UInt8(truncatingIfNeeded: 48 + v)
    }
    return k + digits
}

/// Writes `e` as one JSON object (no newline).
func appendEncodingJSON(_ e: Encoding, to out: inout [UInt8]) {
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
