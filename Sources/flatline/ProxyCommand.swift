import ArgumentParser
import Dispatch
import FaultProxy
import Foundation
import LabCore
import NIOCore
import NIOPosix
import ProtocolTap
import ProxyAPI
import LiveComponents

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
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
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
        let registry = ProxyRegistry(group: group, seed: seed, window: window, observer: tap)
        let server = ControlServer(registry: registry, group: group)
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ValidationError("--config \(config): cannot read the file")
            }
            _ = try await server.populate(json: Array(data), source: config)
        }
        let bound = try await server.start(host: host, port: port)
        Log.info("flatline \(flatlineVersion) API listening on \(bound) (seed \(seed))")
        let signal = await ShutdownSignal.wait()
        Log.info("received \(signal), shutting down")
        await server.stop()
        await registry.removeAll()
        try await group.shutdownGracefully()
    }
}

/// Waits for SIGINT or SIGTERM (or, when given, for `timeout` to pass), so a command can close
/// its listeners and connections cleanly.
enum ShutdownSignal {
    static func wait(timeout: Double? = nil) async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let queue = DispatchQueue(label: "flatline.signals")
            let once = OnceBox(continuation)
            var sources: [any DispatchSourceSignal] = []
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { once.resume(name) }
                source.resume()
                sources.append(source)
            }
            KeepAlive.sources = sources
            if let timeout {
                queue.asyncAfter(deadline: .now() + timeout) { once.resume("timeout") }
            }
        }
    }

    /// Resumes a continuation at most once.
    final class OnceBox: @unchecked Sendable {
        private var continuation: CheckedContinuation<String, Never>?
        private let lock = NSLock()
        init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }
        func resume(_ value: String) {
            lock.lock()
            let c = continuation
            continuation = nil
            lock.unlock()
            c?.resume(returning: value)
        }
    }

    /// Keeps the signal sources alive for the life of the process.
    enum KeepAlive {
        nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    }
}

/// Messages for people on standard error (stdout stays for data).
enum Log {
    static func info(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
