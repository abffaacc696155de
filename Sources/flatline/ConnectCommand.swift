import ArgumentParser
import Foundation
import Heartbeat
import LabCore
import LiveComponents
import NIOCore
import NIOPosix

/// `flatline connect`: Flatline's built-in clients, printing their event log on stdout.
struct ConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Run a built-in client, printing its event log as JSON lines.",
        subcommands: [ConnectSocketIO.self, ConnectWebSocket.self]
    )
}

/// `flatline connect socketio URL`: the Socket.IO client with socket.io-client's reconnection.
struct ConnectSocketIO: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socketio",
        abstract: "Connect the built-in Socket.IO client to a server (http://host:port[/path])."
    )

    @Argument(help: "Server URL, e.g. http://127.0.0.1:5000 (path defaults to /socket.io/).")
    var url: String

    @Option(help: "Transport: websocket or polling (the first of a comma-separated list is used).")
    var transports = "websocket"

    @Option(help: "Reconnect after a drop: on or off.")
    var reconnection = "on"

    @Option(name: .customLong("connect-timeout"), help: .text("socket.io-client's timeout for the namespace connect.",
                                                               default: ConnectSocketIO.defaultConnectTimeout),
            transform: DurationArgument.init(parsing:))
    var connectTimeout = ConnectSocketIO.defaultConnectTimeout

    @Option(name: .customLong("emit-rate"), help: "Rate of 'echo' events with acks, e.g. 1/s (0/s for none).")
    var emitRate = "0/s"

    @Option(help: .text("How long to stay connected before disconnecting, e.g. 60s.", default: ConnectSocketIO.defaultDuration),
            transform: DurationArgument.init(parsing:))
    var duration = ConnectSocketIO.defaultDuration

    @Option(help: "Seed for the reconnection jitter.")
    var seed: UInt64 = 0

    /// socket.io-client's connect timeout, and a minute's connection.
    static let defaultConnectTimeout: DurationArgument = "20s"
    static let defaultDuration: DurationArgument = "60s"

    struct Parsed {
        var endpoint: EngineIOEndpoint
        var configuration: SocketIOClientConfiguration
        var duration: TimeSpan
    }

    func parsed() throws -> Parsed {
        var c = SocketIOClientConfiguration()
        let list = transports.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for t in list where t != "websocket" && t != "polling" {
            throw ValidationError("--transports: unknown transport '\(t)'; expected websocket or polling")
        }
        guard !list.isEmpty else { throw ValidationError("--transports must name websocket or polling") }
        c.transports = list
        switch reconnection {
        case "on": c.reconnection.reconnection = true
        case "off": c.reconnection.reconnection = false
        default: throw ValidationError("--reconnection must be on or off, got '\(reconnection)'")
        }
        c.seed = seed
        c.connectTimeout = connectTimeout.value
        do {
            c.emitInterval = try EventRate(parsing: emitRate).interval
            return Parsed(endpoint: try EngineIOEndpoint(url: url), configuration: c, duration: duration.value)
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
        let client = SocketIOClient.start(group: group, endpoint: p.endpoint, configuration: p.configuration,
                                          events: JSONLinesEventWriter())
        _ = await ShutdownSignal.wait(timeout: p.duration.seconds)
        await client.stop()
        try await group.shutdownGracefully()
    }
}
