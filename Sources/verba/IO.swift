#if canImport(Glibc)
import Glibc
#endif

/// A buffered writer for standard output: results go out in large `write`s, not one syscall a line.
///
/// A write that fails (a full disk, a closed pipe with SIGPIPE ignored, an I/O error) is remembered,
/// later output is dropped, and `Verba.main` reports the failure and exits non-zero: output that did
/// not arrive must not look like success.
final class StandardOutput {
    nonisolated(unsafe) static let shared = StandardOutput()
    private var buffer: [UInt8] = []
    private let limit = 1 << 16
    /// `errno` of the first write that failed.
    private(set) var failure: Int32? = nil

    init() { buffer.reserveCapacity(limit + 4096) }

    func write(_ s: String) {
        var s = s
        s.withUTF8 { write(bytes: $0) }
    }

    func write(bytes: UnsafeBufferPointer<UInt8>) {
        if bytes.count >= limit {
            // Large blocks go out directly, after what is buffered, without a copy.
            flush()
            writeAll(UnsafeRawBufferPointer(bytes))
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= limit { flush() }
    }

    func write(byte: UInt8) {
        buffer.append(byte)
        if buffer.count >= limit { flush() }
    }

    /// Writes out what is buffered (call before reading more input in interactive use).
    func flush() {
        if buffer.isEmpty { return }
        buffer.withUnsafeBytes { writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// One `write(2)` for the whole block when the kernel takes it (stdio's `fwrite` made three of a
    /// large block: the rest of its 4 KB buffer, the whole blocks, the tail), after anything printed
    /// through stdio.
    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let base = bytes.baseAddress else { return }
        if fflush(stdout) != 0 { failure = errno; return }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(1, base + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    // A non-blocking stdout (inherited from the parent): wait until it takes more.
                    var ready = pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)
                    if poll(&ready, 1, -1) >= 0 || errno == EINTR { continue }
                }
                failure = errno
                return
            }
            done += n
        }
    }
}

/// Reads standard input (or a file) line by line as raw bytes, in large chunks.
///
/// Lines are yielded without their `\n` (a `\r\n` keeps its `\r`, which is part of the text). Bytes are
/// not validated: invalid UTF-8 reaches the caller as it is. A final line without a newline is yielded
/// too. Memory stays bounded by the longest line plus one chunk.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    private let chunk = 1 << 20

    init(file: UnsafeMutablePointer<FILE> = stdin) { self.file = file }

    /// Calls `body` with each line until the input ends or `body` returns false.
    func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Bool) rethrows {
        while true {
            // Look for a newline in what is buffered.
            let found: Int? = buffer.withUnsafeBufferPointer { p in
                guard start < p.count else { return nil }
                if let base = p.baseAddress,
                   let hit = memchr(base + start, 10, p.count - start) {
                    return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                }
                return nil
            }
            if let nl = found {
                let keepGoing = try buffer.withUnsafeBufferPointer { p in
                    try body(UnsafeBufferPointer(rebasing: p[start..<nl]))
                }
                start = nl + 1
                if !keepGoing { return }
                continue
            }
            if eof {
                if start < buffer.count {
                    _ = try buffer.withUnsafeBufferPointer { p in
                        try body(UnsafeBufferPointer(rebasing: p[start..<p.count]))
                    }
                }
                buffer.removeAll()
                start = 0
                return
            }
            // Compact and read another chunk.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let old = buffer.count
            buffer.reserveCapacity(old + chunk)
            buffer.append(contentsOf: repeatElement(0, count: chunk))
            let n = buffer.withUnsafeMutableBufferPointer { p in
                fread(p.baseAddress! + old, 1, chunk, file)
            }
            buffer.removeLast(chunk - n)
            if n == 0 { eof = true }
        }
    }

    /// Reads all remaining input as bytes.
    func readAll() -> [UInt8] {
        var all: [UInt8] = []
        var tmp = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = tmp.withUnsafeMutableBufferPointer { fread($0.baseAddress, 1, chunk, file) }
            if n == 0 { break }
            all.append(contentsOf: tmp[0..<n])
        }
        return all
    }
}
