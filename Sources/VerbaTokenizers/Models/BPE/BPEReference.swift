// Plain reference versions of the fast BPE paths, for tests: no whole-piece shortcut beyond what the
// model's options require, no hash-table tricks in the loop, no heap: repeatedly scan every adjacent
// pair and merge the lowest-ranked, leftmost one.

extension BPE {
    /// Encodes one piece with the textbook algorithm. Gives the same ids as `encode(piece:)`.
    /// - Complexity: O(n^2) lookups; for tests only.
    package func encodeReference(piece: [UInt8]) -> [Int] {
        let n = piece.count
        if n == 0 { return [] }
        if options.ignoreMerges {
            let id = table.find(piece)
            if id >= 0 { return [id] }
        }
        var sym: [UInt32] = []
        var lens: [Int] = []
        piece.withUnsafeBufferPointer { initialSymbols($0.baseAddress!, n, &sym, &lens) }
        var parts: [(id: UInt32, start: Int, end: Int)] = []
        var at = 0
        for (s, len) in zip(sym, lens) {
            parts.append((s, min(at, n), min(at + len, n)))
            at += len
        }
        func rank(_ a: (id: UInt32, start: Int, end: Int), _ b: (id: UInt32, start: Int, end: Int)) -> UInt64 {
            if let pairs { return pairs.lookup(a.id, b.id) }
            let id = table.find(Array(piece[a.start..<b.end]))
            return id < 0 ? UInt64.max : UInt64(id) << 32 | UInt64(id)
        }
        while parts.count > 1 {
            var best = UInt64.max
            var at = -1
            for i in 0..<(parts.count - 1) {
                let r = rank(parts[i], parts[i + 1])
                if r < best {
                    best = r
                    at = i
                }
            }
            if at < 0 { break }
            parts[at] = (UInt32(truncatingIfNeeded: best), parts[at].start, parts[at + 1].end)
            parts.remove(at: at + 1)
        }
        return parts.map { Int($0.id) }
    }
}
