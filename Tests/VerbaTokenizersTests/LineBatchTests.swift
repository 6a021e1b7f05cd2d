import Foundation
import XCTest
@testable import VerbaTokenizers

/// `Tokenizer.encodeIds(lines:...)`, the batched path `verba tokenize` uses (BPE prefetching across
/// line ends, a per-thread id buffer, the long-piece cache), gives the reference ids line for line.
final class LineBatchTests: XCTestCase {
    /// Joins `texts` into one buffer with their end offsets.
    private func joined(_ texts: [[UInt8]]) -> (text: [UInt8], ends: [Int]) {
        var text: [UInt8] = [], ends: [Int] = []
        for t in texts {
            text += t
            ends.append(text.count)
        }
        return (text, ends)
    }

    /// Encodes `texts` in batches of `batch` lines (starting each batch mid-buffer) and splits the ids.
    private func batchedIds(_ tokenizer: Tokenizer, _ texts: [[UInt8]], batch: Int, addSpecialTokens: Bool) -> [[Int]] {
        let (text, ends) = joined(texts)
        var scratch = EncodeScratch()
        var out: [[Int]] = []
        text.withUnsafeBufferPointer { p in
            ends.withUnsafeBufferPointer { e in
                var line = 0
                while line < texts.count {
                    let last = min(texts.count, line + batch)
                    var ids: [Int] = [7]  // ids already present are kept
                    var idEnds: [Int] = []
                    tokenizer.encodeIds(lines: p, start: line == 0 ? 0 : e[line - 1], ends: UnsafeBufferPointer(rebasing: e[line..<last]),
                                        addSpecialTokens: addSpecialTokens, into: &ids, idEnds: &idEnds, scratch: &scratch)
                    XCTAssertEqual(ids.first, 7)
                    XCTAssertEqual(idEnds.count, last - line)
                    var from = 1
                    for end in idEnds {
                        out.append(Array(ids[from..<end]))
                        from = end
                    }
                    line = last
                }
            }
        }
        return out
    }

    func testBatchesMatchTheReferenceFixtures() throws {
        let texts = try ReferenceFixtures.corpus()
        let cases = [("cl100k_base", "cl100k_base", false), ("o200k_base", "o200k_base", false), ("gpt2", "gpt2", true),
                     ("bert-uncased", "bert-uncased", false), ("bert-uncased", "bert-uncased.special", true)]
        for (name, fixture, special) in cases {
            let tokenizer = try ReferenceFixtures.tokenizer(name)
            let expected = try ReferenceFixtures.expectedIds(fixture)
            XCTAssertEqual(expected.count, texts.count)
            for batch in [1, 3, 256] {
                // Twice: the second pass meets every piece in this thread's caches.
                for pass in 0..<2 {
                    let got = batchedIds(tokenizer, texts, batch: batch, addSpecialTokens: special)
                    var mismatches = ReferenceFixtures.Mismatches("\(fixture) batch \(batch) pass \(pass)")
                    for (i, ids) in got.enumerated() {
                        mismatches.check(expected[i], ids, "line \(i + 1): \(ReferenceFixtures.show(texts[i]))")
                    }
                    mismatches.report()
                }
            }
        }
    }

    func testBatchesEqualOneLineAtATime() throws {
        // GPT-2 with <|endoftext|> as an added special token (the fixture file lists none).
        let path = try ReferenceFixtures.asset("../shared/fixtures/gpt2/tokenizer.json")
        let json = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\"added_tokens\": []",
            with: "\"added_tokens\": [{\"id\": 50256, \"content\": \"<|endoftext|>\", \"single_word\": false, "
                + "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}]")
        XCTAssertTrue(json.contains("\"special\": true"))
        let tokenizer = try Tokenizer.fromTokenizerJSON(Array(json.utf8), path: path)
        // Empty lines, a long rule (long-piece cache) seen twice, invalid UTF-8, a 5,000-byte word.
        let rule = [UInt8](repeating: 0x2D, count: 300)
        // Added tokens in the text (GPT-2's <|endoftext|>): alone, twice in a row, between words, cut short.
        let texts: [[UInt8]] = [[], Array("Hello world".utf8), rule, [], [0xFF, 0xC3, 0x28, 0x20, 0x41], rule,
                                Array(repeating: 0x61, count: 5000), Array(" ───── 漢字 👩‍👩‍👧 'LL".utf8), [],
                                Array("<|endoftext|>".utf8), Array("a<|endoftext|>b".utf8),
                                Array("x <|endoftext|><|endoftext|> y".utf8), Array("<|endoftext| <|endoftext".utf8)]
        let single = texts.map { t in t.withUnsafeBufferPointer { p -> [Int] in
            var ids: [Int] = []
            tokenizer.encodeIds(bytes: p, addSpecialTokens: true, into: &ids)
            return ids
        } }
        for batch in [1, 2, texts.count] {
            XCTAssertEqual(batchedIds(tokenizer, texts, batch: batch, addSpecialTokens: true), single, "batch \(batch)")
        }
        XCTAssertEqual(single[2], single[5])
        XCTAssertEqual(single[9], [50256])
        XCTAssertEqual(single[11].filter { $0 == 50256 }.count, 2)
        XCTAssertFalse(single[12].contains(50256))
    }

    /// Threads encoding at once share one piece table (lock-free reads, writes under a per-line sequence
    /// lock): lines of many distinct words, encoded by four threads at the same time in different orders
    /// so that they insert and evict in the same lines while the others read, give exactly the ids one
    /// thread alone gives.
    func testThreadsSharingThePieceTableGetExactIds() throws {
        let path = try ReferenceFixtures.asset("../shared/fixtures/gpt2/tokenizer.json")
        // Words of 2-20 letters from a fixed generator: ~40,000 distinct pieces, thousands of which
        // share a line of the table with another, so lines are rewritten all the time (each thread
        // visits every line twice).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        let letters = Array("abcdefghijklmnopqrstuvwxyzéàü".unicodeScalars.map { String($0) })
        var generated: [[UInt8]] = []
        for _ in 0..<4000 {
            var words: [String] = []
            for _ in 0..<10 {
                words.append((0..<(2 + next() % 19)).map { _ in letters[next() % letters.count] }.joined())
            }
            generated.append(Array(words.joined(separator: " ").utf8))
        }
        let lines = generated
        let alone = try Tokenizer.load(path: path)
        let expected = lines.map { line in line.withUnsafeBufferPointer { p in
            var ids: [Int] = []
            alone.encodeIds(bytes: p, addSpecialTokens: false, into: &ids)
            return ids
        } }
        let shared = try Tokenizer.load(path: path)
        // Each thread visits every line twice, in its own order: strides coprime with the line count.
        let strides = [1, 3, 7, 11]
        XCTAssertEqual(lines.count, 4000)
        // Each thread writes its own slot; the loop below reads them after all have joined.
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<[[Int]]>.allocate(capacity: strides.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: strides.count) { t in
            // Per line: the ids of its last visit, or of the first visit that got wrong ids (kept).
            var got = [[Int]?](repeating: nil, count: lines.count)
            for pass in 0..<2 {
                for k in 0..<lines.count {
                    let i = (k * strides[t] + t * 997 + pass * 31) % lines.count
                    var ids: [Int] = []
                    lines[i].withUnsafeBufferPointer { shared.encodeIds(bytes: $0, addSpecialTokens: false, into: &ids) }
                    if got[i] == nil || got[i] == expected[i] { got[i] = ids }
                }
            }
            results[t] = got.map { $0 ?? [] }
        }
        for t in 0..<strides.count {
            var mismatches = ReferenceFixtures.Mismatches("thread \(t)")
            for i in 0..<lines.count { mismatches.check(expected[i], results[t][i], "line \(i + 1)") }
            mismatches.report()
        }
    }
}
