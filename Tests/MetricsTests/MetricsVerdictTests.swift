import Metrics
import Scenario
import Testing
import LabCore

/// Expectations evaluated into verdicts with the bound beside the measured value.
@Suite struct MetricsVerdictTests {
    typealias F = MetricsFixture

    /// Dead 100–200 s; c1 detects it after 25 s, drops falsely at 300 s (6 an hour: the score halves to
    /// 100 × 496/500 / 2 = 49.6); 2 of 3 ticks arrive.
    static let metrics = RunMetrics.compute(events: [
        F.event(0, .connect), F.event(0, .connect, .server),
        F.event(125, .disconnect, reason: "ping timeout"),
        F.event(201, .connect, .server), F.event(201, .connect),
        F.event(300, .disconnect, reason: "transport close"),
        F.event(302, .connect, .server), F.event(303, .connect),
        F.event(400, .messageSent, .server, detail: "tick"), F.event(400.1, .messageReceived, detail: "tick"),
        F.event(401, .messageSent, .server, detail: "tick"),
        F.event(402, .messageSent, .server, detail: "tick"), F.event(402.1, .messageReceived, detail: "tick"),
    ], truth: F.truth([F.period(100, 200, .dead)], duration: 600), duration: .seconds(600))

    @Test func everyExpectationInOrder() {
        let expectations = Expectations(falseDisconnects: 0, detectionWithin: .seconds(45), deliveryAtLeast: 0.999,
                                        stabilityAtLeast: 75)
        #expect(expectations.verdicts(for: Self.metrics) == [
            Verdict(name: "falseDisconnects", bound: "<= 0", measured: "1", passed: false),
            Verdict(name: "detectionWithin", bound: "<= 45s", measured: "max 25s over 1 detection, 0 missed", passed: true),
            Verdict(name: "deliveryAtLeast", bound: ">= 99.9%", measured: "66.67% (2/3)", passed: false),
            Verdict(name: "stabilityAtLeast", bound: ">= 75", measured: "49.6", passed: false),
        ])
    }

    @Test func theWorkedExampleOfTheDocs() {
        let o = Self.metrics.overall
        #expect(o.uptime == 521.0 / 600)
        #expect(o.availableUptime == 496.0 / 500)
        #expect(o.reconnectTimes.map { [$0.min, $0.max] } == [F.s(3), F.s(76)])
        #expect(o.falseDisconnectsPerHour == 6)
        #expect(o.missedDetections == 0)
    }

    @Test func onlyTheSetExpectationsAreJudged() {
        #expect(Expectations().verdicts(for: Self.metrics).isEmpty)
        #expect(Expectations(falseDisconnects: 1).verdicts(for: Self.metrics)
                == [Verdict(name: "falseDisconnects", bound: "<= 1", measured: "1", passed: true)])
    }

    @Test func slowDetectionFails() {
        #expect(Expectations(detectionWithin: .seconds(20)).verdicts(for: Self.metrics)
                == [Verdict(name: "detectionWithin", bound: "<= 20s", measured: "max 25s over 1 detection, 0 missed", passed: false)])
        // Exactly at the bound passes.
        #expect(Expectations(detectionWithin: .seconds(25)).verdicts(for: Self.metrics).map(\.passed) == [true])
    }

    @Test func missedDetectionsLongerThanTheBoundFail() {
        // Two blackholes nobody noticed: 30 s (shorter than the 45 s bound) and 2 minutes.
        let m = RunMetrics.compute(events: [F.event(0, .connect)],
                                   truth: F.truth([F.period(100, 130, .dead), F.period(300, 420, .dead)], duration: 600),
                                   duration: .seconds(600))
        #expect(Expectations(detectionWithin: .seconds(45)).verdicts(for: m) == [Verdict(
            name: "detectionWithin", bound: "<= 45s",
            measured: "no detections, 2 missed (1 longer than the bound)", passed: false)])
        #expect(Expectations(detectionWithin: .seconds(120)).verdicts(for: m).map(\.passed) == [true])
    }

    /// An expectation with nothing to judge says so and fails, unless the scenario marks it optional
    /// (it once passed silently: "no messages judged").
    @Test func anExpectationWithNothingToJudgeFailsUnlessOptional() {
        let m = RunMetrics.compute(events: [F.event(0, .connect)], truth: F.truth([], duration: 60), duration: .seconds(60))
        let strict = Expectations(detectionWithin: .seconds(45), deliveryAtLeast: 0.999).verdicts(for: m)
        #expect(strict == [
            Verdict(name: "detectionWithin", bound: "<= 45s",
                    measured: "nothing to judge: the link never went dead while a client was connected; mark it optional in expect.optional if that is expected",
                    passed: false, judged: false),
            Verdict(name: "deliveryAtLeast", bound: ">= 99.9%",
                    measured: "nothing to judge: no message was sent outside dead periods (0 excluded); mark it optional in expect.optional if that is expected",
                    passed: false, judged: false),
        ])
        let lenient = Expectations(detectionWithin: .seconds(45), deliveryAtLeast: 0.999, optional: ["deliveryAtLeast", "detectionWithin"])
            .verdicts(for: m)
        #expect(lenient.map(\.passed) == [true, true] && lenient.map(\.judged) == [false, false])
        #expect(lenient[1].measured == "nothing to judge: no message was sent outside dead periods (0 excluded) (optional)")
        // Nobody connected: no false disconnect and no stability to speak of.
        let nobody = RunMetrics.compute(events: [], truth: F.truth([], duration: 60), duration: .seconds(60))
        let none = Expectations(falseDisconnects: 0, stabilityAtLeast: 50).verdicts(for: nobody)
        #expect(none.map(\.judged) == [false, false] && none.map(\.passed) == [false, false], "\(none)")
    }

    @Test func numberTexts() {
        #expect(MetricText.decimal(85.5012, places: 1) == "85.5")
        #expect(MetricText.decimal(75, places: 1) == "75")
        #expect(MetricText.decimal(-0.25, places: 2) == "-0.25")
        #expect(MetricText.decimal(0.0004, places: 2) == "0")
        #expect(MetricText.percent(0.9995) == "99.95%")
        #expect(MetricText.seconds(.milliseconds(12_500)) == "12.5s")
        #expect(MetricText.seconds(.microseconds(1_500)) == "0.002s")
    }
}
