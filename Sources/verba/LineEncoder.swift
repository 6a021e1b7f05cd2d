// The line pipeline of `verba tokenize`: standard input is read in batches of whole lines, cut into
// chunks of about 64 KB, formatted by `workers` threads, and written in input order. Every thread (this
// one included) does everything in turn: it takes the next chunk (reading the next batch itself once
// the current one is half taken, while the others take the rest), formats it, and writes out whatever
// finished outputs are next in order.
// No thread only reads or only writes: on two cores a third thread that woke up for every chunk cost
// hundreds of context switches a second and took the core from a worker each time. The one exception
// runs before the workers start: `LineInput.readAhead` reads the first batches while the tokenizer loads.

import Dispatch
import Foundation
import VerbaTokenizers

/// Per-worker buffers.
struct WorkerScratch {
    var ids: [Int] = []
    var idEnds: [Int] = []
    var encode = EncodeScratch()
}

/// Standard input in batches of whole lines, which a thread of its own may start reading ahead while
/// the caller does something else (loads the tokenizer: a core would sit idle meanwhile).
final class LineInput: @unchecked Sendable {
    private let condition = NSCondition()
    private var reader = BatchReader(file: stdin)
    /// Batches read ahead, in order; nil marks the end of the input.
    private var ready: [(text: [UInt8], ends: [Int])?] = []
    private var readingAhead = false
    /// Texts of batches done with, for the next batches to be read into: a fresh 2 MB buffer is 512
    /// page faults (and, with threads, a TLB flush on every core when it is unmapped).
    private var spare: [[UInt8]] = []
    let batchBytes = 1 << 21

    /// Lines and bytes (newlines included) read so far.
    var linesRead: Int { condition.lock(); defer { condition.unlock() }; return reader.linesRead }
    var bytesRead: Int { condition.lock(); defer { condition.unlock() }; return reader.bytesRead }

    /// Starts a thread that reads up to `batches` batches (about 2 MB each) now.
    func readAhead(batches: Int) {
        condition.lock()
        readingAhead = true
        condition.unlock()
        let thread = Thread { [self] in
            for _ in 0..<batches {
                let batch = reader.next(bytes: batchBytes, into: takeSpare())  // only this thread reads while readingAhead
                condition.lock()
                ready.append(batch)
                condition.broadcast()
                condition.unlock()
                if batch == nil { break }
            }
            condition.lock()
            readingAhead = false
            condition.broadcast()
            condition.unlock()
        }
        thread.start()
    }

    /// The next batch: the lines' bytes without their newlines and the end of each line; nil when the
    /// input is exhausted. One caller at a time.
    func next() -> (text: [UInt8], ends: [Int])? {
        condition.lock()
        while ready.isEmpty && readingAhead { condition.wait() }
        if !ready.isEmpty {
            let batch = ready.removeFirst()
            condition.unlock()
            return batch
        }
        condition.unlock()
        return reader.next(bytes: batchBytes, into: takeSpare())
    }

    /// Gives back the text of a batch done with, to read a later batch into.
    func recycle(_ text: [UInt8]) {
        condition.lock()
        if spare.count < 4 { spare.append(text) }
        condition.unlock()
    }

    private func takeSpare() -> [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        return spare.popLast() ?? []
    }
}

/// Reads standard input in batches of lines, formats the output of each chunk of lines on `workers`
/// threads, and writes the outputs in input order. Memory stays bounded by the chunks in flight (at
/// most 8 per worker between the next one to write and the last one taken), the batches they belong
/// to and the next one (about 2 MB of input each, or one longer line; up to 8 more if the input was
/// read ahead) and their outputs.
final class LineEncoder: @unchecked Sendable {
    /// Formats the lines `text[start..<ends[0]]`, `text[ends[0]..<ends[1]]`, ... into `out`, one output
    /// line each.
    typealias Body = (UnsafeBufferPointer<UInt8>, Int, UnsafeBufferPointer<Int>, inout [UInt8], inout WorkerScratch) -> Void
    let workers: Int
    let body: Body
    private let input: LineInput
    private var scratch = WorkerScratch()
    /// The one-worker output buffer, kept from batch to batch (a fresh one faulted in a megabyte of
    /// pages for every batch).
    private var aloneOut: [UInt8] = []
    /// Input bytes per chunk a worker takes at once.
    private let chunkBytes = 1 << 16
    /// Lines handed to `body` at once.
    private let linesPerCall = 256

    /// Lines and bytes (newlines included) of the input, once `run` returns.
    private(set) var linesRead = 0
    private(set) var bytesRead = 0

    init(workers: Int, input: LineInput, body: @escaping Body) {
        self.workers = max(1, workers)
        self.input = input
        self.body = body
    }

    /// One batch of input lines, shared by its chunks; its text goes back to the input when the last
    /// chunk is done with it.
    private final class Lines: @unchecked Sendable {
        let text: [UInt8]
        let ends: [Int]
        let input: LineInput
        init(text: [UInt8], ends: [Int], input: LineInput) {
            self.text = text
            self.ends = ends
            self.input = input
        }
        deinit { input.recycle(text) }
    }

    /// What the workers share, guarded by `condition`'s lock.
    private final class Pipeline: @unchecked Sendable {
        let condition = NSCondition()
        let input: LineInput
        /// The batch being cut into chunks and the first of its lines not yet taken.
        var batch: Lines?
        var nextLine = 0
        /// The batch after it, read while the current one still has chunks to take: a worker reading
        /// (about a millisecond for 2 MB) once the current batch was used up left the others idle,
        /// 10 times and 11 ms a run.
        var following: Lines?
        /// A worker is reading a batch (outside the lock); the input has no more batches.
        var reading = false
        var inputEnded = false
        /// Sequence number of the next chunk to take and of the next output to write; outputs finished
        /// out of turn wait in `finished`. One worker at a time writes (`writing`), outside the lock.
        var nextChunk = 0
        var nextWrite = 0
        var finished: [Int: [UInt8]] = [:]
        var writing = false
        /// Output buffers already written, kept for the next chunks: a fresh buffer per chunk grew
        /// through several reallocations and was mapped and unmapped every time (page faults, and in a
        /// process with threads every unmap interrupts the other cores to flush their TLBs).
        var spare: [[UInt8]] = []

        init(input: LineInput) { self.input = input }
    }

    func run() throws {
        defer { (linesRead, bytesRead) = (input.linesRead, input.bytesRead) }
        if workers == 1 {
            while let (text, ends) = input.next() {
                if !ends.isEmpty { processAlone(text, ends) }
                input.recycle(text)
            }
            return
        }
        let pipeline = Pipeline(input: input)
        let finished = DispatchGroup()
        for _ in 1..<workers {
            finished.enter()
            let thread = Thread { [self] in
                work(pipeline)
                finished.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        work(pipeline)
        finished.wait()
    }

    /// One worker's loop: take a chunk, format it, hand its output over to be written in order.
    private func work(_ pipeline: Pipeline) {
        var scratch = WorkerScratch()
        let maxAhead = workers * 8
        let condition = pipeline.condition
        condition.lock()
        while true {
            // Take the next chunk: lines up to about chunkBytes (at least one) of the current batch.
            while pipeline.nextChunk - pipeline.nextWrite >= maxAhead { condition.wait() }  // output is slow
            guard let batch = pipeline.batch, pipeline.nextLine < batch.ends.count else {
                if let following = pipeline.following {
                    pipeline.batch = following
                    pipeline.following = nil
                    pipeline.nextLine = 0
                    continue
                }
                if pipeline.inputEnded { break }
                if pipeline.reading { condition.wait(); continue }
                readBatch(pipeline)
                continue
            }
            // Past the middle of the batch: read the next one now, while the others take the rest.
            if pipeline.following == nil && !pipeline.reading && !pipeline.inputEnded
                && 2 * (pipeline.nextLine == 0 ? 0 : batch.ends[pipeline.nextLine - 1]) >= batch.text.count {
                readBatch(pipeline)
                continue
            }
            let first = pipeline.nextLine
            let from = first == 0 ? 0 : batch.ends[first - 1]
            var last = first + 1
            while last < batch.ends.count && batch.ends[last] - from < chunkBytes { last += 1 }
            pipeline.nextLine = last
            let sequence = pipeline.nextChunk
            pipeline.nextChunk += 1
            var output = pipeline.spare.popLast() ?? []
            condition.unlock()

            output.removeAll(keepingCapacity: true)
            LineEncoder.format(batch.text, batch.ends, lines: first..<last, body: body, perCall: linesPerCall,
                               into: &output, &scratch)

            condition.lock()
            pipeline.finished[sequence] = output
            if pipeline.writing { continue }  // the worker writing now writes this one too, in turn
            pipeline.writing = true
            while let out = pipeline.finished.removeValue(forKey: pipeline.nextWrite) {
                pipeline.nextWrite += 1
                condition.unlock()
                out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
                condition.lock()
                pipeline.spare.append(out)
            }
            pipeline.writing = false
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Reads the next batch into `following` (or the current batch, when there is none) without
    /// holding the lock, so the other workers go on meanwhile. Called and returns with the lock held.
    private func readBatch(_ pipeline: Pipeline) {
        pipeline.reading = true
        pipeline.condition.unlock()
        let next = pipeline.input.next()
        pipeline.condition.lock()
        pipeline.reading = false
        if let next {
            let lines = Lines(text: next.text, ends: next.ends, input: pipeline.input)
            if let batch = pipeline.batch, pipeline.nextLine < batch.ends.count {
                pipeline.following = lines
            } else {
                pipeline.batch = lines
                pipeline.nextLine = 0
            }
        } else {
            pipeline.inputEnded = true
        }
        pipeline.condition.broadcast()
    }

    /// One worker: formats the batch on this thread, writing out every megabyte or so.
    private func processAlone(_ text: [UInt8], _ ends: [Int]) {
        var out = aloneOut
        aloneOut = []  // `out` the only owner while it grows
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(min(text.count * 2, 1 << 22))
        LineEncoder.format(text, ends, lines: 0..<ends.count, body: body, perCall: linesPerCall, into: &out, &scratch) { out in
            if out.count >= 1 << 20 {
                out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
                out.removeAll(keepingCapacity: true)
            }
        }
        out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
        aloneOut = out
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

    /// The next batch: the lines' bytes without their newlines, and the end of each line in them, in
    /// `buffer` (its contents are dropped, its capacity used). Nil when the input is exhausted.
    mutating func next(bytes target: Int, into buffer: consuming [UInt8]) -> (text: [UInt8], ends: [Int])? {
        if eof && carry.isEmpty { return nil }
        var text = buffer
        text.removeAll(keepingCapacity: true)
        text.append(contentsOf: carry)
        carry.removeAll(keepingCapacity: true)
        var ends: [Int] = []
        var scanned = 0  // text[..<scanned] holds no newline (compacted lines and an unfinished one)
        var lineStart = 0
        var wanted = target
        while true {
            if !eof && text.count < wanted {
                reserveHugePages(&text, adding: wanted - text.count)  // one page fault, not 512
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
                carry.append(contentsOf: text[lineStart...])
                text.removeLast(text.count - lineStart)
            }
        }
        linesRead += ends.count
        return (text, ends)
    }
}
