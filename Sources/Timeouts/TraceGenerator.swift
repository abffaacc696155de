import Foundation
import LabCore

/// Seeded heartbeat traces for the realistic conditions a detector must face, so the bench can be
/// run, and tested, without captured data. A heartbeat is sent every `period`; each takes a one-way
/// delay; the monitor sees them in order (a stream: a late one holds back those behind it), except
/// the lost ones. The same seed gives the same trace, byte for byte.
public struct TraceGenerator: Sendable {
    /// A condition to generate.
    public enum Condition: String, Sendable, CaseIterable, Hashable {
        /// Lognormal delays (median 40 ms, p99 250 ms), correlated 50 %: home Wi-Fi.
        case lognormalJitter = "lognormal-jitter"
        /// A 20 ms path whose queue fills now and then (every 5 min on average): the delay ramps up
        /// to 0.3-1.5 s over 10-60 s, then drains in a few seconds.
        case bufferbloat
        /// Gilbert-Elliott loss bursts (good → bad 1 %, bad → good 25 %, 80 % lost in bad) over jitter.
        case gilbertElliott = "gilbert-elliott"
        /// Stall episodes (6 per hour, lognormal duration median 3 s, p99 20 s): nothing arrives, then
        /// everything held arrives at once.
        case stalls
        /// Pareto-tailed delays (20 ms plus Pareto scale 5 ms, shape 1.5, capped at 30 s).
        case heavyTail = "heavy-tail"
        /// The sender pauses (a garbage collector) about every 60 s for 0.2-2.5 s; heartbeats due
        /// during a pause are sent when it ends.
        case periodicPauses = "periodic-pauses"
    }

    /// The heartbeat period.
    public var period: TimeSpan
    /// How long each trace lasts.
    public var duration: TimeSpan
    /// The seed; each condition draws from its own stream of it.
    public var seed: UInt64

    /// Creates a generator; `period` and `duration` must be positive.
    public init(period: TimeSpan = .seconds(1), duration: TimeSpan = .seconds(7200), seed: UInt64 = 1) {
        self.period = period
        self.duration = duration
        self.seed = seed
    }

    /// The trace for `condition`, named "generated:<condition>".
    public func trace(_ condition: Condition) -> ArrivalTrace {
        let index = UInt64(Condition.allCases.firstIndex(of: condition) ?? 0)
        var rng = SeededGenerator(seed: seed).derived(0x7472_6163, index)
        let count = max(0, Int(duration.nanoseconds / max(period.nanoseconds, 1)))
        var arrivals: [Instant] = []
        arrivals.reserveCapacity(count)
        var lastArrival = Int64.min
        // Condition state.
        var correlated = try! CorrelatedSampler(distribution: .lognormal(median: 0.040, p99: 0.250), correlation: 0.5)
        var loss = LossProcess(model: .gilbertElliott(p: 0.01, r: 0.25, lossInBad: 0.8, lossInGood: 0))
        let stallDuration = try! Distribution.lognormal(median: 3, p99: 20)
        var nextStall = exponential(mean: 600, &rng)
        var stallEnd = -1.0
        var rampStart = exponential(mean: 300, &rng)
        var rampLength = 10 + 50 * rng.nextUnit()
        var rampPeak = 0.3 + 1.2 * rng.nextUnit()
        var nextPause = 60 * (0.8 + 0.4 * rng.nextUnit())
        var pauseEnd = -1.0
        let periodSeconds = period.seconds
        for k in 0..<count {
            var sent = Double(k) * periodSeconds
            var delay: Double
            switch condition {
            case .lognormalJitter:
                delay = correlated.next(using: &rng)
            case .bufferbloat:
                delay = 0.020 + 0.004 * rng.nextUnit()
                let drain = 3.0
                if sent >= rampStart + rampLength + drain {
                    rampStart = sent + exponential(mean: 300, &rng)
                    rampLength = 10 + 50 * rng.nextUnit()
                    rampPeak = 0.3 + 1.2 * rng.nextUnit()
                }
                if sent >= rampStart {
                    let into = sent - rampStart
                    delay += into < rampLength ? rampPeak * into / rampLength : rampPeak * max(0, 1 - (into - rampLength) / drain)
                }
            case .gilbertElliott:
                delay = correlated.next(using: &rng)
                if loss.isLost(using: &rng) { continue }
            case .stalls:
                delay = 0.030 + 0.010 * rng.nextUnit()
                if sent >= nextStall {
                    stallEnd = nextStall + stallDuration.sample(using: &rng)
                    nextStall = stallEnd + exponential(mean: 600, &rng)
                }
                if sent < stallEnd { delay = stallEnd - sent + delay }
            case .heavyTail:
                let u = rng.nextOpenUnit()
                delay = 0.020 + min(30, 0.005 * pow(u, -1 / 1.5) - 0.005)
            case .periodicPauses:
                delay = 0.015 + 0.010 * rng.nextUnit()
                if sent >= nextPause {
                    pauseEnd = nextPause + 0.2 + 2.3 * rng.nextUnit()
                    nextPause += 60 * (0.8 + 0.4 * rng.nextUnit())
                }
                if sent < pauseEnd { sent = pauseEnd }
            }
            let arrival = max(lastArrival, Int64(((sent + delay) * 1e9).rounded()))
            lastArrival = arrival
            arrivals.append(Instant(nanoseconds: arrival))
        }
        return ArrivalTrace(name: "generated:\(condition.rawValue)", arrivals: arrivals)
    }

    /// One trace per condition, in declaration order.
    public func all() -> [ArrivalTrace] { Condition.allCases.map(trace) }

    private func exponential(mean: Double, _ rng: inout SeededGenerator) -> Double {
        -mean * log(rng.nextOpenUnit())
    }
}
