/// Settings of a BPE training run, with the meaning Hugging Face `tokenizers`' BpeTrainer gives them.
package struct BPETrainerOptions: Sendable {
    /// Stop once the vocabulary (special tokens + alphabet + merged tokens) has this many entries.
    package var vocabSize: Int = 30_000
    /// A pair seen fewer times than this is never merged (training stops at the first such pair).
    package var minFrequency: Int = 0
    /// Added first, with ids 0, 1, ... in this order.
    package var specialTokens: [String] = []
    /// Keep at most this many characters in the alphabet (the most frequent ones).
    package var limitAlphabet: Int? = nil
    /// Characters always in the alphabet, seen or not (byte-level training passes all 256 byte chars).
    package var initialAlphabet: [Unicode.Scalar] = []
    /// Prefix of every symbol that does not start a word (WordPiece's `##`).
    package var continuingSubwordPrefix: String? = nil
    /// Suffix of every symbol that ends a word.
    package var endOfWordSuffix: String? = nil
    /// Pairs whose merged token would reach this many symbols are not counted.
    package var maxTokenLength: Int? = nil

    package init() {}
}

/// What a BPE training run learned: the vocabulary in id order and the merges in rank order.
///
/// ```swift
/// let trained = try TokenizerTrainer(options: TokenizerTrainingOptions()).train(paths: ["corpus.txt"])
/// let result = trained.result
/// if let merge = result.merges.first {
///     print("first merge: \(result.vocab[merge.0]) + \(result.vocab[merge.1])")
/// }
/// ```
public struct BPETrainingResult: Sendable {
    /// Token strings; the index is the id.
    public var vocab: [String]
    /// Merges by rank: the ids of the two merged tokens.
    public var merges: [(Int, Int)]
    /// The special tokens, which lead the vocabulary.
    public var specialTokens: [String]
}

/// Learns byte-pair-encoding merges from word counts, merge for merge the way HF's BpeTrainer does:
/// special tokens first, then the alphabet by code point, then at each step the pair with the highest
/// count, equal counts going to the smaller pair of ids. Pair counts are updated incrementally after each
/// merge (only the words holding the merged pair are touched) and candidates wait in a priority queue
/// whose stale entries are refreshed lazily.
///
/// - Complexity: O(total symbols) to count pairs, then per merge O(size of the words holding the pair
///   + log(queue)).
package struct BPETrainer: Sendable {
    package var options: BPETrainerOptions

    package init(options: BPETrainerOptions) { self.options = options }

    /// Trains on `words` (each a sequence of Unicode scalars, as the model sees it) with their counts.
    /// `progress` is called now and then with the number of merges done so far.
    package func train(words wordScalars: [[Unicode.Scalar]], counts: [Int],
                      progress: ((Int) -> Void)? = nil) -> BPETrainingResult {
        precondition(wordScalars.count == counts.count, "one count per word")
        var idToWord: [String] = []
        var wordToId: [String: Int] = [:]
        func addToken(_ s: String) -> Int {
            if let id = wordToId[s] { return id }
            idToWord.append(s)
            wordToId[s] = idToWord.count - 1
            return idToWord.count - 1
        }

        // 1. Special tokens.
        for s in options.specialTokens { _ = addToken(s) }

        // 2. The alphabet: every character seen, weighted by its words' counts, plus the initial alphabet.
        var alphabet: [UInt32: Int] = [:]
        for (w, c) in zip(wordScalars, counts) {
            for ch in w { alphabet[ch.value, default: 0] &+= c }
        }
        for ch in options.initialAlphabet { alphabet[ch.value] = Int.max }
        var kept = alphabet.map { (scalar: $0.key, count: $0.value) }
        if let limit = options.limitAlphabet, alphabet.count > limit {
            // Drop the least frequent; equal counts drop the larger code point first (HF leaves it open).
            kept.sort { $0.count != $1.count ? $0.count < $1.count : $0.scalar > $1.scalar }
            kept.removeFirst(alphabet.count - limit)
        }
        kept.sort { $0.scalar < $1.scalar }
        var inAlphabet = Set<UInt32>()
        for k in kept {
            inAlphabet.insert(k.scalar)
            _ = addToken(String(Unicode.Scalar(k.scalar)!))
        }

        // 3. Words as symbol ids. Symbols for (character, first?, last?) are looked up once each.
        // Symbols outside the alphabet (with the continuing-subword prefix or end-of-word suffix) take
        // ids by the number of distinct words holding them, most first, then by their strings' code
        // points. HF gives them ids in the order its hash map yields the words, which varies from run to
        // run; a symbol held by more words tends to be met sooner there. This order does not depend on
        // the order of the corpus, so neither do the ids nor the ties they break between pairs.
        func symbolKey(_ ch: Unicode.Scalar, _ i: Int, _ n: Int) -> UInt64 {
            UInt64(ch.value) << 2 | (i == 0 ? 1 : 0) | (i == n - 1 ? 2 : 0)
        }
        func symbolString(_ key: UInt64) -> String {
            var s = String(Unicode.Scalar(UInt32(key >> 2))!)
            if key & 1 == 0, let prefix = options.continuingSubwordPrefix { s = prefix + s }
            if key & 2 != 0, let suffix = options.endOfWordSuffix { s += suffix }
            return s
        }
        var symbolCache: [UInt64: Int32] = [:]
        var wordsHolding: [String: Int] = [:]
        var keysOfWord = Set<UInt64>()
        for w in wordScalars {
            keysOfWord.removeAll(keepingCapacity: true)
            for (i, ch) in w.enumerated() where inAlphabet.contains(ch.value) {
                keysOfWord.insert(symbolKey(ch, i, w.count))
            }
            var stringsOfWord = Set<String>()
            for key in keysOfWord {
                let s = symbolString(key)
                symbolCache[key] = -1
                if wordToId[s] == nil { stringsOfWord.insert(s) }
            }
            for s in stringsOfWord { wordsHolding[s, default: 0] += 1 }
        }
        let newSymbols = wordsHolding.sorted { x, y in
            x.value != y.value ? x.value > y.value
                : x.key.unicodeScalars.lexicographicallyPrecedes(y.key.unicodeScalars) { $0.value < $1.value }
        }
        for (s, _) in newSymbols { _ = addToken(s) }
        for key in Array(symbolCache.keys) { symbolCache[key] = Int32(wordToId[symbolString(key)]!) }
        var words: [[Int32]] = []
        words.reserveCapacity(wordScalars.count)
        for w in wordScalars {
            var symbols: [Int32] = []
            symbols.reserveCapacity(w.count)
            for (i, ch) in w.enumerated() where inAlphabet.contains(ch.value) {
                symbols.append(symbolCache[symbolKey(ch, i, w.count)]!)
            }
            words.append(symbols)
        }
        // Length of each token in initial symbols (for maxTokenLength).
        var tokenLength = [Int](repeating: 1, count: idToWord.count)
        let maxLength = options.maxTokenLength ?? Int.max

        // 4. Pair counts and, per pair, the words that hold it.
        var pairCounts: [UInt64: Int] = [:]
        var whereToUpdate: [UInt64: [Int32]] = [:]
        for (wi, symbols) in words.enumerated() where symbols.count > 1 {
            let c = counts[wi]
            for j in 0..<(symbols.count - 1) {
                let pair = BPETrainer.pack(symbols[j], symbols[j + 1])
                pairCounts[pair, default: 0] += c
                whereToUpdate[pair, default: []].appendUnique(Int32(wi))
            }
        }
        var queue = MergeQueue()
        var positions: [[Int32]] = []
        func enqueue(_ pair: UInt64, count: Int, pos: [Int32]) {
            positions.append(pos)
            queue.push(.init(count: count, pair: pair, pos: Int32(positions.count - 1)))
        }
        /// Queues every pair in `whereToUpdate` whose count is positive, with its words, then empties it.
        /// Entries of one pair with equal counts pop one after the other whatever their order.
        func queueUpdatedPairs() {
            for (pair, pos) in whereToUpdate {
                let c = pairCounts[pair] ?? 0
                if c > 0 { enqueue(pair, count: c, pos: pos) }
            }
            whereToUpdate.removeAll(keepingCapacity: true)
        }
        queueUpdatedPairs()

        // 5. Merges.
        var merges: [(pair: UInt64, id: Int)] = []
        var changes: [Change] = []
        while idToWord.count < options.vocabSize, var top = queue.pop() {
            let current = pairCounts[top.pair] ?? 0
            if top.count != current {
                top.count = current
                queue.push(top)
                continue
            }
            if top.count < 1 || options.minFrequency > top.count { break }
            let (a, b) = BPETrainer.unpack(top.pair)
            var partB = idToWord[Int(b)]
            if let prefix = options.continuingSubwordPrefix, partB.hasPrefix(prefix) {
                partB = String(partB.unicodeScalars.dropFirst(prefix.unicodeScalars.count))
            }
            let newToken = idToWord[Int(a)] + partB
            let newId = addToken(newToken)
            if newId == tokenLength.count { tokenLength.append(tokenLength[Int(a)] + tokenLength[Int(b)]) }
            merges.append((top.pair, newId))

            let pos = positions[Int(top.pos)]
            positions[Int(top.pos)] = []
            changes.removeAll(keepingCapacity: true)
            for wi in pos {
                BPETrainer.merge(&words[Int(wi)], a, b, Int32(newId), word: wi, maxLength: maxLength,
                                 tokenLength: tokenLength, changes: &changes)
            }
            for ch in changes {
                pairCounts[ch.pair, default: 0] += Int(ch.delta) * counts[Int(ch.word)]
                if ch.delta > 0 { whereToUpdate[ch.pair, default: []].appendUnique(ch.word) }
            }
            queueUpdatedPairs()
            if merges.count & 255 == 0 { progress?(merges.count) }
        }
        progress?(merges.count)

        // A pair merged twice (its token reached again by another route) keeps its last rank, as HF's
        // map from pair to (rank, id) does.
        var lastRank: [UInt64: Int] = [:]
        for (rank, m) in merges.enumerated() { lastRank[m.pair] = rank }
        var ordered: [(Int, Int)] = []
        for (rank, m) in merges.enumerated() where lastRank[m.pair] == rank {
            let (a, b) = BPETrainer.unpack(m.pair)
            ordered.append((Int(a), Int(b)))
        }
        return BPETrainingResult(vocab: idToWord, merges: ordered, specialTokens: options.specialTokens)
    }

    @inline(__always) static func pack(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
    @inline(__always) static func unpack(_ p: UInt64) -> (Int32, Int32) { (Int32(truncatingIfNeeded: p >> 32), Int32(truncatingIfNeeded: p & 0xffff_ffff)) }

    struct Change {
        var pair: UInt64
        var delta: Int32
        var word: Int32
    }

    /// Replaces every non-overlapping `a b` in `symbols`, left to right, by `replacement`, recording how
    /// the neighbouring pairs change (HF's `Word::merge`).
    static func merge(_ symbols: inout [Int32], _ a: Int32, _ b: Int32, _ replacement: Int32, word: Int32,
                      maxLength: Int, tokenLength: [Int], changes: inout [Change]) {
        var i = 0
        let newLength = tokenLength[Int(replacement)]
        while i < symbols.count {
            if symbols[i] == a && i + 1 < symbols.count && symbols[i + 1] == b {
                if i > 0 {
                    let prev = symbols[i - 1]
                    changes.append(Change(pair: pack(prev, a), delta: -1, word: word))
                    if tokenLength[Int(prev)] + newLength < maxLength {
                        changes.append(Change(pair: pack(prev, replacement), delta: 1, word: word))
                    }
                }
                symbols[i] = replacement
                symbols.remove(at: i + 1)
                if i < symbols.count - 1 {
                    let next = symbols[i + 1]
                    changes.append(Change(pair: pack(b, next), delta: -1, word: word))
                    if tokenLength[Int(next)] + newLength < maxLength {
                        changes.append(Change(pair: pack(replacement, next), delta: 1, word: word))
                    }
                }
            }
            i += 1
        }
    }
}

extension Array where Element == Int32 {
    /// Appends `v` unless it is already the last element (words are visited in order, so this keeps
    /// each word once per pair, like HF's per-pair sets).
    @inline(__always) mutating func appendUnique(_ v: Int32) {
        if last != v { append(v) }
    }
}

/// A max-heap of merge candidates: higher count first, equal counts to the smaller pair.
struct MergeQueue {
    struct Entry {
        var count: Int
        var pair: UInt64
        var pos: Int32
    }
    private var heap: [Entry] = []

    @inline(__always) private static func before(_ x: Entry, _ y: Entry) -> Bool {
        x.count != y.count ? x.count > y.count : x.pair < y.pair
    }

    mutating func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !MergeQueue.before(heap[i], heap[parent]) { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return first }
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < n && MergeQueue.before(heap[l], heap[best]) { best = l }
            if r < n && MergeQueue.before(heap[r], heap[best]) { best = r }
            if best == i { break }
            heap.swapAt(i, best)
            i = best
        }
        return first
    }
}
