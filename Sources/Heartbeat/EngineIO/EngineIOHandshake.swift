import LabCore

/// The JSON an Engine.IO v4 server sends in its open packet ("0{...}"): the session id, the
/// transports the client may upgrade to, and the heartbeat settings both sides then follow.
public struct EngineIOHandshake: Sendable, Hashable {
    /// The session id the client sends back on every later request.
    public var sid: String
    /// Transports the client may upgrade to from the current one ("websocket" from polling).
    public var upgrades: [String]
    /// How long the server waits after a pong (or after opening) before its next ping.
    public var pingInterval: TimeSpan
    /// How long the server waits for a pong after a ping.
    public var pingTimeout: TimeSpan
    /// The largest polling payload, in bytes, the server accepts; nil when the server did not say.
    public var maxPayload: Int64?

    /// Creates a handshake; the defaults are engine.io's and python-engineio's (25 s, 20 s, 1 MB).
    public init(sid: String, upgrades: [String] = [], pingInterval: TimeSpan = .milliseconds(25_000),
                pingTimeout: TimeSpan = .milliseconds(20_000), maxPayload: Int64? = 1_000_000) {
        self.sid = sid
        self.upgrades = upgrades
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.maxPayload = maxPayload
    }

    /// Reads a handshake from its JSON: `sid` (string), `upgrades` (array of strings),
    /// `pingInterval` and `pingTimeout` (non-negative milliseconds), optional `maxPayload`
    /// (non-negative integer). Unknown keys are ignored, as the reference clients do.
    public init(json: JSONValue) throws(EngineIOParseError) {
        guard case .object(let object) = json else {
            throw EngineIOParseError(.badHandshake("expected an object, got \(json.typeName)"))
        }
        guard case .string(let sid)? = object["sid"] else {
            throw EngineIOParseError(.badHandshake(Self.problem("sid", "a string", object["sid"])))
        }
        guard case .array(let list)? = object["upgrades"] else {
            throw EngineIOParseError(.badHandshake(Self.problem("upgrades", "an array of strings", object["upgrades"])))
        }
        var upgrades: [String] = []
        for element in list {
            guard case .string(let name) = element else {
                throw EngineIOParseError(.badHandshake(Self.problem("upgrades", "an array of strings", element)))
            }
            upgrades.append(name)
        }
        self.sid = sid
        self.upgrades = upgrades
        self.pingInterval = try Self.milliseconds(object, "pingInterval")
        self.pingTimeout = try Self.milliseconds(object, "pingTimeout")
        switch object["maxPayload"] {
        case nil, .null?:
            self.maxPayload = nil
        case .integer(let n)? where n >= 0:
            self.maxPayload = n
        case .number(let d)? where d >= 0 && d < 9.2e18 && d == d.rounded():
            self.maxPayload = Int64(d)
        case let other?:
            throw EngineIOParseError(.badHandshake(Self.problem("maxPayload", "a non-negative integer", other)))
        }
    }

    /// Parses the text of an open packet after its "0".
    public init(text: String) throws(EngineIOParseError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(Array(text.utf8))
        } catch {
            throw EngineIOParseError(.badHandshake(error.description))
        }
        try self.init(json: json)
    }

    /// The handshake as JSON, keys in the order engine.io writes them; intervals in milliseconds,
    /// an integer when whole (always, for values that came from a real server).
    public var json: JSONValue {
        var object: JSONObject = [
            "sid": .string(sid),
            "upgrades": .array(upgrades.map(JSONValue.string)),
            "pingInterval": Self.milliseconds(pingInterval),
            "pingTimeout": Self.milliseconds(pingTimeout),
        ]
        if let maxPayload { object["maxPayload"] = .integer(maxPayload) }
        return .object(object)
    }

    /// The compact JSON text of the handshake, as it follows the "0" of an open packet.
    public var text: String { String(decoding: json.serialized, as: UTF8.self) }

    private static func milliseconds(_ object: JSONObject, _ key: String) throws(EngineIOParseError) -> TimeSpan {
        switch object[key] {
        case .integer(let ms)? where ms >= 0:
            return .milliseconds(1) * ms // saturates, where .milliseconds(ms) would trap on absurd values
        case .number(let ms)? where ms.isFinite && ms >= 0:
            return .seconds(ms / 1_000)
        default:
            throw EngineIOParseError(.badHandshake(problem(key, "non-negative milliseconds", object[key])))
        }
    }

    private static func milliseconds(_ span: TimeSpan) -> JSONValue {
        span.nanoseconds % 1_000_000 == 0 ? .integer(span.nanoseconds / 1_000_000) : .number(Double(span.nanoseconds) / 1e6)
    }

    private static func problem(_ key: String, _ expected: String, _ got: JSONValue?) -> String {
        guard let got else { return "missing \(key), expected \(expected)" }
        return "\(key) must be \(expected), got \(got.typeName)"
    }
}
