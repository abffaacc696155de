import Heartbeat
import LabCore
import Simulator
import Testing

/// The motivating dashboard's application layer in the simulator: the custom ping over Socket.IO
/// events answered by the built-in server, the health check watching inbound traffic, and the
/// forced reconnects either one causes, with their reasons in the event log.
@Suite("Simulation: the dashboard's application layer")
struct SimulationApplicationTests {
    /// One idle dashboard (no workload) with `settings` on a constant 50 ms link, no jitter in the backoff.
    static func dashboard(_ settings: DashboardSettings, duration: TimeSpan, phases: [SimulationPhase] = [],
                          server: EngineIOServerHeartbeat.Configuration = .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)))
        -> SimulationConfiguration {
        var c = Sim.configuration(duration: duration, phases: phases)
        c.server = server
        c.useDashboard(settings)
        c.reconnection.randomizationFactor = 0
        return c
    }

    @Test("before: the 30 s health check kills an idle dashboard every 31.2 s, Engine.IO pings notwithstanding")
    func beforeHealthCheckFlaps() {
        let result = Simulation(Self.dashboard(.before, duration: .seconds(200))).run()
        let events = result.events
        // Connected at 200 ms; stale 30 s later (the Engine.IO ping at 25.1 s does not count);
        // reconnect 1 s later, connected 200 ms after that, stale again 30 s later: 30.2 s + k × 31.2 s.
        let client = Sim.events(events, .disconnect, side: .client)
        #expect(client.map(\.time) == (0..<6).map { Sim.ms(30_200) + Sim.ms(31_200) * Int64($0) })
        #expect(client.allSatisfy { $0.reason == "health check stale" })
        // The server learns of each forced close from the client's FIN, 50 ms later.
        let server = Sim.events(events, .disconnect, side: .server)
        #expect(server.map(\.time) == client.map { $0.time + Sim.ms(50) })
        #expect(server.allSatisfy { $0.reason == "transport close" })
        // socket.io-client reconnects after a forced close: attempt 1 each time (the backoff is reset).
        let attempts = Sim.events(events, .reconnectAttempt)
        #expect(attempts.map(\.time) == client.map { $0.time + .seconds(1) })
        #expect(attempts.allSatisfy { $0.attempt == 1 })
        // The custom ping (45 s) never gets to fire.
        #expect(!events.contains { $0.kind == .messageSent && $0.detail == "ping" })
    }

    @Test("after: pings every 45 s, answered by the server's pong, keep the 90 s health check fed: no disconnect")
    func afterStaysUp() {
        let result = Simulation(Self.dashboard(.after, duration: .seconds(600))).run()
        let events = result.events
        #expect(Sim.events(events, .disconnect).isEmpty)
        let pings = events.filter { $0.kind == .messageSent && $0.side == .client && $0.detail == "ping" }.map(\.time)
        #expect(pings == (0..<13).map { Sim.ms(45_200) + .seconds(45) * Int64($0) })
        let atServer = events.filter { $0.kind == .messageReceived && $0.side == .server && $0.detail == "ping" }.map(\.time)
        #expect(atServer == pings.map { $0 + Sim.ms(50) })
        let answered = events.filter { $0.kind == .messageSent && $0.side == .server && $0.detail == "pong" }.map(\.time)
        #expect(answered == atServer)
        let pongs = events.filter { $0.kind == .messageReceived && $0.side == .client && $0.detail == "pong" }.map(\.time)
        #expect(pongs == pings.map { $0 + Sim.ms(100) })
    }

    @Test("the health check counts application messages: a dashboard with updates never goes stale")
    func updatesFeedTheHealthCheck() {
        var c = Self.dashboard(.before, duration: .seconds(300))
        c.workload = .serverEvents(perSecond: 2, size: 512)
        let result = Simulation(c).run()
        #expect(Sim.events(result.events, .disconnect).isEmpty)
    }

    @Test("the custom ping forces a reconnect when its pong is 20 s late, and the client comes back after the stall")
    func customPingForcesReconnect() {
        // Engine.IO at 25 s / 60 s notices nothing before 110 s; the health check is off.
        var c = Self.dashboard(.after, duration: .seconds(120),
                               phases: [SimulationPhase(at: .seconds(44), duration: .seconds(25),
                                                        conditions: .both([.stall(StallCondition())]), note: "roaming")],
                               server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(60)))
        c.application.healthCheck = nil
        let events = Simulation(c).run().events
        // The ping of 45.2 s is held by the stall: its pong is due before 65.2 s.
        let client = Sim.events(events, .disconnect, side: .client)
        #expect(client.map(\.time) == [Sim.ms(65_200)])
        #expect(client.map(\.reason) == ["forced close"])
        // Reconnect attempt 1 s later, held until the stall lifts at 69 s: open at 69.1 s, namespace at 69.2 s.
        #expect(Sim.events(events, .reconnectAttempt).map(\.time) == [Sim.ms(66_200)])
        let connects = Sim.events(events, .connect, side: .client)
        // One connect, at the namespace's (the transport's open at 69.1 s is not yet a connection).
        #expect(connects.last?.time == Sim.ms(69_200) && !connects.contains { $0.time == Sim.ms(69_100) })
        #expect(connects.last?.detail == "reconnected after 1 attempts")
        // The old transport's server answers the held ping once it arrives, then reads the FIN.
        let server = Sim.events(events, .disconnect, side: .server)
        #expect(server.map(\.time) == [Sim.ms(69_050)])
        #expect(server.map(\.reason) == ["transport close"])
        // The new session pings again 45 s after its connect.
        #expect(events.contains { $0.kind == .messageSent && $0.detail == "ping" && $0.time == Sim.ms(114_200) })
    }

    @Test("with the application layer the same seed still gives byte-identical logs")
    func deterministic() {
        var c = SimulationDeterminismTests.jittery(seed: 42)
        c.useDashboard(.before)
        let a = Simulation(c).run()
        let b = Simulation(c).run()
        #expect(a.jsonLines == b.jsonLines)
        #expect(a.counters == b.counters)
        c.seed = 43
        #expect(Simulation(c).run().jsonLines != a.jsonLines)
        #expect(a.jsonLines != Simulation(SimulationDeterminismTests.jittery(seed: 42)).run().jsonLines)
    }
}
