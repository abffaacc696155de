import Foundation
import Heartbeat
import LabCore

/// A detector kind with its knob, the one setting the bench sweeps to trade detection time for
/// mistakes: Heartbeat's `DetectorChoice.Kind`, with the bench's sweeps. Every family is built for
/// the trace's heartbeat period, so each is compared at its best settings for that period, not at
/// defaults made for another.
public typealias DetectorFamily = DetectorChoice.Kind

extension DetectorChoice.Kind {
    /// The family the others are measured against: Flatline's adaptive detector.
    public static let challenger = DetectorFamily.adaptive

    /// The knob values swept, from the most eager to the most patient setting; durations (a fixed
    /// timeout, Chen's margin, the adaptive detector's price) in heartbeat periods.
    public var knobs: [Double] {
        switch self {
        case .fixed: Self.geometric(from: 1.02, to: 200, count: 48)
        case .jacobsonKarels: Self.geometric(from: 0.25, to: 256, count: 48)
        case .phi: Self.geometric(from: 0.05, to: 200, count: 48)
        case .chen: [0] + Self.geometric(from: 0.005, to: 200, count: 47)
        case .bertier: [0] + Self.geometric(from: 0.05, to: 500, count: 47)
        case .adaptive: Self.geometric(from: 0.5, to: 1e7, count: 48)
        }
    }

    /// The knob's meaning, for tables ("timeout / period").
    public var knobName: String {
        switch self {
        case .fixed: "timeout/period"
        case .jacobsonKarels: "K"
        case .phi: "threshold"
        case .chen: "alpha/period"
        case .bertier: "phi"
        case .adaptive: "price/period"
        }
    }

    /// A fresh detector of this family with `knob` (durations in periods), for heartbeats every
    /// `period`, built as `DetectorChoice.make` builds it; nil for a knob the detector rejects.
    public func make(knob: Double, period: TimeSpan) -> (any FailureDetector)? {
        let value = knobIsDuration ? knob * Double(max(period.nanoseconds, 1)) / 1e9 : knob
        return try? DetectorChoice(kind: self, knob: value).make(period: period)
    }

    static func geometric(from low: Double, to high: Double, count: Int) -> [Double] {
        (0..<count).map { low * pow(high / low, Double($0) / Double(count - 1)) }
    }
}

/// One point of a detector's trade-off curve: a knob value and the QoS it achieved on a trace.
public struct CurvePoint: Sendable, Hashable {
    /// The trace's name.
    public var trace: String
    /// The detector family.
    public var family: DetectorFamily
    /// The knob value.
    public var knob: Double
    /// What it achieved.
    public var qos: DetectorQoS
}

/// How Flatline's adaptive detector compares with one other family on one trace, on mean detection
/// time against mistake rate: for each of the other's points, the adaptive detector's best mean
/// detection time at no more mistakes, as a ratio (below 1: faster).
public struct DominanceResult: Sendable, Hashable {
    /// The trace.
    public var trace: String
    /// The family compared with.
    public var other: DetectorFamily
    /// The largest ratio over the other's points (infinite when the adaptive detector cannot reach
    /// a mistake rate the other reaches); nil when the other has no finite point.
    public var worstRatio: Double?
    /// The smallest ratio.
    public var bestRatio: Double?
    /// Points compared.
    public var compared: Int

    /// The tolerance on "no worse": the knob grids' resolution, 1 %.
    public static let tolerance = 0.01

    /// No worse anywhere (within the tolerance) and better by more than it somewhere.
    public var dominates: Bool {
        guard let worstRatio, let bestRatio else { return false }
        return worstRatio <= 1 + Self.tolerance && bestRatio < 1 - Self.tolerance
    }
}

/// The detector bench: every family's knob swept over every trace, scored by `DetectorQoS`, with
/// the curves, the dominance of the adaptive detector, and read-outs at fixed targets.
public struct DetectorBench: Sendable {
    /// Arrivals fed before scoring begins (the same for every detector).
    public var warmUp: Int
    /// Crash instants simulated per trace.
    public var crashes: Int
    /// The families compared.
    public var families: [DetectorFamily]

    /// Creates a bench.
    public init(warmUp: Int = 30, crashes: Int = 400, families: [DetectorFamily] = DetectorFamily.allCases) {
        self.warmUp = warmUp
        self.crashes = crashes
        self.families = families
    }

    /// Every family's curve on `trace`; empty when the trace is too short to score (see `DetectorQoS`).
    public func curves(for trace: ArrivalTrace) -> [CurvePoint] {
        guard let period = trace.medianInterval, period > .zero else { return [] }
        var points: [CurvePoint] = []
        for family in families {
            for knob in family.knobs {
                guard let detector = family.make(knob: knob, period: period),
                      let qos = DetectorQoS.score(detector, on: trace, warmUp: warmUp, crashes: crashes) else { continue }
                points.append(CurvePoint(trace: trace.name, family: family, knob: knob, qos: qos))
            }
        }
        return points
    }

    /// The best mean detection time among `points` with at most `mistakesPerHour`; nil if none has so few.
    public static func detectionTime(atMost mistakesPerHour: Double, in points: [CurvePoint]) -> Double? {
        points.filter { $0.qos.mistakesPerHour <= mistakesPerHour * (1 + 1e-12) && $0.qos.detectionMean.isFinite }
            .map(\.qos.detectionMean).min()
    }

    /// The fewest mistakes per hour among `points` whose mean detection time is at most `seconds`;
    /// nil if none detects that fast.
    public static func mistakeRate(detectingWithin seconds: Double, in points: [CurvePoint]) -> Double? {
        points.filter { $0.qos.detectionMean <= seconds * (1 + 1e-12) }.map(\.qos.mistakesPerHour).min()
    }

    /// The least query accuracy of a setting the dominance compares: a setting that wrongly
    /// suspects a live peer more than 1 % of the time is one nobody deploys, and on (detection time,
    /// mistake rate) alone a detector that suspects almost always would score a detection time of
    /// zero with a few long, merged mistakes, a point no useful detector can beat.
    public static let usefulQueryAccuracy = 0.99

    /// The adaptive detector against each other family present in `points` (one trace's curves),
    /// over the settings with at least `usefulQueryAccuracy`.
    public static func dominance(_ points: [CurvePoint]) -> [DominanceResult] {
        let points = points.filter { $0.qos.queryAccuracy >= usefulQueryAccuracy }
        let adaptive = points.filter { $0.family == DetectorFamily.challenger }
        guard let trace = points.first?.trace, !adaptive.isEmpty else { return [] }
        var results: [DominanceResult] = []
        for other in DetectorFamily.allCases where other != DetectorFamily.challenger {
            let theirs = points.filter { $0.family == other && $0.qos.detectionMean.isFinite }
            guard !theirs.isEmpty else { continue }
            var worst = -Double.infinity
            var best = Double.infinity
            for point in theirs {
                let ours = detectionTime(atMost: point.qos.mistakesPerHour, in: adaptive) ?? .infinity
                let ratio: Double = point.qos.detectionMean > 0 ? ours / point.qos.detectionMean : (ours > 0 ? .infinity : 1)
                worst = max(worst, ratio)
                best = min(best, ratio)
            }
            results.append(DominanceResult(trace: trace, other: other, worstRatio: worst, bestRatio: best, compared: theirs.count))
        }
        return results
    }

    /// The curves as CSV with the columns
    /// `trace,detector,knob,td_mean_s,td_p99_s,td_max_s,mistakes_per_hour,mistake_duration_s,query_accuracy`;
    /// a mistake duration with no mistake to measure is left empty.
    public static func csv(_ points: [CurvePoint]) -> String {
        var out = "trace,detector,knob,td_mean_s,td_p99_s,td_max_s,mistakes_per_hour,mistake_duration_s,query_accuracy\n"
        for p in points {
            let q = p.qos
            let fields = [
                csvField(p.trace), p.family.rawValue, number(p.knob), number(q.detectionMean), number(q.detectionP99),
                number(q.detectionMax), number(q.mistakesPerHour), q.mistakeDuration.map(number) ?? "", number(q.queryAccuracy),
            ]
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func number(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return String(format: "%.6g", value)
    }
}
