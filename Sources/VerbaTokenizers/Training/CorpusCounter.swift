import Foundation

/// Errors of a training run: the input it could not use, or settings that cannot work.
///
/// ```swift
/// do {
///     _ = try TokenizerTrainer(options: TokenizerTrainingOptions()).train(paths: ["empty.txt"])
/// } catch TrainerError.emptyCorpus {
///     print("nothing to learn from")
/// }
/// ```
public enum TrainerError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)
    case emptyCorpus
    case invalidOption(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .unwritable(path, reason): return "\(path): cannot write: \(reason)"
        case .emptyCorpus: return "the corpus holds no words to learn from"
        case let .invalidOption(what): return what
        }
    }
}

/// Streams corpora and counts their words, the first stage of training.
///
/// Files are read in chunks and cut at line ends; each line keeps its `\n` (HF's trainers see lines with
/// their endings). The lines of a chunk are normalized and pre-tokenized by `threads` workers, each with
/// its own `WordCounts`, merged at the end: memory grows with the number of distinct words only.
package struct CorpusCounter {
    package var normalizer: (any Normalizer)?
    package var preTokenizer: any PreTokenizer
    package var threads: Int
    /// Called after each chunk with (bytes read so far, total bytes if known, distinct words so far).
    package var progress: ((Int, Int?, Int) -> Void)?

    package init(normalizer: (any Normalizer)?, preTokenizer: any PreTokenizer, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.threads = max(1, threads)
    }

    /// Counts the words of every file in `paths` (`-` is standard input).
    package func count(paths: [String]) throws -> WordCounts {
        var tables = [WordCounts](repeating: WordCounts(), count: threads)
        var total: Int? = 0
        for p in paths where p != "-" {
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: p), let size = attrs[.size] as? Int else {
                throw TrainerError.unreadable(path: p, reason: "no such file")
            }
            total = total.map { $0 + size }
        }
        if paths.contains("-") { total = nil }
        var read = 0
        for p in paths {
            let file: UnsafeMutablePointer<FILE>
            if p == "-" {
                // A stream of its own over a duplicate of descriptor 0 (the C library's `stdin` is a
                // global variable), closed below like a file's.
                guard let f = fdopen(dup(STDIN_FILENO), "rb") else {
                    throw TrainerError.unreadable(path: p, reason: errnoText())
                }
                file = f
            } else {
                guard let f = fopen(p, "rb") else {
                    throw TrainerError.unreadable(path: p, reason: errnoText())
                }
                file = f
            }
            defer { fclose(file) }
            try countStream(file, path: p, tables: &tables) { n, distinct in
                read += n
                progress?(read, total, distinct)
            }
        }
        var all = tables[0]
        for t in tables.dropFirst() { all.merge(t) }
        return all
    }

    /// Counts the words of in-memory text (tests, small inputs).
    package func count(text: [UInt8]) -> WordCounts {
        var tables = [WordCounts](repeating: WordCounts(), count: threads)
        text.withUnsafeBufferPointer { countChunk($0, tables: &tables) }
        var all = tables[0]
        for t in tables.dropFirst() { all.merge(t) }
        return all
    }

    private func countStream(_ file: UnsafeMutablePointer<FILE>, path: String, tables: inout [WordCounts],
                             onChunk: (Int, Int) -> Void) throws {
        let chunkSize = 4 << 20
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var carry: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { fread($0.baseAddress, 1, chunkSize, file) }
            if n == 0 {
                if ferror(file) != 0 { throw TrainerError.unreadable(path: path, reason: errnoText()) }
                break
            }
            onChunk(n, tables.reduce(0) { $0 + $1.count })
            var data = carry
            data.append(contentsOf: buffer[0..<n])
            // Cut after the last newline; the rest waits for the next chunk.
            if let lastNewline = data.lastIndex(of: 10) {
                carry = Array(data[(lastNewline + 1)...])
                data.removeSubrange((lastNewline + 1)...)
                data.withUnsafeBufferPointer { countChunk($0, tables: &tables) }
            } else {
                carry = data
            }
        }
        if !carry.isEmpty { carry.withUnsafeBufferPointer { countChunk($0, tables: &tables) } }
    }

    /// Splits `chunk` (whole lines) among the workers and counts each part into its own table.
    private func countChunk(_ chunk: UnsafeBufferPointer<UInt8>, tables: inout [WordCounts]) {
        let parts = min(threads, max(1, chunk.count / 65_536))
        var bounds = [0]
        for k in 1..<max(parts, 1) {
            var cut = chunk.count * k / parts
            while cut < chunk.count && chunk[cut - 1] != 10 { cut += 1 }
            bounds.append(max(cut, bounds.last!))
        }
        bounds.append(chunk.count)
        let normalizer = self.normalizer, preTokenizer = self.preTokenizer, cuts = bounds
        tables.withUnsafeMutableBufferPointer { t in
            let shared = Parts(chunk: chunk, tables: t.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: cuts.count - 1) { k in
                let part = UnsafeBufferPointer(rebasing: shared.chunk[cuts[k]..<cuts[k + 1]])
                CorpusCounter.countLines(part, normalizer: normalizer, preTokenizer: preTokenizer, into: &shared.tables[k])
            }
        }
    }

    /// The chunk and the per-worker tables as the workers see them. Unchecked Sendable: worker k reads
    /// only its part of the chunk (which nobody writes meanwhile) and writes only table k.
    private struct Parts: @unchecked Sendable {
        let chunk: UnsafeBufferPointer<UInt8>
        let tables: UnsafeMutablePointer<WordCounts>
    }

    private static func countLines(_ text: UnsafeBufferPointer<UInt8>, normalizer: (any Normalizer)?,
                                   preTokenizer: any PreTokenizer, into table: inout WordCounts) {
        guard let base = text.baseAddress else { return }
        var pieces: [Range<Int>] = []
        // Without a normalizer the words stay in `text`: they are added a batch of lines at a time
        // (ranges moved from their line to `text`), so the table prefetches across lines.
        var batch: [Range<Int>] = []
        var start = 0
        while start < text.count {
            var end = text.count
            if let nl = memchr(base + start, 10, text.count - start) {
                end = base.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1  // keep the newline, as HF's trainers do
            }
            let line = UnsafeBufferPointer(rebasing: text[start..<end])
            if let normalizer {
                pieces.removeAll(keepingCapacity: true)
                let normalized = normalizer.normalize(line)
                normalized.bytes.withUnsafeBufferPointer { b in
                    preTokenizer.split(b, into: &pieces)
                    for r in pieces { table.add(UnsafeBufferPointer(rebasing: b[r])) }
                }
            } else {
                let first = batch.count
                preTokenizer.split(line, into: &batch)
                for k in first..<batch.count { batch[k] = (batch[k].lowerBound + start)..<(batch[k].upperBound + start) }
                if batch.count >= 4096 {
                    table.addAll(base, batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            start = end
        }
        table.addAll(base, batch)
    }
}
