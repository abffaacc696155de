import Foundation
import Heartbeat
import LabCore
import Runner
import Scenario
import Testing

/// Time scaling for live runs (`Scenario.scaled(by:)`, `flatline run --time-scale`): every duration
/// of the scenario multiplied. The live/simulated agreement itself is checked by
/// tests/interop/test_live_sim_agreement.py, which runs `flatline run` in its own process, serially:
/// a live run inside this parallel test process competes with CPU-heavy suites on 2 cores.
@Suite struct TimeScalingTests {
    static let yaml = """
    name: live-sim-agreement
    seed: 5
    duration: 12s
    server: { builtin: socketio, pingInterval: 1s, pingTimeout: 1s }
    clients: { count: 2, builtin: socketio, reconnection: { delay: 500ms, delayMax: 1s, randomization: 0 } }
    link: { both: { latency: 5ms } }
    toleratedStall: 3s
    phases:
      - { at: 3s, for: 2500ms, both: stall, note: stall shorter than tolerated }
      - { at: 7s, until: end, both: blackhole, note: outage }
    expect: { falseDisconnects: 0, detectionWithin: 3s }
    """

    @Test func timeScaleShrinksEveryDuration() throws {
        let scenario = try Scenario.parse(yaml: Self.yaml, source: "agreement.yaml").scaled(by: 0.5)
        #expect(scenario.duration == .seconds(6))
        #expect(scenario.toleratedStall == .milliseconds(1500))
        #expect(scenario.phases.map(\.at) == [.milliseconds(1500), .milliseconds(3500)])
        #expect(scenario.expectations.detectionWithin == .milliseconds(1500))
        guard case .socketIO(let server) = scenario.server else { Issue.record("not socketio"); return }
        #expect(server.pingInterval == .milliseconds(500) && server.pingTimeout == .milliseconds(500))
        #expect(scenario.link.upstream == [.latency(LatencyCondition(latency: .microseconds(2500)))])
    }

    @Test func aDetectorsDurationKnobScalesAndAPlainOneDoesNot() throws {
        let scenario = try Scenario.parse(yaml: Self.yaml, source: "agreement.yaml")
            .applying(overrides: ["server.detector={kind: adaptive, price: 1h}", "clients.detector={kind: phi, threshold: 8}"])
            .scaled(by: 0.25)
        guard case .socketIO(let server) = scenario.server, case .socketIO(let client) = scenario.clients.component else {
            Issue.record("not socketio")
            return
        }
        #expect(server.detector == DetectorChoice(kind: .adaptive, knob: 900))
        #expect(client.detector == DetectorChoice(kind: .phi, knob: 8))
    }
}
