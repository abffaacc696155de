import FaultProxy
import Heartbeat
import LabCore
import LiveComponents
import NIOCore
import NIOPosix
import Testing

/// Two instances of Flatline's built-in server behind one proxy that balances (issue 11): over
/// long-polling a session's requests must reach the instance that holds it, so balanced in turn
/// the client never gets a session going (the other instance answers 400 "Session ID unknown",
/// as engine.io does), and sticky by the Engine.IO sid it stays connected.
@Suite struct BalancedInstancesTests {
    /// Runs one polling client for `seconds` through a proxy balancing two built-in servers by
    /// `balance`; returns the client's events and the servers' connects, per instance.
    static func run(balance: BalancePolicy, seconds: Double) async throws -> (client: [LabEvent], connectsPerInstance: [Int]) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let events = MemoryEventSink()
        let start = Instant.monotonicNow()
        var server = EngineIOServerConfiguration()
        server.pingInterval = .milliseconds(200)
        server.pingTimeout = .milliseconds(400)
        var instances: [EngineIOServer] = []
        var perInstance: [MemoryEventSink] = []
        for i in 0..<2 {
            server.seed = UInt64(i + 1)
            let sink = MemoryEventSink()
            perInstance.append(sink)
            instances.append(try await EngineIOServer.start(group: group, port: 0, configuration: server, events: sink, startedAt: start))
        }
        let registry = ProxyRegistry(group: group, seed: 1, window: 1 << 20)
        let proxy = try await registry.create(name: "lb", listen: HostPort(host: "127.0.0.1", port: 0),
                                              upstream: HostPort(host: "127.0.0.1", port: instances[0].port))
        try proxy.setUpstreams(instances.map { HostPort(host: "127.0.0.1", port: $0.port) }, balance: balance)
        var client = SocketIOClientConfiguration()
        client.transports = ["polling"]
        client.reconnection = ReconnectionOptions(reconnectionDelay: .milliseconds(100), reconnectionDelayMax: .milliseconds(100),
                                                  randomizationFactor: 0)
        client.connectTimeout = .seconds(1)
        let c = SocketIOClient.start(group: group, endpoint: EngineIOEndpoint(host: "127.0.0.1", port: proxy.listenAddress.port),
                                     configuration: client, events: events, startedAt: start)
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        await c.stop()
        await registry.removeAll()
        for instance in instances { await instance.stop() }
        try await group.shutdownGracefully()
        let connects = perInstance.map { sink in sink.events.filter { $0.kind == .connect && $0.detail?.hasPrefix("socket.io") == true }.count }
        return (events.events.filter { $0.side == .client }, connects)
    }

    @Test func pollingBalancedInTurnNeverGetsASessionGoing() async throws {
        let (client, _) = try await Self.run(balance: .roundRobin, seconds: 1.5)
        #expect(!client.contains { $0.kind == .connect }, "\(client.map { "\($0.kind) \($0.reason ?? "") \($0.detail ?? "")" })")
        #expect(client.contains { $0.kind == .connectError || $0.kind == .disconnect })
    }

    @Test func pollingStickyBySessionStaysConnected() async throws {
        let (client, connects) = try await Self.run(balance: .sid, seconds: 1.5)
        let lifecycle = client.filter { $0.kind == .connect || $0.kind == .disconnect || $0.kind == .connectError }
        #expect(lifecycle.count == 2 && lifecycle.first?.kind == .connect, "\(lifecycle.map { "\($0.kind) \($0.reason ?? "")" })")
        #expect(lifecycle.last?.reason == "io client disconnect")
        #expect(client.filter { $0.kind == .ping }.count >= 5, "pings kept coming over polling for 1.5 s")
        #expect(connects.reduce(0, +) == 1)
    }
}
