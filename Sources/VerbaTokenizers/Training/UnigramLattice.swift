import Foundation

/// The pieces a Unigram training run works with: every seed piece keeps its id; EM and pruning only
/// change which are alive (`order`, in sentencepiece's order) and their scores.
struct UnigramModelState: Sendable {
    var pieces: [[UInt32]]
    var ids: [[UInt32]: Int32] = [:]
    var scores: [Double]
    var alive: [Bool]
    var order: [Int32]

    init(pieces: [[UInt32]], logProbs: [Double]) {
        self.pieces = pieces
        scores = logProbs
        alive = [Bool](repeating: true, count: pieces.count)
        order = (0..<Int32(pieces.count)).map { $0 }
        for (i, p) in pieces.enumerated() { ids[p] = Int32(i) }
    }

    /// The lowest score of the live pieces.
    var minScore: Double {
        var m = Double.greatestFiniteMagnitude
        for id in order { m = min(m, scores[Int(id)]) }
        return m
    }

    /// Live piece ids by score, highest first; equal scores by piece.
    func sortedByScore() -> [Int] {
        order.map(Int.init).sorted {
            scores[$0] != scores[$1] ? scores[$0] > scores[$1] : pieces[$0].lexicographicallyPrecedes(pieces[$1])
        }
    }

    /// For each sequence, every occurrence of every piece in it, by start then length.
    func lattices(_ sequences: [[UInt32]]) -> [[UnigramTrainer.Node]] {
        // A trie of the pieces: children keyed by (node, character).
        var children: [UInt64: Int32] = [:]
        var terminal: [Int32] = [-1]
        for (id, p) in pieces.enumerated() {
            var node: Int32 = 0
            for ch in p {
                let key = UInt64(UInt32(node)) << 32 | UInt64(ch)
                if let next = children[key] { node = next; continue }
                terminal.append(-1)
                let next = Int32(terminal.count - 1)
                children[key] = next
                node = next
            }
            terminal[Int(node)] = Int32(id)
        }
        return sequences.map { s in
            var nodes: [UnigramTrainer.Node] = []
            for start in 0..<s.count {
                var node: Int32 = 0
                var end = start
                while end < s.count, let next = children[UInt64(UInt32(node)) << 32 | UInt64(s[end])] {
                    node = next
                    end += 1
                    let id = terminal[Int(node)]
                    if id >= 0 { nodes.append(.init(start: Int32(start), end: Int32(end), piece: id)) }
                }
            }
            return nodes
        }
    }
}

/// Reused buffers for one word's lattice: forward and backward log-probabilities and best paths.
struct LatticeScratch {
    private var alpha: [Double] = []
    private var beta: [Double] = []
    private var best: [Double] = []
    private var back: [Int32] = []
    private var live: [UnigramTrainer.Node] = []

    @inline(__always) static func logAdd(_ a: Double, _ b: Double) -> Double {
        if a == -.infinity { return b }
        if b == -.infinity { return a }
        return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b))
    }

    /// The live nodes of `nodes`, plus an unknown node (piece −1) at each position that no live
    /// one-character piece starts at, with the model's lowest score minus 10 (sentencepiece's rule).
    private mutating func liveNodes(_ nodes: [UnigramTrainer.Node], length: Int, model: UnigramModelState,
                                    excluding: Int32?, unknownScore: Double) {
        live.removeAll(keepingCapacity: true)
        var i = 0
        for start in 0..<Int32(length) {
            var single = false
            while i < nodes.count && nodes[i].start == start {
                let n = nodes[i]
                i += 1
                if !model.alive[Int(n.piece)] || n.piece == excluding { continue }
                if n.end == start + 1 { single = true }
                live.append(n)
            }
            if !single { live.append(.init(start: start, end: start + 1, piece: -1)) }
        }
    }

    @inline(__always) private func score(_ n: UnigramTrainer.Node, _ model: UnigramModelState, _ unknown: Double) -> Double {
        n.piece >= 0 ? model.scores[Int(n.piece)] : unknown
    }

    /// Adds `weight` × the marginal probability of each live piece of the word to `expected`.
    mutating func marginals(_ nodes: [UnigramTrainer.Node], length: Int, model: UnigramModelState, weight: Double,
                            into expected: inout [Double]) {
        let unknown = model.minScore - UnigramTrainer.unknownPenalty
        liveNodes(nodes, length: length, model: model, excluding: nil, unknownScore: unknown)
        alpha = [Double](repeating: -.infinity, count: length + 1)
        beta = [Double](repeating: -.infinity, count: length + 1)
        alpha[0] = 0
        beta[length] = 0
        for n in live { alpha[Int(n.end)] = LatticeScratch.logAdd(alpha[Int(n.end)], alpha[Int(n.start)] + score(n, model, unknown)) }
        for n in live.reversed() { beta[Int(n.start)] = LatticeScratch.logAdd(beta[Int(n.start)], score(n, model, unknown) + beta[Int(n.end)]) }
        let z = alpha[length]
        for n in live where n.piece >= 0 {
            expected[Int(n.piece)] += weight * exp(alpha[Int(n.start)] + score(n, model, unknown) + beta[Int(n.end)] - z)
        }
    }

    /// The pieces of the best segmentation (−1 for an unknown character), or none when `excluding`
    /// leaves no path. With `excluding`, that piece is not used (the second-best segmentation of it).
    mutating func viterbi(_ nodes: [UnigramTrainer.Node], length: Int, model: UnigramModelState, excluding: Int32?) -> [Int32] {
        let unknown = model.minScore - UnigramTrainer.unknownPenalty
        liveNodes(nodes, length: length, model: model, excluding: excluding, unknownScore: unknown)
        if excluding != nil, length == 1 { return [] }
        best = [Double](repeating: -.infinity, count: length + 1)
        back = [Int32](repeating: -1, count: length + 1)
        best[0] = 0
        for (k, n) in live.enumerated() {
            let s = best[Int(n.start)] + score(n, model, unknown)
            if s > best[Int(n.end)] { best[Int(n.end)] = s; back[Int(n.end)] = Int32(k) }
        }
        var path: [Int32] = []
        var at = length
        while at > 0 {
            let k = back[at]
            if k < 0 { return [] }
            path.append(live[Int(k)].piece)
            at = Int(live[Int(k)].start)
        }
        return path.reversed()
    }
}

/// Seed pieces: the alphabet, then substrings of the words (at least two characters, valid pieces)
/// that occur at least twice and are followed by more than one character (or end a word), the nodes
/// of sentencepiece's suffix tree, scored frequency × length.
struct SeedPieces {
    let words: [[UInt32]]
    let counts: [Int]
    let maxLength: Int

    init(words: [[UInt32]], counts: [Int], maxLength: Int) {
        self.words = words
        self.counts = counts
        self.maxLength = maxLength
    }

    mutating func make(alphabet: [(key: UInt32, value: Int)], limit: Int) -> [(piece: [UInt32], score: Int)] {
        var result: [(piece: [UInt32], score: Int)] = alphabet.map { ([$0.key], $0.value) }
        // Substring → (frequency, the character after its first occurrence, branching?).
        struct Entry { var freq: Int; var next: UInt32; var branching: Bool }
        var table: [[UInt32]: Entry] = [:]
        let wordEnd = UInt32.max
        for (w, c) in zip(words, counts) {
            for start in 0..<w.count {
                var scripts = ScriptRun()
                var end = start
                while end < w.count && end - start < maxLength {
                    guard scripts.accepts(w[end], at: end - start) else { break }
                    end += 1
                    if end - start < 2 { continue }
                    let next = end < w.count ? w[end] : wordEnd
                    let key = Array(w[start..<end])
                    if var e = table[key] {
                        e.freq += c
                        if e.next != next || next == wordEnd { e.branching = true }
                        table[key] = e
                    } else {
                        table[key] = Entry(freq: c, next: next, branching: next == wordEnd)
                    }
                }
            }
        }
        var substrings: [(piece: [UInt32], score: Int)] = []
        for (k, e) in table where e.freq >= 2 && e.branching { substrings.append((k, e.freq * k.count)) }
        substrings.sort { $0.score != $1.score ? $0.score > $1.score : $0.piece.lexicographicallyPrecedes($1.piece) }
        if substrings.count > limit { substrings.removeLast(substrings.count - limit) }
        result += substrings
        return result
    }
}

/// sentencepiece's rule for the characters of a piece, checked one character at a time: no unknown
/// character, no NUL or space, `▁` only first, one Unicode script (Hiragana and Katakana count as Han,
/// Inherited characters take the script before them).
struct ScriptRun {
    private var previous: Int = -1

    mutating func accepts(_ c: UInt32, at position: Int) -> Bool {
        if c == UnigramTrainer.unknownChar || c == 0 || c == 0x20 || c == 0x2585 { return false }
        if c == UnigramTrainer.spaceMark { return position == 0 }
        var s = ScriptRun.script(c)
        if s == ScriptRun.hiragana || s == ScriptRun.katakana || c == 0x30FC { s = ScriptRun.han }
        else if s == ScriptRun.inherited { s = previous }
        if s != -1 && previous != -1 && previous != s { return false }
        previous = s
        return true
    }

    static let han = index("Han"), hiragana = index("Hiragana"), katakana = index("Katakana")
    static let inherited = index("Inherited"), common = index("Common")

    private static func index(_ name: String) -> Int { unicodeScriptNames.firstIndex(of: name) ?? -2 }

    /// The script number of `c` (Unknown counts as Common).
    static func script(_ c: UInt32) -> Int {
        var lo = 0, hi = unicodeScriptRanges.count / 3
        while lo < hi {
            let mid = (lo + hi) / 2
            if unicodeScriptRanges[3 * mid + 1] < c { lo = mid + 1 } else { hi = mid }
        }
        if lo < unicodeScriptRanges.count / 3 && unicodeScriptRanges[3 * lo] <= c { return Int(unicodeScriptRanges[3 * lo + 2]) }
        return common
    }
}
