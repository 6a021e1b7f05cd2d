// ChatSession on the committed random-weight Llama fixture (Tests/Fixtures/llama/smollm2), with a
// ChatML template written into a temporary copy of the folder: a turn that reuses the cache gives the
// same reply as generating from the whole rendered conversation with a fresh cache, and prefills only
// the ids the cache did not hold.
import Foundation
@testable import VerbaModels
import VerbaTokenizers
import XCTest

final class ChatSessionTests: XCTestCase {
    private static let chatML = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    /// A temporary copy of the fixture folder with a tokenizer_config.json holding a ChatML template.
    private func chatFolder() throws -> String {
        let source = repoRoot().appendingPathComponent("Tests/Fixtures/llama/smollm2")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-chat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let config: [String: Any] = ["chat_template": Self.chatML, "eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>"]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        return dir.path
    }

    private func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        var n = 0
        while n < min(a.count, b.count) && a[n] == b[n] { n += 1 }
        return n
    }

    func testSecondTurnReusesTheCacheExactly() throws {
        let folder = try chatFolder()
        let session = try ChatSession(folder: folder, systemPrompt: "You are a test.")
        let options = GenerationOptions(maxTokens: 12, sampling: .greedy)

        let first = try session.reply(to: "Hello there, how are you?", options: options)
        let firstPrompt = session.lastStats?.prefillTokens ?? 0
        XCTAssertEqual(session.messages.map(\.role), ["system", "user", "assistant"])
        XCTAssertEqual(session.messages.last?.content, first)
        let cachedAfterFirst = session.cachedIds
        XCTAssertGreaterThan(cachedAfterFirst.count, firstPrompt)

        // The reference: the whole conversation rendered and generated from scratch.
        var conversation = session.messages
        conversation.append(ChatMessage(role: "user", content: "Tell me a story about a cat."))
        let prompt = try session.template.render(messages: conversation, addGenerationPrompt: true)
        let ids = session.generator.tokenizer.encodeIds(prompt, addSpecialTokens: false)
        var scratchOptions = options
        scratchOptions.stopStrings = ["<|endoftext|>"]
        let reference = try session.generator.generate(promptIds: ids, options: scratchOptions)

        let second = try session.reply(to: "Tell me a story about a cat.", options: options)
        XCTAssertEqual(second, reference.text)
        XCTAssertFalse(second.isEmpty)

        // Only the ids after what the cache held (at least the whole first prompt) were prefilled.
        let kept = commonPrefix(cachedAfterFirst, ids)
        XCTAssertGreaterThanOrEqual(kept, firstPrompt)
        XCTAssertEqual(session.lastStats?.prefillTokens, ids.count - kept)
        XCTAssertLessThan(session.lastStats?.prefillTokens ?? .max, ids.count - firstPrompt + 1)
        XCTAssertEqual(session.messages.count, 5)

        session.reset()
        XCTAssertEqual(session.messages.map(\.role), ["system"])
    }

    func testOldTurnsAreDroppedWhenTheContextFills() throws {
        let folder = try chatFolder()
        let model = try LlamaModel(folder: folder, maxContext: 160)
        let generator = try TextGenerator(model: model, tokenizer: try Tokenizer.load(path: folder))
        let session = ChatSession(generator: generator, template: try ChatTemplate(tokenizerPath: folder),
                                  systemPrompt: "Short.")
        var droppedTotal = 0
        session.onTruncate = { droppedTotal += $0 }
        let options = GenerationOptions(maxTokens: 8, sampling: .greedy)
        for turn in 0..<6 {
            _ = try session.reply(to: "Turn number \(turn) of the test", options: options)
            XCTAssertEqual(session.messages.first?.role, "system")
            XCTAssertEqual(session.messages.last?.role, "assistant")
            // The prompt this reply answered left room for the whole reply.
            let prompt = try session.template.render(messages: Array(session.messages.dropLast()), addGenerationPrompt: true)
            XCTAssertLessThanOrEqual(session.generator.tokenizer.encodeIds(prompt, addSpecialTokens: false).count + 8, 160)
        }
        XCTAssertGreaterThan(droppedTotal, 0)
        XCTAssertEqual(session.messages[1].role, "user")
        // A turn that cannot fit even alone is an error and leaves the conversation as it was.
        let before = session.messages
        XCTAssertThrowsError(try session.reply(to: String(repeating: "long words here ", count: 80), options: options))
        XCTAssertEqual(session.messages, before)
    }
}
