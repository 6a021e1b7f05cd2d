// The line pipeline of `verba tokenize`: standard input is read in batches of lines, each batch is cut
// into chunks that the workers format in parallel, and the outputs are written in input order. With
// more than one worker the main thread reads the next batch and writes the previous one's output while
// the workers format the current one, so reading and writing do not hold the workers up.

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
/// threads, and writes the outputs in input order. Memory stays bounded by two batches (about 2 MB of
/// input each, or one longer line) and their output.
final class LineEncoder: @unchecked Sendable {
    /// Formats the lines `text[start..<ends[0]]`, `text[ends[0]..<ends[1]]`, ... into `out`, one output
    /// line each.
    typealias Body = (UnsafeBufferPointer<UInt8>, Int, UnsafeBufferPointer<Int>, inout [UInt8], inout WorkerScratch) -> Void
    let workers: Int
    let body: Body
    private var scratches: [WorkerScratch]
    private let batchBytes = 1 << 21
    /// Lines handed to `body` at once.
    private let linesPerCall = 256

    init(workers: Int, body: @escaping Body) {
        self.workers = max(1, workers)
        self.body = body
        scratches = Array(repeating: WorkerScratch(), count: max(1, workers))
    }

    /// One batch of input lines and, once formatted, its output chunks.
    private final class Batch: @unchecked Sendable {
        let text: [UInt8]
        let ends: [Int]
        var outputs: [[UInt8]] = []
        let done = DispatchGroup()
        init(text: [UInt8], ends: [Int]) {
            self.text = text
            self.ends = ends
        }
        func write() {
            for o in outputs { o.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) } }
        }
    }

    func run() throws {
        var text: [UInt8] = []
        var ends: [Int] = []
        text.reserveCapacity(batchBytes + 4096)
        var pending: Batch? = nil
        let reader = LineReader()
        func submit() {
            if workers == 1 {
                processAlone(text, ends)
                text.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
                return
            }
            let batch = Batch(text: text, ends: ends)
            // One batch at a time on the workers (they share `scratches`): wait for the previous one,
            // start this one, then write the previous one's output while this one runs.
            pending?.done.wait()
            batch.done.enter()
            DispatchQueue.global().async {
                self.processInParallel(batch)
                batch.done.leave()
            }
            pending?.write()
            pending = batch
            text = []
            text.reserveCapacity(batchBytes + 4096)
            ends = []
        }
        reader.forEachLine { line in
            text.append(contentsOf: line)
            ends.append(text.count)
            if text.count >= batchBytes || ends.count >= 65536 { submit() }
            return true
        }
        if !ends.isEmpty { submit() }
        pending?.done.wait()
        pending?.write()
    }

    /// One worker: formats the batch on this thread, writing as it goes.
    private func processAlone(_ text: [UInt8], _ ends: [Int]) {
        let lineCount = ends.count
        var out: [UInt8] = []
        out.reserveCapacity(min(text.count * 2, 1 << 22))
        text.withUnsafeBufferPointer { p in
            ends.withUnsafeBufferPointer { e in
                var line = 0
                while line < lineCount {
                    let last = min(lineCount, line + linesPerCall)
                    body(p, line == 0 ? 0 : e[line - 1], UnsafeBufferPointer(rebasing: e[line..<last]), &out, &scratches[0])
                    line = last
                    if out.count >= 1 << 20 {
                        out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
                        out.removeAll(keepingCapacity: true)
                    }
                }
            }
        }
        out.withUnsafeBufferPointer { StandardOutput.shared.write(bytes: $0) }
    }

    /// Several workers: chunks of lines of about equal bytes, several per worker; each worker takes the
    /// next free chunk. Fills `batch.outputs`, one per chunk, in input order.
    private func processInParallel(_ batch: Batch) {
        let text = batch.text, ends = batch.ends
        let lineCount = ends.count
        let chunkCount = max(1, min(lineCount, workers * 8))
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
        let perCall = linesPerCall
        text.withUnsafeBufferPointer { p in
            ends.withUnsafeBufferPointer { e in
                outputs.withUnsafeMutableBufferPointer { outs in
                    scratches.withUnsafeMutableBufferPointer { scratch in
                        let outsBase = outs.baseAddress!, scratchBase = scratch.baseAddress!
                        DispatchQueue.concurrentPerform(iterations: min(workers, chunks)) { w in
                            while true {
                                let c = counter.next()
                                if c >= chunks { break }
                                var out: [UInt8] = []
                                var line = bounds[c]
                                while line < bounds[c + 1] {
                                    let last = min(bounds[c + 1], line + perCall)
                                    body(p, line == 0 ? 0 : e[line - 1], UnsafeBufferPointer(rebasing: e[line..<last]), &out, &scratchBase[w])
                                    line = last
                                }
                                outsBase[c] = out
                            }
                        }
                    }
                }
            }
        }
        batch.outputs = outputs
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
