import Foundation
import Synchronization
@testable import VerbaModels
import XCTest

// Generations that run at once on one generator (each owns its KV cache and scratch buffers), and the
// AsyncThrowingStream form of generation, on the committed random-weight GPT-2 in Tests/Fixtures.

private let smallFolder: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { break }
    }
    return url.appendingPathComponent("Tests/Fixtures/gpt2-small").path
}()

final class GenerationConcurrencyTests: XCTestCase {
    private let prompts = ["Hello world", "The quick brown fox jumps over", "Once upon a time, in a land"]
    private let options = GenerationOptions(maxTokens: 24, sampling: .greedy, ignoreEOS: true)

    func testConcurrentGreedyGenerationsEqualSequentialOnes() throws {
        let generator = try GPT2Generator(folder: smallFolder)
        let sequential = try prompts.map { try generator.generate(prompt: $0, options: options) }
        XCTAssertTrue(sequential.allSatisfy { $0.ids.count == options.maxTokens })
        // Every prompt twice, all at once: two generations of the same prompt must not disturb each other.
        let jobs = prompts + prompts
        let results = Mutex<[Int: GenerationResult]>([:])
        let failures = Mutex<[String]>([])
        let opts = options
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            do {
                let r = try generator.generate(prompt: jobs[i], options: opts)
                results.withLock { $0[i] = r }
            } catch {
                failures.withLock { $0.append("\(jobs[i]): \(error)") }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        let concurrent = results.withLock { $0 }
        for i in 0..<jobs.count {
            let want = sequential[i % prompts.count]
            XCTAssertEqual(concurrent[i]?.ids, want.ids, "prompt \(jobs[i])")
            XCTAssertEqual(concurrent[i]?.text, want.text, "prompt \(jobs[i])")
        }
    }

    func testStreamsRunningAtOnceGiveTheSynchronousText() async throws {
        let generator = try GPT2Generator(folder: smallFolder)
        let want = try prompts.map { try generator.generate(prompt: $0, options: options).text }
        XCTAssertTrue(want.allSatisfy { !$0.isEmpty })
        let opts = options
        let texts = try await withThrowingTaskGroup(of: (Int, String, Int).self) { group in
            for (i, prompt) in prompts.enumerated() {
                group.addTask {
                    var text = "", pieces = 0
                    for try await piece in generator.stream(prompt: prompt, options: opts) {
                        text += piece
                        pieces += 1
                    }
                    return (i, text, pieces)
                }
            }
            var out = [String](repeating: "", count: prompts.count)
            for try await (i, text, pieces) in group {
                XCTAssertGreaterThan(pieces, 1, "the text of prompt \(i) came in one piece")
                out[i] = text
            }
            return out
        }
        XCTAssertEqual(texts, want)
    }

    func testStreamErrorsAreThrownByTheIteration() async throws {
        let generator = try GPT2Generator(folder: smallFolder)
        var bad = options
        bad.sampling.temperature = -1
        do {
            for try await _ in generator.stream(prompt: "Hello", options: bad) {}
            XCTFail("a negative temperature was accepted")
        } catch let error as ModelError {
            guard case .invalidInput = error else { return XCTFail("unexpected error \(error)") }
        }
    }

    func testCancelledGenerationStopsAtTheNextStep() throws {
        let generator = try GPT2Generator(folder: smallFolder)
        let prompt = try generator.promptIds("Hello world")
        let r = try generator.generate(promptIds: prompt, options: options, isCancelled: { true }) { _ in }
        XCTAssertEqual(r.stopReason, .cancelled)
        XCTAssertEqual(r.ids.count, 1)  // the token sampled from the prefill's logits
    }
}
