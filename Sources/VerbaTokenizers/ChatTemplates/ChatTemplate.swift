import Foundation
import VerbaSupport

/// One turn of a conversation given to a chat template.
///
/// ```swift
/// let turn = ChatMessage(role: "user", content: "Hello!")
/// ```
public struct ChatMessage: Sendable, Equatable {
    /// "system", "user", "assistant", or whatever roles the template knows.
    public var role: String
    /// The text of the turn.
    public var content: String

    /// A message with `role` and `content`.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Why a chat template could not be read or rendered.
public enum ChatTemplateError: Error, CustomStringConvertible, Equatable {
    /// The template is not valid Jinja.
    case syntax(message: String, position: TemplatePositionDescription)
    /// The template uses Jinja that Verba does not implement; `construct` names it.
    case unsupported(construct: String, position: TemplatePositionDescription)
    /// The template called `raise_exception(message)`.
    case raised(message: String)
    /// Rendering failed (an undefined value used, a type error…).
    case runtime(message: String, position: TemplatePositionDescription?)
    /// The `tokenizer_config.json` holds no usable `chat_template`.
    case config(message: String)

    public var description: String {
        switch self {
        case .syntax(let m, let p): return "chat template syntax error at \(p): \(m)"
        case .unsupported(let c, let p): return "chat template uses \(c) at \(p), which is not supported"
        case .raised(let m): return "chat template raised an exception: \(m)"
        case .runtime(let m, let p): return "chat template error" + (p.map { " at \($0)" } ?? "") + ": " + m
        case .config(let m): return m
        }
    }

    static func syntax(message: String, position: TemplatePosition) -> ChatTemplateError {
        .syntax(message: message, position: TemplatePositionDescription(position))
    }
    static func unsupported(construct: String, position: TemplatePosition) -> ChatTemplateError {
        .unsupported(construct: construct, position: TemplatePositionDescription(position))
    }
    static func runtime(message: String, position: TemplatePosition?) -> ChatTemplateError {
        .runtime(message: message, position: position.map(TemplatePositionDescription.init))
    }
}

/// A line and column (1-based) in a template's source.
public struct TemplatePositionDescription: Sendable, Equatable, CustomStringConvertible {
    /// The line, from 1.
    public var line: Int
    /// The column (in Unicode scalars), from 1.
    public var column: Int
    init(_ p: TemplatePosition) { line = p.line; column = p.column }
    public var description: String { "line \(line), column \(column)" }
}

/// A chat template (the Jinja `chat_template` of a `tokenizer_config.json`), rendered as
/// `transformers`' `apply_chat_template(messages, tokenize=False, add_generation_prompt=…)` renders it.
///
/// ```swift
/// let template = try ChatTemplate("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}")
/// let prompt = try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false)
/// // "<|im_start|>user\nHi<|im_end|>\n"
/// ```
public struct ChatTemplate: @unchecked Sendable {
    // The tree is immutable once parsed; each render builds its own state.
    let nodes: [TemplateNode]
    /// The `bos_token` of the configuration the template came from, if any.
    public var bosToken: String?
    /// The `eos_token` of the configuration the template came from, if any.
    public var eosToken: String?

    /// Parses `source`; throws `ChatTemplateError` on invalid or unsupported syntax.
    public init(_ source: String, bosToken: String? = nil, eosToken: String? = nil) throws {
        let segments = try TemplateLexer(source).segments()
        var parser = TemplateParser(segments: segments)
        let (nodes, ender) = try parser.parseBody(until: ["endif", "endfor", "else", "elif", "endset", "endmacro", "endgeneration", "endfilter"], opening: nil)
        if let ender {
            throw ChatTemplateError.syntax(message: "unexpected {% \(ender) %}", position: parser.tokens.first?.position ?? TemplatePosition(line: 0, column: 0))
        }
        self.nodes = nodes
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    /// Reads the `chat_template` of a `tokenizer_config.json` (a string, or the list of named templates,
    /// of which it takes "default") with its `bos_token` and `eos_token`.
    ///
    /// ```swift
    /// let template = try ChatTemplate(configFile: "Qwen2.5-0.5B-Instruct/tokenizer_config.json")
    /// ```
    public init(configFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ChatTemplateError.config(message: "\(path): cannot read the file")
        }
        let config: JSONValue
        do { config = try parseJSON([UInt8](data)) } catch {
            throw ChatTemplateError.config(message: "\(path): \(error)")
        }
        try self.init(config: config, name: path)
    }

    /// The template of a tokenizer's `tokenizer_config.json`: `path` is a model or tokenizer folder, or a
    /// file in one (tokenizer.json, tokenizer_config.json), as `Tokenizer.load(path:)` takes; or a `.gguf`
    /// file (`init(ggufFile:)`).
    ///
    /// ```swift
    /// let template = try ChatTemplate(tokenizerPath: "SmolLM2-135M-Instruct")
    /// ```
    public init(tokenizerPath path: String) throws {
        if path.hasSuffix(".gguf") { try self.init(ggufFile: path); return }
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
        let folder = exists && isFolder.boolValue ? path : (path as NSString).deletingLastPathComponent
        let config = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: config) else {
            throw ChatTemplateError.config(message: "\(config) is absent (a chat template lives in the tokenizer_config.json beside the tokenizer)")
        }
        try self.init(configFile: config)
    }

    /// The prompt for one JSON array of messages given as text (a line of `verba tokenize --chat`), as
    /// `render(messagesJSON:…)` renders it.
    ///
    /// ```swift
    /// let prompt = try template.render(messagesText: #"[{"role": "user", "content": "Hi"}]"#, addGenerationPrompt: true)
    /// ```
    public func render(messagesText: String, addGenerationPrompt: Bool = false) throws -> String {
        let messages: JSONValue
        do { messages = try parseJSON(Array(messagesText.utf8)) } catch {
            throw ChatTemplateError.config(message: "the messages are not JSON: \(error)")
        }
        return try render(messagesJSON: messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// The template of a parsed `tokenizer_config.json`; `name` is used in error messages.
    init(config: JSONValue, name: String) throws {
        var source: String? = config["chat_template"]?.stringValue
        if source == nil, let list = config["chat_template"]?.arrayValue {
            source = list.first(where: { $0["name"]?.stringValue == "default" })?["template"]?.stringValue
            if source == nil {
                throw ChatTemplateError.config(message: "\(name): chat_template lists no template named \"default\"")
            }
        }
        guard let source else { throw ChatTemplateError.config(message: "\(name): no chat_template") }
        func token(_ key: String) -> String? {
            config[key]?.stringValue ?? config[key]?["content"]?.stringValue
        }
        try self.init(source, bosToken: token("bos_token"), eosToken: token("eos_token"))
    }

    /// The prompt for `messages`. `addGenerationPrompt` appends the opening of an assistant turn;
    /// `bosToken`/`eosToken` default to the configuration's; `variables` are further keywords the
    /// template reads (`tools`, `date_string`, `enable_thinking`…); `now` is the time `strftime_now`
    /// formats (default: the current time).
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool = false, bosToken: String? = nil,
                       eosToken: String? = nil, variables: [String: JSONValue] = [:], now: Date? = nil) throws -> String {
        let list = JSONValue.array(messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
        return try render(messagesJSON: list, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken,
                          eosToken: eosToken, variables: variables, now: now)
    }

    /// The prompt for messages given as JSON: an array of objects with "role" and "content" and any other
    /// fields the template reads ("tool_calls", "name", content parts…), as transformers takes them.
    ///
    /// ```swift
    /// let call: JSONValue = .object([("type", .string("function")), ("function", .object([
    ///     ("name", .string("get_weather")), ("arguments", .object([("city", .string("Paris"))]))]))])
    /// let messages: JSONValue = .array([
    ///     .object([("role", .string("user")), ("content", .string("Weather in Paris?"))]),
    ///     .object([("role", .string("assistant")), ("content", .string("")), ("tool_calls", .array([call]))]),
    /// ])
    /// let prompt = try template.render(messagesJSON: messages, addGenerationPrompt: false)
    /// ```
    public func render(messagesJSON: JSONValue, addGenerationPrompt: Bool = false, bosToken: String? = nil,
                       eosToken: String? = nil, variables: [String: JSONValue] = [:], now: Date? = nil) throws -> String {
        guard case .array = messagesJSON else {
            throw ChatTemplateError.config(message: "the messages must be a JSON array of objects")
        }
        var globals = TemplateRenderer.globalFunctions(now: now)
        globals["messages"] = TemplateValue(messagesJSON)
        globals["tools"] = TemplateValue.none
        globals["documents"] = TemplateValue.none
        globals["add_generation_prompt"] = .bool(addGenerationPrompt)
        if let b = bosToken ?? self.bosToken { globals["bos_token"] = .string(b) }
        if let e = eosToken ?? self.eosToken { globals["eos_token"] = .string(e) }
        for (k, v) in variables { globals[k] = TemplateValue(v) }
        let renderer = TemplateRenderer(globals: globals)
        _ = try renderer.render(nodes)
        return renderer.out
    }
}
