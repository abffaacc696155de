import Foundation
import LabCore

/// What the user asks of their heartbeat settings (`flatline recommend`).
public struct TimeoutObjective: Sendable, Hashable {
    /// At most this many false disconnects per connection-hour.
    public var maxFalsePerHour: Double
    /// A dead network must be detected within this, seconds (the worst case over both sides).
    public var detectWithin: Double
    /// Stalls up to this long must never disconnect, seconds.
    public var tolerateStall: Double
    /// At most this many heartbeat pings per minute; nil for no limit.
    public var maxPingsPerMinute: Double?
    /// A middlebox closes a connection idle this long: the interval must stay below it; nil if none.
    public var idleTimeout: Double?
    /// The smallest ping interval the peer accepts, when it differs from the stack's default
    /// (a gRPC server configured with a lower GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS).
    public var minimumInterval: Double?

    /// Creates an objective.
    public init(maxFalsePerHour: Double, detectWithin: Double, tolerateStall: Double = 0,
                maxPingsPerMinute: Double? = nil, idleTimeout: Double? = nil, minimumInterval: Double? = nil) {
        self.minimumInterval = minimumInterval
        self.maxFalsePerHour = maxFalsePerHour
        self.detectWithin = detectWithin
        self.tolerateStall = tolerateStall
        self.maxPingsPerMinute = maxPingsPerMinute
        self.idleTimeout = idleTimeout
    }

    /// Parses a rate such as "1/1000h", "4/m", "0.5/h", "2/30s" into events per `unit` seconds.
    public static func rate(_ text: String, per unit: Double) -> Double? {
        let parts = text.replacingOccurrences(of: " ", with: "").split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let count = Double(parts[0]), count >= 0, count.isFinite else { return nil }
        var span = parts[1]
        var factor = 1.0
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("min", 60), ("h", 3600), ("d", 86_400)]
        guard let (suffix, seconds) = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { span.hasSuffix($0.0) }) else { return nil }
        span.removeLast(suffix.count)
        if !span.isEmpty {
            guard let n = Double(span), n > 0, n.isFinite else { return nil }
            factor = n
        }
        return count / (factor * seconds) * unit
    }
}

/// One point of the trade-off: settings and their predicted false disconnects and detection.
public struct TradeOffPoint: Sendable, Hashable {
    /// The heartbeat interval, seconds.
    public var interval: Double
    /// The timeout, seconds.
    public var timeout: Double
    /// Predicted false disconnects per connection-hour.
    public var falsePerHour: Estimate
    /// Predicted worst detection time of a dead network, seconds.
    public var detectionMax: Double
    /// Predicted mean detection time, seconds.
    public var detectionMean: Double
}

/// The recommendation for one stack and objective, before and after validation.
public struct Recommendation: Sendable, Hashable {
    /// The stack.
    public var stack: TimeoutStack
    /// The objective.
    public var objective: TimeoutObjective
    /// Whether settings meeting the objective were found (by prediction).
    public var feasible: Bool
    /// The chosen point (the closest trade-off when infeasible); nil when no setting satisfies the
    /// hard constraints at all.
    public var chosen: TradeOffPoint?
    /// Which constraint decided the settings, in words.
    public var binding: String
    /// Why it is infeasible, when it is.
    public var problems: [String]
    /// The curve at the chosen interval: timeout against false disconnects and detection.
    public var curve: [TradeOffPoint]
    /// The margin added for the network's round trip, seconds (the learned RTT body's p99.9; 1 s
    /// when no RTT was learned).
    public var rttMargin: Double
}

/// Proposes heartbeat settings for a stack from a learned model and an objective, by predicting
/// each setting's false-disconnect rate from the stall process and its detection time from the
/// stack's semantics.
///
/// A stall of length D starting at a uniformly random point of a heartbeat interval I leaves the
/// ping in flight (or the last one received) U ~ Uniform(0, I) before it; the connection is
/// falsely closed when D − U + RTT > T, on the server (its ping's pong is late) and on the client
/// (its silence exceeds interval + timeout) alike. The rate is the stall rate times that
/// probability, P(D > T − RTT + U) averaged over U, with the stall length's survival from the
/// learned law (its tail fit beyond the samples, the empirical fraction within them).
public enum Recommender {
    /// Proposes settings for `stack` meeting `objective` under `model`.
    public static func recommend(_ model: LearnedModel, stack: TimeoutStack, objective: TimeoutObjective) -> Recommendation {
        // The round trip's margin: the lognormal body's p99.9, not the samples' own p99.9, because
        // pings caught in a stall have stall-long RTTs, and stalls are counted by the stall law.
        let rttMargin = model.rtt.map { exp($0.lognormalMu + 3.090232 * $0.lognormalSigma) } ?? 1.0
        // Settings are searched in whole seconds (python-engineio advertises only those; the
        // other stacks' objectives are in seconds too).
        func up(_ x: Double) -> Double { x.rounded(.up) }
        func point(_ interval: Double, _ timeout: Double) -> TradeOffPoint {
            let d = stack.detection(interval: interval, timeout: timeout)
            return TradeOffPoint(interval: interval, timeout: timeout,
                                 falsePerHour: falseRate(model, interval: interval, timeout: timeout, rtt: rttMargin),
                                 detectionMax: d.max, detectionMean: d.mean)
        }
        var problems: [String] = []
        // The interval's bounds: the ping budget below, the middlebox's idle timeout above.
        var lowestInterval = objective.minimumInterval ?? stack.minimumInterval
        if let pings = objective.maxPingsPerMinute { lowestInterval = max(lowestInterval, up(60 / pings)) }
        var highestInterval = 600.0
        if let idle = objective.idleTimeout { highestInterval = min(highestInterval, (idle - rttMargin - 1).rounded(.down)) }
        if highestInterval < lowestInterval {
            problems.append("no interval is both within the ping budget (at least \(fmt(lowestInterval)) s) and below the idle timeout (at most \(fmt(highestInterval)) s)")
        }
        // The timeout's floor: a stall up to tolerate-stall, plus a round trip, never closes.
        // and never below a round trip the data show a connection surviving (a ping held in a stall).
        let held = model.heldRoundTrips?.longest ?? 0
        let lowestTimeout = max(1, up(max(objective.tolerateStall + rttMargin, held + rttMargin)))
        var candidates: [TradeOffPoint] = []
        if highestInterval >= lowestInterval {
            var interval = highestInterval
            while interval >= lowestInterval {
                var timeout = lowestTimeout
                while true {
                    let candidate = point(interval, timeout)
                    candidates.append(candidate)
                    if candidate.falsePerHour.value <= objective.maxFalsePerHour
                        || candidate.detectionMax > 4 * objective.detectWithin + 600 { break }
                    timeout += 1
                }
                interval -= 1
            }
        }
        // The worst detection plus a round trip (the last ping's way) must fit the bound.
        let meeting = candidates.filter {
            $0.falsePerHour.value <= objective.maxFalsePerHour && $0.detectionMax + rttMargin <= objective.detectWithin
        }
        // Among the settings that meet the objective, the fewest pings (the longest interval),
        // then the fastest detection.
        let chosen = meeting.max { a, b in a.interval != b.interval ? a.interval < b.interval : a.detectionMax > b.detectionMax }
        // Closest trade-off when infeasible: the fastest detection among those meeting the false rate.
        let fastest = candidates.filter { $0.falsePerHour.value <= objective.maxFalsePerHour }.min { $0.detectionMax < $1.detectionMax }
        var binding = ""
        if let chosen {
            if chosen.timeout <= lowestTimeout, held > objective.tolerateStall {
                binding = "the timeout is set by the longest round trip the data show surviving a stall (\(fmt(held)) s) plus a round trip (\(fmt(rttMargin)) s)"
            } else if chosen.timeout <= lowestTimeout {
                binding = "the timeout is set by the stalls to tolerate (\(fmt(objective.tolerateStall)) s) plus a round trip (\(fmt(rttMargin)) s)"
            } else {
                binding = "the timeout is set by the false-disconnect objective: shorter ones exceed \(rate(objective.maxFalsePerHour)) on the learned stall law"
            }
            if chosen.interval >= highestInterval, objective.idleTimeout != nil {
                binding += "; the interval by the middlebox idle timeout (\(fmt(objective.idleTimeout!)) s)"
            } else {
                binding += "; the interval is the longest that still detects a dead network within \(fmt(objective.detectWithin)) s"
            }
        } else if !candidates.isEmpty {
            if let fastest {
                problems.append("meeting \(rate(objective.maxFalsePerHour)) takes a timeout of \(fmt(fastest.timeout)) s, which detects a dead network in up to \(fmt(fastest.detectionMax)) s, over the \(fmt(objective.detectWithin)) s asked")
            } else {
                problems.append("no timeout up to the search's end meets \(rate(objective.maxFalsePerHour)) on the learned stall law")
            }
            if stack.detection(interval: lowestInterval, timeout: lowestTimeout).max + rttMargin > objective.detectWithin {
                problems.append("tolerating \(fmt(objective.tolerateStall)) s stalls needs a timeout of at least \(fmt(lowestTimeout)) s, so detection takes at least \(fmt(stack.detection(interval: lowestInterval, timeout: lowestTimeout).max)) s")
            }
        }
        let closest = chosen ?? fastest
        var curve: [TradeOffPoint] = []
        if let at = closest {
            var timeout = lowestTimeout
            let end = max(at.timeout * 2, lowestTimeout + 10)
            while timeout <= end {
                curve.append(point(at.interval, timeout))
                timeout += max(1, ((end - lowestTimeout) / 20).rounded(.down))
            }
        }
        return Recommendation(stack: stack, objective: objective, feasible: chosen != nil, chosen: closest,
                              binding: binding, problems: problems, curve: curve, rttMargin: rttMargin)
    }

    /// The predicted false disconnects per connection-hour at `interval` and `timeout`: the stall
    /// rate times P(D > timeout − rtt + U), U uniform over the interval. The interval's upper end
    /// takes the stall rate's upper bound and a distribution-free (Wilson) upper bound on the
    /// fraction of episodes that long, so few episodes give an honest, wide interval.
    public static func falseRate(_ model: LearnedModel, interval: Double, timeout: Double, rtt: Double) -> Estimate {
        guard let stalls = model.stalls else {
            return Estimate(value: 0, lower: 0, upper: .infinity, method: "no heartbeats", caveat: "no stall process learned: nothing to predict from")
        }
        let durations = stalls.durations
        let n = durations.count
        // Episodes longer than x, by binary search in the ascending lengths.
        func longer(than x: Double) -> Int {
            var low = 0, high = n
            while low < high {
                let mid = (low + high) / 2
                if durations[mid] <= x { low = mid + 1 } else { high = mid }
            }
            return n - low
        }
        let threshold = timeout - rtt
        func survival(_ x: Double) -> Double {
            if let fit = stalls.duration, let tail = fit.tail, let u = fit.threshold, x > u {
                let y = x - u
                let base = 1 + tail.shape * y / tail.scale
                let s = abs(tail.shape) < 1e-9 ? exp(-y / tail.scale) : (base <= 0 ? 0 : pow(base, -1 / tail.shape))
                return fit.exceedanceFraction * s
            }
            guard n > 0 else { return 0 }
            return Double(longer(than: x)) / Double(n)
        }
        let steps = 32
        var p = 0.0
        for k in 0..<steps { p += survival(threshold + interval * (Double(k) + 0.5) / Double(steps)) }
        p /= Double(steps)
        // Distribution-free bounds on the fraction: at least the episodes longer than the
        // threshold plus a whole interval (U at its largest), at most those longer than the
        // threshold (U = 0), each with Wilson's interval.
        let surely = longer(than: threshold + interval)
        let possibly = longer(than: threshold)
        let lowFraction = n > 0 && surely > 0 ? LearnedModel.wilson(successes: surely, trials: n, confidence: model.confidence).lower : 0
        let highFraction = n > 0 ? LearnedModel.wilson(successes: possibly, trials: n, confidence: model.confidence).upper : 1
        var estimate = Estimate(value: stalls.rate.value * p, lower: stalls.rate.lower * min(lowFraction, p),
                                upper: stalls.rate.upper * max(highFraction, p), method: "stall law")
        if n < 30 {
            estimate.caveat = "\(n) stall episode\(n == 1 ? "" : "s") learned: the upper bound is what so few can rule out; the replay decides"
        }
        return estimate
    }

    static func fmt(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : String(format: "%.3g", x) }

    static func rate(_ perHour: Double) -> String {
        perHour > 0 && perHour < 0.1 ? "1 per \(fmt((1 / perHour).rounded())) connection-hours" : "\(String(format: "%.3g", perHour)) per connection-hour"
    }
}
