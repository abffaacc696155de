import Foundation
import LabCore

/// What replaying scenarios with the recommended settings achieved (`flatline recommend --validate`).
public struct ValidationResult: Sendable, Hashable {
    /// Simulated runs, over all scenarios and seeds.
    public var runs: Int
    /// Connection-hours simulated.
    public var connectionHours: Double
    /// False disconnects counted in them.
    public var falseDisconnects: Int
    /// The connection-hours needed to support the objective with no false disconnect at 95 %
    /// (about 3 / objective, the rule of three).
    public var neededConnectionHours: Double
    /// Dead-network replays run (each scenario with an outage to its end).
    public var outageRuns: Int
    /// The worst detection time of the dead network, seconds; nil when no outage was replayed.
    public var worstDetection: Double?
    /// Outages never detected.
    public var missedDetections: Int
    /// The scenarios replayed.
    public var scenarios: [String]
    /// Why it did not pass, or what it could not judge.
    public var notes: [String]
    /// The live replays, when asked for (`--live`); nil otherwise.
    public var live: LiveValidation?

    /// What the live replays achieved: each scenario run once on loopback with the settings applied,
    /// time-scaled, its network dead from the second half to the end. Times are the scenario's own
    /// (the scaled ones divided by the scale). Too short to support a rate by itself, it checks that
    /// the real components do what the simulation predicted: no false disconnect, every death
    /// detected in time.
    public struct LiveValidation: Sendable, Hashable {
        /// The time scale the runs used.
        public var timeScale: Double
        /// Live runs.
        public var runs: Int = 0
        /// Connection-hours, in scenario time.
        public var connectionHours: Double = 0
        /// False disconnects counted.
        public var falseDisconnects: Int = 0
        /// The worst detection of the dead network, scenario seconds; nil when none was measured.
        public var worstDetection: Double?
        /// Deaths never detected.
        public var missedDetections: Int = 0
        /// The runs' results folders.
        public var folders: [String] = []

        /// An empty result at `timeScale`.
        public init(timeScale: Double) { self.timeScale = timeScale }

        /// No false disconnect, and every death detected within the objective's bound.
        public func passed(_ objective: TimeoutObjective) -> Bool {
            guard runs > 0, falseDisconnects == 0, missedDetections == 0, let worstDetection else { return false }
            return worstDetection <= objective.detectWithin
        }
    }

    /// Creates a result.
    public init(runs: Int = 0, connectionHours: Double = 0, falseDisconnects: Int = 0, neededConnectionHours: Double = 0,
                outageRuns: Int = 0, worstDetection: Double? = nil, missedDetections: Int = 0, scenarios: [String] = [],
                notes: [String] = []) {
        self.runs = runs
        self.connectionHours = connectionHours
        self.falseDisconnects = falseDisconnects
        self.neededConnectionHours = neededConnectionHours
        self.outageRuns = outageRuns
        self.worstDetection = worstDetection
        self.missedDetections = missedDetections
        self.scenarios = scenarios
        self.notes = notes
    }

    /// The one-sided 95 % upper bound on a rate of `events` in `hours` (Garwood).
    public static func upperRate(_ events: Int, hours: Double) -> Double {
        PoissonRate.chiSquareQuantile(0.95, degrees: 2 * Double(events) + 2) / 2 / hours
    }

    /// The connection-hours without a false disconnect that support `maxFalsePerHour` (about 3 over it).
    public static func neededHours(_ maxFalsePerHour: Double) -> Double {
        PoissonRate.chiSquareQuantile(0.95, degrees: 2) / 2 / maxFalsePerHour
    }

    /// Whether the replay supports the objective: enough connection-hours, no more false
    /// disconnects than the objective allows in them, every outage detected within the bound.
    public func passed(_ objective: TimeoutObjective) -> Bool {
        guard runs > 0, connectionHours >= neededConnectionHours else { return false }
        // The one-sided 95 % Poisson upper bound of the replay's false-disconnect rate meets the objective.
        guard Self.upperRate(falseDisconnects, hours: connectionHours) <= objective.maxFalsePerHour * (1 + 1e-9) else { return false }
        guard outageRuns > 0, let worstDetection, missedDetections == 0 else { return false }
        if let live, !live.passed(objective) { return false }
        return worstDetection <= objective.detectWithin
    }
}

extension Recommendation {
    /// `recommendation.json` (docs/recommend.md).
    public func json(validated: ValidationResult, sources: [String]) -> JSONValue {
        func n(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? JSONValue.number($0) : .null } ?? .null }
        func estimate(_ e: Estimate) -> JSONValue {
            .object(["value": n(e.value), "lower": n(e.lower), "upper": n(e.upper), "caveat": e.caveat.map { .string($0) } ?? .null])
        }
        var root: JSONObject = ["format": .string("flatline-recommendation"), "version": .integer(1)]
        root["stack"] = .string(stack.rawValue)
        root["sources"] = .array(sources.map { .string($0) })
        var o: JSONObject = ["max_false_per_hour": n(objective.maxFalsePerHour), "detect_within_s": n(objective.detectWithin),
                             "tolerate_stall_s": n(objective.tolerateStall)]
        o["max_pings_per_minute"] = n(objective.maxPingsPerMinute)
        o["idle_timeout_s"] = n(objective.idleTimeout)
        root["objective"] = .object(o)
        root["feasible"] = .bool(feasible)
        if let chosen {
            var settings = JSONObject()
            for (key, value) in stack.settings(interval: chosen.interval, timeout: chosen.timeout, tolerateStall: objective.tolerateStall) {
                settings[key] = .string(value)
            }
            root["settings"] = .object(settings)
            root["set"] = .array(stack.setLines(interval: chosen.interval, timeout: chosen.timeout, tolerateStall: objective.tolerateStall).map { .string($0) })
            root["predicted"] = .object([
                "false_per_hour": estimate(chosen.falsePerHour),
                "detection_mean_s": .object(["value": n(chosen.detectionMean), "lower": n(chosen.detectionMean),
                                             "upper": n(chosen.detectionMean + rttMargin)]),
                "detection_max_s": .object(["value": n(chosen.detectionMax), "lower": n(chosen.detectionMax), "upper": n(chosen.detectionMax + rttMargin)]),
                "rtt_margin_s": n(rttMargin),
            ])
        } else {
            root["settings"] = .null
            root["set"] = .array([])
            root["predicted"] = .null
        }
        root["binding"] = .string(binding)
        root["problems"] = .array(problems.map { .string($0) })
        root["curve"] = .array(curve.map { p in
            .object(["interval_s": n(p.interval), "timeout_s": n(p.timeout), "false_per_hour": estimate(p.falsePerHour),
                     "detection_max_s": n(p.detectionMax), "detection_mean_s": n(p.detectionMean)])
        })
        root["validated"] = .object([
            "runs": .integer(Int64(validated.runs)), "connection_hours": n(validated.connectionHours),
            "needed_connection_hours": n(validated.neededConnectionHours),
            "false_disconnects": .integer(Int64(validated.falseDisconnects)),
            "outage_runs": .integer(Int64(validated.outageRuns)),
            "worst_detection_s": n(validated.worstDetection), "missed_detections": .integer(Int64(validated.missedDetections)),
            "scenarios": .array(validated.scenarios.map { .string($0) }),
            "notes": .array(validated.notes.map { .string($0) }),
            "live": validated.live.map { live in
                .object(["time_scale": n(live.timeScale), "runs": .integer(Int64(live.runs)),
                         "connection_hours": n(live.connectionHours), "false_disconnects": .integer(Int64(live.falseDisconnects)),
                         "worst_detection_s": n(live.worstDetection), "missed_detections": .integer(Int64(live.missedDetections)),
                         "results": .array(live.folders.map { .string($0) }), "passed": .bool(live.passed(objective))])
            } ?? .null,
            "passed": .bool(feasible && validated.passed(objective)),
        ])
        return .object(root)
    }

    /// The plain explanation: what to set, why, what is predicted and what the replay achieved.
    public func explanation(validated: ValidationResult) -> String {
        func s(_ x: Double) -> String { Recommender.fmt(x) + " s" }
        func e(_ x: Estimate) -> String {
            let upper = x.upper.isFinite ? String(format: "%.3g", x.upper) : "unbounded"
            var text = "\(String(format: "%.3g", x.value)) per connection-hour (interval \(String(format: "%.3g", x.lower)) – \(upper))"
            if let caveat = x.caveat { text += "; \(caveat)" }
            return text
        }
        var out = "# Recommendation for \(stack.rawValue)\n\n"
        out += "Objective: at most \(Recommender.rate(objective.maxFalsePerHour)), a dead network detected within \(s(objective.detectWithin)), stalls up to \(s(objective.tolerateStall)) survived"
        if let p = objective.maxPingsPerMinute { out += ", at most \(Recommender.fmt(p)) pings a minute" }
        if let i = objective.idleTimeout { out += ", a middlebox idle timeout of \(s(i))" }
        out += ".\n\n"
        if feasible, let chosen {
            out += "Set (\(stack.rawValue)):\n\n```\n\(stack.snippet(interval: chosen.interval, timeout: chosen.timeout, tolerateStall: objective.tolerateStall))\n```\n\n"
            out += "Why: \(binding).\n\n"
        } else {
            out += "**Infeasible.** " + problems.joined(separator: "; ") + ".\n\n"
            if let chosen {
                out += "Closest trade-off: interval \(s(chosen.interval)), timeout \(s(chosen.timeout)): detection up to \(s(chosen.detectionMax)), \(e(chosen.falsePerHour)).\n\n"
            }
        }
        if let chosen {
            out += "Predicted: false disconnects \(e(chosen.falsePerHour)); dead-network detection mean \(s(chosen.detectionMean)), worst \(s(chosen.detectionMax)) (round-trip margin \(s(rttMargin))).\n\n"
            out += "Scenario overrides:\n\n" + stack.setLines(interval: chosen.interval, timeout: chosen.timeout, tolerateStall: objective.tolerateStall)
                .map { "    --set '\($0)'" }.joined(separator: "\n") + "\n\n"
        }
        if !curve.isEmpty {
            out += "Trade-off at interval \(s(curve[0].interval)):\n\n| timeout | false per connection-hour | detection worst |\n|---|---|---|\n"
            for p in curve {
                out += "| \(s(p.timeout)) | \(String(format: "%.3g", p.falsePerHour.value)) (≤ \(p.falsePerHour.upper.isFinite ? String(format: "%.3g", p.falsePerHour.upper) : "∞")) | \(s(p.detectionMax)) |\n"
            }
            out += "\n"
        }
        out += "Validation by replay: "
        if validated.runs == 0 {
            out += "none (\(validated.notes.joined(separator: "; "))).\n"
        } else {
            out += "\(validated.runs) simulated runs of \(validated.scenarios.joined(separator: ", ")), \(String(format: "%.0f", validated.connectionHours)) connection-hours (\(String(format: "%.0f", validated.neededConnectionHours)) needed): \(validated.falseDisconnects) false disconnect\(validated.falseDisconnects == 1 ? "" : "s")"
            if let worst = validated.worstDetection {
                out += "; \(validated.outageRuns) dead-network replays, worst detection \(s((worst * 10).rounded() / 10)), \(validated.missedDetections) missed"
            }
            if let live = validated.live {
                out += "; live at time scale \(String(format: "%g", live.timeScale)): \(live.runs) run\(live.runs == 1 ? "" : "s"), "
                    + "\(String(format: "%.2f", live.connectionHours)) connection-hours, \(live.falseDisconnects) false disconnect\(live.falseDisconnects == 1 ? "" : "s")"
                if let worst = live.worstDetection { out += ", worst detection \(s((worst * 10).rounded() / 10))" }
                out += ", \(live.missedDetections) missed (\(live.passed(objective) ? "as predicted" : "NOT as predicted"))"
            }
            out += ". \(feasible && validated.passed(objective) ? "PASSED" : "NOT PASSED")"
            if !validated.notes.isEmpty { out += " (\(validated.notes.joined(separator: "; ")))" }
            out += ".\n"
        }
        return out
    }
}
