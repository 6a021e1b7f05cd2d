// Turning text files into a token file: documents are split at lines that hold only "%" (the fortune
// file convention; a file without such lines is one document), each document is encoded without
// special tokens, and an end-of-text id (when the tokenizer has one) closes every document.
import Foundation
import VerbaTokenizers

/// Tokenizes corpora for language-model training.
package enum CorpusTokenizer {
    /// The documents of a text file: runs of lines between lines that are exactly "%" (or "%\r"),
    /// without empty ones; bytes are kept as they are.
    package static func documents(of bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var docs: [ArraySlice<UInt8>] = []
        var docStart = 0, lineStart = 0
        var i = 0
        let n = bytes.count
        func close(_ end: Int) {
            var e = end
            while e > docStart && (bytes[e - 1] == 10 || bytes[e - 1] == 13) { e -= 1 }
            if e > docStart { docs.append(bytes[docStart..<e]) }
        }
        while i <= n {
            if i == n || bytes[i] == 10 {
                let line = bytes[lineStart..<i]
                if line.elementsEqual([37]) || line.elementsEqual([37, 13]) {
                    close(lineStart)
                    docStart = min(i + 1, n)
                }
                lineStart = i + 1
            }
            i += 1
        }
        close(n)
        return docs
    }

    /// Encodes every document of every file with `tokenizer` on `threads` threads, appending `eosId`
    /// after each document when given. Order is preserved (files in order, documents in order).
    /// - Throws: `ModelError.unreadable` for a file that cannot be read.
    public static func tokenize(files: [String], tokenizer: Tokenizer, eosId: Int?, threads: Int) throws -> [Int32] {
        var read: [ArraySlice<UInt8>] = []
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ModelError.unreadable(path: path, reason: "no such file or not readable")
            }
            read += documents(of: [UInt8](data))
        }
        let workers = max(1, threads), docs = read
        let chunk = max(1, (docs.count + workers * 8 - 1) / (workers * 8))
        let chunks = (docs.count + chunk - 1) / chunk
        // Unchecked Sendable: `parts` is written only while `lock` is held, and read after the workers end.
        final class Results: @unchecked Sendable { var parts: [[Int32]]; init(_ n: Int) { parts = Array(repeating: [], count: n) } }
        let results = Results(chunks)
        let lock = NSLock()
        let next = ManagedCounter()
        DispatchQueue.concurrentPerform(iterations: min(workers, max(chunks, 1))) { _ in
            var scratch = EncodeScratch()
            var ids: [Int] = []
            while true {
                let k = next.increment()
                if k >= chunks { break }
                var out: [Int32] = []
                for d in (k * chunk)..<min(docs.count, (k + 1) * chunk) {
                    ids.removeAll(keepingCapacity: true)
                    docs[d].withUnsafeBufferPointer {
                        tokenizer.encodeIds(bytes: $0, addSpecialTokens: false, into: &ids, scratch: &scratch)
                    }
                    out.append(contentsOf: ids.lazy.map { Int32($0) })
                    if let e = eosId { out.append(Int32(e)) }
                }
                lock.lock(); results.parts[k] = out; lock.unlock()
            }
        }
        return Array(results.parts.joined())
    }
}

/// A thread-safe counter handing out work items.
/// Unchecked Sendable: `value` is read and written only while `lock` is held.
final class ManagedCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; let v = value; value += 1; return v }
}
