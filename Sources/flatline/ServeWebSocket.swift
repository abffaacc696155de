import ArgumentParser
import Heartbeat
import LabCore
import LiveComponents
import NIOCore
import NIOPosix

/// `flatline serve websocket`: the WebSocket echo server with `websockets`-style keepalive.
struct ServeWebSocket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "websocket",
        abstract: "Run the built-in WebSocket echo server with RFC 6455 keepalive (as Python's websockets)."
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks one and prints it on stderr).")
    var port: Int

    @Option(name: .customLong("ping-interval"), help: "Delay between keepalive pings, e.g. 20s ('off' disables keepalive).")
    var pingInterval = "20s"

    @Option(name: .customLong("ping-timeout"), help: "How long to wait for a pong before closing with 1011, e.g. 20s ('off' never times out).")
    var pingTimeout = "20s"

    @Option(name: .customLong("close-timeout"), help: "How long to wait for the peer's Close frame, e.g. 10s.")
    var closeTimeout = "10s"

    func parsed() throws -> WebSocketKeepaliveOptions {
        try WebSocketKeepaliveFlags.options(pingInterval: pingInterval, pingTimeout: pingTimeout, closeTimeout: closeTimeout)
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        _ = try parsed()
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await WebSocketKeepaliveServer.start(group: group, host: host, port: port, options: try parsed(),
                                                              events: JSONLinesEventWriter())
        Log.info("flatline websocket server on ws://\(host):\(server.port)/")
        _ = await ShutdownSignal.wait()
        await server.stop()
        try await group.shutdownGracefully()
    }
}

/// Reads the keepalive flags shared by `serve websocket` and `connect websocket`.
enum WebSocketKeepaliveFlags {
    static func options(pingInterval: String, pingTimeout: String, closeTimeout: String) throws -> WebSocketKeepaliveOptions {
        var o = WebSocketKeepaliveOptions()
        o.keepalive.pingInterval = try span(pingInterval, flag: "--ping-interval", allowOff: true)
        o.keepalive.pingTimeout = try span(pingTimeout, flag: "--ping-timeout", allowOff: true)
        guard let close = try span(closeTimeout, flag: "--close-timeout", allowOff: false) else {
            throw ValidationError("--close-timeout must be a duration, e.g. 10s")
        }
        o.closeTimeout = close
        return o
    }

    private static func span(_ text: String, flag: String, allowOff: Bool) throws -> TimeSpan? {
        if allowOff, text == "off" { return nil }
        let value: TimeSpan
        do {
            value = try TimeSpan(parsing: text)
        } catch {
            throw ValidationError("\(flag): \(error.message)")
        }
        guard value > .zero else { throw ValidationError("\(flag) must be > 0\(allowOff ? " (or 'off')" : ""), got '\(text)'") }
        return value
    }
}
