// The line pipeline of `verba tokenize`: standard input is read in batches of whole lines, cut into
// chunks of about 64 KB that worker threads take from a queue and format, and the outputs are written in
// input order by the main thread, which reads ahead meanwhile. With one worker the main thread formats
// each batch itself.

import Dispatch
import Foundation
import VerbaTokenizers

/// Per-worker buffers.
struct WorkerScratch {
    var ids: [Int] = []
    var idEnds: [Int] = []
    var encode = EncodeScratch()
}

/// Reads standard input in batches of lines, formats the output of each chunk of lines on `workers`
/// threads, and writes the outputs in input order. Memory stays bounded by the chunks in flight (8 per
/// worker), the batches they belong to (about 2 MB of input each, or one longer line) and their output.
final class LineEncoder: @unchecked Sendable {
    /// Formats the lines `text[start..<ends[0]]`, `text[ends[0]..<ends[1]]`, ... into `out`, one output
    /// line each.
    typealias Body = (UnsafeBufferPointer<UInt8>, Int, UnsafeBufferPointer<Int>, inout [UInt8], inout WorkerScratch) -> Void
    let workers: Int
    let body: Body
    private var scratch = WorkerScratch()
    private let batchBytes = 1 << 21
    /// Input bytes per chunk a worker takes at once.
    private let chunkBytes = 1 << 16
    /// Lines handed to `body` at once.
    private let linesPerCall = 256

    /// Lines and bytes (newlines included) of the input, once `run` returns.
    private(set) var linesRead = 0
    private(set) var bytesRead = 0

    init(workers: Int, body: @escaping Body) {
        self.workers = max(1, workers)
        self.body = body
    }

    /// One batch of input lines, shared by its chunks.
    private final class Lines: @unchecked Sendable {
        let text: [UInt8]
        let ends: [Int]
        init(text: [UInt8], ends: [Int]) {
            self.text = text
            self.ends = ends
        }
    }

    /// Lines `lines` of a batch and, once a worker has formatted them, their output.
    private final class Chunk: @unchecked Sendable {
        let batch: Lines
        let lines: Range<Int>
        var output: [UInt8] = []
        let done = DispatchSemaphore(value: 0)
        init(batch: Lines, lines: Range<Int>) {
            self.batch = batch
            self.lines = lines
        }
    }

    /// Chunks in order, first in first out. A chunk leaves at once when taken (it holds its batch's text,
    /// so keeping taken chunks would keep their batches); the array is compacted every 1,024.
    private struct Chunks {
        private var items: [Chunk?] = []
        private var head = 0

        var count: Int { items.count - head }

        mutating func append(_ chunk: Chunk) { items.append(chunk) }

        /// The first chunk, removed; nil when there is none.
        mutating func takeFirst() -> Chunk? {
            guard head < items.count else { return nil }
            let chunk = items[head]
            items[head] = nil
            head += 1
            if head >= 1024 {
                items.removeFirst(head)
                head = 0
            }
            return chunk
        }
    }

    /// Chunks waiting for a worker.
    private final class ChunkQueue: @unchecked Sendable {
        private let condition = NSCondition()
        private var chunks = Chunks()
        private var closed = false

        func put(_ chunk: Chunk) {
            condition.lock()
            chunks.append(chunk)
            condition.signal()
            condition.unlock()
        }

        /// The next chunk; nil once the queue is closed and empty.
        func take() -> Chunk? {
            condition.lock()
            defer { condition.unlock() }
            while chunks.count == 0 && !closed { condition.wait() }
            return chunks.takeFirst()
        }

        func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }
    }

    func run() throws {
        var reader = BatchReader(file: stdin)
        defer { (linesRead, bytesRead) = (reader.linesRead, reader.bytesRead) }
        if workers == 1 {
            while let (text, ends) = reader.next(bytes: batchBytes) {
                if !ends.isEmpty { processAlone(text, ends) }
            }
            return
        }
        // Several workers: they take chunks of about `chunkBytes` from a queue, each with its own
        // scratch, while this thread reads ahead and writes finished chunks in input order. No barrier
        // between batches: a worker never waits for the others.
        let queue = ChunkQueue()
        let finished = DispatchGroup()
        for _ in 0..<workers {
            finished.enter()
            let thread = Thread { [body, linesPerCall] in
                var scratch = WorkerScratch()
                while let chunk = queue.take() {
                    LineEncoder.format(chunk.batch.text, chunk.batch.ends, lines: chunk.lines, body: body,
                                       perCall: linesPerCall, into: &chunk.output, &scratch)
                    chunk.done.signal()
                }
                finished.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        // Chunks in input order, each written (and dropped) once its worker is done with it.
        var inFlight = Chunks()
        func writeFirst() {
            guard let chunk = inFlight.takeFirst() else { return }
            chunk.done.wait()
            chunk.output.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
        }
        let maxInFlight = workers * 8
        while let (text, ends) = reader.next(bytes: batchBytes) {
            if ends.isEmpty { continue }
            let batch = Lines(text: text, ends: ends)
            var line = 0
            while line < ends.count {
                // Lines up to about chunkBytes (at least one).
                let from = line == 0 ? 0 : ends[line - 1]
                var last = line + 1
                while last < ends.count && ends[last] - from < chunkBytes { last += 1 }
                if inFlight.count >= maxInFlight { writeFirst() }
                let chunk = Chunk(batch: batch, lines: line..<last)
                inFlight.append(chunk)
                queue.put(chunk)
                line = last
            }
        }
        queue.close()
        while inFlight.count > 0 { writeFirst() }
        finished.wait()
    }

    /// One worker: formats the batch on this thread, writing out every megabyte or so.
    private func processAlone(_ text: [UInt8], _ ends: [Int]) {
        var out: [UInt8] = []
        out.reserveCapacity(min(text.count * 2, 1 << 22))
        LineEncoder.format(text, ends, lines: 0..<ends.count, body: body, perCall: linesPerCall, into: &out, &scratch) { out in
            if out.count >= 1 << 20 {
                out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
                out.removeAll(keepingCapacity: true)
            }
        }
        out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
    }

    /// Formats `lines` of a batch into `out` with `body`, `perCall` lines a call; `afterCall` may take the
    /// output so far (to write it out).
    private static func format(_ text: [UInt8], _ ends: [Int], lines: Range<Int>, body: Body, perCall: Int,
                               into out: inout [UInt8], _ scratch: inout WorkerScratch,
                               afterCall: (inout [UInt8]) -> Void = { _ in }) {
        text.withUnsafeBufferPointer { p in
            ends.withUnsafeBufferPointer { e in
                var line = lines.lowerBound
                while line < lines.upperBound {
                    let last = min(lines.upperBound, line + perCall)
                    body(p, line == 0 ? 0 : e[line - 1], UnsafeBufferPointer(rebasing: e[line..<last]), &out, &scratch)
                    line = last
                    afterCall(&out)
                }
            }
        }
    }
}

/// Reads a file in batches of whole lines: one `fread` of about the batch size, then one pass that finds
/// the newlines and closes the gaps they leave, so the lines lie end to end in the batch's text. The
/// bytes after the last newline wait for the next batch (or are the last line, at the end of input).
/// A line longer than the batch size makes its batch as long as the line.
struct BatchReader {
    let file: UnsafeMutablePointer<FILE>
    private var carry: [UInt8] = []
    private var eof = false
    /// Lines handed out, and bytes read from the file (newlines included).
    private(set) var linesRead = 0
    private(set) var bytesRead = 0

    init(file: UnsafeMutablePointer<FILE>) { self.file = file }

    /// The next batch: the lines' bytes without their newlines, and the end of each line in them.
    /// Nil when the input is exhausted.
    mutating func next(bytes target: Int) -> (text: [UInt8], ends: [Int])? {
        if eof && carry.isEmpty { return nil }
        var text = carry
        carry = []
        var ends: [Int] = []
        var scanned = 0  // text[..<scanned] holds no newline (compacted lines and an unfinished one)
        var lineStart = 0
        var wanted = target
        while true {
            if !eof && text.count < wanted {
                let old = text.count, room = wanted - old
                text.append(contentsOf: repeatElement(0, count: room))
                let n = text.withUnsafeMutableBufferPointer { fread($0.baseAddress! + old, 1, room, file) }
                text.removeLast(room - n)
                bytesRead += n
                if n == 0 { eof = true }
            }
            // Newlines in text[scanned...]: each line moves left over the newlines before it.
            var write = scanned
            text.withUnsafeMutableBufferPointer { p in
                let base = p.baseAddress!
                var read = scanned
                while read < p.count {
                    guard let hit = memchr(base + read, 10, p.count - read) else { break }
                    let nl = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if write != read { memmove(base + write, base + read, nl - read) }
                    write += nl - read
                    ends.append(write)
                    lineStart = write
                    read = nl + 1
                }
                // The unfinished line after the last newline moves down too.
                if write != read && read < p.count { memmove(base + write, base + read, p.count - read) }
                write += p.count - read
            }
            text.removeLast(text.count - write)
            scanned = write
            if !ends.isEmpty || eof { break }
            wanted = max(wanted, text.count) * 2  // one line longer than the batch: read on
        }
        if lineStart < text.count {
            if eof {
                ends.append(text.count)  // a last line without a newline
            } else {
                carry = Array(text[lineStart...])
                text.removeLast(text.count - lineStart)
            }
        }
        linesRead += ends.count
        return (text, ends)
    }
}
