// The BPE merge loop: repeatedly merge the adjacent pair of lowest rank (leftmost on ties) until no
// pair merges. Two implementations with identical results:
// - `mergeSmall`: arrays of symbols and pair ranks, a linear scan for the minimum per merge, O(n^2),
//   fastest for the short pieces that make up almost all text;
// - `mergeLarge`: a doubly linked list of symbols and a binary min-heap of (rank, position) with lazy
//   deletion, O(n log n), so a 50 MB piece of one repeated character stays linear-ish.
// A rank source is either a pair table (Hugging Face merges) or a byte-slice lookup (tiktoken: the rank
// of a pair is the rank of its concatenated bytes, which are contiguous in the piece).

/// Where pair ranks come from.
protocol PairRanker {
    /// `rank << 32 | mergedId` for merging symbol `a` (bytes `s0..<s1` of the piece) with symbol `b`
    /// (bytes `s1..<s2`), or `UInt64.max` if they do not merge.
    func rank(_ a: UInt32, _ b: UInt32, _ s0: Int, _ s2: Int) -> UInt64
}

// The rankers hold their table unretained: the model owns it while any merge runs, and retaining a
// shared table for every merge made its reference count bounce between the threads of a batch.

/// Hugging Face merges: explicit pairs of ids.
struct PairTableRanker: PairRanker {
    let table: Unmanaged<PairTable>
    @inline(__always)
    func rank(_ a: UInt32, _ b: UInt32, _ s0: Int, _ s2: Int) -> UInt64 {
        table._withUnsafeGuaranteedRef { $0.lookup(a, b) }
    }
}

/// tiktoken: a pair merges into the token spelled by its bytes; that token's id is its rank.
struct SliceRanker: PairRanker {
    let table: Unmanaged<ByteStringTable>
    let base: UnsafePointer<UInt8>
    @inline(__always)
    func rank(_ a: UInt32, _ b: UInt32, _ s0: Int, _ s2: Int) -> UInt64 {
        let id = table._withUnsafeGuaranteedRef { $0.find(base + s0, s2 - s0) }
        return id < 0 ? UInt64.max : UInt64(id) << 32 | UInt64(id)
    }
}

/// Fills `ranks[i]` with the rank of pair (i, i + 1) for every adjacent pair of `count` symbols.
@inline(__always)
func fillRanks<R: PairRanker>(_ ids: UnsafeMutablePointer<UInt32>, _ starts: UnsafeMutablePointer<Int32>,
                              _ ranks: UnsafeMutablePointer<UInt64>, _ count: Int, _ ranker: R) {
    var i = 0
    while i + 1 < count {
        ranks[i] = ranker.rank(ids[i], ids[i + 1], Int(starts[i]), Int(starts[i + 2]))
        i += 1
    }
}

/// A per-thread memo in front of another ranker: direct-mapped, `memoSize` entries of (pair, rank),
/// small enough to stay in L1/L2, where the frequent pairs of a language soon live. On the fortunes
/// corpus with cl100k, 4,096 entries answer 53% of lookups, 65,536 answer 81%, yet encoding took 6%
/// longer: the bigger memo pushes the byte-pair ranks and the piece table's lines out of L2.
struct MemoRanker<Base: PairRanker>: PairRanker {
    static var memoBits: Int { 12 }
    static var memoSize: Int { 1 << memoBits }
    let base: Base
    let memo: UnsafeMutablePointer<UInt64>  // 2 * memoSize words: key, rank; key UInt64.max when empty

    @inline(__always)
    func rank(_ a: UInt32, _ b: UInt32, _ s0: Int, _ s2: Int) -> UInt64 {
        let key = UInt64(a) << 32 | UInt64(b)
        let i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - Self.memoBits)) << 1
        if memo[i] == key { return memo[i + 1] }
        let r = base.rank(a, b, s0, s2)
        memo[i] = key
        memo[i + 1] = r
        return r
    }
}

/// Merges `count` symbols in place: `ids[i]` spans bytes `starts[i]..<starts[i+1]` (`starts[count]` is
/// the end), `ranks[i]` holds the rank of pair (i, i + 1) (see `fillRanks`). Returns the number of
/// symbols left.
/// - Complexity: O(n^2) rank comparisons; 2 rank lookups per merge.
@inline(__always)
func mergeSmall<R: PairRanker>(_ ids: UnsafeMutablePointer<UInt32>, _ starts: UnsafeMutablePointer<Int32>,
                               _ ranks: UnsafeMutablePointer<UInt64>, _ count: Int, _ ranker: R) -> Int {
    var n = count
    if n < 2 { return n }
    while n > 1 {
        var best = UInt64.max
        var m = -1
        for i in 0..<(n - 1) where ranks[i] < best {
            best = ranks[i]
            m = i
        }
        if m < 0 { break }
        ids[m] = UInt32(truncatingIfNeeded: best)
        var j = m + 1
        while j < n - 1 {
            ids[j] = ids[j + 1]
            ranks[j] = ranks[j + 1]
            starts[j] = starts[j + 1]
            j += 1
        }
        starts[n - 1] = starts[n]
        n -= 1
        if m + 1 < n {
            ranks[m] = ranker.rank(ids[m], ids[m + 1], Int(starts[m]), Int(starts[m + 2]))
        }
        if m > 0 {
            ranks[m - 1] = ranker.rank(ids[m - 1], ids[m], Int(starts[m - 1]), Int(starts[m + 1]))
        }
    }
    return n
}

/// Same contract and result as `mergeSmall`, in O(n log n): a linked list and a lazy min-heap.
func mergeLarge<R: PairRanker>(_ ids: UnsafeMutablePointer<UInt32>, _ starts: UnsafeMutablePointer<Int32>,
                               _ count: Int, _ ranker: R) -> Int {
    let n = count
    if n < 2 { return n }
    let total = Int(starts[n])
    let next = UnsafeMutablePointer<Int32>.allocate(capacity: n)
    let prev = UnsafeMutablePointer<Int32>.allocate(capacity: n)
    let heapCapacity = 3 * n
    let heap = UnsafeMutablePointer<UInt64>.allocate(capacity: heapCapacity)
    defer {
        next.deallocate()
        prev.deallocate()
        heap.deallocate()
    }
    for i in 0..<n {
        next[i] = i + 1 < n ? Int32(i + 1) : -1
        prev[i] = Int32(i - 1)
    }
    var size = 0

    @inline(__always) func end(_ i: Int) -> Int {
        let nx = Int(next[i])
        return nx < 0 ? total : Int(starts[nx])
    }
    @inline(__always) func push(_ key: UInt64) {
        var k = size
        size += 1
        while k > 0 {
            let parent = (k - 1) >> 1
            if heap[parent] <= key { break }
            heap[k] = heap[parent]
            k = parent
        }
        heap[k] = key
    }
    @inline(__always) func pop() -> UInt64 {
        let top = heap[0]
        size -= 1
        let last = heap[size]
        var k = 0
        while true {
            var c = 2 * k + 1
            if c >= size { break }
            if c + 1 < size && heap[c + 1] < heap[c] { c += 1 }
            if heap[c] >= last { break }
            heap[k] = heap[c]
            k = c
        }
        heap[k] = last
        return top
    }
    @inline(__always) func pairRank(_ i: Int) -> UInt64 {
        let j = Int(next[i])
        return ranker.rank(ids[i], ids[j], Int(starts[i]), end(j))
    }

    for i in 0..<(n - 1) {
        let r = ranker.rank(ids[i], ids[i + 1], Int(starts[i]), Int(starts[i + 2]))
        if r != UInt64.max { push((r & 0xFFFF_FFFF_0000_0000) | UInt64(i)) }
    }
    while size > 0 {
        let key = pop()
        let pos = Int(key & 0xFFFF_FFFF)
        let rank = key >> 32
        // Skip entries made stale by earlier merges: dead symbol, no right neighbour, changed pair.
        if starts[pos] < 0 { continue }
        let nx = Int(next[pos])
        if nx < 0 { continue }
        let cur = pairRank(pos)
        if cur == UInt64.max || cur >> 32 != rank { continue }
        ids[pos] = UInt32(truncatingIfNeeded: cur)
        starts[nx] = -1
        let after = next[nx]
        next[pos] = after
        if after >= 0 { prev[Int(after)] = Int32(pos) }
        let pv = Int(prev[pos])
        if pv >= 0 {
            let r = pairRank(pv)
            if r != UInt64.max { push((r & 0xFFFF_FFFF_0000_0000) | UInt64(pv)) }
        }
        if after >= 0 {
            let r = pairRank(pos)
            if r != UInt64.max { push((r & 0xFFFF_FFFF_0000_0000) | UInt64(pos)) }
        }
    }
    // Compact the surviving symbols to the front (write index never passes read index).
    var out = 0
    var i = 0
    while i >= 0 {
        ids[out] = ids[i]
        starts[out] = starts[i]
        out += 1
        i = Int(next[i])
    }
    starts[out] = Int32(total)
    return out
}
