import Heartbeat
import LabCore
import LiveComponents
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The live client's application layer (health check, custom ping) and timer throttling, against
/// the built-in server on real loopback sockets. Wall-clock tests: lower bounds are exact by
/// construction, upper bounds leave room for a loaded machine.
@Suite(.serialized)
struct ClientApplicationLayerTests {
    /// Runs the built-in server and one client for `seconds`, and returns the client's events.
    static func run(server: EngineIOServerConfiguration = .init(), client: SocketIOClientConfiguration,
                    seconds: Double) async throws -> [LabEvent] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }  // on every way out, a failed `try` included
        let events = MemoryEventSink()
        let start = Instant.monotonicNow()
        let srv = try await EngineIOServer.start(group: group, port: 0, configuration: server, events: events, startedAt: start)
        let c = SocketIOClient.start(group: group, endpoint: EngineIOEndpoint(host: "127.0.0.1", port: srv.port),
                                     configuration: client, events: events, startedAt: start)
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        await c.stop()
        await srv.stop()
        try await group.shutdownGracefully()
        return events.events.filter { $0.side == .client }
    }

    /// The disconnects before the test's own `stop()` ("io client disconnect").
    static func disconnects(_ events: [LabEvent]) -> [LabEvent] {
        events.filter { $0.kind == .disconnect && $0.reason != CloseReason.ioClientDisconnect.rawValue }
    }

    @Test("a health check that ignores heartbeats finds an idle connection stale and forces a reconnect")
    func healthCheckStale() async throws {
        var client = SocketIOClientConfiguration()
        client.healthCheck = HealthCheck.Options(staleAfter: .milliseconds(400), heartbeatsCount: false)
        client.reconnection = ReconnectionOptions(reconnectionDelay: .milliseconds(100), reconnectionDelayMax: .milliseconds(100),
                                                  randomizationFactor: 0)
        var server = EngineIOServerConfiguration()
        server.pingInterval = .seconds(5)
        let events = try await Self.run(server: server, client: client, seconds: 2)
        let stale = Self.disconnects(events).filter { $0.reason == CloseReason.healthCheckStale.rawValue }
        #expect(stale.count >= 2, "\(events)")
        let connected = events.first { $0.kind == .connect && $0.detail == "socket.io /" }?.time ?? .zero
        if let first = stale.first {
            #expect(first.time - connected >= .milliseconds(400))
            #expect(first.time - connected < .milliseconds(1_000))
        }
        #expect(events.contains { $0.kind == .connect && $0.detail?.hasPrefix("reconnected") == true })
    }

    @Test("a custom ping the server answers keeps the connection; one it ignores forces a reconnect")
    func customPing() async throws {
        var client = SocketIOClientConfiguration()
        client.customPing = CustomPing.Options(interval: .milliseconds(200), timeout: .milliseconds(300))
        let answered = try await Self.run(client: client, seconds: 1.5)
        #expect(Self.disconnects(answered).isEmpty, "\(Self.disconnects(answered))")
        #expect(answered.filter { $0.kind == .messageSent && $0.detail == "ping" }.count >= 4)
        #expect(answered.filter { $0.kind == .messageReceived && $0.detail == "pong" }.count >= 4)

        var deaf = EngineIOServerConfiguration()
        deaf.pongEvent = "something-else"
        let ignored = try await Self.run(server: deaf, client: client, seconds: 1.5)
        let forced = Self.disconnects(ignored).filter { $0.reason == CloseReason.forcedClose.rawValue }
        #expect(!forced.isEmpty, "\(ignored)")
        let connected = ignored.first { $0.kind == .connect && $0.detail == "socket.io /" }?.time ?? .zero
        if let first = forced.first { #expect(first.time - connected >= .milliseconds(500)) }
    }

    @Test("throttled timers run only at the throttle's boundaries")
    func throttledTimers() async throws {
        var client = SocketIOClientConfiguration()
        client.healthCheck = HealthCheck.Options(staleAfter: .milliseconds(200), heartbeatsCount: false)
        client.reconnection = ReconnectionOptions(reconnection: false)
        let origin = Instant.monotonicNow()
        // Every timer waits for the next whole second after `origin`.
        client.timerDeadline = { due in
            let throttle = TimerThrottle(windows: [.init(range: .zero..<TimeSpan.seconds(3_600), alignment: .seconds(1))])
            return origin + throttle.deadline(due - origin)
        }
        let events = try await Self.run(client: client, seconds: 1.6)
        let stale = Self.disconnects(events).filter { $0.reason == CloseReason.healthCheckStale.rawValue }
        #expect(stale.count == 1, "\(events)")
        // Stale after 0.2 s, but the check's timer runs at the first whole second.
        if let first = stale.first { #expect(first.time >= .milliseconds(950)) }
    }
}

/// Counts the connections a silent loopback server accepted and how many of them the peer closed:
/// a server that never answers, so a client's connect attempt stays in flight.
private final class SilentServerHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let accepted = NIOLockedValueBox(0)
    let closed = NIOLockedValueBox(0)

    func channelActive(context: ChannelHandlerContext) {
        accepted.withLockedValue { $0 += 1 }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed.withLockedValue { $0 += 1 }
    }
}

/// The live driver of `SocketIOClientStack` abandoning an attempt in flight, on real sockets.
@Suite(.serialized)
struct ClientAbandonedAttemptTests {
    @Test("stop() during a connect attempt closes its socket, logs no disconnect and never reconnects")
    func stopMidAttempt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await stopMidAttempt(on: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func stopMidAttempt(on group: MultiThreadedEventLoopGroup) async throws {
        let handler = SilentServerHandler()
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let events = MemoryEventSink()
        var configuration = SocketIOClientConfiguration()
        configuration.reconnection = ReconnectionOptions(reconnectionDelay: .milliseconds(50),
                                                         reconnectionDelayMax: .milliseconds(50), randomizationFactor: 0)
        let client = SocketIOClient.start(group: group,
                                          endpoint: EngineIOEndpoint(host: "127.0.0.1", port: listener.localAddress!.port!),
                                          configuration: configuration, events: events)
        // The TCP connect succeeds; the WebSocket upgrade is never answered.
        for _ in 0..<100 where handler.accepted.withLockedValue({ $0 }) == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(handler.accepted.withLockedValue { $0 } == 1)
        await client.stop()
        // Long enough for a 50 ms backoff to have fired several times, had anything reconnected.
        try await Task.sleep(nanoseconds: 400_000_000)
        #expect(handler.closed.withLockedValue { $0 } == 1, "the abandoned attempt's socket is closed")
        #expect(handler.accepted.withLockedValue { $0 } == 1, "no reconnect attempt after stop()")
        let logged = events.events.map(\.kind)
        #expect(!logged.contains(.disconnect), "\(events.events)")
        #expect(!logged.contains(.reconnectAttempt), "\(events.events)")
        try await listener.close()
    }
}
