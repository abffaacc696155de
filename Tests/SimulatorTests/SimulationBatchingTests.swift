import Heartbeat
import LabCore
import Metrics
@testable import Simulator
import Testing

/// Batched ticks (`SimulationConfiguration.batchesTicks`) are an optimisation, not a model: with
/// them on and off, the same configuration must give the same logged events and the same counters.
@Suite("Simulation: batched ticks equal one event per tick")
struct SimulationBatchingTests {
    /// Size-only ticks, message events counted but not logged: the batching applies.
    static func configuration(seed: UInt64, baseline: LinkConditions, phases: [SimulationPhase],
                              connections: Int = 6, duration: TimeSpan = .seconds(900)) -> SimulationConfiguration {
        var workload = SimulationWorkload(serverEmitInterval: .milliseconds(500), serverEmitSize: 300,
                                          clientEmitInterval: .seconds(7))
        workload.encodesServerEvents = false
        return SimulationConfiguration(
            seed: seed, connections: connections, duration: duration, connectSpacing: .milliseconds(137),
            server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)),
            baseline: baseline, phases: phases, workload: workload, recording: .withoutMessages)
    }

    static func both(_ configuration: SimulationConfiguration) -> (batched: SimulationResult, exact: SimulationResult) {
        var exact = configuration
        exact.batchesTicks = false
        return (Simulation(configuration).run(), Simulation(exact).run())
    }

    static let rough: [SimulationPhase] = [
        SimulationPhase(at: .seconds(60), duration: .seconds(40), conditions: .both([.stall(StallCondition())]),
                        probability: 0.5, note: "roaming"),
        SimulationPhase(at: .seconds(200), duration: .seconds(90),
                        conditions: .both([.blackhole(BlackholeCondition())]), note: "outage"),
        SimulationPhase(at: .seconds(400), duration: .seconds(200),
                        conditions: LinkConditions(downstream: [.bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 400)))]),
                        note: "thin pipe"),
        SimulationPhase(at: .seconds(650), duration: .seconds(30),
                        conditions: .both([.stall(StallCondition(duration: .seconds(12)))]), note: "timed stall"),
    ]

    @Test("jitter, stalls, an outage, a thin pipe: identical logs and counters", arguments: [UInt64(1), 2, 3])
    func identical(seed: UInt64) {
        let configuration = Self.configuration(
            seed: seed, baseline: .latency(.milliseconds(40), jitter: .milliseconds(30)), phases: Self.rough)
        let (batched, exact) = Self.both(configuration)
        #expect(exact.counters.messagesSent > 5_000)
        #expect(exact.counters.serverDisconnects > 0, "the outage is detected")
        #expect(batched.counters == exact.counters)
        #expect(batched.jsonLines == exact.jsonLines)
    }

    @Test("loss and an idle-timeout middlebox: identical logs and counters")
    func lossAndMiddlebox() {
        let configuration = Self.configuration(
            seed: 9,
            baseline: .both([.latency(LatencyCondition(latency: .milliseconds(30))),
                             .loss(LossCondition(model: .bernoulli(probability: 0.02)))]),
            phases: [SimulationPhase(at: .seconds(100), duration: .seconds(300),
                                     conditions: .both([.idleTimeout(IdleTimeoutCondition(after: .seconds(20)))]),
                                     note: "middlebox")])
        let (batched, exact) = Self.both(configuration)
        #expect(exact.counters.packetsDropped == 0)
        #expect(batched.counters == exact.counters)
        #expect(batched.jsonLines == exact.jsonLines)
    }

    @Test("the batching is off where a tick could be observed: logged messages, a health check")
    func offWhenObservable() {
        var logged = Self.configuration(seed: 1, baseline: .latency(.milliseconds(20)), phases: [])
        logged.recording = .all
        #expect(!SimulationEngine(configuration: logged).batchesTicks)
        var watched = Self.configuration(seed: 1, baseline: .latency(.milliseconds(20)), phases: [])
        watched.useDashboard(.before)
        #expect(!SimulationEngine(configuration: watched).batchesTicks)
        #expect(SimulationEngine(configuration: Self.configuration(seed: 1, baseline: .none, phases: [])).batchesTicks)
    }
}

/// Size-only ticks (`SimulationWorkload.encodesServerEvents` false) skip building and parsing the
/// tick's JSON only: the same configuration gives the same event log and counters either way,
/// with message events logged and a dashboard's application layer watching the traffic.
@Suite("Simulation: size-only ticks equal encoded ones")
struct SimulationSizedTickTests {
    @Test("logged messages, a health check and custom ping, stalls and loss: identical logs",
          arguments: [UInt64(4), 5])
    func identical(seed: UInt64) {
        var configuration = SimulationBatchingTests.configuration(
            seed: seed,
            baseline: .both([.latency(LatencyCondition(latency: .milliseconds(30), jitter: .milliseconds(20))),
                             .loss(LossCondition(model: .gilbertElliott(p: 0.02, r: 0.3, lossInBad: 1, lossInGood: 0)))]),
            phases: SimulationBatchingTests.rough, connections: 4, duration: .seconds(600))
        configuration.recording = .all
        configuration.useDashboard(.before)
        var encoded = configuration
        encoded.workload.encodesServerEvents = true
        var sized = configuration
        sized.workload.encodesServerEvents = false
        let a = Simulation(encoded).run()
        let b = Simulation(sized).run()
        #expect(a.counters.messagesReceived > 2_000)
        #expect(a.counters.clientDisconnects > 0, "the dashboard's health check flaps")
        #expect(a.counters == b.counters)
        #expect(a.jsonLines == b.jsonLines)
    }
}

/// `RunMetrics.compute` reads the compact log (`SimulationEventLog` as a collection) exactly as it
/// reads an array of the same events.
@Suite("Simulation: metrics from the compact log")
struct SimulationLogMetricsTests {
    @Test func theCompactLogAndTheEventArrayGiveTheSameMetrics() {
        var configuration = SimulationBatchingTests.configuration(
            seed: 3, baseline: .latency(.milliseconds(40), jitter: .milliseconds(30)),
            phases: SimulationBatchingTests.rough, connections: 5, duration: .seconds(900))
        configuration.recording = .all
        let result = Simulation(configuration).run()
        let truth = GroundTruth(periods: [LinkPeriod(start: .seconds(200), end: .seconds(290), kind: .dead)],
                                toleratedStall: .seconds(10), duration: .seconds(900))
        let fromLog = RunMetrics.compute(events: result.log, truth: truth, duration: .seconds(900))
        let fromArray = RunMetrics.compute(events: result.events, truth: truth, duration: .seconds(900))
        #expect(fromLog.overall.detections > 0)
        #expect(fromLog.overall.delivery.sent > 1_000)
        #expect(fromLog == fromArray)
        #expect(Array(result.log) == result.events)
    }
}
