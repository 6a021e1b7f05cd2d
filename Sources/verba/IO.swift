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
