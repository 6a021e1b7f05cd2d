import Foundation
@testable import VerbaModels
@testable import VerbaTensor
@testable import VerbaTokenizers
import XCTest

// GPT-2 against Hugging Face transformers: random-weight folders built by scripts/fixtures/gpt2.py.
// Tests/Fixtures/gpt2-small/ is committed; downloads/gpt2-124m/ comes from scripts/make-gpt2-124m.sh
// (the 124M tests skip when it is absent) with its expected outputs in Tests/Fixtures/gpt2-124m-expected.json.

/// The package root (the folder holding Package.swift), found from this file's path.
func repoRoot() -> URL {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}

private let smallFolder = repoRoot().appendingPathComponent("Tests/Fixtures/gpt2-small").path
private let bigFolder = repoRoot().appendingPathComponent("downloads/gpt2-124m").path

private func loadJSON(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

private func ints(_ any: Any?) -> [Int] { (any as? [Any] ?? []).map { ($0 as! NSNumber).intValue } }
private func floats(_ any: Any?) -> [Float] { (any as? [Any] ?? []).map { ($0 as! NSNumber).floatValue } }

/// Largest |a - b| over two equal-length vectors.
private func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}

final class GPT2Tests: XCTestCase {
    func testSmallLogitsMatchTransformers() throws {
        let model = try GPT2Model(folder: smallFolder)
        let expected = try loadJSON(smallFolder + "/expected.json")
        let cases = try XCTUnwrap(expected["logits"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let ids = ints(c["ids"]), positions = ints(c["positions"])
            let rows = try XCTUnwrap(c["logits"] as? [Any])
            let got = try model.allLogits(ids)
            XCTAssertEqual(got.count, ids.count)
            for (i, p) in positions.enumerated() {
                let d = maxDiff(got[p], floats(rows[i]))
                XCTAssertLessThan(d, 1e-4, "ids \(ids.prefix(8))... position \(p)")
            }
        }
    }

    func testWeightsWithoutTransformerPrefix() throws {
        // Rewrite the small checkpoint with the original OpenAI names (no `transformer.` prefix).
        let file = try SafeTensorsFile(path: smallFolder + "/model.safetensors")
        let dir = try editedCopy(ofFolder: smallFolder) { _ in }
        var list: [(name: String, tensor: FloatTensor, dtype: DType)] = []
        for name in file.names {
            let stripped = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            list.append((stripped, try file.floats(name).copy(), .f32))
        }
        try SafeTensorsWriter.write(list, metadata: ["format": "pt"], to: dir + "/model.safetensors")
        let a = try GPT2Model(folder: smallFolder), b = try GPT2Model(folder: dir)
        let ids = [1, 2, 3, 50, 100, 7]
        XCTAssertEqual(try a.allLogits(ids), try b.allLogits(ids))
    }

    func testCachedDecodeEqualsRecompute() throws {
        let model = try GPT2Model(folder: smallFolder)
        let ids = Array((0..<40).map { ($0 * 37 + 11) % model.config.vocabSize })
        let full = try model.allLogits(ids)
        // prefill 5 tokens, then one token at a time, then a second batched chunk of 10
        let cache = model.makeCache()
        var stepLogits: [[Float]] = [try model.logits(for: Array(ids[0..<5]), cache: cache)]
        for i in 5..<30 { stepLogits.append(try model.logits(for: [ids[i]], cache: cache)) }
        stepLogits.append(try model.logits(for: Array(ids[30..<40]), cache: cache))
        XCTAssertEqual(cache.count, 40)
        var positions = [4] + Array(5..<30)
        positions.append(39)
        for (row, p) in zip(stepLogits, positions) {
            XCTAssertLessThan(maxDiff(row, full[p]), 2e-5, "position \(p)")
        }
    }

    func testSmallGreedyMatchesTransformersGenerate() throws {
        let model = try GPT2Model(folder: smallFolder)
        let expected = try loadJSON(smallFolder + "/expected.json")
        let cases = try XCTUnwrap(expected["greedy"] as? [[String: Any]])
        for c in cases {
            let want = ints(c["generated"])
            XCTAssertEqual(try greedy(model, prompt: ints(c["ids"]), count: want.count), want, "\(c["text"] ?? "")")
        }
    }

    func testSmallPerplexityMatchesSlidingWindowReference() throws {
        let model = try GPT2Model(folder: smallFolder)
        let expected = try loadJSON(smallFolder + "/expected.json")
        let ids = ints(expected["perplexity_ids"])
        let cases = try XCTUnwrap(expected["perplexity"] as? [[String: Any]])
        for c in cases {
            let context = (c["context"] as! NSNumber).intValue, stride = (c["stride"] as! NSNumber).intValue
            let want = (c["perplexity"] as! NSNumber).doubleValue
            let got = try Perplexity.evaluate(model: model, ids: ids, context: context, stride: stride)
            XCTAssertEqual(got.scoredTokens, (c["scored"] as! NSNumber).intValue)
            XCTAssertLessThan(abs(got.perplexity - want) / want, 1e-4, "context \(context) stride \(stride)")
        }
    }

    func testSeededSamplingIsReproducible() throws {
        let model = try GPT2Model(folder: smallFolder)
        func sample(seed: UInt64, _ p: SamplingParameters) throws -> [Int] {
            var sampler = Sampler(parameters: p, seed: seed)
            let cache = model.makeCache()
            var history = [1, 2, 3]
            var logits = try model.logits(for: history, cache: cache)
            for _ in 0..<20 {
                let next = sampler.next(logits: &logits, history: history)
                history.append(next)
                logits = try model.logits(for: [next], cache: cache)
            }
            return Array(history.dropFirst(3))
        }
        let settings = [SamplingParameters(temperature: 1), SamplingParameters(temperature: 0.8, topK: 20),
                        SamplingParameters(temperature: 1.2, topP: 0.9), SamplingParameters(temperature: 1, minP: 0.05),
                        SamplingParameters(temperature: 0.7, topK: 50, topP: 0.95, minP: 0.02, repetitionPenalty: 1.3)]
        for p in settings {
            let a = try sample(seed: 42, p), b = try sample(seed: 42, p), c = try sample(seed: 43, p)
            XCTAssertEqual(a, b, "\(p)")
            XCTAssertNotEqual(a, c, "\(p): different seeds should differ")
        }
    }

    func testSamplingDistributionMatchesTransformersProcessors() throws {
        let expected = try loadJSON(smallFolder + "/expected.json")
        for c in try XCTUnwrap(expected["sampling"] as? [[String: Any]]) {
            let p = try XCTUnwrap(c["params"] as? [String: Any])
            func f(_ k: String) -> Float { (p[k] as! NSNumber).floatValue }
            let params = SamplingParameters(temperature: f("temperature"), topK: (p["top_k"] as! NSNumber).intValue,
                                            topP: f("top_p"), minP: f("min_p"), repetitionPenalty: f("repetition_penalty"))
            var sampler = Sampler(parameters: params, seed: 1)
            var logits = floats(c["logits"])
            let dist = sampler.distribution(logits: &logits, history: ints(c["history"]))
            let kept = ints(c["kept"]), probs = (c["probs"] as! [Any]).map { ($0 as! NSNumber).doubleValue }
            XCTAssertEqual(dist.map(\.id).sorted(), kept, "\(params)")
            let byId = Dictionary(uniqueKeysWithValues: dist.map { ($0.id, $0.probability) })
            for (id, want) in zip(kept, probs) { XCTAssertEqual(byId[id] ?? -1, want, accuracy: 1e-6, "\(params) id \(id)") }
        }
    }

    func testStopStringFilterHoldsBackPossibleStarts() {
        var f = StopStringFilter(["END", "\n\n"])
        XCTAssertEqual(f.push(Array("Hello E".utf8)).ready, Array("Hello ".utf8))   // "E" may start "END"
        XCTAssertEqual(f.push(Array("N".utf8)).ready, [])                            // "EN" still may
        let r = f.push(Array("Dless".utf8))
        XCTAssertEqual(r.ready, [])
        XCTAssertTrue(r.stopped)
        var g = StopStringFilter(["END"])
        XCTAssertEqual(g.push(Array("ENx".utf8)).ready, Array("ENx".utf8))
        XCTAssertEqual(g.push(Array("E".utf8)).ready, [])
        XCTAssertEqual(g.finish(), Array("E".utf8))
        var h = StopStringFilter([])
        XCTAssertEqual(h.push(Array("abc".utf8)).ready, Array("abc".utf8))
        var u = StopStringFilter(["é!"])
        let a = u.push(Array("café".utf8))
        XCTAssertEqual(a.ready, Array("caf".utf8))   // held back at a character boundary
        XCTAssertEqual(u.push(Array("!x".utf8)).ready, [])
    }

    func testGeneratorStopsWhenTheContextIsFull() throws {
        let g = try TextGenerator(folder: smallFolder)
        let n = g.model.contextLength
        let options = GenerationOptions(maxTokens: 500, sampling: .greedy, ignoreEOS: true)
        let prompt = try g.promptIds("Hello world")
        let r = try g.generate(promptIds: prompt, options: options)
        XCTAssertEqual(r.stopReason, .contextFull)
        XCTAssertEqual(prompt.count + r.ids.count, n + 1)  // the last token needs no position of its own
        XCTAssertEqual(r.stats.decodeTokens, r.ids.count)
        // A prompt that fills the context still yields one token; one more is an error.
        let full = Array(repeating: 5, count: n)
        XCTAssertEqual(try g.generate(promptIds: full, options: options).ids.count, 1)
        XCTAssertThrowsError(try g.generate(promptIds: full + [5], options: options)) { e in
            XCTAssertTrue("\(e)".contains("context"), "\(e)")
        }
        // Greedy text through the tokenizer and the incremental decoder equals transformers' decode.
        let expected = try loadJSON(smallFolder + "/expected.json")
        let c = try XCTUnwrap((expected["greedy"] as? [[String: Any]])?.first)
        var streamed = ""
        let out = try g.generate(prompt: c["text"] as! String,
                                 options: GenerationOptions(maxTokens: ints(c["generated"]).count, sampling: .greedy, ignoreEOS: true)) {
            streamed += $0
        }
        XCTAssertEqual(out.ids, ints(c["generated"]))
        XCTAssertEqual(streamed, c["generated_text"] as? String)
        XCTAssertEqual(out.text, streamed)
    }

    func testBadInputErrors() throws {
        let model = try GPT2Model(folder: smallFolder)
        let n = model.config.contextLength
        XCTAssertThrowsError(try model.logits(for: Array(repeating: 1, count: n + 1), cache: model.makeCache())) { e in
            XCTAssertTrue("\(e)".contains("context"), "\(e)")
        }
        XCTAssertThrowsError(try model.logits(for: [model.config.vocabSize], cache: model.makeCache()))
        XCTAssertThrowsError(try model.logits(for: [], cache: model.makeCache()))
        let relu2 = try editedCopy(ofFolder: smallFolder) { $0["activation_function"] = "relu2" }
        XCTAssertThrowsError(try GPT2Model(folder: relu2)) { e in
            XCTAssertTrue("\(e)".contains("activation_function") && "\(e)".contains("relu2"), "\(e)")
        }
        let badHeads = try editedCopy(ofFolder: smallFolder) { $0["n_head"] = 5 }
        XCTAssertThrowsError(try GPT2Model(folder: badHeads)) { e in XCTAssertTrue("\(e)".contains("n_head"), "\(e)") }
        let badVocab = try editedCopy(ofFolder: smallFolder) { $0["vocab_size"] = 500 }
        XCTAssertThrowsError(try GPT2Model(folder: badVocab)) { e in XCTAssertTrue("\(e)".contains("wte"), "\(e)") }
    }

    // MARK: The full 124M configuration (downloads/gpt2-124m from scripts/make-gpt2-124m.sh)

    private func bigModel() throws -> (GPT2Model, [String: Any]) {
        guard FileManager.default.fileExists(atPath: bigFolder + "/model.safetensors") else {
            XCTFail("downloads/gpt2-124m is absent: run scripts/setup.sh")
            throw XCTSkip()
        }
        let expected = try loadJSON(repoRoot().appendingPathComponent("Tests/Fixtures/gpt2-124m-expected.json").path)
        let model = try GPT2Model(folder: bigFolder)
        // The folder must be the one the expected values came from (same seed, same generator).
        let file = try SafeTensorsFile(path: bigFolder + "/model.safetensors")
        let fingerprint = try XCTUnwrap(expected["fingerprint"] as? [String: Any])
        for (name, values) in fingerprint {
            let want = floats(values)
            let t = try file.floats(name)
            XCTAssertEqual(Array(t.buffer.prefix(4)), Array(want.prefix(4)), "\(name): folder from another seed?")
        }
        return (model, expected)
    }

    func test124MLogitsMatchTransformers() throws {
        let (model, expected) = try bigModel()
        let columns = ints(expected["columns"])
        for c in try XCTUnwrap(expected["logits"] as? [[String: Any]]) {
            let ids = ints(c["ids"]), argmax = ints(c["argmax"])
            let rows = try XCTUnwrap(c["logits"] as? [Any])
            let got = try model.allLogits(ids)
            for p in 0..<ids.count {
                XCTAssertLessThan(maxDiff(columns.map { got[p][$0] }, floats(rows[p])), 1e-4, "position \(p)")
                XCTAssertEqual(Sampler.argmax(got[p]), argmax[p])
            }
            // The cached decode path gives the same last logits.
            if ids.count > 1 {
                let cache = model.makeCache()
                _ = try model.logits(for: Array(ids.dropLast()), cache: cache)
                XCTAssertLessThan(maxDiff(try model.logits(for: [ids.last!], cache: cache), got.last!), 1e-4)
            }
        }
    }

    func test124MPerplexityMatchesSlidingWindowReference() throws {
        let (model, expected) = try bigModel()
        let c = try XCTUnwrap(expected["perplexity"] as? [String: Any])
        let want = (c["perplexity"] as! NSNumber).doubleValue
        let got = try Perplexity.evaluate(model: model, ids: ints(c["ids"]), context: (c["context"] as! NSNumber).intValue,
                                          stride: (c["stride"] as! NSNumber).intValue)
        XCTAssertEqual(got.scoredTokens, (c["scored"] as! NSNumber).intValue)
        XCTAssertLessThan(abs(got.perplexity - want) / want, 1e-4)
    }

    func test124MGreedyMatchesTransformersGenerate() throws {
        let (model, expected) = try bigModel()
        for c in try XCTUnwrap(expected["greedy"] as? [[String: Any]]) {
            let want = ints(c["generated"])
            XCTAssertEqual(try greedy(model, prompt: ints(c["ids"]), count: want.count), want)
        }
    }
}
