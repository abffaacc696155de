import LabCore
import Metrics
import Scenario
import Testing

/// The ground truth of `server: pause` and `clients: { timerAlignment: … }` phases.
@Suite struct MetricsPauseThrottleTests {
    /// The scenario of ScenarioTests' ScenarioPauseThrottleTests.
    static let yaml = """
        name: t
        duration: 20m
        server: { builtin: socketio }
        clients: { builtin: socketio }
        toleratedStall: 10s
        phases:
          - { at: 1m, for: 3s, every: 5m, server: pause, note: gc }
          - { at: 2m, for: 20s, server: pause, both: { latency: 50ms } }
          - { at: 130s, for: 30s, server: pause }
          - { at: 10m, until: end, clients: { timerAlignment: 1m }, note: hidden }
        """

    @Test("a paused server is a stall of both directions to the ground truth")
    func groundTruthSeesPausesAsStalls() throws {
        let scenario = try Scenario.parse(yaml: Self.yaml, source: "t.yaml")
        let truth = GroundTruth(scenario: scenario)
        #expect(truth.state(at: .seconds(30), connection: "c1") == .usable)
        #expect(truth.state(at: .seconds(61), connection: "c1") == .stalled(since: .seconds(60)))
        // 2m..2m40s: stalled for the tolerated 10 s, dead after.
        #expect(truth.state(at: .seconds(125), connection: "c1") == .stalled(since: .seconds(120)))
        #expect(truth.state(at: .seconds(135), connection: "c1") == .dead(since: .seconds(120)))
        #expect(truth.state(at: .seconds(165), connection: "c1") == .usable)
        // Timer throttling leaves the link usable.
        #expect(truth.state(at: .seconds(700), connection: "c1") == .usable)
    }
}
