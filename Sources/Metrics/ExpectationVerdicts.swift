import LabCore
import Scenario

/// One expectation of a scenario, evaluated: the bound as written beside what the run measured,
/// ready for the summary table, summary.json and a JUnit test case.
public struct Verdict: Sendable, Hashable, Codable {
    /// The expectation's key in the scenario file: falseDisconnects, detectionWithin,
    /// deliveryAtLeast or stabilityAtLeast.
    public var name: String
    /// The bound, e.g. "<= 0", "<= 45s", ">= 99.9%", ">= 75".
    public var bound: String
    /// What the run showed, e.g. "3", "max 12.5s over 2 detections, 0 missed", "99.95% (1999/2000)".
    public var measured: String
    /// Whether the expectation holds. An expectation the run gave nothing to judge holds only if
    /// the scenario marks it optional.
    public var passed: Bool
    /// Whether the run gave the expectation anything to judge (a dead period to detect, a message
    /// to deliver, connected time); false: `measured` says what was missing.
    public var judged: Bool

    /// Creates a verdict.
    public init(name: String, bound: String, measured: String, passed: Bool, judged: Bool = true) {
        self.name = name
        self.bound = bound
        self.measured = measured
        self.passed = passed
        self.judged = judged
    }

    private enum CodingKeys: String, CodingKey { case name, bound, measured, passed, judged }

    /// Decodes a verdict; one written before `judged` existed was judged.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        bound = try c.decode(String.self, forKey: .bound)
        measured = try c.decode(String.self, forKey: .measured)
        passed = try c.decode(Bool.self, forKey: .passed)
        judged = try c.decodeIfPresent(Bool.self, forKey: .judged) ?? true
    }

    /// An expectation with nothing to judge: it fails, saying what was missing, unless `optional`.
    static func nothingToJudge(_ name: String, bound: String, missing: String, optional: Bool) -> Verdict {
        Verdict(name: name, bound: bound,
                measured: "nothing to judge: \(missing)" + (optional ? " (optional)" : "; mark it optional in expect.optional if that is expected"),
                passed: optional, judged: false)
    }
}

extension Expectations {
    /// The verdicts of the expectations that are set, in the order falseDisconnects,
    /// detectionWithin, deliveryAtLeast, stabilityAtLeast, missedEventsAtMost (`Expectations.names`);
    /// all are judged on `metrics.overall`.
    ///
    /// - falseDisconnects: counted false disconnects ≤ N.
    /// - detectionWithin: every counted detection's time ≤ the bound, and no missed detection of a
    ///   dead period that lasted longer than the bound (a shorter one ended before a detector held
    ///   to the bound had to fire).
    /// - deliveryAtLeast: delivered / judged sends ≥ the fraction (with a broadcast stream,
    ///   delivered / produced events).
    /// - missedEventsAtMost: broadcast events missed ≤ N.
    /// - stabilityAtLeast: the stability score ≥ the bound.
    ///
    /// An expectation the run gives nothing to judge (no connected time for falseDisconnects and
    /// stabilityAtLeast, no dead period for detectionWithin, no judged send for deliveryAtLeast)
    /// says so, and fails unless it is in `optional`.
    public func verdicts(for metrics: RunMetrics) -> [Verdict] {
        let o = metrics.overall
        var result: [Verdict] = []
        /// The verdict of `name`: not judged, saying why, when `missing` is set; else measured.
        func judge(_ name: String, bound: String, unless missing: String?, _ measure: () -> (measured: String, passed: Bool)) {
            if let missing {
                result.append(.nothingToJudge(name, bound: bound, missing: missing, optional: optional.contains(name)))
            } else {
                let (measured, passed) = measure()
                result.append(Verdict(name: name, bound: bound, measured: measured, passed: passed))
            }
        }
        let nobodyConnected = o.connectedTime > .zero ? nil : "no client was ever connected"
        if let limit = falseDisconnects {
            judge("falseDisconnects", bound: "<= \(limit)", unless: nobodyConnected) { ("\(o.falseDisconnects)", o.falseDisconnects <= limit) }
        }
        if let bound = detectionWithin {
            let judged = (o.detectionTimes?.count ?? 0) + metrics.missedDetections.count > 0
            judge("detectionWithin", bound: "<= \(MetricText.seconds(bound))",
                  unless: judged ? nil : "the link never went dead while a client was connected") {
                let times = o.detectionTimes
                let failingMisses = metrics.missedDetections.filter { $0.period.length > bound }.count
                let count = times?.count ?? 0
                var measured = times.map { "max \(MetricText.seconds($0.max)) over \(count) detection\(count == 1 ? "" : "s")" }
                    ?? "no detections"
                measured += ", \(metrics.missedDetections.count) missed"
                if failingMisses != metrics.missedDetections.count {
                    measured += " (\(failingMisses) longer than the bound)"
                }
                return (measured, (times?.max ?? .zero) <= bound && failingMisses == 0)
            }
        }
        if let fraction = deliveryAtLeast {
            let bound = ">= \(MetricText.percent(fraction))"
            if let b = o.broadcast {
                // With a broadcast stream, delivery is judged against what the server produced, so
                // a client that was away for an event missed it.
                judge("deliveryAtLeast", bound: bound,
                      unless: b.ratio == nil ? "no broadcast event was produced while a client was connected" : nil) {
                    ("\(MetricText.percent(b.ratio ?? 0)) of the broadcast events produced (\(b.delivered)/\(b.produced); "
                        + "\(b.missedWhileDisconnected) missed while disconnected)", (b.ratio ?? 0) >= fraction)
                }
            } else {
                let d = o.delivery
                judge("deliveryAtLeast", bound: bound,
                      unless: d.ratio == nil ? "no message was sent outside dead periods (\(d.excluded) excluded)" : nil) {
                    ("\(MetricText.percent(d.ratio ?? 0)) (\(d.received)/\(d.sent))", (d.ratio ?? 0) >= fraction)
                }
            }
        }
        if let score = stabilityAtLeast {
            judge("stabilityAtLeast", bound: ">= \(MetricText.decimal(score, places: 1))", unless: nobodyConnected) {
                (MetricText.decimal(o.stability, places: 1), o.stability >= score)
            }
        }
        if let limit = missedEventsAtMost {
            let b = o.broadcast
            let missing = b == nil ? "the scenario has no workload.broadcast"
                : b!.produced == 0 ? "no broadcast event was produced while a client was connected" : nil
            judge("missedEventsAtMost", bound: "<= \(limit)", unless: missing) {
                let b = b ?? BroadcastCount()
                return ("\(b.missed) (\(b.missedWhileDisconnected) while disconnected, at most \(b.mostMissedInOneDisconnect) in one disconnect)",
                        b.missed <= limit)
            }
        }
        return result
    }
}

/// Deterministic number formatting for verdicts and summaries (no locale, no Foundation).
public enum MetricText {
    /// `value` rounded to `places` decimals, trailing zeros removed: 99.95, 75, 0.5.
    public static func decimal(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<max(places, 0) { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let negative = value < 0 && scaled > 0
        guard scaled < 9e15 else { return "\(value)" }
        let integer = Int64(scaled)
        let factor = Int64(scale)
        var text = "\(integer / factor)"
        var fraction = integer % factor
        if fraction > 0 {
            var digits = ""
            var width = places
            while width > 0 {
                digits = "\(fraction % 10)" + digits
                fraction /= 10
                width -= 1
            }
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return negative ? "-" + text : text
    }

    /// A fraction as a percentage with up to two decimals: 0.9995 → "99.95%".
    public static func percent(_ fraction: Double) -> String { decimal(fraction * 100, places: 2) + "%" }

    /// A duration in seconds with up to three decimals: "12.5s", "0.012s".
    public static func seconds(_ span: TimeSpan) -> String { decimal(span.seconds, places: 3) + "s" }
}
