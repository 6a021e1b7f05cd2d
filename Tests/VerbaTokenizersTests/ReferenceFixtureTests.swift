import Foundation
import XCTest
@testable import VerbaTokenizers

/// The reference fixtures written by scripts/fixtures/tokenizers.py (HF `tokenizers` and `tiktoken`
/// outputs for Tests/Fixtures/tokenizers/lines.txt) and the tokenizers they came from.
enum ReferenceFixtures {

    static let directory = packageRoot.appendingPathComponent("Tests/Fixtures/tokenizers")

    /// The tokenizers the fixtures were made with, by fixture name.
    static let sources: [String: String] = [
        "gpt2": "../shared/fixtures/gpt2/tokenizer.json",
        "cl100k_base": "downloads/tiktoken/cl100k_base.tiktoken",
        "o200k_base": "downloads/tiktoken/o200k_base.tiktoken",
        "bert-uncased": "downloads/minilm/tokenizer.json",
    ]

    /// Absolute path of a file given relative to the package root (see `requireAsset`).
    static func asset(_ relative: String) throws -> String {
        try requireAsset(relative, root: packageRoot)
    }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: Tokenizer] = [:]

    /// The tokenizer behind fixture `name`, without truncation or padding (as the fixtures were made).
    static func tokenizer(_ name: String) throws -> Tokenizer {
        guard let relative = sources[name] else { preconditionFailure("unknown fixture tokenizer \(name)") }
        let path = try asset(relative)
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let t = cache[name] { return t }
        let t = try Tokenizer.load(path: path).with(truncation: nil, padding: nil)
        cache[name] = t
        return t
    }

    /// The raw bytes of `file`, split on `\n` only (a final newline ends the last line).
    static func lines(of url: URL) throws -> [[UInt8]] {
        let data = try Data(contentsOf: url)
        var out = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
        if out.last?.isEmpty == true { out.removeLast() }
        return out
    }

    nonisolated(unsafe) private static var corpusCache: [[UInt8]]?

    /// lines.txt: every test text as raw UTF-8 bytes.
    static func corpus() throws -> [[UInt8]] {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let c = corpusCache { return c }
        let c = try lines(of: directory.appendingPathComponent("lines.txt"))
        corpusCache = c
        return c
    }

    /// `<name>.ids`: one list of ids per line of lines.txt.
    static func expectedIds(_ name: String) throws -> [[Int]] {
        try lines(of: directory.appendingPathComponent(name + ".ids")).map { line in
            line.split(separator: 0x20).map { Int(String(decoding: $0, as: UTF8.self))! }
        }
    }

    /// The rows of a JSONL fixture.
    static func jsonl<T: Decodable>(_ file: String, as: T.Type) throws -> [T] {
        let decoder = JSONDecoder()
        return try lines(of: directory.appendingPathComponent(file)).filter { !$0.isEmpty }.map {
            try decoder.decode(T.self, from: Data($0))
        }
    }

    /// A readable form of a text for failure messages (control characters escaped).
    static func show(_ bytes: [UInt8]) -> String {
        let s = String(decoding: bytes, as: UTF8.self)
        let shown = s.debugDescription
        return shown.count > 300 ? String(shown.prefix(300)) + "…" : shown
    }

    /// Collects mismatches and reports the first five and the count as one failure.
    struct Mismatches {
        let what: String
        var count = 0
        var total = 0
        var first: [String] = []

        init(_ what: String) { self.what = what }

        mutating func check<T: Equatable>(_ expected: T, _ got: T, _ describe: @autoclosure () -> String) {
            total += 1
            if expected == got { return }
            count += 1
            if first.count < 5 { first.append(describe() + "\n    expected: \(expected)\n    got:      \(got)") }
        }

        func report(file: StaticString = #filePath, line: UInt = #line) {
            if count == 0 { return }
            XCTFail("\(what): \(count) of \(total) differ; first \(first.count):\n" + first.joined(separator: "\n"),
                    file: file, line: line)
        }
    }
}

/// Every line of the corpus encoded by Verba equals the reference's ids, for each tokenizer, through the
/// fast ids-only path and through the full `encode`.
final class ReferenceFixtureTests: XCTestCase {
    private func checkIds(_ name: String, fixture: String, addSpecialTokens: Bool) throws {
        let tokenizer = try ReferenceFixtures.tokenizer(name)
        let lines = try ReferenceFixtures.corpus()
        let expected = try ReferenceFixtures.expectedIds(fixture)
        XCTAssertEqual(lines.count, expected.count, "\(fixture).ids has one line per line of lines.txt")
        XCTAssertGreaterThanOrEqual(lines.count, 5000)
        var fast = ReferenceFixtures.Mismatches("\(fixture): encodeIds")
        var full = ReferenceFixtures.Mismatches("\(fixture): encode")
        var scratch = EncodeScratch()
        for (i, line) in lines.enumerated() where i < expected.count {
            var ids: [Int] = []
            line.withUnsafeBufferPointer {
                tokenizer.encodeIds(bytes: $0, addSpecialTokens: addSpecialTokens, into: &ids, scratch: &scratch)
            }
            fast.check(expected[i], ids, "line \(i + 1): \(ReferenceFixtures.show(line))")
            do {
                let e = try tokenizer.encode(bytes: line, addSpecialTokens: addSpecialTokens)
                full.check(expected[i], e.ids, "line \(i + 1): \(ReferenceFixtures.show(line))")
            } catch {
                full.check(expected[i], [], "line \(i + 1): \(ReferenceFixtures.show(line)) threw \(error)")
            }
        }
        fast.report()
        full.report()
    }

    func testGPT2() throws { try checkIds("gpt2", fixture: "gpt2", addSpecialTokens: false) }
    func testGPT2WithSpecialTokensAddsNothing() throws { try checkIds("gpt2", fixture: "gpt2", addSpecialTokens: true) }
    func testCL100K() throws { try checkIds("cl100k_base", fixture: "cl100k_base", addSpecialTokens: false) }
    func testO200K() throws { try checkIds("o200k_base", fixture: "o200k_base", addSpecialTokens: false) }
    func testBERTUncased() throws { try checkIds("bert-uncased", fixture: "bert-uncased", addSpecialTokens: false) }
    func testBERTUncasedWithSpecialTokens() throws {
        try checkIds("bert-uncased", fixture: "bert-uncased.special", addSpecialTokens: true)
    }

    /// A folder holding only some of a tokenizer's files (copied), loaded with `Tokenizer.load(path:)`.
    private func loadCopies(_ files: [String], from source: String) throws -> Tokenizer {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in files {
            try FileManager.default.copyItem(atPath: source + "/" + f, toPath: dir.appendingPathComponent(f).path)
        }
        return try Tokenizer.load(path: dir.path)
    }

    private func checkAll(_ tokenizer: Tokenizer, fixture: String, addSpecialTokens: Bool, what: String) throws {
        let lines = try ReferenceFixtures.corpus()
        let expected = try ReferenceFixtures.expectedIds(fixture)
        var m = ReferenceFixtures.Mismatches(what)
        for (i, line) in lines.enumerated() where i < expected.count {
            var ids: [Int] = []
            line.withUnsafeBufferPointer { tokenizer.encodeIds(bytes: $0, addSpecialTokens: addSpecialTokens, into: &ids) }
            m.check(expected[i], ids, "line \(i + 1): \(ReferenceFixtures.show(line))")
        }
        m.report()
    }

    /// The GPT-2 vocabulary read from vocab.json + merges.txt encodes as its tokenizer.json does.
    func testGPT2FromVocabAndMerges() throws {
        let source = try ReferenceFixtures.asset("../shared/fixtures/gpt2")
        let tokenizer = try loadCopies(["vocab.json", "merges.txt"], from: source)
        try checkAll(tokenizer, fixture: "gpt2", addSpecialTokens: false, what: "gpt2 from vocab.json + merges.txt")
    }

    /// all-MiniLM's vocab.txt alone (BERT uncased defaults) encodes as its tokenizer.json does.
    func testBERTFromVocabTxt() throws {
        let source = try ReferenceFixtures.asset("downloads/minilm")
        let tokenizer = try loadCopies(["vocab.txt"], from: source)
        try checkAll(tokenizer, fixture: "bert-uncased.special", addSpecialTokens: true, what: "BERT from vocab.txt")
    }

    /// Texts with `\n` and `\r` (which lines.txt cannot hold) through the library, for every tokenizer.
    func testMultilineTexts() throws {
        struct Row: Decodable {
            let text: String
            let ids: [String: [Int]]
            init(from decoder: Decoder) throws {
                let c = try decoder.container(keyedBy: Key.self)
                text = try c.decode(String.self, forKey: Key("text"))
                var ids: [String: [Int]] = [:]
                for key in c.allKeys where key.stringValue != "text" { ids[key.stringValue] = try c.decode([Int].self, forKey: key) }
                self.ids = ids
            }
        }
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ s: String) { stringValue = s }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        let rows = try ReferenceFixtures.jsonl("multiline.jsonl", as: Row.self)
        XCTAssertGreaterThan(rows.count, 200)
        for name in ReferenceFixtures.sources.keys.sorted() {
            let tokenizer = try ReferenceFixtures.tokenizer(name)
            var m = ReferenceFixtures.Mismatches("multiline.jsonl, \(name)")
            for row in rows {
                guard let expected = row.ids[name] else { continue }
                let text = Array(row.text.utf8)
                var ids: [Int] = []
                text.withUnsafeBufferPointer { tokenizer.encodeIds(bytes: $0, addSpecialTokens: false, into: &ids) }
                m.check(expected, ids, ReferenceFixtures.show(text))
            }
            m.report()
        }
    }

    // MARK: Offsets and tokens

    struct OffsetRow: Decodable {
        let line: Int
        let text: String
        let add_special_tokens: Bool
        let ids: [Int]
        let tokens: [String]
        let type_ids: [Int]
        let attention_mask: [Int]
        let special_tokens_mask: [Int]
        let offsets: [[Int]]
    }

    /// The code-point range of each UTF-8 byte range of `text` (the characters the bytes touch).
    static func codePointRanges(_ ranges: [Range<Int>], in text: [UInt8]) -> [[Int]] {
        var index: [Int] = []  // scalar index of each byte, and of the end
        index.reserveCapacity(text.count + 1)
        var k = -1
        for b in text {
            if b & 0xC0 != 0x80 { k += 1 }
            index.append(max(k, 0))
        }
        index.append(k + 1)
        return ranges.map { r in
            if r.isEmpty { return [index[min(r.lowerBound, text.count)], index[min(r.lowerBound, text.count)]] }
            return [index[r.lowerBound], index[r.upperBound - 1] + 1]
        }
    }

    private func checkOffsets(_ name: String) throws {
        let tokenizer = try ReferenceFixtures.tokenizer(name)
        let lines = try ReferenceFixtures.corpus()
        let rows = try ReferenceFixtures.jsonl("offsets-\(name).jsonl", as: OffsetRow.self)
        XCTAssertGreaterThan(rows.count, 300)
        var m = ReferenceFixtures.Mismatches("offsets-\(name)")
        for row in rows {
            let line = lines[row.line]
            XCTAssertEqual(String(decoding: line, as: UTF8.self), row.text, "JSONL text of line \(row.line + 1)")
            let what = "line \(row.line + 1): \(ReferenceFixtures.show(line))"
            do {
                let e = try tokenizer.encode(bytes: line, addSpecialTokens: row.add_special_tokens)
                m.check(row.ids, e.ids, what + " ids")
                m.check(row.tokens, e.tokens, what + " tokens")
                m.check(row.offsets, e.offsets.map { [$0.lowerBound, $0.upperBound] }, what + " offsets (code points)")
                // HF's Python API reports code points only: the byte ranges must cover the same characters.
                m.check(row.offsets, Self.codePointRanges(e.byteOffsets, in: line), what + " byte offsets as code points")
                m.check(row.type_ids, e.typeIds, what + " type ids")
                m.check(row.attention_mask, e.attentionMask, what + " attention mask")
                m.check(row.special_tokens_mask, e.specialTokensMask, what + " special tokens mask")
            } catch {
                m.check(row.ids, [], what + " threw \(error)")
            }
        }
        m.report()
    }

    func testGPT2Offsets() throws { try checkOffsets("gpt2") }
    func testBERTOffsets() throws { try checkOffsets("bert-uncased") }

    // MARK: Pairs, truncation, padding

    struct Expected: Decodable {
        let ids: [Int]
        let tokens: [String]
        let type_ids: [Int]
        let attention_mask: [Int]
        let special_tokens_mask: [Int]
        let offsets: [[Int]]
        let overflowing: [Expected]?
    }

    struct Truncation: Decodable {
        let max_length: Int
        let stride: Int
        let strategy: String
        let direction: String
    }

    struct Padding: Decodable {
        let direction: String
        let length: Int?
        let pad_to_multiple_of: Int?
        let pad_id: Int
        let pad_type_id: Int
        let pad_token: String
    }

    struct PairRow: Decodable {
        let a: String
        let b: String?
        let add_special_tokens: Bool
        let truncation: Truncation?
        let padding: Padding?
        let expected: Expected?
        let error: String?
    }

    private func compare(_ x: Expected, _ e: Encoding, _ what: String, into m: inout ReferenceFixtures.Mismatches) {
        m.check(x.ids, e.ids, what + " ids")
        m.check(x.tokens, e.tokens, what + " tokens")
        m.check(x.type_ids, e.typeIds, what + " type ids")
        m.check(x.attention_mask, e.attentionMask, what + " attention mask")
        m.check(x.special_tokens_mask, e.specialTokensMask, what + " special tokens mask")
        m.check(x.offsets, e.offsets.map { [$0.lowerBound, $0.upperBound] }, what + " offsets")
        let overflowing = x.overflowing ?? []
        m.check(overflowing.count, e.overflowing.count, what + " number of overflowing windows")
        for (k, (xo, eo)) in zip(overflowing, e.overflowing).enumerated() {
            compare(xo, eo, what + " overflowing[\(k)]", into: &m)
        }
    }

    func testBERTPairsTruncationAndPadding() throws {
        let base = try ReferenceFixtures.tokenizer("bert-uncased")
        let rows = try ReferenceFixtures.jsonl("pairs-bert-uncased.jsonl", as: PairRow.self)
        XCTAssertGreaterThan(rows.count, 30)
        var m = ReferenceFixtures.Mismatches("pairs-bert-uncased")
        for (n, row) in rows.enumerated() {
            let (truncation, padding) = Self.params(row.truncation, row.padding)
            let what = "case \(n + 1) (a: \(row.a.debugDescription.prefix(60)), b: \(row.b?.debugDescription.prefix(60) ?? "none"), "
                + "special: \(row.add_special_tokens), truncation: \(String(describing: truncation)), padding: \(String(describing: padding)))"
            let tokenizer = base.with(truncation: truncation, padding: padding)
            let result = Result { try tokenizer.encode(row.a, pair: row.b, addSpecialTokens: row.add_special_tokens) }
            switch (result, row.expected) {
            case let (.success(e), .some(x)):
                compare(x, e, what, into: &m)
            case let (.failure(error), .some(x)):
                m.check(x.ids, [], what + " threw \(error)")
            case let (.success(e), .none):
                m.check("error: \(row.error ?? "")", "ids \(e.ids)", what + " must throw as the reference refuses")
            case (.failure, .none):
                m.check(0, 0, what)
            }
        }
        m.report()
    }

    struct BatchRow: Decodable {
        let inputs: [[String?]]
        let add_special_tokens: Bool
        let truncation: Truncation?
        let padding: Padding?
        let expected: [Expected]
    }

    static func params(_ t: Truncation?, _ p: Padding?) -> (TruncationParams?, PaddingParams?) {
        let truncation = t.map { t -> TruncationParams in
            let strategy: TruncationParams.Strategy =
                t.strategy == "only_first" ? .onlyFirst : t.strategy == "only_second" ? .onlySecond : .longestFirst
            return TruncationParams(maxLength: t.max_length, strategy: strategy, stride: t.stride,
                                    direction: t.direction == "left" ? .left : .right)
        }
        let padding = p.map { p in
            PaddingParams(strategy: p.length.map { .fixed($0) } ?? .batchLongest,
                          direction: p.direction == "left" ? .left : .right, padToMultipleOf: p.pad_to_multiple_of,
                          padId: p.pad_id, padTypeId: p.pad_type_id, padToken: p.pad_token)
        }
        return (truncation, padding)
    }

    /// encodeBatch pads every encoding to the longest of the batch, as HF encode_batch does.
    func testBERTBatchPadding() throws {
        let base = try ReferenceFixtures.tokenizer("bert-uncased")
        let rows = try ReferenceFixtures.jsonl("batch-bert-uncased.jsonl", as: BatchRow.self)
        XCTAssertGreaterThan(rows.count, 4)
        var m = ReferenceFixtures.Mismatches("batch-bert-uncased")
        for (n, row) in rows.enumerated() {
            let (truncation, padding) = Self.params(row.truncation, row.padding)
            let tokenizer = base.with(truncation: truncation, padding: padding)
            let inputs = row.inputs.map { ($0[0] ?? "", $0.count > 1 ? $0[1] : nil) }
            let what = "batch \(n + 1) (truncation: \(String(describing: truncation)), padding: \(String(describing: padding)))"
            do {
                let got = try tokenizer.encodeBatch(inputs, addSpecialTokens: row.add_special_tokens)
                m.check(row.expected.count, got.count, what + " count")
                for (k, (x, e)) in zip(row.expected, got).enumerated() {
                    compare(x, e, what + " item \(k + 1)", into: &m)
                }
            } catch {
                m.check("encodings", "\(error)", what + " threw")
            }
        }
        m.report()
    }

    // MARK: Decoding

    struct DecodeRow: Decodable {
        let tokenizer: String
        let ids: [Int]
        let skip_special_tokens: Bool
        let text: String
        let bytes_hex: String?
    }

    func testDecode() throws {
        let rows = try ReferenceFixtures.jsonl("decode.jsonl", as: DecodeRow.self)
        XCTAssertGreaterThan(rows.count, 300)
        var m = ReferenceFixtures.Mismatches("decode")
        for row in rows {
            let tokenizer = try ReferenceFixtures.tokenizer(row.tokenizer)
            let what = "\(row.tokenizer) \(row.ids) skip_special_tokens=\(row.skip_special_tokens)"
            m.check(row.text, tokenizer.decode(row.ids, skipSpecialTokens: row.skip_special_tokens), what)
            if let hex = row.bytes_hex {
                let bytes = tokenizer.decodeBytes(row.ids, skipSpecialTokens: row.skip_special_tokens)
                m.check(hex, bytes.map { String(format: "%02x", $0) }.joined(), what + " bytes")
            }
        }
        m.report()
    }

    struct StreamRow: Decodable {
        let tokenizer: String
        let ids: [Int]
        let steps: [String?]
    }

    /// The incremental decoder, fed id by id, emits the same text as HF's DecodeStream, never later: after
    /// each id, what HF has emitted so far is a prefix of what Verba has emitted so far, and that is a
    /// prefix of the full text. (HF holds back a complete " " while the next character is incomplete;
    /// Verba emits it at once, so the chunks themselves may differ.)
    func testGPT2DecodeStream() throws {
        let rows = try ReferenceFixtures.jsonl("decode-stream-gpt2.jsonl", as: StreamRow.self)
        XCTAssertGreaterThan(rows.count, 100)
        var m = ReferenceFixtures.Mismatches("decode-stream-gpt2")
        for row in rows {
            let tokenizer = try ReferenceFixtures.tokenizer(row.tokenizer)
            var decoder = tokenizer.incrementalDecoder()
            let full = row.steps.map { $0 ?? "" }.joined()
            var hf: [UInt8] = [], verba: [UInt8] = []
            var lagging: Int? = nil, wrong: Int? = nil
            for (k, id) in row.ids.enumerated() {
                hf += Array((row.steps[k] ?? "").utf8)
                verba += Array(decoder.push(id).utf8)
                if lagging == nil && !verba.starts(with: hf) { lagging = k }
                if wrong == nil && !Array(full.utf8).starts(with: verba) { wrong = k }
            }
            verba += Array(decoder.finish().utf8)
            m.check(full, String(decoding: verba, as: UTF8.self), "\(row.ids): whole text")
            m.check(nil, lagging, "\(row.ids): first step where Verba has emitted less than HF")
            m.check(nil, wrong, "\(row.ids): first step where Verba's text is not a prefix of the full text")
        }
        m.report()
    }

    // MARK: llama.cpp test vectors

    /// `.inp` holds texts separated by `\n__ggml_vocab_test__\n`; `.out` one line of ids per text
    /// (from HF `tokenizers`, no special tokens).
    private func checkLlamaVectors(_ name: String) throws {
        let dir = "../shared/fixtures/llama-vocab/"
        let gguf = try ReferenceFixtures.asset(dir + name + ".gguf")
        let inp = try Data(contentsOf: URL(fileURLWithPath: try ReferenceFixtures.asset(dir + name + ".inp")))
        let out = try ReferenceFixtures.lines(of: URL(fileURLWithPath: try ReferenceFixtures.asset(dir + name + ".out")))
        var texts: [[UInt8]] = []
        let separator = Array("\n__ggml_vocab_test__\n".utf8)
        var rest = [UInt8](inp)
        while let r = rest.firstRange(of: separator) {
            texts.append(Array(rest[..<r.lowerBound]))
            rest = Array(rest[r.upperBound...])
        }
        XCTAssertEqual(texts.count, out.count, "\(name): one expected line per text")
        XCTAssertGreaterThan(texts.count, 40)
        let tokenizer = try Tokenizer.load(path: gguf)
        var m = ReferenceFixtures.Mismatches("llama.cpp \(name)")
        for (text, line) in zip(texts, out) {
            let expected = line.split(separator: 0x20).map { Int(String(decoding: $0, as: UTF8.self))! }
            var ids: [Int] = []
            text.withUnsafeBufferPointer { tokenizer.encodeIds(bytes: $0, addSpecialTokens: false, into: &ids) }
            m.check(expected, ids, ReferenceFixtures.show(text))
        }
        m.report()
    }

    func testLlamaCppGPT2Vectors() throws { try checkLlamaVectors("gpt-2") }
    func testLlamaCppBertBgeVectors() throws { try checkLlamaVectors("bert-bge") }
}
