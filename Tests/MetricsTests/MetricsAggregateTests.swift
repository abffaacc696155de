import Metrics
import Testing
import LabCore

/// Monte Carlo aggregation: means and 95% t intervals over runs.
@Suite struct MetricsAggregateTests {
    typealias F = MetricsFixture

    @Test func intervalOfKnownData() throws {
        let interval = try #require(MetricInterval(name: "x", values: [1, 2, 3, 4, 5]))
        // s = √2.5, t(0.975, 4) = 2.7764: half width 2.7764 · 1.5811 / √5 = 1.9632.
        #expect(interval.count == 5)
        #expect(interval.mean == 3)
        #expect(abs(interval.standardDeviation - 2.5.squareRoot()) < 1e-12)
        #expect(abs(interval.lower - 1.0368) < 1e-4)
        #expect(abs(interval.upper - 4.9632) < 1e-4)
        #expect(abs(interval.halfWidth - 1.9632) < 1e-4)
    }

    @Test func oneValueHasNoWidthAndNoValuesNoInterval() {
        #expect(MetricInterval(name: "x", values: [7]) == MetricInterval(name: "x", count: 1, mean: 7,
                                                                        standardDeviation: 0, lower: 7, upper: 7))
        #expect(MetricInterval(name: "x", values: []) == nil)
    }

    @Test func tQuantilesMatchTheTables() {
        #expect(StudentT.quantile975(degreesOfFreedom: 1) == 12.7062)
        #expect(StudentT.quantile975(degreesOfFreedom: 30) == 2.0423)
        #expect(abs(StudentT.quantile975(degreesOfFreedom: 40) - 2.0211) < 1e-4)
        #expect(abs(StudentT.quantile975(degreesOfFreedom: 60) - 2.0003) < 1e-4)
        #expect(abs(StudentT.quantile975(degreesOfFreedom: 120) - 1.9799) < 1e-4)
        #expect(abs(StudentT.quantile975(degreesOfFreedom: 100_000) - 1.96) < 1e-4)
    }

    @Test func runsAggregateByMetric() throws {
        let truth = F.truth([F.period(50, 100, .dead)], duration: 100)
        // Run 1 detects the outage after 20 s and is open 70 of 100 s; run 2 misses it and stays up.
        let first = RunMetrics.compute(events: [F.event(0, .connect), F.event(70, .disconnect, reason: "ping timeout"),
                                                F.event(10, .pong, .server, rttMs: 4)],
                                       truth: truth, duration: .seconds(100))
        let second = RunMetrics.compute(events: [F.event(0, .connect), F.event(10, .pong, .server, rttMs: 6)],
                                        truth: truth, duration: .seconds(100))
        let intervals = RunMetrics.aggregate([first, second])
        let byName = Dictionary(uniqueKeysWithValues: intervals.map { ($0.name, $0) })
        let uptime = try #require(byName["uptime"])
        #expect(uptime.count == 2)
        #expect(abs(uptime.mean - 0.85) < 1e-12)
        // s = 0.15·√2 = 0.2121; t(1) = 12.7062: half width 12.7062 · 0.15 = 1.90593.
        #expect(abs(uptime.halfWidth - 12.7062 * 0.15) < 1e-9)
        #expect(byName["detectionTimeMeanSeconds"]?.count == 1)
        #expect(byName["detectionTimeMeanSeconds"]?.mean == 20)
        #expect(byName["missedDetections"]?.mean == 0.5)
        #expect(byName["rttP50Ms"]?.mean == 5)
        #expect(byName["delivery"] == nil)
        // Every scalar with a value in some run, in order (no delivery, reconnect or broadcast here).
        let valued = Set([first.scalars, second.scalars].flatMap { $0.filter { $0.value != nil }.map(\.name) })
        #expect(intervals.map(\.name) == first.scalars.map(\.name).filter { valued.contains($0) })
        #expect(!valued.contains("delivery") && !valued.contains("reconnectTimeMeanSeconds") && !valued.contains("missedEvents"))
        #expect(RunMetrics.aggregate([]).isEmpty)
    }
}
