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

    @OptionGroup var keepalive: WebSocketKeepaliveFlags

    func parsed() throws -> WebSocketKeepaliveOptions {
        keepalive.options
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

/// The keepalive flags shared by `serve websocket` and `connect websocket`, as Python's `websockets`
/// names them: ping interval and timeout (each may be 'off') and the closing handshake's timeout.
struct WebSocketKeepaliveFlags: ParsableArguments {
    @Option(name: .customLong("ping-interval"),
            help: .text("Delay between keepalive pings, e.g. 20s ('off' disables keepalive).", default: WebSocketKeepaliveFlags.defaultPing),
            transform: DurationOrOffArgument.init(parsing:))
    var pingInterval = WebSocketKeepaliveFlags.defaultPing

    @Option(name: .customLong("ping-timeout"),
            help: .text("How long to wait for a pong before closing with 1011, e.g. 20s ('off' never times out).",
                        default: WebSocketKeepaliveFlags.defaultPing),
            transform: DurationOrOffArgument.init(parsing:))
    var pingTimeout = WebSocketKeepaliveFlags.defaultPing

    @Option(name: .customLong("close-timeout"),
            help: .text("How long to wait for the closing handshake, e.g. 10s.", default: WebSocketKeepaliveFlags.defaultCloseTimeout),
            transform: DurationArgument.init(parsing:))
    var closeTimeout = WebSocketKeepaliveFlags.defaultCloseTimeout

    /// `websockets`' defaults.
    static let defaultPing: DurationOrOffArgument = "20s"
    static let defaultCloseTimeout: DurationArgument = "10s"

    func validate() throws {
        try Self.requirePositive(pingInterval.value, flag: "--ping-interval", text: pingInterval.text, allowOff: true)
        try Self.requirePositive(pingTimeout.value, flag: "--ping-timeout", text: pingTimeout.text, allowOff: true)
        try Self.requirePositive(closeTimeout.value, flag: "--close-timeout", text: closeTimeout.text, allowOff: false)
    }

    /// The LiveComponents options the flags stand for.
    var options: WebSocketKeepaliveOptions {
        var o = WebSocketKeepaliveOptions()
        o.keepalive.pingInterval = pingInterval.value
        o.keepalive.pingTimeout = pingTimeout.value
        o.closeTimeout = closeTimeout.value
        return o
    }

    private static func requirePositive(_ value: TimeSpan?, flag: String, text: String, allowOff: Bool) throws {
        guard let value, value <= .zero else { return }
        throw ValidationError("\(flag) must be > 0\(allowOff ? " (or 'off')" : ""), got '\(text)'")
    }
}
