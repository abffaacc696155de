import ArgumentParser
import Heartbeat
import LabCore
import LiveComponents
import NIOCore
import NIOPosix

/// `flatline serve`: Flatline's built-in components as standalone servers, printing the event
/// log on stdout, one JSON object a line.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a built-in server, printing its event log as JSON lines.",
        subcommands: [ServeSocketIO.self, ServeWebSocket.self]
    )
}

/// `flatline serve socketio`: the Engine.IO/Socket.IO server (polling and WebSocket).
struct ServeSocketIO: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socketio",
        abstract: "Run the built-in Socket.IO server (Engine.IO v4, polling and WebSocket)."
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks one and prints it on stderr).")
    var port: Int

    @Option(name: .customLong("ping-interval"), help: .text("Engine.IO pingInterval, e.g. 25s.", default: ServeSocketIO.defaultPingInterval),
            transform: DurationArgument.init(parsing:))
    var pingInterval = ServeSocketIO.defaultPingInterval

    @Option(name: .customLong("ping-timeout"), help: .text("Engine.IO pingTimeout, e.g. 20s.", default: ServeSocketIO.defaultPingTimeout),
            transform: DurationArgument.init(parsing:))
    var pingTimeout = ServeSocketIO.defaultPingTimeout

    @Option(name: .customLong("emit-rate"), help: "Rate of 'tick' events sent to each client, e.g. 2/s (0/s for none).")
    var emitRate = "0/s"

    @Option(name: .customLong("broadcast-rate"),
            help: "Rate of the 'broadcast' stream on the server's clock, to every connected client, e.g. 4/s (0/s for none).")
    var broadcastRate = "0/s"

    @Option(name: .customLong("connection-state-recovery"),
            help: "Turn on socket.io's connection state recovery, keeping sessions and events this long (its maxDisconnectionDuration, e.g. 2m).",
            transform: DurationArgument.init(parsing:))
    var recovery: DurationArgument?

    @Option(help: "URL path of the endpoint.")
    var path = "/socket.io/"

    @Option(help: "Seed for session ids.")
    var seed: UInt64 = 0

    /// Engine.IO's defaults.
    static let defaultPingInterval: DurationArgument = "25s"
    static let defaultPingTimeout: DurationArgument = "20s"

    func parsed() throws -> EngineIOServerConfiguration {
        var c = EngineIOServerConfiguration()
        c.pingInterval = pingInterval.value
        c.pingTimeout = pingTimeout.value
        do {
            c.emitInterval = try EventRate(parsing: emitRate).interval
            c.broadcastInterval = try EventRate(parsing: broadcastRate).interval
        } catch {
            throw ValidationError(error.message)
        }
        guard c.pingInterval > .zero else { throw ValidationError("--ping-interval must be > 0") }
        guard c.pingTimeout > .zero else { throw ValidationError("--ping-timeout must be > 0") }
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with /, got '\(path)'") }
        c.path = path.hasSuffix("/") ? path : path + "/"
        c.seed = seed
        if let recovery {
            guard recovery.value > .zero else { throw ValidationError("--connection-state-recovery must be > 0") }
            c.recovery = SocketIORecoveryOptions(maxDisconnectionDuration: recovery.value)
        }
        return c
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        _ = try parsed()
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await EngineIOServer.start(group: group, host: host, port: port, configuration: try parsed(),
                                                    events: JSONLinesEventWriter())
        Log.info("flatline socket.io server on \(host):\(server.port)\(try parsed().path)")
        _ = await ShutdownSignal.wait()
        await server.stop()
        try await group.shutdownGracefully()
    }
}
