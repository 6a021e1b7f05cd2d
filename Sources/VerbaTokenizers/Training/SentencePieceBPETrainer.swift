import Foundation

/// sentencepiece's alphabet: the characters of the words (the `▁` marks included, NUL and space left
/// out), most frequent first (equal counts by code point), taken while the share covered so far is
/// below `coverage`. The share is compared in single precision, as sentencepiece's trainer does.
package func sentencePieceAlphabet(words: [[UInt32]], counts: [Int], coverage: Double) -> [(char: UInt32, count: Int)] {
    var charCounts: [UInt32: Int] = [:]
    var all = 0
    for (w, c) in zip(words, counts) {
        for ch in w where ch != 0 && ch != 0x20 { charCounts[ch, default: 0] += c; all += c }
    }
    let byCount = charCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    var required: [(char: UInt32, count: Int)] = []
    var accumulated = 0
    for (ch, c) in byCount {
        if Float(Double(accumulated) / Double(max(all, 1))) >= Float(coverage) { break }
        accumulated += c
        required.append((ch, c))
    }
    return required
}

/// Learns BPE pieces from word counts as sentencepiece's BPE trainer does (`model_type=bpe`).
///
/// The words are SentencePiece's (`▁` then the word) with characters outside the alphabet already
/// replaced by `UnigramTrainer.unknownChar`. Every step merges the adjacent pair of symbols seen most
/// often (equal counts: the shorter piece in characters, then the smaller in UTF-8 byte order) in
/// every word, left to right. A pair whose piece breaks sentencepiece's rules (more than one script,
/// `▁` past the start, an unknown character, longer than `maxPieceLength`) is never made; a pair whose
/// piece an earlier merge already made by another split is dropped without merging. The result is the
/// merged pieces in order; the caller appends the alphabet.
package struct SentencePieceBPETrainer {
    package var maxPieceLength = 16

    package init() {}

    /// A symbol: a character or a merged pair. Pairs keep their parts, count, occurrences and state.
    private struct Symbol {
        var piece: [UInt32]
        var left: Int32 = -1, right: Int32 = -1
        var freq: Int = 0
        /// Occurrences as (word, index of the left symbol, index of the right symbol).
        var positions: [(word: Int32, left: Int32, right: Int32)] = []
        var active = true
        var pending = false
        var stale = false
    }

    /// Up to `merges` merged pieces, in the order they were learned.
    package func train(words: [[UInt32]], counts: [Int], merges: Int,
                       progress: ((Int) -> Void)? = nil) -> [[UInt32]] {
        precondition(words.count == counts.count, "one count per word")
        var symbols: [Symbol] = []
        var charIds: [UInt32: Int32] = [:]
        var pairIds: [UInt64: Int32] = [:]
        // Each word's symbols; -1 where a merge removed the right part.
        var sequences: [[Int32]] = []
        sequences.reserveCapacity(words.count)
        for w in words {
            sequences.append(w.map { ch in
                if let id = charIds[ch] { return id }
                let id = Int32(symbols.count)
                symbols.append(Symbol(piece: [ch]))
                charIds[ch] = id
                return id
            })
        }
        let unknown = charIds[UnigramTrainer.unknownChar] ?? -1
        // A max-heap of (count, symbol): higher count first, then the shorter piece, then the smaller
        // piece (code point order is UTF-8 byte order).
        var heap: [(freq: Int, id: Int32)] = []
        func above(_ a: (freq: Int, id: Int32), _ b: (freq: Int, id: Int32)) -> Bool {
            if a.freq != b.freq { return a.freq > b.freq }
            let pa = symbols[Int(a.id)].piece, pb = symbols[Int(b.id)].piece
            if pa.count != pb.count { return pa.count < pb.count }
            return pa.lexicographicallyPrecedes(pb)
        }
        func push(_ freq: Int, _ id: Int32) {
            heap.append((freq, id))
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard above(heap[i], heap[parent]) else { break }
                heap.swapAt(i, parent)
                i = parent
            }
        }
        func pop() {
            let last = heap.removeLast()
            guard !heap.isEmpty else { return }
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && above(heap[l], heap[m]) { m = l }
                if r < heap.count && above(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        var pendingList: [Int32] = []
        let maxLength = maxPieceLength

        /// The pair symbol of two adjacent symbols, made on first sight; nil when not a valid piece.
        func pair(_ a: Int32, _ b: Int32) -> Int32? {
            if a == unknown || b == unknown { return nil }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if let id = pairIds[key] { return id < 0 ? nil : id }
            let piece = symbols[Int(a)].piece + symbols[Int(b)].piece
            var run = ScriptRun()
            var valid = piece.count <= maxLength
            if valid { for (i, ch) in piece.enumerated() where !run.accepts(ch, at: i) { valid = false; break } }
            guard valid else { pairIds[key] = -1; return nil }
            let id = Int32(symbols.count)
            symbols.append(Symbol(piece: piece, left: a, right: b))
            pairIds[key] = id
            return id
        }
        func addPair(_ w: Int, _ l: Int, _ r: Int) {
            guard l >= 0, r >= 0, let id = pair(sequences[w][l], sequences[w][r]) else { return }
            symbols[Int(id)].positions.append((Int32(w), Int32(l), Int32(r)))
            symbols[Int(id)].freq += counts[w]
            if !symbols[Int(id)].pending { symbols[Int(id)].pending = true; pendingList.append(id) }
        }
        func resetPair(_ w: Int, _ l: Int, _ r: Int, best: Int32) {
            guard l >= 0, r >= 0, let id = pair(sequences[w][l], sequences[w][r]), id != best else { return }
            symbols[Int(id)].freq -= counts[w]
            symbols[Int(id)].stale = true
        }
        func flushPending() {
            for id in pendingList {
                symbols[Int(id)].pending = false
                if symbols[Int(id)].active { push(symbols[Int(id)].freq, id) }
            }
            pendingList.removeAll(keepingCapacity: true)
        }

        for w in sequences.indices where sequences[w].count > 1 {
            for i in 1..<sequences[w].count { addPair(w, i - 1, i) }
        }
        flushPending()

        var learned: [[UInt32]] = []
        var made = Set<[UInt32]>()
        while learned.count < merges {
            var best: Int32 = -1
            while let top = heap.first {
                let s = symbols[Int(top.id)]
                if !s.active { pop(); continue }
                if s.stale {
                    // Its count fell since it was queued: queue it again with the count it has.
                    pop()
                    symbols[Int(top.id)].stale = false
                    push(s.freq, top.id)
                    continue
                }
                if top.freq != s.freq { pop(); continue }
                best = top.id
                pop()
                break
            }
            if best < 0 { break }
            symbols[Int(best)].active = false
            let positions = symbols[Int(best)].positions
            symbols[Int(best)].positions = []
            guard made.insert(symbols[Int(best)].piece).inserted else { continue }
            learned.append(symbols[Int(best)].piece)
            progress?(learned.count)

            let (left, right) = (symbols[Int(best)].left, symbols[Int(best)].right)
            for p in positions {
                let w = Int(p.word), l = Int(p.left), r = Int(p.right)
                // An occurrence an earlier merge in this loop (or before) changed is gone.
                guard sequences[w][l] == left, sequences[w][r] == right else { continue }
                var next = r + 1
                while next < sequences[w].count && sequences[w][next] < 0 { next += 1 }
                if next == sequences[w].count { next = -1 }
                var prev = l - 1
                while prev >= 0 && sequences[w][prev] < 0 { prev -= 1 }
                resetPair(w, prev, l, best: best)
                resetPair(w, r, next, best: best)
                sequences[w][l] = best
                sequences[w][r] = -1
                addPair(w, prev, l)
                addPair(w, l, next)
            }
            flushPending()
        }
        return learned
    }
}

extension TokenizerTrainer {
    /// SentencePiece BPE (sentencepiece's BPE trainer) on SentencePiece words: special tokens first, then
    /// the byte pieces with byte fallback, the merged pieces in the order learned, then the alphabet by
    /// frequency. Scores are sentencepiece's: 0 for the first pieces, then minus the rank.
    func trainSentencePieceBPE(counts: WordCounts) throws -> TrainedTokenizer {
        let specials = options.effectiveSpecialTokens
        guard let unk = specials.firstIndex(of: "<unk>") else {
            throw TrainerError.invalidOption("SentencePiece BPE needs <unk> among the special tokens")
        }
        var words: [[UInt32]] = []
        var wordCounts: [Int] = []
        counts.forEach { bytes, count in
            // A line's last word ends with a NUL (`SentencePieceWords`): BPE does not need it.
            let end = bytes.last == 0 ? bytes.count - 1 : bytes.count
            words.append(UTF8Codec.decodeScalars(UnsafeBufferPointer(rebasing: bytes[..<end])).scalars.map { UTF8Codec.isRawByte($0) ? 0xFFFD : $0 })
            wordCounts.append(count)
        }
        if words.isEmpty { throw TrainerError.emptyCorpus }
        let bytePieces = options.byteFallback ? (0..<256).map { String(format: "<0x%02X>", $0) } : []
        let alphabet = sentencePieceAlphabet(words: words, counts: wordCounts, coverage: options.characterCoverage)
        let metaCount = specials.count + bytePieces.count
        guard alphabet.count + metaCount <= options.vocabSize else {
            throw TrainerError.invalidOption("the vocabulary size \(options.vocabSize) cannot hold the \(alphabet.count) characters of the alphabet and \(metaCount) meta pieces: raise --vocab-size or lower --character-coverage")
        }
        let known = Set(alphabet.map(\.char))
        for i in words.indices {
            for k in words[i].indices where !known.contains(words[i][k]) { words[i][k] = UnigramTrainer.unknownChar }
        }
        let target = options.vocabSize - metaCount - alphabet.count
        let learned = SentencePieceBPETrainer().train(words: words, counts: wordCounts, merges: target) { [onMerging] n in
            onMerging?(n, target)
        }
        func text(_ piece: [UInt32]) -> String { String(String.UnicodeScalarView(piece.compactMap(Unicode.Scalar.init))) }
        var vocab = specials + bytePieces
        var scores = [Double](repeating: 0, count: vocab.count)
        for piece in learned.map(text) + alphabet.map({ text([$0.char]) }) {
            scores.append(-Double(vocab.count - metaCount))
            vocab.append(piece)
        }
        var trained = TrainedTokenizer(result: BPETrainingResult(vocab: vocab, merges: [], specialTokens: specials), options: options)
        trained.scores = scores
        trained.unkId = unk
        // The merges that encode as sentencepiece does: each piece's splits into two pieces, ranked by the
        // merged piece's score (the converter's rule, `SentencePieceModelProto.merges`).
        let proto = trained.sentencePieceModel()
        var ids: [String: Int] = [:]
        for (id, p) in vocab.enumerated() where ids[p] == nil { ids[p] = id }
        trained.result.merges = proto.merges(ids: ids).compactMap { l, r in
            guard let a = ids[l], let b = ids[r] else { return nil }
            return (a, b)
        }
        return trained
    }
}
