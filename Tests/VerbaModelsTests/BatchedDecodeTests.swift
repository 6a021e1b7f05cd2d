import Foundation
@testable import VerbaModels
import XCTest

// The batched decode step (`CausalLM.decodeStep`): several sequences at different positions, each on its
// own cache, give the logits each would give alone (within float tolerance: a batched sgemm sums in
// another order than a gemv), on the committed random-weight GPT-2 and Llama-family fixtures.

private func fixture(_ path: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { break }
    }
    return url.appendingPathComponent("Tests/Fixtures/" + path).path
}

final class BatchedDecodeTests: XCTestCase {
    /// Prompts of different lengths, so the sequences sit at different positions; the last one joins
    /// after two steps and the first leaves after four, as in continuous batching.
    private func check(_ model: any CausalLM, steps: Int = 12, file: StaticString = #filePath, line: UInt = #line) throws {
        let v = model.vocabSize
        let prompts = [[1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41], [3, 7], [2, 4, 6, 8, 10]].map { $0.map { $0 % v } }
        // Alone: greedy with single-sequence decode steps, keeping every step's logits.
        var alone: [[[Float]]] = []
        for prompt in prompts {
            let cache = model.makeCache()
            var logits = try model.logits(for: prompt, cache: cache)
            var rows = [logits]
            for _ in 0..<steps {
                logits = try model.logits(for: [Sampler.argmax(logits)], cache: cache)
                rows.append(logits)
            }
            alone.append(rows)
        }
        // Together: each sequence prefilled alone, then batched steps over whichever sequences are active.
        let caches = prompts.map { _ in model.makeCache() }
        var last: [[Float]] = [[], [], []]
        var step = [0, 0, 0]
        for i in 0..<2 { last[i] = try model.logits(for: prompts[i], cache: caches[i]) }
        var buffer = [Float](repeating: 0, count: 3 * v)
        var maxError: Float = 0
        for round in 0..<(steps + 2) {
            if round == 2 { last[2] = try model.logits(for: prompts[2], cache: caches[2]) }
            let active = (0..<3).filter { i in !(i == 0 && round >= 4) && !(i == 2 && round < 2) && step[i] < steps }
            if active.isEmpty { break }
            let ids = active.map { Sampler.argmax(last[$0]) }
            try buffer.withUnsafeMutableBufferPointer { b in
                try model.decodeStep(ids, caches: active.map { caches[$0] }, logits: b.baseAddress!)
            }
            for (r, i) in active.enumerated() {
                step[i] += 1
                last[i] = Array(buffer[(r * v)..<((r + 1) * v)])
                let want = alone[i][step[i]]
                for j in 0..<v { maxError = max(maxError, abs(last[i][j] - want[j]) / max(1, abs(want[j]))) }
                XCTAssertEqual(Sampler.argmax(last[i]), Sampler.argmax(want), "sequence \(i), step \(step[i])", file: file, line: line)
            }
        }
        XCTAssertLessThan(maxError, 1e-4, file: file, line: line)
        XCTAssertEqual(step[1], steps, file: file, line: line)
        XCTAssertEqual(step[2], steps, file: file, line: line)
    }

    func testGPT2BatchedStepsMatchSingleSequenceSteps() throws {
        try check(try loadCausalLM(folder: fixture("gpt2-small")))
    }

    func testLlamaFamilyBatchedStepsMatchSingleSequenceSteps() throws {
        // smollm2: Llama; mistral: grouped-query with a sliding window of 8 (the steps run past it);
        // qwen3: query/key norms; qwen25: q/k/v biases; bf16: 16-bit weights.
        for name in ["smollm2", "mistral", "qwen3", "qwen25", "bf16"] {
            try check(try loadCausalLM(folder: fixture("llama/" + name)))
        }
    }

    func testTheDefaultStepOfOtherArchitecturesRunsEachSequence() throws {
        // The protocol's default (used by conformers without a batched pass) equals the GPT-2 batched step.
        final class Wrapped: CausalLM, @unchecked Sendable {
            let inner: GPT2Model
            init(_ m: GPT2Model) { inner = m }
            var vocabSize: Int { inner.vocabSize }
            var contextLength: Int { inner.contextLength }
            var bosTokenId: Int? { inner.bosTokenId }
            var eosTokenIds: [Int] { inner.eosTokenIds }
            func makeCache() -> KVCache { inner.makeCache() }
            func logits(for ids: [Int], cache: KVCache) throws -> [Float] { try inner.logits(for: ids, cache: cache) }
            func forEachLogits(_ ids: [Int], cache: KVCache, from: Int, until: Int?,
                               _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
                try inner.forEachLogits(ids, cache: cache, from: from, until: until, body)
            }
        }
        try check(Wrapped(try GPT2Model(folder: fixture("gpt2-small"))), steps: 6)
    }
}
