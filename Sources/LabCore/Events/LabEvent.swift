/// Which party an event is about.
public enum EventSide: String, Sendable, Hashable, Codable, CaseIterable {
    case client
    case server
    case proxy
}

/// What happened, in the event log's vocabulary (docs/events.md).
public enum EventKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A connection (Engine.IO session, Socket.IO namespace, WebSocket) opened.
    case connect
    /// It closed; `reason` says why, `side` who noticed.
    case disconnect
    /// A heartbeat ping was sent.
    case ping
    /// A heartbeat pong arrived; `rtt` is set.
    case pong
    /// An application message was sent.
    case messageSent = "message_sent"
    /// An application message arrived.
    case messageReceived = "message_received"
    /// A client is about to try reconnecting; `attempt` is set.
    case reconnectAttempt = "reconnect_attempt"
    /// A connect attempt failed.
    case connectError = "connect_error"
    /// A scenario phase started or a fault was applied (the proxy's and the runner's events).
    case fault
}

/// One entry of the event log, the single truth every metric and report reads (DESIGN.md,
/// principle 3). Times are offsets from the start of the run, so logs of a live run and of a
/// simulated one line up.
public struct LabEvent: Sendable, Hashable {
    /// Time since the run started.
    public var time: TimeSpan
    /// The connection's id, stable for its life (e.g. "c1" or an Engine.IO sid).
    public var connection: String
    /// Who the event is about.
    public var side: EventSide
    /// What happened.
    public var kind: EventKind
    /// A disconnect's reason ("ping timeout", "transport close", ...).
    public var reason: String?
    /// A pong's round-trip time.
    public var rtt: TimeSpan?
    /// A reconnect attempt's number, from 1.
    public var attempt: Int?
    /// A message's event name or a fault's description.
    public var detail: String?

    /// Creates an event.
    public init(time: TimeSpan, connection: String, side: EventSide, kind: EventKind, reason: String? = nil,
                rtt: TimeSpan? = nil, attempt: Int? = nil, detail: String? = nil) {
        self.time = time
        self.connection = connection
        self.side = side
        self.kind = kind
        self.reason = reason
        self.rtt = rtt
        self.attempt = attempt
        self.detail = detail
    }

    /// The event as one JSON object in a fixed key order: t (seconds), conn, side, type, then the
    /// optional reason, rtt_ms, attempt, detail.
    public var json: JSONValue {
        var o: JSONObject = [
            "t": .number(time.seconds),
            "conn": .string(connection),
            "side": .string(side.rawValue),
            "type": .string(kind.rawValue),
        ]
        if let reason { o["reason"] = .string(reason) }
        if let rtt { o["rtt_ms"] = .number(rtt.milliseconds) }
        if let attempt { o["attempt"] = .integer(Int64(attempt)) }
        if let detail { o["detail"] = .string(detail) }
        return .object(o)
    }

    /// The event as one line of JSON, without the newline: exactly `json` serialized, written
    /// directly (a long run writes millions of these; building each `JSONValue` first dominated).
    public var jsonLine: String {
        var out = ""
        appendJSONLine(to: &out)
        return out
    }

    /// Appends `jsonLine` to `out`, without the newline.
    public func appendJSONLine(to out: inout String) {
        out += "{\"t\":"
        out += JSONValue.format(time.seconds)
        out += ",\"conn\":"
        Self.appendString(connection, to: &out)
        out += ",\"side\":"
        Self.appendString(side.rawValue, to: &out)
        out += ",\"type\":"
        Self.appendString(kind.rawValue, to: &out)
        if let reason {
            out += ",\"reason\":"
            Self.appendString(reason, to: &out)
        }
        if let rtt {
            out += ",\"rtt_ms\":"
            out += JSONValue.format(rtt.milliseconds)
        }
        if let attempt {
            out += ",\"attempt\":"
            out += String(attempt)
        }
        if let detail {
            out += ",\"detail\":"
            Self.appendString(detail, to: &out)
        }
        out += "}"
    }

    /// A JSON string literal: as is when nothing needs escaping, else through `JSONValue`.
    private static func appendString(_ text: String, to out: inout String) {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out += "\""
            out += text
            out += "\""
        } else {
            out += String(decoding: JSONValue.string(text).serialized, as: UTF8.self)
        }
    }

    /// Reads an event back from its JSON line; errors name the field.
    public init(jsonLine line: String) throws(EventDecodingError) {
        let value: JSONValue
        do { value = try JSONValue.parse(Array(line.utf8)) } catch { throw EventDecodingError(field: "", reason: error.description) }
        guard case .object(let o) = value else { throw EventDecodingError(field: "", reason: "expected a JSON object") }
        func string(_ key: String) throws(EventDecodingError) -> String {
            guard case .string(let s)? = o[key] else { throw EventDecodingError(field: key, reason: "expected a string") }
            return s
        }
        guard let t = o["t"]?.doubleValue else { throw EventDecodingError(field: "t", reason: "expected a number") }
        let sideText = try string("side")
        guard let side = EventSide(rawValue: sideText) else {
            throw EventDecodingError(field: "side", reason: "unknown side '\(sideText)'")
        }
        let typeText = try string("type")
        guard let kind = EventKind(rawValue: typeText) else {
            throw EventDecodingError(field: "type", reason: "unknown type '\(typeText)'")
        }
        var reason: String?
        if case .string(let r)? = o["reason"] { reason = r }
        var detail: String?
        if case .string(let d)? = o["detail"] { detail = d }
        self.init(time: .seconds(t), connection: try string("conn"), side: side, kind: kind, reason: reason,
                  rtt: o["rtt_ms"]?.doubleValue.map { .seconds($0 / 1000) },
                  attempt: o["attempt"]?.doubleValue.map { Int($0) }, detail: detail)
    }
}

/// Why a line of an event log could not be read.
public struct EventDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON key at fault, empty for the line as a whole.
    public let field: String
    /// What is wrong with it.
    public let reason: String

    /// Creates an error for `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { field.isEmpty ? reason : "\(field): \(reason)" }
}

/// Where events go: a file, standard output, memory for tests. Implementations must be safe to
/// call from any thread.
public protocol EventSink: Sendable {
    /// Records one event.
    func record(_ event: LabEvent)
}
