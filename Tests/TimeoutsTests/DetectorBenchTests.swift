import Heartbeat
import LabCore
import Testing
@testable import Timeouts

@Suite struct DetectorBenchTests {
    private func point(_ family: DetectorFamily, _ knob: Double, mistakes: Double, td: Double) -> CurvePoint {
        CurvePoint(trace: "t", family: family, knob: knob, qos: DetectorQoS(
            detectionMean: td, detectionP99: td, detectionMax: td, mistakesPerHour: mistakes, mistakes: Int(mistakes),
            mistakeDuration: mistakes > 0 ? 0.5 : nil, queryAccuracy: 1, observed: 3600))
    }

    @Test func readOutsTakeTheBestPointWithinTheTarget() {
        let points = [point(.fixed, 1, mistakes: 10, td: 1), point(.fixed, 2, mistakes: 2, td: 2), point(.fixed, 4, mistakes: 0, td: 4)]
        #expect(DetectorBench.detectionTime(atMost: 0, in: points) == 4)
        #expect(DetectorBench.detectionTime(atMost: 5, in: points) == 2)
        #expect(DetectorBench.mistakeRate(detectingWithin: 2.5, in: points) == 2)
        #expect(DetectorBench.mistakeRate(detectingWithin: 0.5, in: points) == nil)
    }

    @Test func dominanceComparesAtEqualOrFewerMistakes() {
        let challenger = DetectorFamily.challenger
        let other: DetectorFamily = challenger == .fixed ? .phi : .fixed
        let theirs = [point(other, 1, mistakes: 10, td: 1), point(other, 2, mistakes: 0, td: 4)]
        let better = theirs + [point(challenger, 1, mistakes: 8, td: 1), point(challenger, 2, mistakes: 0, td: 3)]
        let result = try! #require(DetectorBench.dominance(better).first { $0.other == other })
        #expect(result.dominates)
        #expect(result.worstRatio == 1 && result.bestRatio == 0.75)
        // Never reaching their zero-mistake point is not dominance, whatever else it does.
        let worse = theirs + [point(challenger, 1, mistakes: 1, td: 0.5)]
        let missed = try! #require(DetectorBench.dominance(worse).first { $0.other == other })
        #expect(!missed.dominates)
        #expect(missed.worstRatio == .infinity)
    }

    /// A setting that suspects a live peer most of the time is left out of the comparison: its zero
    /// detection time would be unbeatable by any useful detector.
    @Test func dominanceLeavesOutSettingsThatAreMostlyWrong() {
        let challenger = DetectorFamily.challenger
        let other: DetectorFamily = challenger == .fixed ? .phi : .fixed
        var degenerate = point(other, 0.05, mistakes: 3, td: 0)
        degenerate.qos.queryAccuracy = 0.02
        let points = [degenerate, point(other, 2, mistakes: 0, td: 4), point(challenger, 2, mistakes: 0, td: 3)]
        let result = try! #require(DetectorBench.dominance(points).first { $0.other == other })
        #expect(result.compared == 1 && result.dominates)
        var all = points
        all[0].qos.queryAccuracy = 1
        #expect(!(DetectorBench.dominance(all).first { $0.other == other }!.dominates), "kept, the zero detection time is unbeatable")
    }

    @Test func csvHasTheDocumentedColumnsQuotesNamesAndLeavesAbsentDurationsEmpty() {
        var p = point(.fixed, 1.5, mistakes: 0, td: 2)
        p.trace = "a,\"b\""
        let csv = DetectorBench.csv([p])
        let lines = csv.split(separator: "\n")
        #expect(lines[0] == "trace,detector,knob,td_mean_s,td_p99_s,td_max_s,mistakes_per_hour,mistake_duration_s,query_accuracy")
        #expect(lines[1] == "\"a,\"\"b\"\"\",fixed,1.5,2,2,2,0,,1")
    }

    /// Every family sweeps from eager (many mistakes) to patient (none), and a more patient
    /// setting never detects sooner, except Jacobson/Karels at its most eager: there RFC 6298's
    /// back-off after each false suspicion doubles the timeout, so fewer mistakes mean a shorter
    /// mean timeout (a property of the detector, which its curve shows).
    @Test func curvesAreMonotoneInTheKnob() {
        let trace = TraceGenerator(period: .seconds(1), duration: .seconds(1800), seed: 3).trace(.lognormalJitter)
        let curves = DetectorBench(crashes: 100).curves(for: trace)
        for family in DetectorFamily.allCases {
            let mine = curves.filter { $0.family == family }
            #expect(mine.count == family.knobs.count, "\(family)")
            for (a, b) in zip(mine, mine.dropFirst()) where family != .jacobsonKarels || a.qos.mistakes == 0 {
                #expect(b.qos.mistakes <= a.qos.mistakes, "\(family) \(a.knob) → \(b.knob)")
                #expect(b.qos.detectionMean >= a.qos.detectionMean - 1e-9, "\(family) \(a.knob) → \(b.knob): \(a.qos.mistakes) → \(b.qos.mistakes) mistakes")
            }
            #expect(mine.first!.qos.mistakes > mine.last!.qos.mistakes, "\(family) sweeps from eager to patient")
            #expect(mine.last!.qos.mistakes == 0, "\(family) reaches no mistakes")
        }
    }
}
