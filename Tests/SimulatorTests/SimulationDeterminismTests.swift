import Heartbeat
import LabCore
@testable import Simulator
import Testing

/// Determinism by seed (DESIGN.md, principle 4) and the link schedule as the only source of delay
/// (principle 1).
@Suite("Simulation: determinism and the link model")
struct SimulationDeterminismTests {
    static func jittery(seed: UInt64) -> SimulationConfiguration {
        SimulationConfiguration(
            seed: seed, connections: 5, duration: .seconds(600),
            server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)),
            baseline: .latency(.milliseconds(40), jitter: .milliseconds(30)),
            phases: [
                SimulationPhase(at: .seconds(100), duration: .seconds(30), conditions: .both([.stall(StallCondition())]),
                                probability: 0.6, note: "roaming"),
                SimulationPhase(at: .seconds(300), duration: .seconds(120),
                                conditions: .both([.blackhole(BlackholeCondition())]), note: "outage"),
            ],
            workload: SimulationWorkload(serverEmitInterval: .milliseconds(500), serverEmitSize: 200,
                                         clientEmitInterval: .seconds(10)))
    }

    @Test("the same seed gives byte-identical JSON lines; another seed does not")
    func sameSeedSameLog() {
        let a = Simulation(Self.jittery(seed: 42)).run()
        let b = Simulation(Self.jittery(seed: 42)).run()
        let c = Simulation(Self.jittery(seed: 43)).run()
        #expect(a.log.count > 1_000)
        #expect(a.jsonLines == b.jsonLines)
        #expect(a.counters == b.counters)
        #expect(a.jsonLines != c.jsonLines)
        // Every line reads back as the event it came from.
        let lines = a.jsonLines.split(separator: "\n")
        #expect(lines.count == a.log.count)
        #expect(lines.prefix(50).allSatisfy { (try? LabEvent(jsonLine: String($0))) != nil })
    }

    @Test("limits that do not bite leave the log byte for byte; a budget or a stop cuts it where it is")
    func limitsCutTheRunShort() {
        let whole = Simulation(Self.jittery(seed: 42)).run()
        let loose = Simulation(Self.jittery(seed: 42)).run(limits: SimulationLimits(eventBudget: 10_000_000, stop: { false }))
        #expect(whole.cut == nil && loose.cut == nil)
        #expect(loose.jsonLines == whole.jsonLines, "stepping under limits changes nothing")

        let budget = 1_000
        let tight = Simulation(Self.jittery(seed: 42)).run(limits: SimulationLimits(eventBudget: budget))
        guard case .overBudget(let at, let events, let opened)? = tight.cut else {
            Issue.record("not cut by its budget: \(String(describing: tight.cut))"); return
        }
        #expect(events == tight.log.count && events > budget)
        #expect(at < .seconds(600) && opened >= 5)
        #expect(whole.jsonLines.hasPrefix(tight.jsonLines), "the cut log is the whole log's beginning")

        let stopped = Simulation(Self.jittery(seed: 42)).run(limits: SimulationLimits(stop: { true }))
        guard case .stopped(let when)? = stopped.cut else { Issue.record("not stopped: \(String(describing: stopped.cut))"); return }
        #expect(when < .seconds(600))
        #expect(stopped.log.count < whole.log.count && whole.jsonLines.hasPrefix(stopped.jsonLines))
    }

    @Test("the workload's messages are sent, delivered and logged on both sides")
    func workloadFlows() {
        let result = Simulation(SimulationConfiguration(
            seed: 1, connections: 2, duration: .seconds(60), baseline: .latency(.milliseconds(10)),
            workload: SimulationWorkload(serverEmitInterval: .milliseconds(500), serverEmitSize: 512,
                                         clientEmitInterval: .seconds(5)))).run()
        let events = result.events
        // Connected at 40 ms; ticks every 500 ms after 30 ms (the server's join): 119 within 60 s.
        let ticks = events.filter { $0.kind == .messageSent && $0.detail == "tick" && $0.connection == "c1" }
        #expect(ticks.count == 119)
        let received = events.filter { $0.kind == .messageReceived && $0.detail == "tick" && $0.connection == "c1" }
        #expect(received.map(\.time) == ticks.map { $0.time + .milliseconds(10) })
        // Echo with ack: the server receives it, emits it back and acks it.
        #expect(events.contains { $0.kind == .messageReceived && $0.side == .server && $0.detail == "echo" })
        #expect(events.contains { $0.kind == .messageReceived && $0.side == .client && $0.detail == "ack" })
        #expect(result.counters.messagesSent > 0)
        #expect(result.counters.messagesSent == events.filter { $0.kind == .messageSent }.count)
        #expect(result.counters.messagesReceived == events.filter { $0.kind == .messageReceived }.count)
    }

    @Test("ping/pong RTT is the sum of the downstream and upstream latencies the link schedule drew")
    func rttFromLinkSchedule() {
        let latency = Condition.latency(LatencyCondition(latency: .milliseconds(60), jitter: .milliseconds(25)))
        let configuration = SimulationConfiguration(
            seed: 99, connections: 1, duration: .seconds(1_000),
            server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)),
            baseline: .both([latency]))
        let result = Simulation(configuration).run()
        let rtts = Sim.events(result.events, .pong).compactMap(\.rtt)
        #expect(rtts.count >= 30)

        // Replay the draws: transport 0's links, packets in the order the simulator admits them.
        // Downstream: 101, open, CONNECTED, then one ping per cycle; upstream: request, CONNECT, pongs.
        let random = SeededGenerator(seed: 99, stream: [0, 0]).derived(0x6c696e6b, 0)
        var links = ConnectionSchedule(openedAt: .zero, random: random)
        links.upstream.setConditions([ActiveCondition(name: "baseline.upstream.0.latency", condition: latency, since: .zero)])
        links.downstream.setConditions([ActiveCondition(name: "baseline.downstream.0.latency", condition: latency, since: .zero)])
        func draw(_ direction: LinkDirection, _ i: Int) -> TimeSpan {
            // Far apart, so no-overtaking never clamps; the size does not change a latency draw.
            let at = Instant.zero + .seconds(Double(10_000 * (i + 1)))
            guard case .deliver(let d, _) = links[direction].admit(bytes: 10, at: at) else { return .zero }
            return d[0].at - at
        }
        var down: [TimeSpan] = []
        var up: [TimeSpan] = []
        for i in 0..<(rtts.count + 3) { down.append(draw(.downstream, i)) }
        for i in 0..<(rtts.count + 2) { up.append(draw(.upstream, i)) }
        let expected = (0..<rtts.count).map { down[$0 + 3] + up[$0 + 2] }
        #expect(rtts == expected)
        #expect(Set(rtts).count > 1, "jitter makes RTTs differ")
        #expect(rtts.allSatisfy { $0 >= .milliseconds(70) && $0 <= .milliseconds(170) })
    }

    @Test("an idle-timeout middlebox shorter than the ping interval closes both sides; a reset closes both at once")
    func middlebox() {
        let idle = SimulationConfiguration(
            seed: 3, connections: 1, duration: .seconds(120),
            server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)),
            reconnection: ReconnectionOptions(randomizationFactor: 0),
            baseline: .both([.latency(LatencyCondition(latency: .milliseconds(10))),
                             .idleTimeout(IdleTimeoutCondition(after: .seconds(20)))]))
        let events = Simulation(idle).run().events
        let disconnects = Sim.events(events, .disconnect)
        // Last traffic: CONNECTED leaves the server at 30 ms; idle 20 s later the middlebox closes.
        #expect(disconnects.prefix(2).map(\.time) == [Sim.ms(20_030), Sim.ms(20_030)])
        #expect(disconnects.prefix(2).map(\.reason) == ["transport close", "transport close"])
        #expect(Sim.events(events, .reconnectAttempt).first?.time == Sim.ms(21_030))
    }

    @Test("a middlebox that forgets idle connections: nobody is told, both sides' heartbeats find out")
    func middleboxEviction() {
        // The eviction's idle timeout stays due once it fired: before the link pump, the transport
        // re-planned it at the same instant forever and this run never ended.
        let nat = SimulationConfiguration(
            seed: 3, connections: 1, duration: .seconds(120),
            server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)),
            reconnection: ReconnectionOptions(randomizationFactor: 0),
            baseline: .both([.latency(LatencyCondition(latency: .milliseconds(10))),
                             .idleTimeout(IdleTimeoutCondition(after: .seconds(20), action: .blackhole))]))
        let result = Simulation(nat).run()
        let disconnects = Sim.events(result.events, .disconnect)
        // Evicted at 20.03 s, 20 s after the last traffic: the server's ping at 25.01 s is lost, its
        // ping timeout comes 20 s later, and the client's 45 s after its open. The reconnected
        // connection goes the same way.
        #expect(disconnects.map(\.time) == [Sim.ms(45_010), Sim.ms(45_020), Sim.ms(91_030), Sim.ms(91_040)])
        #expect(disconnects.map(\.reason) == ["ping timeout", "ping timeout", "ping timeout", "ping timeout"])
        #expect(disconnects.map(\.side) == [.server, .client, .server, .client])
        #expect(result.counters.packetsDropped == 3)
    }
}

@Suite("Simulation: size-only workload")
struct SimulationSizedWorkloadTests {
    @Test("size-only ticks give the same link-level run as encoded ones: same sizes, same heartbeat and message events")
    func sizedMatchesEncoded() {
        func run(encoded: Bool) -> SimulationResult {
            var workload = SimulationWorkload(serverEmitInterval: .milliseconds(500), serverEmitSize: 512)
            workload.encodesServerEvents = encoded
            return Simulation(SimulationConfiguration(
                seed: 5, connections: 3, duration: .seconds(300),
                baseline: .both([.latency(LatencyCondition(latency: .milliseconds(30), jitter: .milliseconds(20))),
                                 .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 20_000)))]),
                phases: [SimulationPhase(at: .seconds(100), duration: .seconds(40),
                                         conditions: .both([.stall(StallCondition())]))],
                workload: workload)).run()
        }
        let encoded = run(encoded: true)
        let sized = run(encoded: false)
        #expect(encoded.counters.messagesSent > 1_000)
        #expect(sized.jsonLines == encoded.jsonLines)
        #expect(sized.counters == encoded.counters)
    }
}
