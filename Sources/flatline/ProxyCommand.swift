import ArgumentParser
import FaultProxy
import Foundation
import LabCore
import NIOCore
import NIOPosix
import ProtocolTap
import ProxyAPI
import LiveComponents
import Logging
import ServiceLifecycle
import UnixSignals

/// `flatline proxy`: the fault proxy with its Toxiproxy-compatible control API, taking the same
/// flags and config file as toxiproxy-server.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Run the fault proxy and its Toxiproxy-compatible control API."
    )

    @Option(help: "Address the control API listens on.")
    var host = "127.0.0.1"

    @Option(help: "Port the control API listens on.")
    var port = 8474

    @Option(help: "A JSON file of proxies to create at start-up (toxiproxy-server's format).")
    var config: String?

    @Option(help: "Seed for every random draw (jitter, loss, toxicity); the same seed gives the same faults.")
    var seed: UInt64 = 0

    @Option(help: "Bytes a link may queue before the proxy stops reading from the sender.")
    var window = 4 << 20

    @Option(help: "Write the protocol tap's events (Engine.IO over WebSocket: connect, ping, pong with RTT, disconnect) as JSON lines to this file; '-' for stdout.")
    var events: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        guard window >= 64 * 1024 else { throw ValidationError("--window must be at least 65536 bytes, got \(window)") }
    }

    func run() async throws {
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        var tap: EngineIOTap?
        if let events {
            let handle: FileHandle
            if events == "-" {
                handle = .standardOutput
            } else {
                guard FileManager.default.createFile(atPath: events, contents: nil),
                      let h = FileHandle(forWritingAtPath: events) else {
                    throw ValidationError("--events \(events): cannot create the file")
                }
                handle = h
            }
            tap = EngineIOTap(events: JSONLinesEventWriter(handle: handle))
        }
        let registry = ProxyRegistry(group: eventLoops, seed: seed, window: window, observer: tap)
        // The control API has a thread of its own: a data plane busy with heavy toxics (a 1-byte
        // slicer on a fast stream) must not delay the answers that would remove them.
        let controlLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = ControlServer(registry: registry, group: controlLoop)
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ValidationError("--config \(config): cannot read the file")
            }
            _ = try await server.populate(json: Array(data), source: config)
        }
        let bound = try await server.start(host: host, port: port)
        Log.info("flatline \(flatlineVersion) API listening on \(bound) (seed \(seed))")
        // SIGINT and SIGTERM shut the proxy down gracefully: listeners and connections closed.
        let service = ProxyService(server: server, registry: registry)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "flatline.proxy", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await group.run()
        // In order: the service has closed the API and every proxy and awaited each connection's
        // close, so no handler is left to schedule work on a loop that is stopping.
        try await controlLoop.shutdownGracefully()
        try await eventLoops.shutdownGracefully()
    }
}

/// The running proxy as a service: it waits for the group's graceful shutdown (a signal), then
/// closes the control API, every proxy and every connection.
struct ProxyService: Service {
    let server: ControlServer
    let registry: ProxyRegistry

    func run() async throws {
        try? await gracefulShutdown()
        Log.info("shutting down")
        await server.stop()
        await registry.removeAll()
    }
}

/// Messages for people on standard error (stdout stays for data).
enum Log {
    static func info(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
