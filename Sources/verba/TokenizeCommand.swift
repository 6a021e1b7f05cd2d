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
        let encoder = LineEncoder(workers: workers) { line, out, scratch in
            switch format {
            case .ids:
                scratch.ids.removeAll(keepingCapacity: true)
                tok.encodeIds(bytes: line, addSpecialTokens: addSpecial, into: &scratch.ids, scratch: &scratch.encode)
                appendIdList(scratch.ids, to: &out)
            case .tokens:
                scratch.ids.removeAll(keepingCapacity: true)
                tok.encodeIds(bytes: line, addSpecialTokens: addSpecial, into: &scratch.ids, scratch: &scratch.encode)
                for (i, id) in scratch.ids.enumerated() {
                    if i > 0 { out.append(32) }
                    out.append(contentsOf: (tok.idToToken(id) ?? "").utf8)
                }
            case .json:
                let e = (try? tok.encode(bytes: Array(line), addSpecialTokens: addSpecial)) ?? Encoding()
                appendEncodingJSON(e, to: &out)
            }
            out.append(10)
        }
        try encoder.run()
    }
}

/// Appends `ids` in decimal separated by single spaces: the whole line is formatted into one
/// temporary buffer (at most 21 bytes an id) and appended at once.
func appendIdList(_ ids: [Int], to out: inout [UInt8]) {
    if ids.isEmpty { return }
    ids.withUnsafeBufferPointer { idp in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: idp.count * 21) { buf in
            let base = buf.baseAddress!
            var k = 0
            for i in 0..<idp.count {
                if i > 0 {
                    base[k] = 32
                    k += 1
                }
                k += writeDecimal(idp[i], base + k)
            }
            out.append(contentsOf: UnsafeBufferPointer(start: base, count: k))
        }
    }
}

/// Writes `value` in decimal at `p` (room for 20 bytes) and returns the number of bytes written.
@inline(__always)
func writeDecimal(_ value: Int, _ p: UnsafeMutablePointer<UInt8>) -> Int {
    var k = 0
    var v = value.magnitude
    if value < 0 {
        p[0] = 45
        k = 1
    }
    var digits = 1
    var limit: UInt = 10
    while v >= limit && digits < 20 {
        digits += 1
        let (next, overflow) = limit.multipliedReportingOverflow(by: 10)
        if overflow { break }
        limit = next
    }
    var at = k + digits
    repeat {
        at -= 1
        p[at] = UInt8(truncatingIfNeeded: 48 + v % 10)
        v /= 10
    } while v > 0
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

/// Per-worker buffers.
struct WorkerScratch {
    var ids: [Int] = []
    var encode = EncodeScratch()
}

/// Reads standard input in batches of lines, formats each line's output on `workers` threads, and
/// writes the outputs in input order. Memory stays bounded by a batch (about 2 MB of input, or one
/// longer line) and its output.
final class LineEncoder: @unchecked Sendable {
    typealias Body = (UnsafeBufferPointer<UInt8>, inout [UInt8], inout WorkerScratch) -> Void
    let workers: Int
    let body: Body
    private var scratches: [WorkerScratch]
    private let batchBytes = 1 << 21

    init(workers: Int, body: @escaping Body) {
        self.workers = max(1, workers)
        self.body = body
        scratches = Array(repeating: WorkerScratch(), count: max(1, workers))
    }

    func run() throws {
        var text: [UInt8] = []
        var ends: [Int] = []
        text.reserveCapacity(batchBytes + 4096)
        let reader = LineReader()
        reader.forEachLine { line in
            text.append(contentsOf: line)
            ends.append(text.count)
            if text.count >= batchBytes || ends.count >= 65536 {
                process(text, ends)
                text.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
            }
            return true
        }
        if !ends.isEmpty { process(text, ends) }
    }

    private func process(_ text: [UInt8], _ ends: [Int]) {
        let lineCount = ends.count
        if workers == 1 || lineCount < 2 {
            var out: [UInt8] = []
            out.reserveCapacity(min(text.count * 2, 1 << 22))
            text.withUnsafeBufferPointer { p in
                var start = 0
                for end in ends {
                    body(UnsafeBufferPointer(rebasing: p[start..<end]), &out, &scratches[0])
                    start = end
                    if out.count >= 1 << 20 {
                        out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
                        out.removeAll(keepingCapacity: true)
                    }
                }
            }
            out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
            return
        }
        // Chunks of lines of about equal bytes, several per worker; workers take the next free chunk.
        let chunkCount = min(lineCount, workers * 8)
        var bounds: [Int] = [0]
        let target = max(1, text.count / chunkCount)
        var next = target
        for (i, end) in ends.enumerated() where end >= next && i + 1 < lineCount && bounds.count < chunkCount {
            bounds.append(i + 1)
            next = end + target
        }
        bounds.append(lineCount)
        let chunks = bounds.count - 1
        var outputs = [[UInt8]](repeating: [], count: chunks)
        let counter = ChunkCounter()
        text.withUnsafeBufferPointer { p in
            outputs.withUnsafeMutableBufferPointer { outs in
                scratches.withUnsafeMutableBufferPointer { scratch in
                    let outsBase = outs.baseAddress!, scratchBase = scratch.baseAddress!
                    DispatchQueue.concurrentPerform(iterations: min(workers, chunks)) { w in
                        while true {
                            let c = counter.next()
                            if c >= chunks { break }
                            var out: [UInt8] = []
                            var start = bounds[c] == 0 ? 0 : ends[bounds[c] - 1]
                            for line in bounds[c]..<bounds[c + 1] {
                                let end = ends[line]
                                body(UnsafeBufferPointer(rebasing: p[start..<end]), &out, &scratchBase[w])
                                start = end
                            }
                            outsBase[c] = out
                        }
                    }
                }
            }
        }
        for o in outputs { o.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) } }
    }
}

/// A shared counter handing out chunk numbers to workers.
final class ChunkCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int {
        lock.lock(); defer { lock.unlock() }
        value += 1
        return value - 1
    }
}
