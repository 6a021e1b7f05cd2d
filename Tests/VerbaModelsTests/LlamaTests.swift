import Foundation
import VerbaModels
import VerbaTensor
import XCTest

// Llama-family decoders against Hugging Face transformers: random-weight folders with the real models'
// head layouts, built by scripts/fixtures/llama.py into Tests/Fixtures/llama/<name>/ (config.json,
// model.safetensors, expected.json). Logits are compared in absolute terms (|Verba − transformers| < 1e-4;
// the fixtures' logits have a standard deviation of about 2).

private let fixtures = repoRoot().appendingPathComponent("Tests/Fixtures/llama").path
private let names = ["smollm2", "qwen25", "qwen3", "llama32", "mistral", "bf16"]

private func folder(_ name: String) -> String { fixtures + "/" + name }

private func loadJSON(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

private func ints(_ any: Any?) -> [Int] { (any as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.intValue } }
private func floats(_ any: Any?) -> [Float] { (any as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }

private func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// A temporary copy of a fixture folder (without expected.json), with `edit` applied to its config.json.
private func editedCopy(of name: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
    try editedCopy(ofFolder: folder(name), edit: edit)
}

final class LlamaTests: XCTestCase {
    func testLogitsMatchTransformers() throws {
        for name in names {
            let model = try LlamaModel(folder: folder(name))
            let expected = try loadJSON(folder(name) + "/expected.json")
            let cases = try XCTUnwrap(expected["logits"] as? [[String: Any]])
            XCTAssertEqual(cases.count, 3)
            var worst: Float = 0
            for c in cases {
                let ids = ints(c["ids"]), positions = ints(c["positions"])
                let rows = try XCTUnwrap(c["logits"] as? [Any])
                let got = try model.allLogits(ids)
                XCTAssertEqual(got.count, ids.count)
                for (i, p) in positions.enumerated() {
                    let d = maxDiff(got[p], floats(rows[i]))
                    worst = max(worst, d)
                    XCTAssertLessThan(d, 1e-4, "\(name): ids \(ids.prefix(6))... position \(p)")
                }
            }
            print("LlamaTests: \(name): max |logit difference| \(worst)")
        }
    }

    func testRotaryFrequenciesMatchTransformers() throws {
        for name in names {
            let config = try LlamaConfig(path: folder(name) + "/config.json")
            let expected = floats(try loadJSON(folder(name) + "/expected.json")["inv_freq"])
            let got = config.inverseFrequencies
            XCTAssertEqual(got.count, expected.count, name)
            for (g, e) in zip(got, expected) { XCTAssertEqual(g, e, accuracy: 2e-6 * abs(e), name) }
        }
        // The llama3 fixture's scaling changes the low frequencies (divided by 32) and keeps the high ones.
        let llama3 = try LlamaConfig(path: folder("llama32") + "/config.json")
        var plain = llama3
        plain.ropeScaling = .none
        XCTAssertEqual(llama3.inverseFrequencies.first, plain.inverseFrequencies.first)
        XCTAssertEqual(llama3.inverseFrequencies.last!, plain.inverseFrequencies.last! / 32, accuracy: 1e-12)
    }

    func testConfigFields() throws {
        let smol = try LlamaConfig(path: folder("smollm2") + "/config.json")
        XCTAssertEqual(smol.architecture, .llama)
        XCTAssertEqual([smol.headCount, smol.kvHeadCount, smol.headSize], [9, 3, 16])
        XCTAssertTrue(smol.tieWordEmbeddings)
        let qwen2 = try LlamaConfig(path: folder("qwen25") + "/config.json")
        XCTAssertTrue(qwen2.qkvBias)
        XCTAssertFalse(qwen2.outputBias)
        XCTAssertEqual(qwen2.slidingWindows, [nil, nil])   // use_sliding_window false
        let qwen3 = try LlamaConfig(path: folder("qwen3") + "/config.json")
        XCTAssertTrue(qwen3.qkNorm)
        XCTAssertEqual(qwen3.headSize, 128)
        XCTAssertEqual(qwen3.hiddenSize, 64)
        let llama = try LlamaConfig(path: folder("llama32") + "/config.json")
        XCTAssertEqual(llama.ropeScaling, .llama3(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192))
        XCTAssertEqual(llama.eosTokenIds, [8, 9, 10])
        XCTAssertTrue(llama.outputBias && llama.mlpBias)
        let mistral = try LlamaConfig(path: folder("mistral") + "/config.json")
        XCTAssertEqual(mistral.slidingWindows, [8, 8])
        XCTAssertFalse(mistral.tieWordEmbeddings)
        XCTAssertEqual(try LlamaConfig(path: folder("bf16") + "/config.json").ropeScaling, .linear(factor: 2))
    }

    func testGreedyGenerationMatchesTransformers() throws {
        for name in names {
            let model = try loadCausalLM(folder: folder(name))
            XCTAssertTrue(model is LlamaModel)
            let expected = try loadJSON(folder(name) + "/expected.json")
            for c in try XCTUnwrap(expected["greedy"] as? [[String: Any]]) {
                let want = ints(c["generated"])
                XCTAssertEqual(try greedy(model, stopAtEOS: true, prompt: ints(c["ids"]), count: 16), want, name)
            }
        }
    }

    /// Token-by-token decoding through the cache gives the logits of the batched pass (the sequence is
    /// longer than Mistral's window of 8, so the window's edge is crossed in both paths).
    func testCachedEqualsUncached() throws {
        for name in names {
            let model = try LlamaModel(folder: folder(name))
            let ids = ints((try loadJSON(folder(name) + "/expected.json")["logits"] as? [[String: Any]])?[1]["ids"])
            XCTAssertEqual(ids.count, 40)
            let full = try model.allLogits(ids)
            let cache = model.makeCache()
            var worst: Float = 0
            // a prefill of 5, then single steps, then a second prefill of 9 on top of the cache
            var p = 0
            for chunk in [5] + Array(repeating: 1, count: 26) + [9] {
                let logits = try model.logits(for: Array(ids[p..<(p + chunk)]), cache: cache)
                p += chunk
                worst = max(worst, maxDiff(logits, full[p - 1]))
            }
            XCTAssertEqual(cache.count, 40)
            XCTAssertLessThan(worst, 1e-4, name)
        }
    }

    func testPerplexityMatchesTransformers() throws {
        for name in names {
            let model = try LlamaModel(folder: folder(name))
            let expected = try loadJSON(folder(name) + "/expected.json")
            let ids = ints(expected["perplexity_ids"])
            for c in try XCTUnwrap(expected["perplexity"] as? [[String: Any]]) {
                let context = (c["context"] as! NSNumber).intValue, stride = (c["stride"] as! NSNumber).intValue
                let got = try Perplexity.evaluate(model: model, ids: ids, context: context, stride: stride)
                let want = (c["perplexity"] as! NSNumber).doubleValue
                XCTAssertEqual(got.scoredTokens, (c["scored"] as! NSNumber).intValue)
                XCTAssertEqual(got.perplexity, want, accuracy: 1e-4 * want, "\(name) context \(context) stride \(stride)")
            }
        }
    }

    /// The generator runs a Llama model end to end: tokenizer, prefill, decode, EOS handling.
    func testTextGeneratorRunsLlama() throws {
        let g = try TextGenerator(folder: folder("smollm2"))
        let expected = try loadJSON(folder("smollm2") + "/expected.json")
        let c = try XCTUnwrap((expected["greedy"] as? [[String: Any]])?.first)
        let want = ints(c["generated"])
        let out = try g.generate(promptIds: ints(c["ids"]), options: GenerationOptions(maxTokens: want.count, sampling: .greedy))
        XCTAssertEqual(out.ids, want)
        XCTAssertEqual(out.text, g.tokenizer.decode(want.filter { !g.model.eosTokenIds.contains($0) }, skipSpecialTokens: true))
        // loadCausalLM still picks GPT-2 for a GPT-2 folder
        XCTAssertTrue(try loadCausalLM(folder: repoRoot().appendingPathComponent("Tests/Fixtures/gpt2-small").path) is GPT2Model)
    }

    /// One model runs several sequences at once, each on its own cache (the scratch buffers live in the
    /// cache): greedy continuations on four threads equal the ones computed one after another.
    func testConcurrentSequencesEqualSequential() throws {
        let model = try LlamaModel(folder: folder("qwen3"))
        let expected = try loadJSON(folder("qwen3") + "/expected.json")
        let prompts = try XCTUnwrap(expected["greedy"] as? [[String: Any]]).map { ints($0["ids"]) }
        let jobs = (0..<4).map { prompts[$0 % prompts.count] }
        let sequential = try jobs.map { try greedy(model, prompt: $0, count: 12) }
        final class Results: @unchecked Sendable {  // Sendable: each thread writes its own slot under `lock`
            let lock = NSLock()
            var ids: [[Int]?]
            init(_ n: Int) { ids = Array(repeating: nil, count: n) }
        }
        let results = Results(jobs.count)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { k in
            let got = try? greedy(model, prompt: jobs[k], count: 12)
            results.lock.withLock { results.ids[k] = got }
        }
        XCTAssertEqual(results.ids.map { $0 ?? [] }, sequential)
    }

    /// A sharded checkpoint (model.safetensors.index.json + two shards) loads to the same logits.
    func testShardedCheckpoint() throws {
        let dir = try editedCopy(of: "mistral")
        let single = try SafeTensorsFile(path: dir + "/model.safetensors")
        let all = single.names
        var map: [String: String] = [:]
        for (part, slice) in [all[..<(all.count / 2)], all[(all.count / 2)...]].enumerated() {
            let file = "model-0000\(part + 1)-of-00002.safetensors"
            let tensors = try slice.map { (name: $0, tensor: try single.floats($0).copy(), dtype: DType.f32) }
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: dir + "/" + file)
            for name in slice { map[name] = file }
        }
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors")
        let index: [String: Any] = ["metadata": ["total_size": 0], "weight_map": map]
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        let ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
        XCTAssertLessThan(maxDiff(try LlamaModel(folder: dir).logits(for: ids, cache: LlamaModel(folder: dir).makeCache()),
                                  try LlamaModel(folder: folder("mistral")).allLogits(ids).last!), 1e-5)
        // a missing shard is named
        try FileManager.default.removeItem(atPath: dir + "/model-00002-of-00002.safetensors")
        XCTAssertThrowsError(try loadCausalLM(folder: dir)) { e in
            XCTAssertTrue("\(e)".contains("model-00002-of-00002.safetensors"), "\(e)")
        }
    }

    func testBadInputErrors() throws {
        let unknown = try editedCopy(of: "smollm2") { $0["architectures"] = ["GemmaForCausalLM"]; $0["model_type"] = "gemma" }
        XCTAssertThrowsError(try loadCausalLM(folder: unknown)) { e in
            XCTAssertTrue("\(e)".contains("GemmaForCausalLM") && "\(e)".contains("config.json"), "\(e)")
        }
        let wrongShape = try editedCopy(of: "smollm2") { $0["intermediate_size"] = 200 }
        XCTAssertThrowsError(try LlamaModel(folder: wrongShape)) { e in
            XCTAssertTrue("\(e)".contains("model.layers.0.mlp.gate_proj.weight") && "\(e)".contains("model.safetensors"), "\(e)")
        }
        let untied = try editedCopy(of: "smollm2") { $0["tie_word_embeddings"] = false }
        XCTAssertThrowsError(try LlamaModel(folder: untied)) { e in XCTAssertTrue("\(e)".contains("lm_head.weight"), "\(e)") }
        let badHeads = try editedCopy(of: "smollm2") { $0["num_key_value_heads"] = 4 }
        XCTAssertThrowsError(try LlamaModel(folder: badHeads)) { e in XCTAssertTrue("\(e)".contains("num_key_value_heads"), "\(e)") }
        // the bf16 checkpoint is computed from in place: its matrices count 2 bytes per weight
        let bf16 = try LlamaModel(folder: folder("bf16"))
        let c = bf16.config
        let perLayer = 2 * c.hiddenSize * (c.headCount + c.kvHeadCount) * c.headSize + 3 * c.hiddenSize * c.intermediateSize
        XCTAssertEqual(bf16.decodeWeightBytes, 2 * (c.layerCount * perLayer + c.vocabSize * c.hiddenSize))
        let model = try LlamaModel(folder: folder("smollm2"), maxContext: 16)
        XCTAssertEqual(model.contextLength, 16)
        let cache = model.makeCache()
        XCTAssertThrowsError(try model.logits(for: [512], cache: cache))
        XCTAssertThrowsError(try model.logits(for: [], cache: cache))
        XCTAssertThrowsError(try model.logits(for: Array(repeating: 1, count: 17), cache: cache))
        XCTAssertEqual(cache.count, 0)
    }

    func testDecoderKernelsMatchReference() {
        var rng = SystemRandomNumberGenerator()
        for n in [1, 7, 64, 129] {
            let rows = 3
            let x = (0..<(rows * n)).map { _ in Float.random(in: -3...3, using: &rng) }
            let w = (0..<n).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
            var fast = [Float](repeating: 0, count: rows * n), slow = fast
            rmsNorm(x, &fast, weight: w, rows: rows, n: n, eps: 1e-6)
            referenceRMSNorm(x, &slow, weight: w, rows: rows, n: n, eps: 1e-6)
            for i in 0..<(rows * n) { XCTAssertEqual(fast[i], slow[i], accuracy: 2e-6 * max(1, abs(slow[i]))) }
            var g1 = x.map { $0 * 10 }, g2 = g1
            let up = (0..<(rows * n)).map { _ in Float.random(in: -2...2, using: &rng) }
            siluMultiply(&g1, up, count: rows * n)
            referenceSiluMultiply(&g2, up, count: rows * n)
            for i in 0..<(rows * n) { XCTAssertEqual(g1[i], g2[i], accuracy: 2e-6 * max(1, abs(g2[i]))) }
        }
        // 16-bit matrices, converted per tile inside gemv and matmul (37 rows: tiles of 16 and 64 end early)
        let rows = 37, cols = 70, m = 3
        let values = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
        let a = (0..<(m * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
        var half = [UInt16](repeating: 0, count: rows * cols), brain = half
        for i in 0..<(rows * cols) { half[i] = floatToHalf(values[i]); brain[i] = floatToBFloat16(values[i]) }
        for (bits, element) in [(half, WeightMatrix.Element.f16), (brain, .bf16)] {
            bits.withUnsafeBytes { raw in
                let w = WeightMatrix(base: raw.baseAddress!, element: element, rows: rows, cols: cols)
                var want = [Float](repeating: 0, count: m * rows), got = want, one = [Float](repeating: 0, count: rows)
                referenceLinear(a, w, &want, m: m)
                matmul(a, w, &got, m: m)
                gemv(w, a, &one)
                for i in 0..<(m * rows) { XCTAssertEqual(got[i], want[i], accuracy: 1e-5, "\(element)") }
                for i in 0..<rows { XCTAssertEqual(one[i], want[i], accuracy: 1e-5, "\(element)") }
            }
        }
        // rotate-half RoPE: (x1, x2) → (x1 cos − x2 sin, x2 cos + x1 sin) per pair (d, d + half)
        var v: [Float] = [1, 2, 3, 4]
        let cos: [Float] = [0, 1], sin: [Float] = [1, 0]
        applyRotary(&v, heads: 1, headSize: 4, cos: cos, sin: sin)
        XCTAssertEqual(v, [-3, 2, 1, 4])
    }
}
