import LabCore
import Scenario
import Testing

/// `server: pause` and `clients: { timerAlignment: … }` phases: parsing and the merged pause ranges
/// (the throttling rule is tested in LabCoreTests, the ground truth in MetricsTests).
@Suite struct ScenarioPauseThrottleTests {
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

    @Test func phasesParseIntoPausesAndAThrottle() throws {
        let scenario = try Scenario.parse(yaml: Self.yaml, source: "t.yaml")
        #expect(scenario.phases[0].serverPause && scenario.phases[0].conditions.isEmpty)
        #expect(scenario.phases[1].serverPause && !scenario.phases[1].conditions.isEmpty)
        #expect(scenario.phases[3].clientTimerAlignment == .seconds(60) && !scenario.phases[3].serverPause)
        // 1m, 6m, 11m, 16m (3 s each) and the two overlapping ones merged into 2m..2m40s.
        #expect(scenario.serverPauses == [
            TimeSpan.seconds(60)..<TimeSpan.seconds(63), TimeSpan.seconds(120)..<TimeSpan.seconds(160), TimeSpan.seconds(360)..<TimeSpan.seconds(363),
            TimeSpan.seconds(660)..<TimeSpan.seconds(663), TimeSpan.seconds(960)..<TimeSpan.seconds(963),
        ])
        #expect(scenario.clientTimerThrottle.windows == [.init(range: TimeSpan.seconds(600)..<TimeSpan.seconds(1200), alignment: .seconds(60))])
    }
}
