import Heartbeat
import LabCore
import Simulator
import Testing

/// The heartbeat on simulated links without and with faults: exact ping instants, stalls that must
/// be survived and stalls that must not, detection of a blackhole by both sides at the instants
/// the protocol says, then socket.io-client's backoff until the link comes back.
@Suite("Simulation: heartbeat timing")
struct SimulationHeartbeatTests {
    @Test("no faults: the handshake takes its round trips, then one ping per interval for an hour, no disconnect")
    func noFaults() {
        let result = Simulation(Sim.configuration(duration: .seconds(3_600))).run()
        let events = result.events
        #expect(Sim.events(events, .disconnect).isEmpty)
        #expect(Sim.events(events, .reconnectAttempt).isEmpty)
        // Upgrade request 0 -> 50 ms (server opens), open packet -> 100 ms, CONNECT -> 150 ms
        // (server joins the namespace), CONNECTED -> 200 ms (client connected).
        #expect(Sim.events(events, .connect, side: .server).map(\.time) == [Sim.ms(50), Sim.ms(150)])
        #expect(Sim.events(events, .connect, side: .client).map(\.time) == [Sim.ms(200)])
        // The first ping is pingInterval after the open; each next one pingInterval after the pong
        // (100 ms round trip): 25.05 s + k × 25.1 s.
        let pings = Sim.times(events, .ping, side: .server)
        #expect(pings.count == 143)
        #expect(pings == (0..<143).map { Sim.ms(25_050) + Sim.ms(25_100) * Int64($0) })
        #expect(Sim.times(events, .ping, side: .client) == pings.map { $0 + Sim.ms(50) })
        #expect(Sim.events(events, .pong).allSatisfy { $0.rtt == Sim.ms(100) })
        #expect(result.counters.packetsDropped == 0)
    }

    @Test("on an ideal link the pings are exactly pingInterval apart")
    func exactInterval() {
        let result = Simulation(Sim.configuration(latency: .zero, duration: .seconds(3_600))).run()
        let pings = Sim.times(result.events, .ping, side: .server)
        #expect(pings == (1...144).map { Sim.ms(25_000) * Int64($0) })
        #expect(Sim.events(result.events, .pong).allSatisfy { $0.rtt == .zero })
        #expect(Sim.events(result.events, .disconnect).isEmpty)
    }

    /// Pings leave at 25.05 s + k × 25.1 s: the fifth (k = 4) at 125.45 s, inside the stall.
    static func stall(at: TimeSpan, for duration: TimeSpan) -> SimulationPhase {
        SimulationPhase(at: at, duration: duration, conditions: .both([.stall(StallCondition())]), note: "roaming")
    }

    @Test("a stall shorter than pingTimeout holds the ping and its pong but disconnects nobody")
    func shortStall() {
        let result = Simulation(Sim.configuration(duration: .seconds(300), phases: [Self.stall(at: .seconds(120), for: .seconds(15))])).run()
        let events = result.events
        #expect(Sim.events(events, .disconnect).isEmpty)
        // The ping sent at 125.45 s is held until 135 s, arrives at 135.05 s, the pong at 135.10 s.
        let pongs = Sim.events(events, .pong)
        #expect(pongs.map(\.time).contains(Sim.ms(135_100)))
        #expect(pongs.first { $0.time == Sim.ms(135_100) }?.rtt == Sim.ms(9_650))
        // Two fault events: the phase starts and ends.
        #expect(Sim.times(events, .fault, conn: "run") == [.seconds(120), .seconds(135)])
    }

    @Test("a stall longer than pingTimeout: client at last ping + interval + timeout, server at ping + pingTimeout")
    func longStall() {
        let result = Simulation(Sim.configuration(duration: .seconds(300), phases: [Self.stall(at: .seconds(120), for: .seconds(30))])).run()
        let disconnects = Sim.events(result.events, .disconnect)
        // The client's last ping arrived at 100.40 s: 100.40 + 45 = 145.40 s. The server's ping of
        // 125.45 s went unanswered: 125.45 + 20 = 145.45 s.
        #expect(disconnects.prefix(2).map(\.side) == [.client, .server])
        #expect(disconnects.prefix(2).map(\.time) == [Sim.ms(145_400), Sim.ms(145_450)])
        #expect(disconnects.prefix(2).map(\.reason) == ["ping timeout", "ping timeout"])
        // The client reconnects once the stall lifts and stays connected.
        let connects = Sim.events(result.events, .connect, side: .client)
        #expect(connects.map(\.detail) == ["socket.io /", "reconnected after 1 attempts"], "one connect each, at the namespace's")
        #expect(connects.allSatisfy { $0.time < Sim.ms(150_500) })
        #expect(disconnects.count == 2)
    }

    @Test("blackhole: both sides detect at the protocol's instants, reconnects back off 1, 2, 4, 5 s, then succeed")
    func blackhole() {
        let phase = SimulationPhase(at: .seconds(110), duration: .seconds(190), conditions: .both([.blackhole(BlackholeCondition())]),
                                    note: "outage")
        let result = Simulation(Sim.configuration(duration: .seconds(400), phases: [phase], randomization: 0)).run()
        let events = result.events
        let disconnects = Sim.events(events, .disconnect)
        #expect(disconnects.prefix(2).map(\.side) == [.client, .server])
        #expect(disconnects.prefix(2).map(\.time) == [Sim.ms(145_400), Sim.ms(145_450)])
        #expect(disconnects.prefix(2).map(\.reason) == ["ping timeout", "ping timeout"])

        // Each attempt's upgrade request is lost; its connect timeout (20 s) fails it, then the
        // backoff: 1 s after the drop, then 2, 4, 5, 5... after each failure.
        let attempts = Sim.events(events, .reconnectAttempt)
        #expect(attempts.map(\.attempt) == Array(1...8))
        #expect(attempts.map(\.time) == [146_400, 168_400, 192_400, 217_400, 242_400, 267_400, 292_400, 317_400].map(Sim.ms))
        let failures = Sim.events(events, .disconnect, side: .client).dropFirst().map(\.time)
        #expect(failures == attempts.dropLast().map { $0.time + .seconds(20) })
        let gaps = zip(failures, attempts.dropFirst()).map { $1.time - $0 }
        #expect(gaps == [2, 4, 5, 5, 5, 5, 5].map { TimeSpan.seconds(Double($0)) })
        // Each failed attempt logs one connect_error, as socket.io-client emits one (Error("timeout"))
        // and as the live client logs it (both run SocketIOClientStack); the close is the disconnect above.
        let errors = Sim.events(events, .connectError).compactMap(\.reason)
        #expect(errors == Array(repeating: "connect timeout", count: 7))

        // The eighth attempt (317.4 s) goes through the healed link: open at 317.5 s, namespace at 317.6 s.
        let connects = Sim.events(events, .connect, side: .client)
        #expect(connects.last?.time == Sim.ms(317_600) && !connects.contains { $0.time == Sim.ms(317_500) })
        #expect(connects.last?.detail == "reconnected after 8 attempts")
        // And heartbeats resume: the first ping of the new session 25 s after its open (317.45 s).
        #expect(Sim.times(events, .ping, side: .server).contains(Sim.ms(342_450)))
        #expect(Sim.events(events, .disconnect, side: .server).count == 1, "attempts never reached the server")
    }
}
