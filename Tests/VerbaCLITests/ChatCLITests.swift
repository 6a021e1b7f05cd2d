import Foundation
import XCTest

// `verba chat` with standard input not a terminal (a pipe): one JSON array of messages per line, one JSON
// reply per line, on the committed random-weight Llama fixture with a ChatML template written into a
// temporary copy of its folder.
final class ChatCLITests: XCTestCase {
    private func text(_ d: Data) -> String { String(decoding: d, as: UTF8.self) }

    private func chatFolder() throws -> String {
        let source = packageRoot().appendingPathComponent("Tests/Fixtures/llama/smollm2")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-chat-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let template = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        let config: [String: Any] = ["chat_template": template, "eos_token": "<|endoftext|>"]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        return dir.path
    }

    func testEachLineGetsOneJSONReply() throws {
        let folder = try chatFolder()
        let input = """
            [{"role": "user", "content": "Hi"}]
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Again"}]
            [{"role": "user", "content": "Hi"}]

            """
        let args = ["chat", "--model", folder, "--temperature", "0", "--max-tokens", "8", "--stats"]
        let r = try runVerba(args, input: Data(input.utf8))
        XCTAssertEqual(r.status, 0, text(r.stderr))
        let lines = text(r.stdout).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 4, text(r.stdout))   // three replies, then the final newline
        XCTAssertEqual(lines.last, "")
        var replies: [String] = []
        for line in lines.dropLast() {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            XCTAssertEqual(object["role"] as? String, "assistant")
            replies.append(try XCTUnwrap(object["content"] as? String))
        }
        // Greedy: the same conversation gives the same reply, whatever the cache held before.
        XCTAssertEqual(replies[0], replies[2])
        XCTAssertEqual(text(r.stderr).components(separatedBy: "prefill: ").count - 1, 3, text(r.stderr))
    }

    func testALineThatIsNotJSONIsAnErrorNamingIt() throws {
        let folder = try chatFolder()
        let input = "[{\"role\": \"user\", \"content\": \"Hi\"}]\nnot json at all\n[{\"role\": \"user\", \"content\": \"Hi\"}]\n"
        let r = try runVerba(["chat", "--model", folder, "--max-tokens", "4"], input: Data(input.utf8))
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(text(r.stderr).hasPrefix("verba: error: line 2: "), text(r.stderr))
        XCTAssertEqual(text(r.stdout).split(separator: "\n").count, 1, text(r.stdout))

        let wrongShape = try runVerba(["chat", "--model", folder, "--max-tokens", "4"],
                                      input: Data("{\"role\": \"user\"}\n".utf8))
        XCTAssertEqual(wrongShape.status, 1)
        XCTAssertTrue(text(wrongShape.stderr).hasPrefix("verba: error: line 1: "), text(wrongShape.stderr))
    }
}
