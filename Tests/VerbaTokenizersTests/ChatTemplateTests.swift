import Foundation
import VerbaSupport
import XCTest

@testable import VerbaTokenizers

/// Chat templates render byte for byte what transformers' `apply_chat_template` renders
/// (Tests/Fixtures/chat, made by scripts/fixtures/chat_templates.py).
final class ChatTemplateTests: XCTestCase {
    func fixtureLines(_ file: String) throws -> [JSONValue] {
        let path = try requireAsset("Tests/Fixtures/chat/\(file)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { try parseJSON(Array($0.utf8)) }
    }

    func variables(_ conversation: JSONValue) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (k, v) in conversation["variables"]?.objectValue ?? [] { out[k] = v }
        return out
    }

    func testPublishedTemplatesRenderAsTransformers() throws {
        try checkTemplates(in: packageRoot.appendingPathComponent("Tests/Fixtures/chat"), minimum: 10)
    }

    func checkTemplates(in folder: URL, minimum: Int) throws {
        func file(_ name: String) throws -> String {
            let path = folder.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else { throw ChatTemplateError.config(message: "\(path) is absent") }
            return path
        }
        let conversationsPath = try file("conversations.json")
        let conversations = try XCTUnwrap(try parseJSON(Array(try Data(contentsOf: URL(fileURLWithPath: conversationsPath)))).arrayValue)
        var templates: [String: ChatTemplate] = [:]
        var passed: [String: Int] = [:], total: [String: Int] = [:]
        let lines = try String(contentsOfFile: try file("expected.jsonl"), encoding: .utf8).split(separator: "\n")
        for line in lines {
            let record = try parseJSON(Array(line.utf8))
            let name = try XCTUnwrap(record["template"]?.stringValue)
            let label = "\(name) conversation \(record["conversation"]?.intValue ?? -1) generation prompt \(record["add_generation_prompt"]?.boolValue ?? false)"
            total[name, default: 0] += 1
            if templates[name] == nil {
                let source = try String(contentsOfFile: try file(name), encoding: .utf8)
                templates[name] = try ChatTemplate(source)
            }
            let template = try XCTUnwrap(templates[name])
            let conversation = conversations[try XCTUnwrap(record["conversation"]?.intValue)]
            let result = Result {
                try template.render(messagesJSON: conversation["messages"] ?? .array([]),
                                    addGenerationPrompt: record["add_generation_prompt"]?.boolValue ?? false,
                                    bosToken: record["bos_token"]?.stringValue, eosToken: record["eos_token"]?.stringValue,
                                    variables: variables(conversation),
                                    now: record["now"]?.intValue.map { Date(timeIntervalSince1970: TimeInterval($0)) })
            }
            if let expected = record["expected"]?.stringValue {
                switch result {
                case .success(let text):
                    XCTAssertEqual(Array(text.utf8), Array(expected.utf8), "\(label): got\n\(text)\nexpected\n\(expected)")
                    if text == expected { passed[name, default: 0] += 1 }
                case .failure(let error): XCTFail("\(label): \(error)")
                }
            } else {
                let reference = record["error"]?.stringValue ?? ""
                switch result {
                case .success(let text): XCTFail("\(label): rendered \(text) where transformers raised \(reference)")
                case .failure(let error as ChatTemplateError):
                    if reference.hasPrefix("TemplateError: ") {
                        XCTAssertEqual(error, .raised(message: String(reference.dropFirst("TemplateError: ".count))), label)
                    } else if case .runtime = error {} else { XCTFail("\(label): \(error) where transformers raised \(reference)") }
                    passed[name, default: 0] += 1
                case .failure(let error): XCTFail("\(label): \(error)")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(total.count, minimum)
        for name in total.keys.sorted() { print("chat template \(name): \(passed[name] ?? 0)/\(total[name] ?? 0) renderings identical") }
    }

    func testJinjaFeaturesRenderAsTransformers() throws {
        for record in try fixtureLines("snippets.jsonl") {
            let source = try XCTUnwrap(record["source"]?.stringValue)
            let result = Result {
                try ChatTemplate(source).render(messagesJSON: record["messages"] ?? .array([]), addGenerationPrompt: false,
                                                bosToken: "<s>", eosToken: nil, variables: [:])
            }
            if let expected = record["expected"]?.stringValue {
                switch result {
                case .success(let text): XCTAssertEqual(Array(text.utf8), Array(expected.utf8), "\(source): got \(text)")
                case .failure(let error): XCTFail("\(source): \(error)")
                }
            } else {
                let reference = record["error"]?.stringValue ?? ""
                switch result {
                case .success(let text): XCTFail("\(source): rendered \(text) where transformers raised \(reference)")
                case .failure(let error as ChatTemplateError):
                    if reference.hasPrefix("TemplateError: ") {
                        XCTAssertEqual(error, .raised(message: String(reference.dropFirst("TemplateError: ".count))), source)
                    }
                case .failure(let error): XCTFail("\(source): \(error)")
                }
            }
        }
    }

    func testRaiseExceptionIsATypedError() throws {
        let template = try ChatTemplate("{% if messages[0].role == 'system' %}{{ raise_exception('No system turns, ' ~ messages[0].role ~ '!') }}{% endif %}ok")
        XCTAssertThrowsError(try template.render(messages: [ChatMessage(role: "system", content: "x")])) { error in
            XCTAssertEqual(error as? ChatTemplateError, .raised(message: "No system turns, system!"))
        }
        XCTAssertEqual(try template.render(messages: [ChatMessage(role: "user", content: "x")]), "ok")
    }

    func testUnsupportedSyntaxNamesTheConstructAndWhere() throws {
        XCTAssertThrowsError(try ChatTemplate("hello\n  {% call upper %}x{% endcall %}")) { error in
            guard case .unsupported(let construct, let position)? = error as? ChatTemplateError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(construct, "{% call %}")
            XCTAssertEqual(position.line, 2)
            XCTAssertEqual(position.column, 3)
            XCTAssertTrue("\(error)".contains("{% call %}"))
        }
        XCTAssertThrowsError(try ChatTemplate("{{ messages | wordwrap(3) }}").render(messages: [])) { error in
            guard case .unsupported(let construct, _)? = error as? ChatTemplateError else { return XCTFail("\(error)") }
            XCTAssertTrue(construct.contains("wordwrap"), construct)
        }
        XCTAssertThrowsError(try ChatTemplate("{% raw %}{{ x }}{% endraw %}")) { error in
            guard case .unsupported("{% raw %}", _)? = error as? ChatTemplateError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ChatTemplate("a\n{% endfor %}")) { error in
            guard case .syntax(_, let position)? = error as? ChatTemplateError else { return XCTFail("\(error)") }
            XCTAssertEqual(position.line, 2)
            XCTAssertTrue("\(error)".contains("endfor"))
        }
        XCTAssertThrowsError(try ChatTemplate("{% if x %}never closed")) { error in
            guard case .syntax? = error as? ChatTemplateError else { return XCTFail("\(error)") }
        }
    }

    func testStrftimeNowGivesTodaysDate() throws {
        // Llama 3.2's template dates its system turn with strftime_now("%d %b %Y") unless given date_string.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone.current
        formatter.dateFormat = "yyyy-MM-dd"
        let before = formatter.string(from: Date())
        let rendered = try ChatTemplate("{{ strftime_now('%Y-%m-%d') }}|{{ strftime_now('%d %b %Y') | length }}").render(messages: [])
        let after = formatter.string(from: Date())
        let parts = rendered.split(separator: "|").map(String.init)
        XCTAssertTrue(parts[0] == before || parts[0] == after, rendered)
        XCTAssertEqual(parts[1], "11")
    }

    func testHostileTemplatesFailCleanly() throws {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        XCTAssertThrowsError(try ChatTemplate("{{ \(deep) }}")) { error in
            guard case .unsupported? = error as? ChatTemplateError else { return XCTFail("\(error)") }
        }
        let nested = String(repeating: "{% if true %}", count: 5000) + String(repeating: "{% endif %}", count: 5000)
        XCTAssertThrowsError(try ChatTemplate(nested)) { error in
            guard case .unsupported? = error as? ChatTemplateError else { return XCTFail("\(error)") }
        }
        let recursive = try ChatTemplate("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        XCTAssertThrowsError(try recursive.render(messages: [])) { error in
            guard case .runtime? = error as? ChatTemplateError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ChatTemplate("{{ 'ab' * 1000000000000 }}").render(messages: [])) { error in
            guard case .runtime? = error as? ChatTemplateError else { return XCTFail("\(error)") }
        }
    }

    func testConfigGivesTheDefaultTemplateAndItsTokens() throws {
        let config = try parseJSON(Array("""
        {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
         "chat_template": [{"name": "tool_use", "template": "tools"},
                           {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"}]}
        """.utf8))
        let template = try ChatTemplate(config: config, name: "tokenizer_config.json")
        XCTAssertEqual(template.bosToken, "<s>")
        XCTAssertEqual(template.eosToken, "</s>")
        XCTAssertEqual(try template.render(messages: [ChatMessage(role: "user", content: "hi")]), "<s>hi</s>")
        XCTAssertThrowsError(try ChatTemplate(config: .object([("eos_token", .string("x"))]), name: "c.json")) { error in
            XCTAssertTrue("\(error)".contains("no chat_template"))
        }
    }
    func testTemplateOfAGGUFFileWithItsBOSAndEOS() throws {
        // A GGUF header as llama.cpp's converter writes it: the template and the ids of BOS and EOS.
        func write(_ metadata: [(key: String, value: GGUFValue)]) throws -> String {
            let path = NSTemporaryDirectory() + "verba-chat-\(UUID().uuidString).gguf"
            try Data(GGUFEncoding.header(metadata: metadata, tensors: [])).write(to: URL(fileURLWithPath: path))
            return path
        }
        let tokens: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.tokens", .array(.string, ["<s>", "</s>", "a"].map { .string($0) })),
            ("tokenizer.ggml.bos_token_id", .int(0, .uint32)), ("tokenizer.ggml.eos_token_id", .int(1, .uint32)),
        ]
        let source = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}"
        let path = try write(tokens + [("tokenizer.chat_template", .string(source))])
        defer { try? FileManager.default.removeItem(atPath: path) }
        for template in [try ChatTemplate(ggufFile: path), try ChatTemplate(tokenizerPath: path)] {
            XCTAssertEqual(template.bosToken, "<s>")
            XCTAssertEqual(template.eosToken, "</s>")
            XCTAssertEqual(try template.render(messages: [ChatMessage(role: "user", content: "hi")]), "<s>[user] hi</s>")
        }
        let bare = try write(tokens)
        defer { try? FileManager.default.removeItem(atPath: bare) }
        XCTAssertThrowsError(try ChatTemplate(ggufFile: bare)) { error in
            XCTAssertTrue("\(error)".contains("no tokenizer.chat_template"), "\(error)")
        }
        let notGGUF = NSTemporaryDirectory() + "verba-chat-\(UUID().uuidString).gguf"
        try Data("not a gguf".utf8).write(to: URL(fileURLWithPath: notGGUF))
        defer { try? FileManager.default.removeItem(atPath: notGGUF) }
        XCTAssertThrowsError(try ChatTemplate(ggufFile: notGGUF)) { error in
            XCTAssertTrue("\(error)".contains("cannot read it as a GGUF file"), "\(error)")
        }
    }
}

