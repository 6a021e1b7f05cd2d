// The parallel line pipeline (what `verba tokenize` runs): the input is read in batches of whole lines,
// cut into chunks of about 64 KB, formatted by `workers` threads, and handed to the output in input
// order. Every thread (the caller's included) does everything in turn: it takes the next chunk (reading
// the next batch itself once the current one is half taken, while the others take the rest), formats
// it, and hands over whatever finished outputs are next in order.
// No thread only reads or only writes: on two cores a third thread that woke up for every chunk cost
// hundreds of context switches a second and took the core from a worker each time. The one exception
// runs before the workers start: `LineInput.readAhead` reads the first batches while the tokenizer loads.

import Dispatch
import Foundation

/// Per-thread buffers of a `LineEncoder` format: make a new one for each thread, never copy one. The
/// formats of `Tokenizer.lineFormat` keep their buffers here; a format of your own may ignore it.
///
/// ```swift
/// // Calling a format directly, on one line, as `LineEncoder` does on each of its threads:
/// let format = tokenizer.lineFormat(.ids, addSpecialTokens: false)
/// var scratch = LineScratch(), out: [UInt8] = []
/// Array("Hello world".utf8).withUnsafeBufferPointer { text in
///     [text.count].withUnsafeBufferPointer { ends in format(text, 0, ends, &out, &scratch) }
/// }
/// // out holds "15496 995\n" with GPT-2
/// ```
public struct LineScratch {
    /// Ids of the lines being formatted, and where each line's ids end in `ids`.
    package var ids: [Int] = []
    package var idEnds: [Int] = []
    /// Scratch space for `Tokenizer.encodeIds`.
    package var encode = EncodeScratch()
    public init() {}
}

/// Encodes (or otherwise formats) the lines of a `LineInput` on several threads and hands the output
/// to `output` in input order, one chunk of lines at a time.
///
/// Memory stays bounded by the chunks in flight (at most 8 per worker between the next one to hand out
/// and the last one taken), the batches they belong to and the next one (about 2 MB of input each, or
/// one longer line; up to 8 more if the input was read ahead) and their outputs.
///
/// ```swift
/// let tokenizer = try Tokenizer.load(path: "cl100k_base.tiktoken")
/// let encoder = LineEncoder(workers: 2, input: LineInput(fileDescriptor: 0))
/// // One line of space-separated ids per input line, as `verba tokenize` prints them:
/// try encoder.run(format: tokenizer.lineFormat(.ids, addSpecialTokens: true)) { bytes in
///     FileHandle.standardOutput.write(Data(bytes))
/// }
/// ```
/// Sendable: the worker threads touch only `let` properties and the `Pipeline` (guarded by its
/// `condition`); the vars `scratch`, `aloneOut`, `linesRead` and `bytesRead` have no lock and are written
/// only by the one thread in `run` (called once, as documented), so `linesRead`/`bytesRead` may be read
/// only after `run` has returned.
public final class LineEncoder: @unchecked Sendable {
    /// Formats the lines `text[start..<ends[0]]`, `text[ends[0]..<ends[1]]`, ... into `out` (appending;
    /// for the output to keep one line per input line, each should end with a newline). Called on
    /// several threads at once, each with its own `LineScratch`.
    public typealias Format = (_ text: UnsafeBufferPointer<UInt8>, _ start: Int, _ ends: UnsafeBufferPointer<Int>,
                               _ out: inout [UInt8], _ scratch: inout LineScratch) -> Void
    /// Receives formatted output in input order, one block at a time (never two at once); the bytes
    /// are valid only during the call.
    public typealias Output = (UnsafeBufferPointer<UInt8>) -> Void

    /// Threads that format lines (the caller's included).
    public let workers: Int
    private let input: LineInput
    private var scratch = LineScratch()
    /// The one-worker output buffer, kept from batch to batch (a fresh one faulted in a megabyte of
    /// pages for every batch).
    private var aloneOut: [UInt8] = []
    /// Input bytes per chunk a worker takes at once.
    private let chunkBytes = 1 << 16
    /// Lines handed to a format at once.
    private let linesPerCall = 256

    /// Lines and bytes (newlines included) of the input, once `run` returns.
    public private(set) var linesRead = 0
    public private(set) var bytesRead = 0

    /// An encoder of `input`'s lines on `workers` threads (at least one).
    public init(workers: Int, input: LineInput) {
        self.workers = max(1, workers)
        self.input = input
    }

    /// One batch of input lines, shared by its chunks; its text goes back to the input when the last
    /// chunk is done with it.
    /// Sendable: immutable after init (`text`, `ends` and `input` are `let`s); deinit only calls
    /// `input.recycle`, which takes the input's lock.
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
        let format: Format
        let output: Output
        /// The batch being cut into chunks and the first of its lines not yet taken.
        var batch: Lines?
        var nextLine = 0
        /// The batch after it, read while the current one still has chunks to take: a worker reading
        /// once the current batch was used up left the others idle.
        var following: Lines?
        /// A worker is reading a batch (outside the lock); the input has no more batches.
        var reading = false
        var inputEnded = false
        /// Sequence number of the next chunk to take and of the next output to hand out; outputs
        /// finished out of turn wait in `finished`. One worker at a time hands out (`writing`), outside
        /// the lock.
        var nextChunk = 0
        var nextWrite = 0
        var finished: [Int: [UInt8]] = [:]
        var writing = false
        /// Output buffers already handed out, kept for the next chunks: a fresh buffer per chunk grew
        /// through several reallocations and was mapped and unmapped every time (page faults, and in a
        /// process with threads every unmap interrupts the other cores to flush their TLBs).
        var spare: [[UInt8]] = []

        init(input: LineInput, format: @escaping Format, output: @escaping Output) {
            self.input = input
            self.format = format
            self.output = output
        }
    }

    /// Formats every line of the input with `format` and hands the results to `output` in input order;
    /// returns when the input is exhausted and all output handed over. Call it once.
    /// - Throws: `TokenizerError.unreadable` when reading the input failed (the lines before the
    ///   failure have been handed over).
    public func run(format: @escaping Format, output: @escaping Output) throws {
        defer { (linesRead, bytesRead) = (input.linesRead, input.bytesRead) }
        if workers == 1 {
            while let (text, ends) = input.next() {
                if !ends.isEmpty { processAlone(text, ends, format, output) }
                input.recycle(text)
            }
        } else {
            let pipeline = Pipeline(input: input, format: format, output: output)
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
        if let failure = input.failure { throw failure }
    }

    /// One worker's loop: take a chunk, format it, hand its output over in order.
    private func work(_ pipeline: Pipeline) {
        var scratch = LineScratch()
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
            LineEncoder.format(batch.text, batch.ends, lines: first..<last, format: pipeline.format, perCall: linesPerCall,
                               into: &output, &scratch)

            condition.lock()
            pipeline.finished[sequence] = output
            if pipeline.writing { continue }  // the worker handing out now hands this one out too, in turn
            pipeline.writing = true
            while let out = pipeline.finished.removeValue(forKey: pipeline.nextWrite) {
                pipeline.nextWrite += 1
                condition.unlock()
                out.withUnsafeBufferPointer { pipeline.output($0) }
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

    /// One worker: formats the batch on this thread, handing out every megabyte or so.
    private func processAlone(_ text: [UInt8], _ ends: [Int], _ format: Format, _ output: Output) {
        var out = aloneOut
        aloneOut = []  // `out` the only owner while it grows
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(min(text.count * 2, 1 << 22))
        LineEncoder.format(text, ends, lines: 0..<ends.count, format: format, perCall: linesPerCall, into: &out, &scratch) { out in
            if out.count >= 1 << 20 {
                out.withUnsafeBufferPointer { output($0) }
                out.removeAll(keepingCapacity: true)
            }
        }
        if !out.isEmpty { out.withUnsafeBufferPointer { output($0) } }
        aloneOut = out
    }

    /// Formats `lines` of a batch into `out` with `format`, `perCall` lines a call; `afterCall` may take
    /// the output so far (to hand it out).
    private static func format(_ text: [UInt8], _ ends: [Int], lines: Range<Int>, format: Format, perCall: Int,
                               into out: inout [UInt8], _ scratch: inout LineScratch,
                               afterCall: (inout [UInt8]) -> Void = { _ in }) {
        text.withUnsafeBufferPointer { p in
            ends.withUnsafeBufferPointer { e in
                var line = lines.lowerBound
                while line < lines.upperBound {
                    let last = min(lines.upperBound, line + perCall)
                    format(p, line == 0 ? 0 : e[line - 1], UnsafeBufferPointer(rebasing: e[line..<last]), &out, &scratch)
                    line = last
                    afterCall(&out)
                }
            }
        }
    }
}
