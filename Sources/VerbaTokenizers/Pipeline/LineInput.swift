// Input read in batches of whole lines, for `LineEncoder`: one read of about the batch size, then one
// pass that finds the newlines and closes the gaps they leave, so the lines lie end to end in the
// batch's text. The bytes after the last newline wait for the next batch (or are the last line, at the
// end of input). A line longer than the batch size makes its batch as long as the line.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Lines of a file descriptor (standard input, a file, a pipe) or of bytes in memory, read in batches
/// of about 2 MB of whole lines for `LineEncoder`.
///
/// A line is the bytes before a `\n` (a `\r` before it stays part of the line); a last line without a
/// newline is a line too, and empty input has no lines. Bytes are not validated: invalid UTF-8 reaches
/// the tokenizer as it is. A thread of its own may start reading ahead (`readAhead`) while the caller
/// does something else, such as loading the tokenizer.
///
/// ```swift
/// let input = LineInput(fileDescriptor: 0)  // standard input
/// input.readAhead(batches: 8)
/// let tokenizer = try Tokenizer.load(path: "tokenizer.json")
/// ```
/// Sendable: `ready`, `readingAhead` and the spare buffers are guarded by `condition`; `reader` is used
/// by one thread at a time (the read-ahead thread until it sets `readingAhead` false under `condition`,
/// then the callers of `next()`, which the line encoder serializes), and the counters it keeps are read
/// once the input is used up.
public final class LineInput: @unchecked Sendable {
    private let condition = NSCondition()
    private var reader: BatchReader
    /// Batches read ahead, in order; nil marks the end of the input.
    private var ready: [(text: [UInt8], ends: [Int])?] = []
    private var readingAhead = false
    /// Texts of batches done with, for the next batches to be read into: a fresh 2 MB buffer is 512
    /// page faults (and, with threads, a TLB flush on every core when it is unmapped).
    private var spare: [[UInt8]] = []
    let batchBytes: Int

    /// Reads the lines of the open file descriptor `fileDescriptor` (0 for standard input) from its
    /// current position to its end. The descriptor is not closed.
    public init(fileDescriptor: Int32) {
        reader = BatchReader(source: .descriptor(fileDescriptor))
        batchBytes = 1 << 21
    }

    /// Reads the lines of `bytes`.
    public init(bytes: [UInt8]) {
        reader = BatchReader(source: .memory(bytes))
        batchBytes = 1 << 21
    }

    /// For tests: batches of about `batchBytes` bytes.
    init(bytes: [UInt8], batchBytes: Int) {
        reader = BatchReader(source: .memory(bytes))
        self.batchBytes = max(1, batchBytes)
    }

    /// Lines and bytes (newlines included) read, once the input is used up (`next()` returned nil).
    public var linesRead: Int { condition.lock(); defer { condition.unlock() }; return reader.linesRead }
    public var bytesRead: Int { condition.lock(); defer { condition.unlock() }; return reader.bytesRead }

    /// Starts a thread that reads up to `batches` batches (about 2 MB each) now. Call it at most once,
    /// before the input is first read.
    public func readAhead(batches: Int) {
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

    /// Why reading stopped early (`errno` of a failed read), once the input is exhausted.
    var failure: TokenizerError? {
        condition.lock()
        defer { condition.unlock() }
        return reader.failure.map { TokenizerError.unreadable(path: "input", reason: errnoText($0)) }
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

/// Reads a source in batches of whole lines (see the top of the file).
struct BatchReader {
    enum Source {
        case descriptor(Int32)
        case memory([UInt8])
    }
    private let source: Source
    /// Bytes of a `.memory` source taken so far.
    private var offset = 0
    private var carry: [UInt8] = []
    private var eof = false
    /// Lines handed out, and bytes read (newlines included).
    private(set) var linesRead = 0
    private(set) var bytesRead = 0
    /// `errno` of the read that failed (the input then ends there).
    private(set) var failure: Int32?

    init(source: Source) { self.source = source }

    /// Reads up to `count` bytes to `p`: fewer only at the end of the input (or after a read error).
    private mutating func read(into p: UnsafeMutablePointer<UInt8>, count: Int) -> Int {
        switch source {
        case let .memory(bytes):
            let n = min(count, bytes.count - offset)
            if n > 0 { bytes.withUnsafeBufferPointer { p.update(from: $0.baseAddress! + offset, count: n) } }
            offset += n
            return n
        case let .descriptor(fd):
            var done = 0
            while done < count {
                let n = Glibc.read(fd, p + done, count - done)
                if n > 0 { done += n; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno }
                break
            }
            return done
        }
    }

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
                let n = text.withUnsafeMutableBufferPointer { read(into: $0.baseAddress! + old, count: room) }
                text.removeLast(room - n)
                bytesRead += n
                if n < room { eof = true }
            }
            // Newlines in text[scanned...]: each line moves left over the newlines before it.
            var write = scanned
            text.withUnsafeMutableBufferPointer { p in
                guard let base = p.baseAddress else { return }
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

extension LineInput {
    /// Calls `body` with each line, in order, until the input ends or `body` returns false. The bytes
    /// are valid only during the call.
    /// - Throws: what `body` throws; `TokenizerError.unreadable` when reading the input failed.
    public func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Bool) throws {
        while let (text, ends) = next() {
            defer { recycle(text) }
            let goOn = try text.withUnsafeBufferPointer { p -> Bool in
                var from = 0
                for end in ends {
                    if try !body(UnsafeBufferPointer(rebasing: p[from..<end])) { return false }
                    from = end
                }
                return true
            }
            if !goOn { return }
        }
        if let failure { throw failure }
    }

    /// Calls `body` with the lines in chunks of at most `lines` lines, or fewer once they reach `bytes`
    /// bytes; the last chunk may be shorter, and empty input gives no chunk.
    ///
    /// ```swift
    /// try LineInput(fileDescriptor: 0).forEachChunk { lines in
    ///     let result = try embedder.embed(bytes: lines)
    /// }
    /// ```
    public func forEachChunk(lines: Int = 4096, bytes: Int = 4 << 20, _ body: ([[UInt8]]) throws -> Void) throws {
        precondition(lines > 0 && bytes > 0, "chunks need room for a line")
        var chunk: [[UInt8]] = []
        var chunkBytes = 0
        try forEachLine { line in
            chunk.append(Array(line))
            chunkBytes += line.count
            if chunk.count >= lines || chunkBytes >= bytes {
                try body(chunk)
                chunk.removeAll(keepingCapacity: true)
                chunkBytes = 0
            }
            return true
        }
        if !chunk.isEmpty { try body(chunk) }
    }

    /// All the remaining input, newlines included.
    /// - Throws: `TokenizerError.unreadable` when reading the input failed.
    public func readAll() throws -> [UInt8] {
        var all: [UInt8] = []
        while let (text, ends) = next() {
            // A batch holds its lines without their newlines; every line but an unterminated last one had one.
            var from = 0
            for end in ends {
                all.append(contentsOf: text[from..<end])
                all.append(10)
                from = end
            }
            recycle(text)
        }
        if let failure { throw failure }
        // The last line had no newline when the input did not end with one.
        if all.count > bytesRead { all.removeLast() }
        return all
    }
}
