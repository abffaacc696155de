import Foundation

/// A heartbeat stack whose settings `flatline recommend` proposes, with its detection semantics
/// and constraints as measured against the real implementations (docs/recommend.md).
public enum TimeoutStack: String, Sendable, CaseIterable, Hashable {
    /// python-socketio / python-engineio, server and client.
    case pythonSocketIO = "python-socketio"
    /// The socket.io JavaScript server and client.
    case socketioJS = "socketio-js"
    /// Python's `websockets` keepalive.
    case websockets
    /// gRPC HTTP/2 keepalive.
    case grpc
    /// Flatline's built-in Socket.IO server and client with the dashboard's application layer
    /// (health check, custom ping, connect timeout).
    case flatline

    /// The longest a dead network goes unnoticed with heartbeats every `interval` and `timeout`,
    /// over both sides, seconds, and the mean for a death at a uniformly random instant.
    ///
    /// - python-socketio: the server sends its ping `interval` after the last pong and closes
    ///   lazily, in (timeout, 2·timeout] after an unanswered ping (its service task sweeps once per
    ///   ping_timeout); the client closes `interval + timeout` after the last packet.
    /// - socket.io JS: the client at last ping + interval + timeout, the server timeout after its ping.
    /// - websockets: ping every interval, closed at ping + ping_timeout.
    /// - gRPC: keepalive ping after `interval` (keepalive_time) without activity, closed
    ///   `timeout` later.
    /// - Flatline: as socket.io JS (exact timers on both sides).
    public func detection(interval: Double, timeout: Double) -> (max: Double, mean: Double) {
        switch self {
        case .pythonSocketIO: (max(interval + 2 * timeout, interval + timeout), interval / 2 + 1.5 * timeout)
        case .socketioJS, .websockets, .grpc, .flatline: (interval + timeout, interval / 2 + timeout)
        }
    }

    /// Whether settings must be whole seconds: python-engineio advertises `int(ping_interval)` to
    /// its clients, so a fractional interval is not what they see.
    public var wholeSeconds: Bool { self == .pythonSocketIO }

    /// The smallest keepalive interval the peer accepts without GOAWAY too_many_pings: gRPC
    /// servers enforce `GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS`, 5 minutes by default.
    public var minimumInterval: Double {
        switch self {
        case .grpc: 300
        default: 1
        }
    }

    /// The settings in the stack's own option names.
    public func settings(interval: Double, timeout: Double, tolerateStall: Double) -> [(String, String)] {
        func s(_ x: Double) -> String { Self.seconds(x) }
        func ms(_ x: Double) -> String { String(Int((x * 1000).rounded())) }
        switch self {
        case .pythonSocketIO:
            return [("ping_interval", s(interval)), ("ping_timeout", s(timeout))]
        case .socketioJS:
            return [("pingInterval", ms(interval)), ("pingTimeout", ms(timeout))]
        case .websockets:
            return [("ping_interval", s(interval)), ("ping_timeout", s(timeout))]
        case .grpc:
            // grpcio 1.85 closes on an unanswered keepalive ping only after grpc.http2.ping_timeout_ms
            // (default one minute), whatever keepalive_timeout_ms says: measured through the proxy
            // (tests/interop/test_recommend_real_stack.py), so both are set.
            return [("grpc.keepalive_time_ms", ms(interval)), ("grpc.keepalive_timeout_ms", ms(timeout)),
                    ("grpc.http2.ping_timeout_ms", ms(timeout)), ("grpc.keepalive_permit_without_calls", "1"),
                    ("grpc.http2.max_pings_without_data", "0")]
        case .flatline:
            return [("server.pingInterval", s(interval) + "s"), ("server.pingTimeout", s(timeout) + "s"),
                    ("clients.application.healthCheck", "{ staleAfter: \(s(interval + timeout + 1))s, heartbeatsCount: true }"),
                    ("clients.application.customPing.interval", s(interval) + "s"),
                    ("clients.application.customPing.timeout", s(timeout) + "s"),
                    ("clients.connectTimeout", s(max(timeout, tolerateStall + 1)) + "s")]
        }
    }

    /// The scenario `--set` lines that simulate these settings.
    public func setLines(interval: Double, timeout: Double, tolerateStall: Double) -> [String] {
        func s(_ x: Double) -> String { Self.seconds(x) + "s" }
        switch self {
        case .flatline:
            return settings(interval: interval, timeout: timeout, tolerateStall: tolerateStall).map { "\($0.0)=\($0.1)" }
        case .pythonSocketIO:
            // The built-in server then keeps python-engineio's service-task detection, the built-in
            // clients python-engineio's client rules (any packet re-arms, "transport error").
            return ["server.pingInterval=\(s(interval))", "server.pingTimeout=\(s(timeout))", "server.stack=python-socketio",
                    "clients.stack=python-socketio"]
        default:
            return ["server.pingInterval=\(s(interval))", "server.pingTimeout=\(s(timeout))"]
        }
    }

    /// A snippet to paste into the stack's configuration.
    public func snippet(interval: Double, timeout: Double, tolerateStall: Double) -> String {
        let set = settings(interval: interval, timeout: timeout, tolerateStall: tolerateStall)
        func value(_ key: String) -> String { set.first { $0.0 == key }?.1 ?? "" }
        switch self {
        case .pythonSocketIO:
            return "sio = socketio.AsyncServer(ping_interval=\(value("ping_interval")), ping_timeout=\(value("ping_timeout")))"
        case .socketioJS:
            return "const io = new Server(httpServer, { pingInterval: \(value("pingInterval")), pingTimeout: \(value("pingTimeout")) });"
        case .websockets:
            return "async with websockets.connect(uri, ping_interval=\(value("ping_interval")), ping_timeout=\(value("ping_timeout"))) as ws: ..."
        case .grpc:
            return "options = [" + set.map { "(\"\($0.0)\", \($0.1))" }.joined(separator: ", ") + "]"
        case .flatline:
            return set.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        }
    }

    /// "25" or "2.5".
    static func seconds(_ x: Double) -> String {
        x == x.rounded() ? String(Int(x)) : String(format: "%g", x)
    }
}
