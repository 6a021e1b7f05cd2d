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
    mutating func marginals(_ nodes: [UnigramTrainer.Node], length: Int, model: UnigramModelState, unknown: Double,
                            weight: Double, into expected: inout [Double]) {
        liveNodes(nodes, length: length, model: model, excluding: nil, unknownScore: unknown)
        alpha.removeAll(keepingCapacity: true)
        alpha.append(contentsOf: repeatElement(-.infinity, count: length + 1))
        beta.removeAll(keepingCapacity: true)
        beta.append(contentsOf: repeatElement(-.infinity, count: length + 1))
        alpha[0] = 0
        beta[length] = 0
        for n in live { alpha[Int(n.end)] = LatticeScratch.logAdd(alpha[Int(n.end)], alpha[Int(n.start)] + score(n, model, unknown)) }
        for n in live.reversed() { beta[Int(n.start)] = LatticeScratch.logAdd(beta[Int(n.start)], score(n, model, unknown) + beta[Int(n.end)]) }
        let z = alpha[length]
        for n in live where n.piece >= 0 {
            expected[Int(n.piece)] += weight * exp(alpha[Int(n.start)] + score(n, model, unknown) + beta[Int(n.end)] - z)
        }
    }

    /// The score of the segmentation the last `viterbi` call found.
    var lastViterbiScore: Double { best.last ?? -.infinity }

    /// The pieces of the best segmentation (−1 for an unknown character), or none when `excluding`
    /// leaves no path. With `excluding`, that piece is not used (the second-best segmentation of it).
    mutating func viterbi(_ nodes: [UnigramTrainer.Node], length: Int, model: UnigramModelState, unknown: Double,
                          excluding: Int32?) -> [Int32] {
        liveNodes(nodes, length: length, model: model, excluding: excluding, unknownScore: unknown)
        if excluding != nil, length == 1 { return [] }
        best.removeAll(keepingCapacity: true)
        best.append(contentsOf: repeatElement(-.infinity, count: length + 1))
        back.removeAll(keepingCapacity: true)
        back.append(contentsOf: repeatElement(-1, count: length + 1))
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
/// that occur at least twice and are followed by more than one first UTF-8 byte (a word's end counting
/// as the `▁` after it, a line's end as its NUL), the nodes of sentencepiece's byte suffix tree of its
/// lines, scored frequency × length.
struct SeedPieces {
    let words: [[UInt32]]
    let counts: [Int]
    let maxLength: Int

    init(words: [[UInt32]], counts: [Int], maxLength: Int) {
        self.words = words
        self.counts = counts
        self.maxLength = maxLength
    }

    mutating func make(alphabet: [(key: UInt32, value: Int)], limit: Int) -> [(piece: [UInt32], score: Double)] {
        var result: [(piece: [UInt32], score: Double)] = alphabet.map { ([$0.key], Double($0.value)) }
        // An open-addressing table of substrings, each held as (start in `flat`, length), hashed as
        // they grow one character at a time: frequency, the character after the first occurrence, and
        // whether another occurrence was followed by another character (or ended a word).
        var flat: [UInt32] = []
        var wordStarts: [Int] = []
        for w in words { wordStarts.append(flat.count); flat += w }
        var slots = [Int32](repeating: 0, count: 1 << 16)
        var mask = slots.count - 1
        var starts: [Int32] = [], lengths: [UInt8] = [], freqs: [Int] = [], nexts: [UInt8] = [], branching: [Bool] = []
        var hashes: [UInt64] = []
        flat.withUnsafeBufferPointer { f in
            for (wi, w) in words.enumerated() {
                let c = counts[wi], base = wordStarts[wi]
                for start in 0..<w.count {
                    var scripts = ScriptRun()
                    var h: UInt64 = 0xcbf2_9ce4_8422_2325
                    var end = start
                    while end < w.count && end - start < maxLength {
                        guard scripts.accepts(w[end], at: end - start) else { break }
                        h = (h ^ UInt64(w[end])) &* 0x0000_0100_0000_01b3
                        end += 1
                        let n = end - start
                        if n < 2 { continue }
                        // The first UTF-8 byte after the occurrence: sentencepiece finds seeds as nodes of
                        // the byte suffix tree of its lines ended by NUL, where a word is followed by `▁`
                        // (0xE2) or, last in its line, by the NUL the word keeps here.
                        let next = end < w.count ? SeedPieces.firstUTF8Byte(w[end]) : 0xE2
                        let mixed = (h ^ (h >> 29)) &* 0xbf58_476d_1ce4_e5b9
                        var slot = Int(truncatingIfNeeded: mixed >> 7) & mask
                        var found = -1
                        while slots[slot] != 0 {
                            let e = Int(slots[slot]) - 1
                            if hashes[e] == mixed && Int(lengths[e]) == n {
                                let s0 = Int(starts[e])
                                var same = true
                                for k in 0..<n where f[s0 + k] != f[base + start + k] { same = false; break }
                                if same { found = e; break }
                            }
                            slot = (slot + 1) & mask
                        }
                        if found >= 0 {
                            freqs[found] += c
                            if nexts[found] != next { branching[found] = true }
                        } else {
                            starts.append(Int32(base + start)); lengths.append(UInt8(n)); freqs.append(c)
                            nexts.append(next); branching.append(false); hashes.append(mixed)
                            slots[slot] = Int32(starts.count)
                            if starts.count * 2 > mask {
                                slots = [Int32](repeating: 0, count: slots.count * 2)
                                mask = slots.count - 1
                                for e in 0..<starts.count {
                                    var s = Int(truncatingIfNeeded: hashes[e] >> 7) & mask
                                    while slots[s] != 0 { s = (s + 1) & mask }
                                    slots[s] = Int32(e + 1)
                                }
                            }
                        }
                    }
                }
            }
        }
        // sentencepiece's order: score frequency × length in single precision, highest first, then the
        // longer in UTF-8 bytes, then the smaller (code point order is UTF-8 byte order).
        var chosen: [(entry: Int, score: Float, bytes: Int)] = []
        func piece(_ e: Int) -> ArraySlice<UInt32> { flat[Int(starts[e])..<(Int(starts[e]) + Int(lengths[e]))] }
        for e in 0..<starts.count where freqs[e] >= 2 && branching[e] {
            var bytes = 0
            for ch in piece(e) { bytes += ch < 0x80 ? 1 : ch < 0x800 ? 2 : ch < 0x10000 ? 3 : 4 }
            chosen.append((e, Float(freqs[e]) * Float(lengths[e]), bytes))
        }
        chosen.sort {
            if $0.score != $1.score { return $0.score > $1.score }
            if $0.bytes != $1.bytes { return $0.bytes > $1.bytes }
            return piece($0.entry).lexicographicallyPrecedes(piece($1.entry))
        }
        if chosen.count > limit { chosen.removeLast(chosen.count - limit) }
        for c in chosen { result.append((Array(piece(c.entry)), Double(c.score))) }
        return result
    }

    /// The first byte of the UTF-8 form of `c`.
    static func firstUTF8Byte(_ c: UInt32) -> UInt8 {
        if c < 0x80 { return UInt8(c) }
        if c < 0x800 { return UInt8(0xC0 | (c >> 6)) }
        if c < 0x10000 { return UInt8(0xE0 | (c >> 12)) }
        return UInt8(truncatingIfNeeded: 0xF0 | (c >> 18))
    }
}

/// sentencepiece's rule for the characters of a piece, checked one character at a time: no unknown
/// character, no NUL or space, `▁` only first, one Unicode script (Hiragana and Katakana count as Han,
/// Inherited characters take the script before them).
struct ScriptRun {
    private var previous: Int = -1

    mutating func accepts(_ c: UInt32, at position: Int) -> Bool {
        if c == UnigramTrainer.unknownChar || c == 0 || c == 0x20 { return false }
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
