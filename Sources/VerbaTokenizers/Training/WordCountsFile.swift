#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// The word-counts file (`verba tokenizer count` writes it, `merge-counts` merges, `train --from-counts`
// reads), version 1:
//
//     verba-word-counts 1\n                 magic and version
//     pre-tokenizer NAME\n                  gpt2, cl100k, o200k, bert, whitespace, metaspace, or json:{...}
//     normalizer NAME\n                     none, lowercase, bert, bert-lowercase, line-end, lowercase,line-end
//                                           (metaspace: the last word of a line ends with a NUL), or json:{...}
//     \n                                    end of the header
//     records                               one per distinct word, sorted by the word's bytes
//     0x00 varint(distinct) varint(total)   end mark: number of records and sum of their counts
//
// A record is varint(length of the word + 1), the word's bytes (not necessarily valid UTF-8), then
// varint(count). Varints are unsigned LEB128 (7 bits a byte, low first), so counts are 64-bit. Records
// are sorted by unsigned byte-wise comparison of the words (a prefix first) and no word appears twice:
// files merge by a streaming k-way merge, and the trainers see the same words whatever order the
// corpus had. The end mark makes a truncated file an error rather than fewer words.

/// What produced a counts file: the pre-tokenizer and normalizer names of its header. Counts made by
/// different pipelines cannot be merged or trained from together.
package struct CountsPipelineName: Equatable, Sendable, CustomStringConvertible {
    package var preTokenizer: String
    package var normalizer: String
    package init(preTokenizer: String, normalizer: String) {
        self.preTokenizer = preTokenizer
        self.normalizer = normalizer
    }
    package var description: String { "pre-tokenizer \(preTokenizer), normalizer \(normalizer)" }
}

/// Writes `counts` as a counts file (sorted by word bytes) to `path` atomically, or to standard output
/// when `path` is `-`.
package func writeWordCounts(_ counts: WordCounts, pipeline: CountsPipelineName, to path: String) throws {
    let order = counts.sortedIndices()
    var out = CountsEncoder(pipeline: pipeline)
    try CountsSink.with(path: path) { sink in
        try sink.write(&out.buffer)
        for e in order {
            counts.withWord(at: e) { w in out.record(w, count: UInt64(counts.count(at: e))) }
            if out.buffer.count >= 1 << 20 { try sink.write(&out.buffer) }
        }
        out.finish()
        try sink.write(&out.buffer)
    }
}

/// Reads a whole counts file into a table (words in file order, that is sorted by bytes).
package func readWordCounts(path: String) throws -> (WordCounts, CountsPipelineName) {
    let reader = try CountsReader(path: path)
    defer { reader.close() }
    var counts = WordCounts()
    while let n = try reader.next() {
        reader.word.withUnsafeBufferPointer { counts.add(UnsafeBufferPointer(rebasing: $0[0..<n]), count: Int(reader.count)) }
    }
    return (counts, reader.pipeline)
}

/// Merges the counts files `paths` into one at `output` (atomically; `-` is standard output) by a
/// streaming k-way merge: memory holds one record per input, whatever the files' sizes.
/// - Throws: `TrainerError` when a file is unreadable, malformed, or made by another pipeline.
package func mergeWordCounts(paths: [String], output: String) throws -> (distinct: UInt64, total: UInt64) {
    precondition(!paths.isEmpty, "at least one input")
    var readers: [CountsReader] = []
    defer { for r in readers { r.close() } }
    for p in paths { readers.append(try CountsReader(path: p)) }
    let pipeline = readers[0].pipeline
    for r in readers.dropFirst() where r.pipeline != pipeline {
        throw TrainerError.invalidOption("\(r.path): counts made with \(r.pipeline), but \(readers[0].path) with \(pipeline): they cannot be merged")
    }
    // A min-heap of reader indices by their current word (ties: lower index first, so it is stable).
    var lengths = [Int](repeating: 0, count: readers.count)
    var heap: [Int] = []
    func less(_ a: Int, _ b: Int) -> Bool {
        let c = compareWords(readers[a].word, lengths[a], readers[b].word, lengths[b])
        return c != 0 ? c < 0 : a < b
    }
    func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(heap[l], heap[m]) { m = l }
            if r < heap.count && less(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }
    for (i, r) in readers.enumerated() {
        if let n = try r.next() { lengths[i] = n; heap.append(i) }
    }
    for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }

    var out = CountsEncoder(pipeline: pipeline)
    var current: [UInt8] = []
    var currentCount: UInt64 = 0
    var haveCurrent = false
    try CountsSink.with(path: output) { sink in
        try sink.write(&out.buffer)
        while let top = heap.first {
            let r = readers[top], n = lengths[top]
            if haveCurrent && compareWords(current, current.count, r.word, n) == 0 {
                let (sum, overflow) = currentCount.addingReportingOverflow(r.count)
                if overflow { throw TrainerError.invalidOption("\(r.path): a word's count passes 2^64") }
                currentCount = sum
            } else {
                if haveCurrent {
                    current.withUnsafeBufferPointer { out.record($0, count: currentCount) }
                    if out.buffer.count >= 1 << 20 { try sink.write(&out.buffer) }
                }
                current.removeAll(keepingCapacity: true)
                current.append(contentsOf: r.word[0..<n])
                currentCount = r.count
                haveCurrent = true
            }
            if let m = try r.next() {
                lengths[top] = m
            } else {
                heap[0] = heap[heap.count - 1]
                heap.removeLast()
            }
            if !heap.isEmpty { siftDown(0) }
        }
        if haveCurrent { current.withUnsafeBufferPointer { out.record($0, count: currentCount) } }
        out.finish()
        try sink.write(&out.buffer)
    }
    return (out.distinct, out.total)
}

/// Byte-wise comparison of `a[0..<na]` and `b[0..<nb]`: negative, zero or positive.
@inline(__always)
func compareWords(_ a: [UInt8], _ na: Int, _ b: [UInt8], _ nb: Int) -> Int {
    let c = a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in min(na, nb) == 0 ? 0 : Int(memcmp(pa.baseAddress!, pb.baseAddress!, min(na, nb))) }
    }
    return c != 0 ? c : na - nb
}

/// Builds the bytes of a counts file: header, records, end mark.
struct CountsEncoder {
    var buffer: [UInt8] = []
    private(set) var distinct: UInt64 = 0
    private(set) var total: UInt64 = 0

    init(pipeline: CountsPipelineName) {
        buffer.append(contentsOf: "verba-word-counts 1\npre-tokenizer \(pipeline.preTokenizer)\nnormalizer \(pipeline.normalizer)\n\n".utf8)
    }

    @inline(__always) mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { buffer.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        buffer.append(UInt8(v))
    }

    mutating func record(_ word: UnsafeBufferPointer<UInt8>, count: UInt64) {
        varint(UInt64(word.count) + 1)
        buffer.append(contentsOf: word)
        varint(count)
        distinct += 1
        total &+= count
    }

    mutating func finish() {
        buffer.append(0)
        varint(distinct)
        varint(total)
    }
}

/// Where a counts file goes: an atomically written file, or standard output.
enum CountsSink {
    case file(AtomicFile)
    case standardOutput

    func write(_ bytes: inout [UInt8]) throws {
        switch self {
        case let .file(f):
            try bytes.withUnsafeBytes { raw in try f.write(raw) }
        case .standardOutput:
            try bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = Glibc.write(STDOUT_FILENO, raw.baseAddress! + done, raw.count - done)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { throw TrainerError.unwritable(path: "standard output", reason: errnoText()) }
                    done += n
                }
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }

    static func with(path: String, _ body: (CountsSink) throws -> Void) throws {
        if path == "-" {
            try body(.standardOutput)
            return
        }
        do {
            try writeFileAtomically(to: path) { file in try body(.file(file)) }
        } catch let error as AtomicWriteError {
            throw TrainerError.unwritable(path: path, reason: error.reason)
        }
    }
}

/// Reads a counts file record by record through a buffer: `next()` leaves the word in `word[0..<n]`
/// and its count in `count`.
final class CountsReader {
    let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var position = 0, end = 0
    private(set) var pipeline = CountsPipelineName(preTokenizer: "", normalizer: "")
    private(set) var word: [UInt8] = []
    private(set) var count: UInt64 = 0
    private var seen: UInt64 = 0, sum: UInt64 = 0
    private var done = false
    private var previous: [UInt8] = []
    private var closed = false

    init(path: String) throws {
        self.path = path
        if path == "-" {
            guard let f = fdopen(dup(STDIN_FILENO), "rb") else { throw TrainerError.unreadable(path: path, reason: errnoText()) }
            file = f
        } else {
            guard let f = fopen(path, "rb") else { throw TrainerError.unreadable(path: path, reason: errnoText()) }
            file = f
        }
        do { try readHeader() } catch { close(); throw error }
    }

    func close() {
        if !closed { fclose(file); closed = true }
    }

    private func malformed(_ what: String) -> TrainerError {
        TrainerError.unreadable(path: path, reason: "not a verba word-counts file: \(what)")
    }

    private func refill() throws -> Bool {
        if position < end { return true }
        let n = buffer.withUnsafeMutableBufferPointer { fread($0.baseAddress, 1, $0.count, file) }
        if n == 0 {
            if ferror(file) != 0 { throw TrainerError.unreadable(path: path, reason: errnoText()) }
            return false
        }
        position = 0
        end = n
        return true
    }

    @inline(__always) private func byte() throws -> UInt8 {
        if position == end, try !refill() { throw malformed("it ends in the middle of a record (truncated?)") }
        let b = buffer[position]
        position += 1
        return b
    }

    private func line() throws -> String {
        var bytes: [UInt8] = []
        while true {
            let b = try byte()
            if b == 10 { break }
            bytes.append(b)
            if bytes.count > 1 << 20 { throw malformed("a header line is too long") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func readHeader() throws {
        let magic = try line()
        guard magic.hasPrefix("verba-word-counts ") else { throw malformed("no verba-word-counts header") }
        guard magic == "verba-word-counts 1" else {
            throw TrainerError.unreadable(path: path, reason: "word-counts format version \(magic.dropFirst(18)), this verba reads version 1")
        }
        var fields: [String: String] = [:]
        while true {
            let l = try line()
            if l.isEmpty { break }
            guard let space = l.firstIndex(of: " ") else { throw malformed("header line \"\(l)\"") }
            fields[String(l[..<space])] = String(l[l.index(after: space)...])
        }
        guard let pre = fields["pre-tokenizer"], let norm = fields["normalizer"] else {
            throw malformed("the header names no pre-tokenizer or normalizer")
        }
        pipeline = CountsPipelineName(preTokenizer: pre, normalizer: norm)
    }

    private func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try byte()
            if shift == 63 && b > 1 { throw malformed("a number passes 64 bits") }
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
            if shift > 63 { throw malformed("a number passes 64 bits") }
        }
    }

    /// The next record's word length, or nil after the last record (the end mark checked).
    func next() throws -> Int? {
        if done { return nil }
        let lengthPlusOne = try varint()
        if lengthPlusOne == 0 {
            let distinct = try varint(), total = try varint()
            guard distinct == seen, total == sum else {
                throw malformed("the end mark says \(distinct) words, \(total) in all, but the file holds \(seen), \(sum)")
            }
            if try refill() { throw malformed("bytes after the end mark") }
            done = true
            return nil
        }
        guard lengthPlusOne <= 1 << 30 else { throw malformed("a word of \(lengthPlusOne - 1) bytes") }
        let n = Int(lengthPlusOne - 1)
        swap(&previous, &word)
        let previousLength = lastLength
        if word.count < n { word = [UInt8](repeating: 0, count: max(n, word.count * 2)) }
        var i = 0
        while i < n {
            if position == end, try !refill() { throw malformed("it ends in the middle of a record (truncated?)") }
            let take = min(n - i, end - position)
            word.withUnsafeMutableBufferPointer { w in
                buffer.withUnsafeBufferPointer { b in
                    (w.baseAddress! + i).update(from: b.baseAddress! + position, count: take)
                }
            }
            i += take
            position += take
        }
        count = try varint()
        if seen > 0 && compareWords(previous, previousLength, word, n) >= 0 {
            throw malformed("words out of order or repeated at record \(seen + 1)")
        }
        lastLength = n
        seen += 1
        let (s, overflow) = sum.addingReportingOverflow(count)
        if overflow { throw malformed("the counts pass 2^64 in all") }
        sum = s
        return n
    }
    private var lastLength = 0
}

