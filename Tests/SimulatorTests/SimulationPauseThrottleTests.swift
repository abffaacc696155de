import Heartbeat
import LabCore
import Simulator
import Testing

/// A paused server (`SimulationConfiguration.serverPauses`) and throttled client timers
/// (`clientTimerThrottle`) in virtual time: exact instants on a constant 50 ms link.
@Suite("Simulation: server pauses and throttled client timers")
struct SimulationPauseThrottleTests {
    static func events(_ configuration: SimulationConfiguration) -> [LabEvent] {
        Simulation(configuration).run().events
    }

    @Test("a short pause delays the pong's reading: the RTT includes it, nothing disconnects")
    func shortPause() {
        // The server opens at 50 ms and pings at 25.05 s; the client's pong reaches it at 25.15 s,
        // during a pause from 25.12 s to 28 s: the server reads it at 28 s.
        var configuration = Sim.configuration(duration: .seconds(60))
        configuration.serverPauses = [TimeSpan.milliseconds(25_120)..<TimeSpan.seconds(28)]
        let events = Self.events(configuration)
        let pongs = Sim.events(events, .pong, side: .server)
        #expect(pongs.first?.time == .seconds(28))
        #expect(pongs.first?.rtt == .milliseconds(2_950))
        #expect(Sim.events(events, .disconnect).isEmpty)
    }

    @Test("at the end of a pause the server reads before it runs its timers")
    func readsBeforeTimers() {
        // The ping leaves at 25.05 s, the pong waits from 25.15 s; the pause (25.12 s to 50 s)
        // outlasts the server's pingTimeout (deadline 45.05 s). Reading first, the server takes the
        // pong and keeps the session: it ends only when the client, pinged last at 25.1 s, gives up
        // at 70.1 s and its FIN arrives (70.15 s, "transport close"). Running the timer first would
        // have closed the session at 50 s with "ping timeout".
        var configuration = Sim.configuration(duration: .seconds(120))
        configuration.serverPauses = [TimeSpan.milliseconds(25_120)..<TimeSpan.seconds(50)]
        let events = Self.events(configuration)
        #expect(Sim.times(events, .pong, side: .server).first == .seconds(50))
        let server = Sim.events(events, .disconnect, side: .server)
        #expect(server.first?.time == .milliseconds(70_150))
        #expect(server.first?.reason == "transport close")
        #expect(Sim.events(events, .disconnect, side: .client).first?.time == .milliseconds(70_100))
    }

    @Test("a pause longer than the client will wait is a ping timeout on the client")
    func longPause() {
        // The last ping reaches the client at 25.1 s: it waits 45 s, until 70.1 s.
        var configuration = Sim.configuration(duration: .seconds(120))
        configuration.serverPauses = [TimeSpan.seconds(30)..<TimeSpan.seconds(90)]
        let events = Self.events(configuration)
        let client = Sim.events(events, .disconnect, side: .client)
        #expect(client.first?.time == .milliseconds(70_100))
        #expect(client.first?.reason == "ping timeout")
        // The server learns of the closed socket when it resumes.
        #expect(Sim.events(events, .disconnect, side: .server).first?.time == .seconds(90))
    }

    @Test("throttled client timers: a dead link is noticed, and reconnection tried, only on the minute")
    func throttledTimers() {
        // Blackhole from 60 s; the last ping reached the client at 50.2 s (deadline 95.2 s).
        let configuration = Sim.configuration(duration: .seconds(400), phases: [
            SimulationPhase(at: .seconds(60), duration: .seconds(130), conditions: .both([.blackhole(BlackholeCondition())])),
        ])
        var throttled = configuration
        throttled.clientTimerThrottle = TimerThrottle(windows: [.init(range: TimeSpan.seconds(30)..<TimeSpan.seconds(400), alignment: .seconds(60))])
        let plain = Self.events(configuration)
        let slow = Self.events(throttled)
        #expect(Sim.times(plain, .disconnect, side: .client).first == .milliseconds(95_200))
        #expect(Sim.times(slow, .disconnect, side: .client).first == .seconds(120))
        // Every reconnection attempt waits for a minute boundary.
        let attempts = Sim.times(slow, .reconnectAttempt, side: .client)
        #expect(!attempts.isEmpty)
        #expect(attempts.allSatisfy { $0.nanoseconds % 60_000_000_000 == 0 }, "\(attempts)")
        // The link is back at 190 s. The attempt of 180 s is still in the outage; its 20 s connect
        // timeout runs at 240 s, the next attempt at 300 s: back 110 s after the link. Unthrottled,
        // the client is back within its backoff (at most 5 s) plus the handshake.
        func reconnected(_ events: [LabEvent]) -> TimeSpan? {
            events.first { $0.kind == .connect && $0.side == .client && $0.detail?.hasPrefix("reconnected") == true }?.time
        }
        #expect(reconnected(slow).map { $0 >= .seconds(300) && $0 < .seconds(301) } == true, "\(String(describing: reconnected(slow)))")
        #expect(reconnected(plain).map { $0 >= .seconds(190) && $0 < .seconds(196) } == true, "\(String(describing: reconnected(plain)))")
        // Server pings are answered from the message handler: no false disconnect before the outage.
        #expect(Sim.events(slow, .disconnect).allSatisfy { $0.time >= .seconds(60) })
    }
}

/// A slow connect under `both:` delays the one upstream connect once, not once per direction.
@Suite("Simulation: slow connect")
struct SimulationSlowConnectTests {
    @Test func aSlowConnectOnBothLinksIsWaitedForOnce() {
        var configuration = Sim.configuration(latency: .milliseconds(50), duration: .seconds(10))
        configuration.baseline = .both([.latency(LatencyCondition(latency: .milliseconds(50))),
                                        .slowConnect(SlowConnectCondition(delay: .seconds(1)))])
        let events = Simulation(configuration).run().events
        // The upgrade request leaves after 1 s (not 2 s) and takes 50 ms to reach the server.
        #expect(Sim.times(events, .connect, side: .server).first == .milliseconds(1_050))
    }
}
