import Metrics
import Scenario
import Testing
import LabCore

/// Shorthands for the metrics tests: events and periods in seconds.
enum MetricsFixture {
    static func s(_ value: Double) -> TimeSpan { .seconds(value) }

    static func event(_ t: Double, _ kind: EventKind, _ side: EventSide = .client, conn: String = "c1",
                      reason: String? = nil, rttMs: Double? = nil, detail: String? = nil) -> LabEvent {
        LabEvent(time: .seconds(t), connection: conn, side: side, kind: kind, reason: reason,
                 rtt: rttMs.map { .seconds($0 / 1000) }, detail: detail)
    }

    static func period(_ start: Double, _ end: Double, _ kind: LinkPeriod.Kind, _ direction: LinkDirection? = nil,
                       conn: String? = nil) -> LinkPeriod {
        LinkPeriod(start: .seconds(start), end: .seconds(end), kind: kind, direction: direction, connection: conn)
    }

    /// A truth with a 10 s tolerated stall over a run of `duration` seconds.
    static func truth(_ periods: [LinkPeriod], tolerated: Double = 10, duration: Double = 600) -> GroundTruth {
        GroundTruth(periods: periods, toleratedStall: .seconds(tolerated), duration: .seconds(duration))
    }
}

/// Ground truth: usable, stalled and dead instants, the tolerated-stall boundary, merging.
@Suite struct MetricsGroundTruthTests {
    typealias F = MetricsFixture

    @Test func usableOutsideEveryPeriod() {
        let truth = F.truth([F.period(100, 130, .dead)])
        #expect(truth.state(at: F.s(99.999), connection: "c1") == .usable)
        #expect(truth.state(at: F.s(130), connection: "c1") == .usable)
        #expect(truth.classify(disconnectAt: F.s(50), connection: "c1") == .falseDisconnect)
    }

    @Test func blackholeIsDeadFromItsStart() {
        let truth = F.truth([F.period(100, 130, .dead)])
        #expect(truth.state(at: F.s(100), connection: "c1") == .dead(since: F.s(100)))
        #expect(truth.classify(disconnectAt: F.s(100), connection: "c1")
                == .detection(detectionTime: .zero, deadSince: F.s(100)))
        #expect(truth.classify(disconnectAt: F.s(145.5), connection: "c1") == .falseDisconnect)
        #expect(truth.classify(disconnectAt: F.s(112.5), connection: "c1").detectionTime == F.s(12.5))
    }

    @Test func stallBoundaryIsExactlyTheToleratedStall() {
        let truth = F.truth([F.period(60, 90, .stall)])
        let justBefore = F.s(70) - .nanoseconds(1)
        #expect(truth.state(at: justBefore, connection: "c1") == .stalled(since: F.s(60)))
        #expect(truth.classify(disconnectAt: justBefore, connection: "c1") == .falseDisconnect)
        // Silence that has lasted exactly the tolerated stall is dead; the time counts from the stall's start.
        #expect(truth.classify(disconnectAt: F.s(70), connection: "c1")
                == .detection(detectionTime: F.s(10), deadSince: F.s(60)))
        #expect(truth.deadPeriods(connection: "c1")
                == [DeadPeriod(start: F.s(60), deadFrom: F.s(70), end: F.s(90), endsWithRun: false)])
    }

    @Test func stallNoLongerThanToleratedNeverTurnsDead() {
        let truth = F.truth([F.period(60, 70, .stall)])
        #expect(truth.deadPeriods(connection: "c1").isEmpty)
        #expect(truth.classify(disconnectAt: F.s(69.9), connection: "c1") == .falseDisconnect)
    }

    @Test func directionsMergeIntoOneSilence() {
        // Upstream stalls 0–6 s, downstream 4–12 s: silent for 12 s, dead from 10 s.
        let truth = F.truth([F.period(0, 6, .stall, .upstream), F.period(4, 12, .stall, .downstream)])
        #expect(truth.classify(disconnectAt: F.s(11), connection: "c1")
                == .detection(detectionTime: F.s(11), deadSince: .zero))
        #expect(truth.state(at: F.s(11), connection: "c1", direction: .upstream) == .usable)
        #expect(truth.state(at: F.s(11), connection: "c1", direction: .downstream) == .stalled(since: F.s(4)))
    }

    @Test func stallLeadingIntoBlackholeCountsFromTheSilencesStart() {
        let truth = F.truth([F.period(100, 105, .stall), F.period(105, 200, .dead)])
        #expect(truth.state(at: F.s(103), connection: "c1") == .stalled(since: F.s(100)))
        #expect(truth.classify(disconnectAt: F.s(130), connection: "c1").detectionTime == F.s(30))
        #expect(truth.deadPeriods(connection: "c1").map(\.deadFrom) == [F.s(105)])
    }

    @Test func periodsForOneConnectionLeaveOthersAlone() {
        let truth = F.truth([F.period(10, 50, .dead, conn: "c2")])
        #expect(truth.isDead(at: F.s(20), connection: "c2"))
        #expect(!truth.isDead(at: F.s(20), connection: "c1"))
        #expect(truth.deadTime(connection: "c2") == F.s(40))
    }

    @Test func periodsAreCutToTheRun() {
        let truth = F.truth([F.period(500, 900, .dead)], duration: 600)
        #expect(truth.deadPeriods(connection: "c1")
                == [DeadPeriod(start: F.s(500), deadFrom: F.s(500), end: F.s(600), endsWithRun: true)])
    }

    @Test func scenarioTimelineBecomesPeriods() throws {
        let scenario = try Scenario.parse(yaml: """
            name: truth
            duration: 30m
            server: { builtin: socketio }
            clients: { count: 2, builtin: socketio }
            toleratedStall: 12s
            phases:
              - { at: 5m, for: 8s, both: stall, note: roaming }
              - { at: 10m, for: 1m, upstream: { stall: 20s } }
              - { at: 12m, for: 2m, both: { loss: 1% } }
              - { at: 25m, until: end, downstream: blackhole, note: outage }
            """)
        let truth = GroundTruth(scenario: scenario)
        #expect(truth.toleratedStall == F.s(12))
        #expect(truth.duration == F.s(1800))
        // The 8 s roaming stall is survivable; the 20 s stall turns dead after 12 s; loss is usable.
        #expect(truth.classify(disconnectAt: F.s(307), connection: "c1") == .falseDisconnect)
        #expect(truth.classify(disconnectAt: F.s(615), connection: "c2").detectionTime == F.s(15))
        #expect(truth.classify(disconnectAt: F.s(620), connection: "c2") == .falseDisconnect)
        #expect(truth.state(at: F.s(780), connection: "c1") == .usable)
        #expect(truth.classify(disconnectAt: F.s(1530), connection: "c1").detectionTime == F.s(30))
        #expect(truth.deadPeriods(connection: "c7").map(\.start) == [F.s(600), F.s(1500)])
        #expect(truth.deadPeriods(connection: "c7").last?.endsWithRun == true)
    }
}
