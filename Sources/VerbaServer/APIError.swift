// OpenAI's error shape: every refused request gets {"error": {"message", "type", "param", "code"}} and
// a 4xx (or 5xx) status, so clients raise their usual exceptions (BadRequestError, NotFoundError...).
import VerbaSupport

/// A request the server refuses, with the HTTP status and OpenAI's error fields.
struct APIError: Error, CustomStringConvertible, Equatable {
    var status: Int
    var message: String
    var type: String
    var param: String?
    var code: String?

    var description: String { "\(status) \(type): \(message)" }

    /// A 400 `invalid_request_error` about `param`.
    static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static func unknownModel(_ name: String) -> APIError {
        APIError(status: 404, message: "The model `\(name)` does not exist or you do not have access to it.",
                 type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    static let unauthorized = APIError(status: 401, message: "Incorrect API key provided.",
                                       type: "invalid_request_error", param: nil, code: "invalid_api_key")

    static func tooLarge(limit: Int) -> APIError {
        APIError(status: 413, message: "The request body is larger than \(limit) bytes.",
                 type: "invalid_request_error", param: nil, code: "request_too_large")
    }

    static func busy(_ message: String) -> APIError {
        APIError(status: 503, message: message, type: "server_error", param: nil, code: "server_busy")
    }

    static func notFound(_ path: String) -> APIError {
        APIError(status: 404, message: "No route for \(path).", type: "invalid_request_error", param: nil, code: "not_found")
    }

    static func internalError(_ message: String) -> APIError {
        APIError(status: 500, message: message, type: "server_error", param: nil, code: nil)
    }

    /// `{"error": {...}}`.
    var json: JSONValue {
        .object([("error", .object([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map(JSONValue.string) ?? .null), ("code", code.map(JSONValue.string) ?? .null),
        ]))])
    }
}
