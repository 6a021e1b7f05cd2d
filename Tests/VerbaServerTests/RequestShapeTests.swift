import Foundation
import VerbaModels
import VerbaSupport
@testable import VerbaServer
import XCTest

// OpenAI's request fields (types, ranges, unknown fields) and response shapes (compact one-line JSON,
// stream chunks, error objects).

private func body(_ s: String) -> [UInt8] { Array(s.utf8) }

private func apiError(_ f: () throws -> Any) -> APIError? {
    do { _ = try f(); return nil } catch { return error as? APIError }
}

final class RequestShapeTests: XCTestCase {
    func testCompletionRequestFields() throws {
        let r = try CompletionRequest(body: body(#"{"model":"m","prompt":"hi","max_tokens":5,"temperature":0,"n":2,"stop":"\n","logprobs":2,"echo":true,"seed":-1,"stream":true,"stream_options":{"include_usage":true}}"#))
        XCTAssertEqual(r.fields.maxTokens, 5)
        XCTAssertEqual(r.fields.sampling.temperature, 0)
        XCTAssertEqual(r.fields.n, 2)
        XCTAssertEqual(r.fields.stop, ["\n"])
        XCTAssertEqual(r.logprobs, 2)
        XCTAssertTrue(r.echo && r.fields.stream && r.fields.includeUsage)
        XCTAssertEqual(r.fields.seed, UInt64.max)
        let ids = try CompletionRequest(body: body(#"{"model":"m","prompt":[[1,2],[3]]}"#))
        XCTAssertEqual(ids.prompts.count, 2)
        if case .ids(let a) = ids.prompts[0] { XCTAssertEqual(a, [1, 2]) } else { XCTFail() }
    }

    func testBadRequestsNameTheParameter() {
        let cases: [(String, String?, String?)] = [
            (#"{"model":"m","prompt":"hi""#, nil, "invalid_json"),
            (#"[1,2]"#, nil, "invalid_json"),
            (#"{"model":"m","prompt":"hi","max_tokens":"5"}"#, "max_tokens", "invalid_type"),
            (#"{"model":"m","prompt":"hi","max_tokens":2.5}"#, "max_tokens", "invalid_type"),
            (#"{"model":"m","prompt":"hi","temperature":3}"#, "temperature", "invalid_value"),
            (#"{"model":"m","prompt":"hi","frobnicate":1}"#, "frobnicate", "unknown_parameter"),
            (#"{"model":"m","prompt":5}"#, "prompt", "invalid_type"),
            (#"{"model":"m"}"#, "prompt", "missing_required_parameter"),
            (#"{"prompt":"hi"}"#, "model", "missing_required_parameter"),
            (#"{"model":"m","prompt":"hi","stop":["a","b","c","d","e"]}"#, "stop", "invalid_type"),
            (#"{"model":"m","prompt":"hi","n":0}"#, "n", "invalid_value"),
            (#"{"model":"m","prompt":"hi","stream_options":{"include_usage":true}}"#, "stream_options", nil),
        ]
        for (text, param, code) in cases {
            let e = apiError { try CompletionRequest(body: body(text)) }
            XCTAssertEqual(e?.status, 400, text)
            XCTAssertEqual(e?.param, param, text)
            XCTAssertEqual(e?.code, code, text)
        }
        // Invalid UTF-8 inside a string, and a lone surrogate escape, are malformed JSON.
        var bad = body(#"{"model":"m","prompt":""#)
        bad += [0xC3, 0x28]
        bad += body(#""}"#)
        XCTAssertEqual(apiError { try CompletionRequest(body: bad) }?.code, "invalid_json")
        XCTAssertEqual(apiError { try CompletionRequest(body: body(#"{"model":"m","prompt":"\ud800"}"#)) }?.code, "invalid_json")
    }

    func testChatAndEmbeddingRequests() throws {
        let chat = try ChatRequest(body: body(#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_completion_tokens":7,"logprobs":true,"top_logprobs":3}"#))
        XCTAssertEqual(chat.messages.map(\.role), ["system", "user"])
        XCTAssertEqual(chat.messages[1].content, "Hi")
        XCTAssertEqual(chat.fields.maxTokens, 7)
        XCTAssertEqual(chat.topLogprobs, 3)
        XCTAssertEqual(apiError { try ChatRequest(body: body(#"{"model":"m","messages":[]}"#)) }?.param, "messages")
        XCTAssertEqual(apiError { try ChatRequest(body: body(#"{"model":"m","messages":[{"content":"x"}]}"#)) }?.param, "messages[0].role")
        XCTAssertEqual(apiError { try ChatRequest(body: body(#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2}"#)) }?.param, "top_logprobs")
        let e = try EmbeddingRequest(body: body(#"{"model":"e","input":["a","b"],"encoding_format":"base64"}"#))
        XCTAssertEqual(e.inputs, ["a", "b"])
        XCTAssertTrue(e.base64)
        XCTAssertEqual(apiError { try EmbeddingRequest(body: body(#"{"model":"e","input":[1,2]}"#)) }?.param, "input")
    }

    func testResponseShapesAreOneLineJSONWithOpenAIsFields() throws {
        let tokenizer = try TextGenerator(folder: fixturePath("gpt2-small")).tokenizer
        let shapes = ResponseShapes(prefix: "chatcmpl-", model: "m", tokenizer: tokenizer)
        let chunk = shapes.chatChunk(choices: [shapes.chatDelta(index: 0, content: "a\nb")], includeUsage: false)
        let event = ResponseShapes.event(chunk)
        let text = String(decoding: event, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("data: {") && text.hasSuffix("}\n\n"))
        XCTAssertEqual(text.dropLast(2).split(separator: "\n").count, 1, "one line per event")
        let parsed = try parseJSON(Array(event.dropFirst(6).dropLast(2)))
        XCTAssertEqual(parsed["object"], JSONValue.string("chat.completion.chunk"))
        XCTAssertEqual(parsed["choices"]?.arrayValue?[0]["delta"]?["content"], JSONValue.string("a\nb"))
        XCTAssertEqual(parsed["choices"]?.arrayValue?[0]["finish_reason"], JSONValue.null)
        XCTAssertTrue(shapes.id.hasPrefix("chatcmpl-"))
        let usage = ResponseShapes.usage(prompt: 3, completion: 4)
        XCTAssertEqual(usage["total_tokens"], JSONValue.int(7))
        let first = tokenizer.encodeIds("The", addSpecialTokens: false)[0], second = tokenizer.encodeIds(" Hello", addSpecialTokens: false)[0]
        let t0 = tokenizer.decode([first]), t1 = tokenizer.decode([second])
        XCTAssertFalse(t0.isEmpty || t1.isEmpty)
        let lp = TokenLogprob(id: second, logprob: -0.5, top: [(second, -0.5), (first, -1.5)])
        let legacy = shapes.completionLogprobs([lp], firstTokenId: first, withTop: true, textOffset: 0)
        XCTAssertEqual(legacy["tokens"], JSONValue.array([.string(t0), .string(t1)]))
        XCTAssertEqual(legacy["token_logprobs"], JSONValue.array([.null, .double(-0.5)]))
        XCTAssertEqual(legacy["text_offset"], JSONValue.array([.int(0), .int(t0.utf8.count)]))
        XCTAssertEqual(legacy["top_logprobs"]?.arrayValue?[1][t1], JSONValue.double(-0.5))
        XCTAssertEqual(legacy["top_logprobs"]?.arrayValue?[1][t0], JSONValue.double(-1.5))
        let embedded = ResponseShapes.embeddings([[1, -2]], model: "e", base64: true, promptTokens: 2)
        let b64 = embedded["data"]?.arrayValue?[0]["embedding"]?.stringValue ?? ""
        XCTAssertEqual(Array(Data(base64Encoded: b64) ?? Data()), [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])
    }

    func testErrorJSONAndKeyComparison() {
        let e = APIError.unknownModel("x")
        XCTAssertEqual(e.status, 404)
        let text = String(decoding: e.json.compactSerialized(), as: UTF8.self)
        XCTAssertEqual(text, #"{"error":{"message":"The model `x` does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#)
        XCTAssertTrue(constantTimeEqual(Array("secret".utf8), Array("secret".utf8)))
        XCTAssertFalse(constantTimeEqual(Array("secret".utf8), Array("secreT".utf8)))
        XCTAssertFalse(constantTimeEqual(Array("secret".utf8), Array("secret2".utf8)))
        XCTAssertFalse(constantTimeEqual([], Array("s".utf8)))
    }
}
