import ArgumentParser
import Foundation
import Heartbeat
import LabCore
import LiveComponents
import NIOCore
import NIOPosix

/// `flatline connect websocket URL`: the WebSocket client with `websockets`-style keepalive.
struct ConnectWebSocket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "websocket",
        abstract: "Connect the built-in WebSocket client (RFC 6455 keepalive, as Python's websockets) to ws://host:port[/path]."
    )

    @Argument(help: "Server URL, e.g. ws://127.0.0.1:8765/ (path defaults to /).")
    var url: String

    @Option(name: .customLong("ping-interval"), help: "Delay between keepalive pings, e.g. 20s ('off' disables keepalive).")
    var pingInterval = "20s"

    @Option(name: .customLong("ping-timeout"), help: "How long to wait for a pong before closing with 1011, e.g. 20s ('off' never times out).")
    var pingTimeout = "20s"

    @Option(name: .customLong("close-timeout"), help: "How long to wait for the closing handshake, e.g. 10s.")
    var closeTimeout = "10s"

    @Option(name: .customLong("send-rate"), help: "Rate of text messages sent to the server, e.g. 5/s (0/s for none).")
    var sendRate = "0/s"

    @Option(help: "How long to stay connected before closing (code 1000), e.g. 60s.")
    var duration = "60s"

    struct Parsed {
        var endpoint: WebSocketEndpoint
        var configuration: WebSocketKeepaliveClientConfiguration
        var duration: TimeSpan
    }

    func parsed() throws -> Parsed {
        var c = WebSocketKeepaliveClientConfiguration()
        c.options = try WebSocketKeepaliveFlags.options(pingInterval: pingInterval, pingTimeout: pingTimeout,
                                                        closeTimeout: closeTimeout)
        do {
            c.sendInterval = try EventRate(parsing: sendRate).interval
            let duration = try TimeSpan(parsing: duration)
            guard duration > .zero else { throw ValidationError("--duration must be > 0, got '\(self.duration)'") }
            return Parsed(endpoint: try WebSocketEndpoint(url: url), configuration: c, duration: duration)
        } catch let error as UnitParseError {
            throw ValidationError(error.message)
        }
    }

    func validate() throws {
        _ = try parsed()
    }

    func run() async throws {
        let p = try parsed()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = try WebSocketKeepaliveClient.start(group: group, endpoint: p.endpoint, configuration: p.configuration,
                                                        events: JSONLinesEventWriter())
        // Whichever comes first: the duration, a signal, or the connection ending by itself.
        _ = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let once = ShutdownSignal.OnceBox(continuation)
            client.closed.whenComplete { _ in once.resume("closed") }
            Task { once.resume(await ShutdownSignal.wait(timeout: p.duration.seconds)) }
        }
        await client.stop()
        let opened = await client.didOpen
        try await group.shutdownGracefully()
        if !opened {
            Log.info("flatline: could not open a WebSocket to \(url) (see the connect_error event)")
            throw ExitCode.failure
        }
    }
}
