import Foundation
import VerbaModels
@testable import VerbaServer
import XCTest

// The continuous-batching scheduler on the committed random-weight fixtures: greedy output of every
// request, run together with others that join and leave between steps, equals the same request alone;
// the queue bound; an abandoned sequence leaves the batch.

func fixturePath(_ path: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { break }
    }
    return url.appendingPathComponent("Tests/Fixtures/" + path).path
}

/// Every event of one sequence, and the ids and text it generated.
struct Collected {
    var ids: [Int] = []
    var text = ""
    var finish: FinishReason?
    var completionTokens = 0
}

func collect(_ stream: AsyncStream<SequenceEvent>) async -> Collected {
    var c = Collected()
    for await event in stream {
        switch event {
        case .token(let id, let text, _):
            if id >= 0 { c.ids.append(id) }
            c.text += text
        case .finished(let reason, _, let tokens, let text):
            c.finish = reason
            c.completionTokens = tokens
            XCTAssertEqual(text, c.text, "the final text is the streamed pieces")
        case .prompt: break
        case .failed(let message): XCTFail(message)
        }
    }
    return c
}

final class BatchSchedulerTests: XCTestCase {
    private func greedyAloneAndTogether(folder: String, prompts: [String], slots: Int) async throws {
        let generator = try TextGenerator(folder: folder)
        let scheduler = BatchScheduler(generator: generator, slots: slots, queueLimit: 16)
        let maxTokens = (0..<prompts.count).map { 6 + 5 * $0 }   // different lengths: sequences leave at different steps
        let requests = try prompts.enumerated().map { i, p in
            SequenceRequest(promptIds: try generator.promptIds(p), maxTokens: maxTokens[i], sampling: .greedy, seed: 0)
        }
        let alone = try requests.map {
            try generator.generate(promptIds: $0.promptIds, options: GenerationOptions(maxTokens: $0.maxTokens, sampling: .greedy, ignoreEOS: true))
        }
        // Together: more requests than slots, submitted one by one, so some wait and join between steps.
        let results = await withTaskGroup(of: (Int, Collected).self) { group in
            for (i, r) in requests.enumerated() {
                let stream = try! scheduler.submit([r])[0]
                group.addTask { (i, await collect(stream)) }
            }
            var out = [Int: Collected]()
            for await (i, c) in group { out[i] = c }
            return out
        }
        for i in requests.indices {
            XCTAssertEqual(results[i]?.ids, alone[i].ids, "request \(i) of \(folder)")
            XCTAssertEqual(results[i]?.text, alone[i].text, "request \(i) of \(folder)")
            XCTAssertEqual(results[i]?.finish, .length)
        }
        let stats = scheduler.stats
        XCTAssertEqual(stats.generatedTokens, maxTokens.reduce(0, +))
        XCTAssertGreaterThan(stats.generatedTokens - prompts.count, stats.decodeSteps, "steps ran several sequences at once")
        scheduler.shutdown(timeout: 5)
    }

    func testGreedyOutputOfBatchedRequestsEqualsEachRequestAloneGPT2() async throws {
        try await greedyAloneAndTogether(folder: fixturePath("gpt2-small"),
                                         prompts: ["Hello world", "The quick brown fox jumps over", "Once upon a time, in a land", "A", "Numbers: 1 2 3"],
                                         slots: 3)
    }

    func testGreedyOutputOfBatchedRequestsEqualsEachRequestAloneLlama() async throws {
        try await greedyAloneAndTogether(folder: fixturePath("llama/smollm2"),
                                         prompts: ["Hello world", "The quick brown fox", "Once upon a time", "Numbers: 1 2 3"], slots: 2)
    }

    func testRequestsBeyondSlotsAndQueueAreRefused() throws {
        let generator = try TextGenerator(folder: fixturePath("gpt2-small"))
        let scheduler = BatchScheduler(generator: generator, slots: 1, queueLimit: 1)
        let r = SequenceRequest(promptIds: [1, 2, 3], maxTokens: 4, sampling: .greedy, seed: 0)
        // One slot and one queue place: three sequences at once do not fit, and nothing is queued.
        XCTAssertThrowsError(try scheduler.submit([r, r, r])) { XCTAssertEqual($0 as? SchedulerError, .queueFull(limit: 1)) }
        XCTAssertEqual(scheduler.stats.queued, 0)
        XCTAssertEqual(try scheduler.submit([r, r]).count, 2)
        scheduler.shutdown(timeout: 5)
        XCTAssertThrowsError(try scheduler.submit([r])) { XCTAssertEqual($0 as? SchedulerError, .shuttingDown) }
    }

    func testAnAbandonedSequenceLeavesTheBatchAndFreesItsSlot() async throws {
        let generator = try TextGenerator(folder: fixturePath("gpt2-small"))
        let scheduler = BatchScheduler(generator: generator, slots: 1, queueLimit: 4)
        let long = SequenceRequest(promptIds: [1, 2, 3], maxTokens: 100_000, sampling: .greedy, seed: 0)
        let stream = try scheduler.submit([long])[0]
        let reader = Task {
            var n = 0
            for await event in stream { if case .token = event { n += 1 } }
            return n
        }
        // Wait until it runs, then abandon it; the next request gets the only slot and finishes.
        while scheduler.stats.generatedTokens < 3 { try await Task.sleep(nanoseconds: 1_000_000) }
        reader.cancel()
        let seen = await reader.value
        let next = await collect(try scheduler.submit([SequenceRequest(promptIds: [4, 5], maxTokens: 3, sampling: .greedy, seed: 0)])[0])
        XCTAssertEqual(next.ids.count, 3)
        XCTAssertLessThan(seen, 1000)
        XCTAssertLessThan(scheduler.stats.generatedTokens, 1000, "the abandoned sequence stopped")
        scheduler.shutdown(timeout: 5)
    }

    func testSeededSamplingStopStringsAndPenalties() async throws {
        let generator = try TextGenerator(folder: fixturePath("gpt2-small"))
        let scheduler = BatchScheduler(generator: generator, slots: 4, queueLimit: 4)
        let ids = try generator.promptIds("Hello world")
        var sampled = SequenceRequest(promptIds: ids, maxTokens: 12, sampling: SamplingParameters(temperature: 0.9, topP: 0.95), seed: 7)
        // The same seed gives the same text, alone or beside another sequence, and equals TextGenerator's.
        let a = await collect(try scheduler.submit([sampled])[0])
        let pair = try scheduler.submit([sampled, sampled])
        let b = await collect(pair[0]), c = await collect(pair[1])
        let want = try generator.generate(promptIds: ids, options: GenerationOptions(maxTokens: 12, sampling: sampled.sampling, seed: 7, ignoreEOS: true))
        XCTAssertEqual(a.ids, want.ids)
        XCTAssertEqual(b.ids, want.ids)
        XCTAssertEqual(c.ids, want.ids)
        // A stop string taken from the greedy text ends the sequence before it, with finish reason stop.
        let greedy = await collect(try scheduler.submit([SequenceRequest(promptIds: ids, maxTokens: 20, sampling: .greedy, seed: 0)])[0])
        XCTAssertGreaterThan(greedy.text.count, 8)
        let stop = String(greedy.text.dropFirst(greedy.text.count / 2).prefix(3))
        var stopping = SequenceRequest(promptIds: ids, maxTokens: 20, sampling: .greedy, seed: 0)
        stopping.stopStrings = [stop]
        let stopped = await collect(try scheduler.submit([stopping])[0])
        XCTAssertEqual(stopped.finish, .stop)
        XCTAssertEqual(stopped.text, String(greedy.text[..<greedy.text.range(of: stop)!.lowerBound]))
        // A strong frequency penalty forbids repeating the greedy run's most repeated token as often.
        sampled = SequenceRequest(promptIds: ids, maxTokens: 20, sampling: .greedy, seed: 0)
        sampled.frequencyPenalty = 2
        sampled.presencePenalty = 2
        let penalized = await collect(try scheduler.submit([sampled])[0])
        func maxRepeat(_ ids: [Int]) -> Int { Dictionary(grouping: ids, by: { $0 }).values.map(\.count).max() ?? 0 }
        XCTAssertLessThan(maxRepeat(penalized.ids), max(2, maxRepeat(greedy.ids)))
        scheduler.shutdown(timeout: 5)
    }

    func testLogprobsArePerTokenLogSoftmax() async throws {
        let generator = try TextGenerator(folder: fixturePath("gpt2-small"))
        let scheduler = BatchScheduler(generator: generator, slots: 2, queueLimit: 4)
        let ids = try generator.promptIds("Hello world")
        var r = SequenceRequest(promptIds: ids, maxTokens: 3, sampling: .greedy, seed: 0)
        r.logprobs = 3
        r.promptLogprobs = true
        var prompt: [TokenLogprob] = [], generated: [TokenLogprob] = []
        for await event in try scheduler.submit([r])[0] {
            if case .prompt(let e) = event { prompt = e }
            if case .token(_, _, let lp?) = event { generated.append(lp) }
        }
        XCTAssertEqual(prompt.map(\.id), Array(ids.dropFirst()))
        XCTAssertEqual(generated.count, 3)
        // Reference: log-softmax of the model's own logits.
        let rows = try generator.model.allLogits(ids)
        for (p, entry) in prompt.enumerated() {
            let row = rows[p], mx = row.max()!
            let lse = mx + log(row.reduce(0) { $0 + exp($1 - mx) })
            XCTAssertEqual(entry.logprob, row[entry.id] - lse, accuracy: 1e-3)
            XCTAssertEqual(entry.top.count, 3)
            XCTAssertEqual(entry.top[0].id, Sampler.argmax(row))
        }
        for g in generated { XCTAssertEqual(g.top[0].id, g.id, "greedy picks the most likely token") }
        scheduler.shutdown(timeout: 5)
    }
}
