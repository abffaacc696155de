import FaultProxy
import LabCore

/// One HTTP request as the control API sees it: method, path (query already stripped or not) and
/// the complete body. The HTTP layer builds it; tests build it directly to run without sockets.
public struct APIRequest: Sendable, Hashable {
    /// The HTTP method in upper case ("GET", "POST", ...).
    public var method: String
    /// The request target, e.g. "/proxies/redis/toxics"; a query string is ignored.
    public var path: String
    /// The request body (empty when there was none).
    public var body: [UInt8]

    /// Creates a request.
    public init(method: String, path: String, body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.body = body
    }

    /// Creates a request whose body is the UTF-8 text `json`.
    public init(method: String, path: String, json: String) {
        self.init(method: method, path: path, body: Array(json.utf8))
    }
}

/// What the control API answers: a status code, a content type and the body bytes (JSON, or
/// Prometheus text for /metrics), plus any extra headers such as `Allow` on a 405.
public struct APIResponse: Sendable, Hashable {
    /// The HTTP status code.
    public var status: Int
    /// The Content-Type header; nil for a response without a body (204).
    public var contentType: String?
    /// The body bytes.
    public var body: [UInt8]
    /// Extra headers, e.g. ("Allow", "GET, POST").
    public var headers: [String: String]

    /// Creates a response.
    public init(status: Int, contentType: String?, body: [UInt8], headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// The body as text (lossy for invalid UTF-8), for logs and tests.
    public var text: String { String(decoding: body, as: UTF8.self) }

    static let jsonType = "application/json"

    static func json(_ status: Int, _ value: JSONValue) -> APIResponse {
        APIResponse(status: status, contentType: jsonType, body: value.serialized + [0x0A])
    }

    static func noContent() -> APIResponse {
        APIResponse(status: 204, contentType: nil, body: [])
    }

    static func error(_ error: APIError) -> APIResponse {
        var response = json(error.status, .object(error.json))
        response.headers = error.headers
        return response
    }
}

/// A request the API refuses: the HTTP status, the field at fault (a path such as
/// "attributes.latency" or "proxies[2].upstream") and the reason, rendered as Toxiproxy's
/// `{"error": message, "status": code}`.
struct APIError: Error, Sendable, CustomStringConvertible {
    var status: Int
    /// The offending field's path, when one field is at fault.
    var field: String?
    /// Why the request was refused.
    var reason: String
    /// Renders as "missing required field: <field>" (Toxiproxy's wording).
    var missing = false
    var headers: [String: String] = [:]

    init(status: Int, field: String? = nil, reason: String, missing: Bool = false) {
        self.status = status
        self.field = field
        self.reason = reason
        self.missing = missing
    }

    /// The text of the "error" member.
    var message: String {
        guard let field else { return reason }
        return missing ? "missing required field: \(field)" : "\(field): \(reason)"
    }

    var description: String { message }

    var json: JSONObject { ["error": .string(message), "status": .integer(Int64(status))] }

    /// The same error with its field placed under `prefix` ("proxies[1]" + "upstream").
    func within(_ prefix: String) -> APIError {
        var copy = self
        if let field {
            copy.field = field.hasPrefix("[") ? prefix + field : "\(prefix).\(field)"
        } else {
            copy.field = prefix
        }
        return copy
    }

    static func badRequest(_ reason: String, field: String? = nil) -> APIError {
        APIError(status: 400, field: field, reason: reason)
    }

    /// "bad request body: <reason>" (Toxiproxy's wording for undecodable bodies).
    static func badBody(_ reason: String) -> APIError { APIError(status: 400, reason: "bad request body: \(reason)") }

    /// "missing required field: <field>".
    static func missingField(_ field: String) -> APIError {
        APIError(status: 400, field: field, reason: "missing required field", missing: true)
    }

    /// A field with the wrong JSON type, e.g. "attributes.latency: expected a number, got string".
    static func wrongType(_ field: String, expected: String, got value: JSONValue) -> APIError {
        APIError(status: 400, field: field, reason: "expected \(expected), got \(value.typeName)")
    }

    /// Toxiproxy's status for each proxy-collection error.
    init(_ error: ProxyError) {
        switch error {
        case .proxyNotFound: self.init(status: 404, reason: "proxy not found")
        case .proxyExists: self.init(status: 409, reason: "proxy already exists")
        case .toxicNotFound: self.init(status: 404, reason: "toxic not found")
        case .toxicExists: self.init(status: 409, reason: "toxic already exists")
        case .invalidAddress(let field, let value, let reason):
            self.init(status: 400, field: field, reason: "'\(value)' \(reason)")
        case .listenFailed: self.init(status: 500, reason: error.description)
        case .invalidToxic(let c): self.init(status: 400, field: "attributes.\(c.field)", reason: c.reason)
        case .invalidUpstreams(let reason): self.init(status: 400, field: "upstreams", reason: reason)
        case .upstreamNotFound: self.init(status: 404, reason: error.description)
        }
    }
}
