// The one atomic file writer of the package, over CVerbaSupport's `verba_atomic_*`: bytes go to a
// temporary file in the destination's folder, which is flushed to disk and renamed into place, so a
// reader or a crash never sees half a file. Each library wraps `AtomicWriteError` in its own typed error.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbaSupport

/// Why an atomic write failed: the `errno` of the step that failed.
package struct AtomicWriteError: Error, CustomStringConvertible {
    package let code: Int32
    /// The system's text for `code` ("No space left on device").
    package var reason: String { errnoText(code) }
    package var description: String { reason }
}

/// An open temporary file that `writeFileAtomically(to:_:)` renames into place when its body returns.
package struct AtomicFile {
    fileprivate let fd: Int32

    /// Appends `count` bytes at `bytes`.
    package func write(_ bytes: UnsafeRawPointer, count: Int) throws(AtomicWriteError) {
        if verba_atomic_write(fd, bytes, count) != 0 { throw AtomicWriteError(code: errno) }
    }

    /// Appends `bytes`.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(AtomicWriteError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try write(base, count: bytes.count)
    }
}

/// Creates `path` from what `body` writes to the `AtomicFile` it is given. If `body` throws, the
/// temporary file is removed, `path` is left as it was, and the error is rethrown as it is.
/// - Throws: `AtomicWriteError` when the file cannot be created, written, flushed or renamed; whatever
///   `body` throws.
package func writeFileAtomically<T>(to path: String, _ body: (AtomicFile) throws -> T) throws -> T {
    var temp = [CChar](repeating: 0, count: 4096)
    let fd = verba_atomic_begin(path, &temp, temp.count)
    if fd < 0 { throw AtomicWriteError(code: errno) }
    let file = AtomicFile(fd: fd)
    let result: T
    do {
        result = try body(file)
    } catch {
        verba_atomic_abort(fd, temp)
        throw error
    }
    // Commit closes the file and removes the temporary one itself when it fails.
    if verba_atomic_commit(fd, temp, path) != 0 { throw AtomicWriteError(code: errno) }
    return result
}

/// Writes `bytes` to `path` atomically (see `writeFileAtomically(to:_:)`).
/// - Throws: `AtomicWriteError`.
package func writeFileAtomically(_ bytes: UnsafeRawBufferPointer, to path: String) throws(AtomicWriteError) {
    do {
        try writeFileAtomically(to: path) { file in try file.write(bytes) }
    } catch let error as AtomicWriteError {
        throw error
    } catch {
        preconditionFailure("the body throws only AtomicWriteError")
    }
}

/// Writes `bytes` to `path` atomically.
/// - Throws: `AtomicWriteError`.
package func writeFileAtomically(_ bytes: [UInt8], to path: String) throws(AtomicWriteError) {
    var failure: AtomicWriteError?
    bytes.withUnsafeBytes { raw in
        do throws(AtomicWriteError) { try writeFileAtomically(raw, to: path) } catch { failure = error }
    }
    if let failure { throw failure }
}
