import LabCore
import Testing

/// `server: pause` and `clients: { timerAlignment: … }` phases: parsing, the merged pause ranges,
/// the throttling rule shared by the simulator and the live client, and the ground truth.
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

    @Test("a throttled timer runs at the next multiple of the alignment, or when the window ends")
    func throttleRule() {
        let throttle = TimerThrottle(windows: [.init(range: TimeSpan.seconds(60)..<TimeSpan.seconds(200), alignment: .seconds(60))])
        #expect(throttle.deadline(.seconds(30)) == .seconds(30), "before the window: on time")
        #expect(throttle.deadline(.seconds(61)) == .seconds(120))
        #expect(throttle.deadline(.seconds(120)) == .seconds(120), "already aligned")
        #expect(throttle.deadline(.milliseconds(120_001)) == .seconds(180))
        #expect(throttle.deadline(.seconds(190)) == .seconds(200), "the tab is shown again at 200 s")
        #expect(throttle.deadline(.seconds(250)) == .seconds(250), "after the window: on time")
        #expect(TimerThrottle().deadline(.seconds(61)) == .seconds(61))
    }

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
