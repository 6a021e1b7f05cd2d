import Foundation

/// Settings of a Unigram training run, with the meaning and defaults of sentencepiece's trainer.
package struct UnigramTrainerOptions: Sendable {
    /// Size of the whole vocabulary: meta pieces (special tokens, byte pieces) included.
    package var vocabSize = 8000
    /// Share of the corpus's characters the alphabet must cover; rarer characters become unknown.
    package var characterCoverage = 0.9995
    /// Pieces besides the learned ones (special tokens, then the 256 byte pieces with byte fallback).
    package var metaPieceCount = 3
    /// Longest piece, in characters.
    package var maxPieceLength = 16
    /// Seed pieces kept from the substrings, the most frequent by frequency × length (sentencepiece
    /// 0.2.3: 8 per vocabulary entry, at least 100,000, which `TokenizerTrainer` sets).
    package var seedSize = 100_000
    /// Each pruning step keeps this share of the pieces.
    package var shrinkingFactor = 0.75
    /// EM iterations between two pruning steps.
    package var subIterations = 2
    package var threads = 1

    package init() {}
}

/// Learns Unigram pieces and scores from word counts as sentencepiece 0.2.3's trainer does: the alphabet
/// by character coverage, seed pieces from frequent substrings (the nodes of its byte suffix tree, score
/// frequency × length, at most `seedSize`), EM with the Bayesian (digamma) M-step, pruning by the loss
/// of likelihood when a piece is removed down to 110% of the target size in steps of `shrinkingFactor`,
/// pieces that Viterbi never picks (their split scores higher) dropped, then the final size with every
/// alphabet character. Scores are kept in single precision where sentencepiece keeps them so.
///
/// Words are SentencePiece's: `▁` then the word, a line's last word ending with a NUL (`CountPipeline` `metaspace`,
/// seeds only: EM drops it). A piece holds at most one
/// Unicode script (digits apart, Inherited marks join the script before them), `▁` only first, and no
/// unknown character. The lattice of each word is found once against the seed pieces; each step only
/// changes which of them are alive and their scores. Work is cut into fixed chunks summed in order, so
/// the result does not depend on the number of threads, nor (words being sorted first) on their order.
package struct UnigramTrainer: Sendable {
    package var options: UnigramTrainerOptions
    package init(options: UnigramTrainerOptions) { self.options = options }

    static let unknownChar: UInt32 = 0x2585
    static let spaceMark: UInt32 = 0x2581
    static let unknownPenalty = 10.0
    static let chunks = 16

    /// A candidate piece of one word's lattice: where it starts and ends (in characters), which seed.
    struct Node { var start: Int32; var end: Int32; var piece: Int32 }

    /// Trains on `words` (characters) with their counts; returns the learned pieces, best score first.
    /// - Throws: `TrainerError.invalidOption` when the vocabulary cannot hold the alphabet.
    package func train(words inputWords: [[UInt32]], counts inputCounts: [Int],
                       progress: ((String) -> Void)? = nil) throws -> [(piece: [UInt32], score: Double)] {
        precondition(inputWords.count == inputCounts.count, "one count per word")
        // 1. The alphabet: the most frequent characters up to the coverage.
        let required = sentencePieceAlphabet(words: inputWords, counts: inputCounts, coverage: options.characterCoverage)
        let requiredSet = Set(required.map(\.0))
        guard required.count + options.metaPieceCount <= options.vocabSize else {
            throw TrainerError.invalidOption("the vocabulary size \(options.vocabSize) cannot hold the \(required.count) characters of the alphabet and \(options.metaPieceCount) meta pieces: raise --vocab-size or lower --character-coverage")
        }

        // 2. Words with rare characters made unknown, merged, in a canonical order: once as the seed
        //    search sees them (a line's last word keeps its NUL), once for EM (without it).
        func canonical(_ merged: [[UInt32]: Int]) -> (words: [[UInt32]], counts: [Int]) {
            let sorted = merged.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.lexicographicallyPrecedes($1.key) }
            return (sorted.map(\.key), sorted.map(\.value))
        }
        var mergedSeedWords: [[UInt32]: Int] = [:]
        var mergedWords: [[UInt32]: Int] = [:]
        for (w, c) in zip(inputWords, inputCounts) {
            let known = w.map { requiredSet.contains($0) || $0 == 0 ? $0 : UnigramTrainer.unknownChar }
            mergedSeedWords[known, default: 0] += c
            mergedWords[known.last == 0 ? Array(known.dropLast()) : known, default: 0] += c
        }
        let (words, counts) = canonical(mergedWords)
        let seedWords = canonical(mergedSeedWords)
        progress?("\(words.count) distinct words, alphabet of \(required.count) characters")

        // 3. Seed pieces: the characters, then substrings by frequency × length.
        var seeds = SeedPieces(words: seedWords.words, counts: seedWords.counts, maxLength: options.maxPieceLength)
        let pieces = seeds.make(alphabet: required.filter { $0.char != UnigramTrainer.unknownChar }.map { (key: $0.char, value: $0.count) },
                                limit: options.seedSize)
        progress?("\(pieces.count) seed pieces")
        var model = UnigramModelState(pieces: pieces.map(\.piece), logProbs: UnigramTrainer.toLogProb(pieces.map(\.score)))
        let wordNodes = model.lattices(words)
        let pieceNodes = model.lattices(model.pieces)

        // 4. EM and pruning.
        let desired = Int(Double(options.vocabSize) * 1.1)
        while true {
            for _ in 0..<options.subIterations {
                let expected = eStep(model: model, words: words, nodes: wordNodes, counts: counts)
                mStep(&model, expected: expected)
            }
            progress?("EM: \(model.order.count) pieces")
            // sentencepiece 0.2's order: the pruning that reaches the size ends the loop, without
            // another EM round after it.
            prune(&model, words: words, nodes: wordNodes, counts: counts, pieceNodes: pieceNodes, desired: desired)
            if model.order.count <= desired { break }
        }
        pruneUnreachable(&model, pieceNodes: pieceNodes)

        // 5. The final size: every alphabet character, then the best scores.
        let target = options.vocabSize - options.metaPieceCount
        var final: [[UInt32]: Double] = [:]
        var penalty = 0.0
        let minScore = model.minScore
        for (ch, _) in required.sorted(by: { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }) {
            if let id = model.ids[[ch]], model.alive[Int(id)] {
                final[[ch]] = model.scores[Int(id)]
            } else {
                final[[ch]] = minScore + penalty
                penalty += 0.0001
            }
        }
        for id in model.sortedByScore() where final[model.pieces[id]] == nil {
            if final.count == target { break }
            final[model.pieces[id]] = model.scores[id]
        }
        return final.map { (piece: $0.key, score: $0.value) }.sorted {
            $0.score != $1.score ? $0.score > $1.score : UnigramTrainer.utf8Precedes($0.piece, $1.piece)
        }
    }

    /// UTF-8 byte order of two code point sequences (the same as code point order).
    static func utf8Precedes(_ a: [UInt32], _ b: [UInt32]) -> Bool { a.lexicographicallyPrecedes(b) }

    /// Log-probabilities of the seed scores, summed in double and kept in single precision (0.2.3).
    static func toLogProb(_ scores: [Double]) -> [Double] {
        var sum = 0.0
        for s in scores { sum += s }
        let logSum = log(sum)
        return scores.map { Double(Float(log($0) - logSum)) }
    }

    /// Runs `body(chunk, range)` over `count` items cut into `chunks` fixed ranges, `threads` at a time.
    func forChunks(_ count: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let n = UnigramTrainer.chunks
        let ranges = (0..<n).map { (count * $0 / n)..<(count * ($0 + 1) / n) }
        let threads = max(1, min(options.threads, n))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var k = t
            while k < n { body(k, ranges[k]); k += threads }
        }
    }

    /// Expected count of every piece over all words (forward-backward on each word's lattice).
    func eStep(model: UnigramModelState, words: [[UInt32]], nodes: [[Node]], counts: [Int]) -> [Double] {
        let pieceCount = model.pieces.count
        let results = ChunkResults(chunks: UnigramTrainer.chunks, size: pieceCount)
        let unknown = model.minScore - UnigramTrainer.unknownPenalty
        forChunks(words.count) { k, range in
            var expected = [Double](repeating: 0, count: pieceCount)
            var lattice = LatticeScratch()
            for i in range {
                lattice.marginals(nodes[i], length: words[i].count, model: model, unknown: unknown, weight: Double(counts[i]), into: &expected)
            }
            results.set(k, expected)
        }
        return results.sum()
    }

    /// sentencepiece's M-step: pieces expected fewer than 0.5 times go; the others score
    /// digamma(expected) − digamma(sum).
    func mStep(_ model: inout UnigramModelState, expected: [Double]) {
        var kept: [Int32] = []
        var sum: Float = 0
        for id in model.order {
            let e = expected[Int(id)]
            if Float(e) < 0.5 { model.alive[Int(id)] = false; continue }
            kept.append(id)
            sum += Float(e)
        }
        let logSum = UnigramTrainer.digamma(Double(sum))
        for id in kept { model.scores[Int(id)] = Double(Float(UnigramTrainer.digamma(Double(Float(expected[Int(id)]))) - logSum)) }
        model.order = kept
    }

    static func digamma(_ x: Double) -> Double {
        var x = x, result = 0.0
        while x < 7 { result -= 1 / x; x += 1 }
        x -= 0.5
        let xx = 1 / x, xx2 = xx * xx, xx4 = xx2 * xx2
        result += log(x) + xx2 / 24 - 7.0 / 960 * xx4 + 31.0 / 8064 * xx4 * xx2 - 127.0 / 30720 * xx4 * xx4
        return result
    }

    /// sentencepiece's pruning: a piece whose best segmentation is not itself goes; the others are
    /// ranked by how much the likelihood drops if their occurrences were segmented the second-best way.
    func prune(_ model: inout UnigramModelState, words: [[UInt32]], nodes: [[Node]], counts: [Int],
               pieceNodes: [[Node]], desired: Int) {
        let current = model
        var alwaysKeep = [Bool](repeating: true, count: model.pieces.count)
        var alternatives = [[Int32]](repeating: [], count: model.pieces.count)
        var lattice = LatticeScratch()
        let unknown = model.minScore - UnigramTrainer.unknownPenalty
        for id in model.order {
            let length = model.pieces[Int(id)].count
            let best = lattice.viterbi(pieceNodes[Int(id)], length: length, model: current, unknown: unknown, excluding: nil)
            if best.count >= 2 {
                // The piece is not its own best segmentation (there are then at least two).
                alwaysKeep[Int(id)] = false
            } else {
                let second = lattice.viterbi(pieceNodes[Int(id)], length: length, model: current, unknown: unknown, excluding: id)
                if !second.isEmpty { alternatives[Int(id)] = second.filter { $0 >= 0 } }
            }
        }
        // Viterbi frequencies over the corpus.
        let results = ChunkResults(chunks: UnigramTrainer.chunks, size: model.pieces.count)
        forChunks(words.count) { k, range in
            var freq = [Double](repeating: 0, count: current.pieces.count)
            var lattice = LatticeScratch()
            for i in range {
                for id in lattice.viterbi(nodes[i], length: words[i].count, model: current, unknown: unknown, excluding: nil) where id >= 0 {
                    freq[Int(id)] += Double(counts[i])
                }
            }
            results.set(k, freq)
        }
        let freq = results.sum()
        var vsum = 0.0
        for c in counts { vsum += Double(c) }
        var sum = 0.0
        for id in model.order { sum += freq[Int(id)] }
        let logSum = log(sum)
        var kept: [Int32] = []
        var candidates: [(index: Int, id: Int32, loss: Double)] = []
        for (index, id) in model.order.enumerated() {
            let f = freq[Int(id)]
            if f == 0 || !alwaysKeep[Int(id)] { continue }
            let alt = alternatives[Int(id)]
            if alt.isEmpty { kept.append(id); continue }
            let share = f / vsum
            let logProb = log(f) - logSum
            let logSumAlt = log(sum + f * Double(alt.count - 1))
            var logProbAlt = 0.0
            for a in alt { logProbAlt += log(freq[Int(a)] + f) - logSumAlt }
            candidates.append((index, id, share * (logProb - logProbAlt)))
        }
        let prunedSize = max(desired, Int(options.shrinkingFactor * Double(model.order.count)))
        candidates.sort { $0.loss != $1.loss ? $0.loss > $1.loss : $0.index < $1.index }
        for c in candidates {
            if kept.count == prunedSize { break }
            kept.append(c.id)
        }
        let keptSet = Set(kept)
        for id in model.order where !keptSet.contains(id) { model.alive[Int(id)] = false }
        model.order = kept
    }
}

extension UnigramTrainer {
    /// sentencepiece 0.2.3's last pruning: a piece whose best segmentation without it scores higher
    /// than the piece itself is never chosen by Viterbi, and goes.
    func pruneUnreachable(_ model: inout UnigramModelState, pieceNodes: [[Node]]) {
        let current = model
        var lattice = LatticeScratch()
        let unknown = model.minScore - UnigramTrainer.unknownPenalty
        var kept: [Int32] = []
        for id in model.order {
            let length = model.pieces[Int(id)].count
            let alternative = lattice.viterbi(pieceNodes[Int(id)], length: length, model: current, unknown: unknown, excluding: id)
            if !alternative.isEmpty && lattice.lastViterbiScore > current.scores[Int(id)] {
                model.alive[Int(id)] = false
            } else {
                kept.append(id)
            }
        }
        model.order = kept
    }
}

/// Per-chunk result arrays filled by workers, summed in chunk order.
final class ChunkResults: @unchecked Sendable {
    private var parts: [[Double]]
    private let lock = NSLock()
    init(chunks: Int, size: Int) { parts = [[Double]](repeating: [], count: chunks) }
    func set(_ k: Int, _ values: [Double]) { lock.lock(); parts[k] = values; lock.unlock() }
    func sum() -> [Double] {
        var total = parts.first { !$0.isEmpty } ?? []
        total = [Double](repeating: 0, count: total.count)
        for p in parts where !p.isEmpty { for i in 0..<p.count { total[i] += p[i] } }
        return total
    }
}
