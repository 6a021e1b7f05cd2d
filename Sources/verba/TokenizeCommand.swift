import ArgumentParser
import Foundation
import VerbaTokenizers

/// `verba tokenize`: one line of ids (or tokens, or a JSON object) per input line.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode each line of standard input with a tokenizer.",
        discussion: """
        Each input line (without its newline; a \\r before it is part of the text) is one text, and gives \
        exactly one output line: ids separated by single spaces (--format ids), token strings separated \
        by single spaces (--format tokens), or one JSON object with ids, tokens, offsets (code points), \
        byte_offsets, type_ids, attention_mask and special_tokens_mask (--format json). An empty line \
        gives an empty line, or just the special tokens when the post-processor adds some.

        Special tokens ([CLS] ... [SEP]) are added as the tokenizer's post-processor says, unless \
        --no-special-tokens. Truncation and padding settings in a tokenizer.json are not applied: every \
        line is encoded whole.

        Invalid UTF-8: byte-level tokenizers (GPT-2, tiktoken) encode the raw bytes; other tokenizers \
        see each ill-formed sequence replaced by U+FFFD. NUL bytes are ordinary characters.

        Lines are encoded in parallel on --threads workers (default: all cores) in chunks, and written \
        in input order.

        PATH may be a tokenizer.json, a folder (tokenizer.json, vocab.json + merges.txt, or vocab.txt), \
        a .tiktoken rank file named after its encoding (cl100k_base.tiktoken...), or a GGUF file.

        Examples:
          echo "Hello world" | verba tokenize --tokenizer ../shared/fixtures/gpt2
          verba tokenize --tokenizer downloads/minilm/tokenizer.json --format json < texts.txt
          verba tokenize --tokenizer downloads/tiktoken/cl100k_base.tiktoken --threads 2 < corpus.txt
          verba tokenize --tokenizer downloads/tiktoken/cl100k_base.tiktoken --stats < corpus.txt > ids.txt

        --stats prints, on standard error when the input ends, how long loading the tokenizer took and \
        how fast the lines were encoded after it:
          tokenize: load 16 ms; 941326 lines, 37986028 bytes in 0.37 s (102.4 MB/s), 2 threads
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

    @Flag(name: .long, help: "Print load time and encoding speed to standard error at the end.")
    var stats = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let started = DispatchTime.now().uptimeNanoseconds
        let workers = threads ?? ProcessInfo.processInfo.activeProcessorCount
        // With several workers a core is free while the tokenizer loads: it reads the input meanwhile.
        let input = LineInput()
        if workers > 1 { input.readAhead(batches: 8) }
        let tok = try Tokenizer.load(path: tokenizer, threads: workers).with(truncation: nil, padding: nil)
        let loaded = DispatchTime.now().uptimeNanoseconds
        let addSpecial = !noSpecialTokens
        let format = self.format
        let encoder = LineEncoder(workers: workers, input: input) { text, start, ends, out, scratch in
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
        if stats {
            StandardOutput.shared.flush()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - loaded) / 1e9
            let mb = Double(encoder.bytesRead) / 1e6
            let line = String(format: "tokenize: load %.0f ms; %d lines, %d bytes in %.2f s (%.1f MB/s), %d thread%@\n",
                              Double(loaded - started) / 1e6, encoder.linesRead, encoder.bytesRead, seconds,
                              seconds > 0 ? mb / seconds : 0, workers, workers == 1 ? "" : "s")
            fputs(line, stderr)
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
