import Foundation
import LabCore
import Testing
@testable import Timeouts

@Suite struct LearnTests {
    private func samples(_ distribution: Distribution, _ count: Int, seed: UInt64) -> [Double] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in distribution.sample(using: &rng) }
    }

    @Test func theGeneralizedParetoFitRecoversShapeAndScale() throws {
        var rng = SeededGenerator(seed: 11)
        for (shape, scale) in [(0.3, 2.0), (0.0, 0.5), (-0.2, 1.0)] {
            let truth = GeneralizedPareto(shape: shape, scale: scale)
            let draws = (0..<5000).map { _ in truth.excess(exceededWith: rng.nextOpenUnit()) }
            let fit = try #require(GeneralizedPareto.fit(draws))
            #expect(abs(fit.shape - shape) < 0.06, "ξ \(shape): fitted \(fit.shape)")
            #expect(abs(fit.scale / scale - 1) < 0.08, "σ \(scale): fitted \(fit.scale)")
        }
        #expect(GeneralizedPareto.fit([1, 1]) == nil)
    }

    /// Lognormal RTTs with known median and p99: every quantile's interval, empirical and tail fit
    /// alike, holds the true value, and the tail fit reaches past the largest sample.
    @Test func aLognormalsQuantilesAreRecoveredWithinTheirIntervals() throws {
        let truth = try Distribution.lognormal(median: 0.040, p99: 0.180)
        let fit = try #require(FittedDistribution.fit(samples(truth, 4000, seed: 5), seed: 9))
        #expect(fit.count == 4000)
        #expect(abs(exp(fit.lognormalMu) / 0.040 - 1) < 0.05)
        for q in fit.quantiles {
            let real = truth.quantile(q.level)
            #expect(q.estimate.contains(real), "p\(q.level): \(real) outside \(q.estimate)")
        }
        let deep = try #require(fit.quantiles.first { $0.level == 0.9999 })
        #expect(deep.estimate.method == "tail fit")
        let again = try #require(FittedDistribution.fit(samples(truth, 4000, seed: 5), seed: 9))
        #expect(again == fit, "the same samples and seed give the same intervals")
    }

    @Test func tooFewSamplesSayNotAFigureToActOn() throws {
        let truth = try Distribution.lognormal(median: 0.040, p99: 0.180)
        #expect(FittedDistribution.fit(samples(truth, 9, seed: 1), seed: 1) == nil)
        let few = try #require(FittedDistribution.fit(samples(truth, 60, seed: 1), seed: 1))
        let deep = try #require(few.quantiles.first { $0.level == 0.999 })
        #expect(deep.estimate.caveat != nil, "\(deep.estimate)")
        let median = try #require(few.quantiles.first { $0.level == 0.5 })
        #expect(median.estimate.caveat == nil && median.estimate.method == "empirical")
    }

    /// The textbook interval for a median of 12 samples is [x₍₃₎, x₍₁₀₎] (coverage 96.1 %); the
    /// normal approximation takes over above 5,000 samples.
    @Test func orderStatisticIntervalsUseBinomialRanks() throws {
        let twelve = try #require(orderStatisticRanks(n: 12, level: 0.5, confidence: 0.95))
        #expect(twelve == (3, 10))
        #expect(orderStatisticRanks(n: 12, level: 0.99, confidence: 0.95) == nil, "12 samples do not bound a p99 from above")
        let large = try #require(orderStatisticRanks(n: 10_000, level: 0.5, confidence: 0.95))
        #expect(abs(large.0 - 4902) <= 1 && abs(large.1 - 5099) <= 1, "\(large)")
    }

    @Test func poissonIntervalsAreGarwoods() {
        let none = PoissonRate.estimate(events: 0, exposure: 1, unit: "hour")
        #expect(none.lower == 0 && abs(none.upper - 3.689) < 0.04 && none.caveat != nil)
        let ten = PoissonRate.estimate(events: 10, exposure: 2, unit: "hour")
        #expect(ten.value == 5 && abs(ten.lower - 4.795 / 2) < 0.05 && abs(ten.upper - 18.39 / 2) < 0.1)
        #expect(ten.caveat == nil)
        #expect(PoissonRate.estimate(events: 3, exposure: 0, unit: "hour").caveat == "no exposure to judge")
    }

    /// Heartbeats every second with small jitter, and stalls at known times: a Poisson process of
    /// 6 per hour with lognormal lengths (median 10 s, p99 30 s). The learned rate and median
    /// length hold the truth within their intervals.
    @Test func theStallProcessIsRecoveredFromGaps() throws {
        var rng = SeededGenerator(seed: 21)
        let length = try Distribution.lognormal(median: 10, p99: 30)
        let hours = 20.0
        var arrivals: [Instant] = []
        var nextStall = -log(rng.nextOpenUnit()) * 600
        var stallEnd = -1.0
        var sent = 0.0
        while sent < hours * 3600 {
            if sent >= nextStall {
                stallEnd = sent + length.sample(using: &rng)
                nextStall = stallEnd - log(rng.nextOpenUnit()) * 600
            }
            let arrival = max(sent, stallEnd) + 0.02 + 0.01 * rng.nextUnit()
            if let last = arrivals.last, Int64(arrival * 1e9) < last.nanoseconds { arrivals.append(last) } else {
                arrivals.append(Instant(nanoseconds: Int64(arrival * 1e9)))
            }
            sent += 1
        }
        var observations = Observations()
        observations.traces = [ArrivalTrace(name: "beats", arrivals: arrivals)]
        let model = LearnedModel.learn(from: observations, sources: ["beats"], seed: 2)
        let stalls = try #require(model.stalls)
        #expect(stalls.episodes > 80)
        #expect(stalls.rate.contains(6), "\(stalls.rate)")
        #expect(abs(stalls.exposureHours - hours) < 0.01)
        let duration = try #require(stalls.duration)
        let median = try #require(duration.quantiles.first { $0.level == 0.5 })
        #expect(median.estimate.contains(10), "\(median.estimate)")
        #expect(try #require(model.period) == 1 || abs(model.period! - 1) < 0.011)
    }

    /// A connection that drops and reconnects has no heartbeats in between: that silence is not a
    /// stall of the link, so each connected stretch is its own trace.
    @Test func heartbeatsDoNotSpanADisconnect() throws {
        var lines: [String] = []
        for t in 0..<60 { lines.append(#"{"t":\#(t),"conn":"c1","side":"server","type":"pong","rtt_ms":10}"#) }
        lines.append(#"{"t":60.5,"conn":"c1","side":"server","type":"disconnect","reason":"ping timeout"}"#)
        for t in 120..<180 { lines.append(#"{"t":\#(t),"conn":"c1","side":"server","type":"pong","rtt_ms":10}"#) }
        let observations = try TraceReader.eventLog(Array((lines.joined(separator: "\n") + "\n").utf8), file: "events.jsonl")
        #expect(observations.traces.map(\.name) == ["events.jsonl:c1/server pongs", "events.jsonl:c1#2/server pongs"])
        let model = LearnedModel.learn(from: observations, sources: ["events.jsonl"])
        #expect(model.stalls?.episodes == 0 && model.traces == 2)
        #expect(model.disconnects.first?.reason == "server: ping timeout")
    }

    @Test func observationsFromSampleFilesNameTheLineOfABadValue() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-learn-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("rtts.csv")
        try Data("# from production\nhost,rtt_ms\na,40\nb,41.5\n".utf8).write(to: csv)
        let read = try TraceReader.observe(csv.path)
        #expect(read.rtts["rtts.csv"] == [0.040, 0.0415] && read.traces.isEmpty)
        try Data("host,rtt_ms\na,40\nb,fast\n".utf8).write(to: csv)
        #expect(throws: TraceReadError(file: csv.path, line: 3, message: "rtt_ms \"fast\": expected a number >= 0")) {
            try TraceReader.observe(csv.path)
        }
        try Data("host,latency\na,40\n".utf8).write(to: csv)
        #expect(throws: TraceReadError.self) { try TraceReader.observe(csv.path) }
        let json = dir.appendingPathComponent("samples.json")
        try Data(#"{"rtt_s": [0.1, 0.2], "arrival_s": [0, 1, 2]}"#.utf8).write(to: json)
        let both = try TraceReader.observe(json.path)
        #expect(both.rtts["samples.json"] == [0.1, 0.2] && both.traces.first?.arrivals.count == 3)
        try Data(#"{"rtt_s": [0.1, -1]}"#.utf8).write(to: json)
        #expect(throws: TraceReadError(file: json.path, message: "field rtt_s[1]: expected a number >= 0")) {
            try TraceReader.observe(json.path)
        }
    }
}
