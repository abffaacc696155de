import FaultProxy
import LabCore
import NIOCore
import NIOPosix
import TestSupport

/// A proxy named "p" on an ephemeral loopback port in front of an echo server, on a private
/// event-loop group; tests add toxics and talk to `port` with a blocking socket.
final class ProxyFixture: Sendable {
    let group: MultiThreadedEventLoopGroup
    let registry: ProxyRegistry
    let echo: LoopbackServer
    let proxy: Proxy
    let port: Int

    init(seed: UInt64 = 42, window: Int = 4 << 20, upstreamPort: Int? = nil) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        registry = ProxyRegistry(group: group, seed: seed, window: window)
        echo = try await LoopbackServer.echo(group: group)
        proxy = try await registry.create(name: "p", listen: HostPort(host: "127.0.0.1", port: 0),
                                          upstream: HostPort(host: "127.0.0.1", port: upstreamPort ?? echo.port))
        port = proxy.listenAddress.port
    }

    func toxic(_ name: String, _ condition: Condition, stream: LinkDirection = .downstream, toxicity: Double = 1,
               connection: UInt64? = nil) async throws {
        try await proxy.addToxic(Toxic(name: name, type: condition.kind, stream: stream, toxicity: toxicity,
                                 condition: condition, connection: connection))
    }

    func connect() throws -> BlockingSocket { try BlockingSocket(port: port) }

    /// Removes the proxy, stops the echo server and waits for the group to shut down.
    func shutdown() async {
        await registry.removeAll()
        await echo.stop()
        try? await group.shutdownGracefully()
    }

    /// A test that throws before its `shutdown()` still stops the group's thread: the fixture's
    /// `defer`, since a `defer` cannot await (a second shutdown after `shutdown()` does nothing).
    deinit {
        group.shutdownGracefully { _ in }
    }
}

/// Sends `message` and reads its echo; returns the round-trip time in seconds, or nil on failure.
func roundTrip(_ socket: BlockingSocket, _ message: String = "ping", timeout: Double = 5) throws -> Double? {
    let start = MonotonicClock.seconds()
    try socket.send(message)
    let (bytes, end) = socket.read(exactly: message.utf8.count, timeout: timeout)
    guard end == nil, bytes == Array(message.utf8) else { return nil }
    return MonotonicClock.seconds() - start
}

/// Waits (bounded) until `condition` holds, polling every 10 ms.
func eventually(timeout: Double = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = MonotonicClock.seconds() + timeout
    while MonotonicClock.seconds() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}
