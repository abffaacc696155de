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

    @OptionGroup var keepalive: WebSocketKeepaliveFlags

    @Option(name: .customLong("send-rate"), help: "Rate of text messages sent to the server, e.g. 5/s (0/s for none).")
    var sendRate = "0/s"

    @Option(help: .text("How long to stay connected before closing (code 1000), e.g. 60s.", default: ConnectWebSocket.defaultDuration),
            transform: DurationArgument.init(parsing:))
    var duration = ConnectWebSocket.defaultDuration

    /// A minute's connection.
    static let defaultDuration: DurationArgument = "60s"

    struct Parsed {
        var endpoint: WebSocketEndpoint
        var configuration: WebSocketKeepaliveClientConfiguration
        var duration: TimeSpan
    }

    func parsed() throws -> Parsed {
        var c = WebSocketKeepaliveClientConfiguration()
        c.options = keepalive.options
        guard duration.value > .zero else { throw ValidationError("--duration must be > 0, got '\(duration.text)'") }
        do {
            c.sendInterval = try EventRate(parsing: sendRate).interval
            return Parsed(endpoint: try WebSocketEndpoint(url: url), configuration: c, duration: duration.value)
        } catch {
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
