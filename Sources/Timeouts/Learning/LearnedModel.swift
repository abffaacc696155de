import Foundation
import LabCore

/// What `flatline learn` found in its sources: the RTT and heartbeat-gap distributions with tail
/// fits, the stall process inferred from long gaps, probe loss and disconnects by reason, each
/// figure with a 95 % interval and a caveat when the data are too few to act on. Written as
/// `model.json` (docs/learn.md).
public struct LearnedModel: Sendable, Hashable {
    /// The stall process: silences longer than a threshold, their rate and their durations.
    public struct Stalls: Sendable, Hashable {
        /// A gap longer than this is a stall episode, seconds.
        public var threshold: Double
        /// Episodes found.
        public var episodes: Int
        /// Monitored time they were found in, hours (one monitor per connection).
        public var exposureHours: Double
        /// Episodes per connection-hour.
        public var rate: Estimate
        /// Each episode's length, estimated as its gap minus half a period, seconds; nil with
        /// fewer than 10 episodes.
        public var duration: FittedDistribution?
        /// The lengths themselves, seconds, ascending, for an empirical law when there are few.
        public var durations: [Double]
    }

    /// Disconnects of one kind.
    public struct Disconnects: Sendable, Hashable {
        /// "side: reason".
        public var reason: String
        /// How many.
        public var count: Int
        /// Per connection-hour.
        public var rate: Estimate
    }

    /// The sources, as given.
    public var sources: [String]
    /// The seed of the bootstrap intervals.
    public var seed: UInt64
    /// The intervals' two-sided confidence (0.95: 95 %).
    public var confidence: Double
    /// RTT samples, seconds; nil when no source has any (or fewer than 10).
    public var rtt: FittedDistribution?
    /// Heartbeat traces used (one monitor per connection).
    public var traces: Int
    /// The heartbeat period, the median gap over all traces, seconds; nil without traces.
    public var period: Double?
    /// Gaps between heartbeats, seconds.
    public var gap: FittedDistribution?
    /// The stall process; nil without traces.
    public var stalls: Stalls?
    /// Probe loss (Flent's nulls): lost over sent, with a Wilson interval; nil where not visible.
    public var loss: (sent: Int, lost: Int, fraction: Estimate)?
    /// Connection-hours the disconnects were counted over (event logs).
    public var connectionHours: Double
    /// Connections seen (event logs).
    public var connections: Int
    /// Disconnects by reason, most frequent first.
    public var disconnects: [Disconnects]
    /// Round trips held far beyond the usual (longer than ten RTT medians and at least 1 s): each a
    /// ping caught in a stall the connection survived, which heartbeat gaps at a long period may
    /// not show. The count, and the longest, seconds.
    public var heldRoundTrips: (count: Int, longest: Double)?

    /// Two models are equal when their `model.json` is (the tuples inside are not Equatable).
    public static func == (a: LearnedModel, b: LearnedModel) -> Bool { a.json == b.json }
    /// Hashes `model.json`, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(json) }

    /// Learns from `observations`. A gap longer than `stallFactor` heartbeat periods (each trace's
    /// own median gap) is a stall episode.
    /// Intervals are two-sided at `confidence`.
    public static func learn(from observations: Observations, sources: [String], seed: UInt64 = 1,
                             stallFactor: Double = 3, confidence: Double = 0.95) -> LearnedModel {
        // One monitor per connection: event logs hold a trace per monitor ("log:conn/server pongs",
        // "log:conn/client pings"), which see the same silences; the server's is kept.
        var chosen: [String: ArrivalTrace] = [:]
        var order: [String] = []
        for trace in observations.traces {
            let key = trace.name.range(of: "/", options: .backwards).map { String(trace.name[..<$0.lowerBound]) } ?? trace.name
            if chosen[key] == nil { order.append(key) }
            if chosen[key] == nil || trace.name.hasSuffix("server pongs") { chosen[key] = trace }
        }
        let traces = order.compactMap { chosen[$0] }
        var gaps: [Double] = []
        var durations: [Double] = []
        var exposure = 0.0
        var threshold = 0.0
        for trace in traces {
            guard let period = trace.medianInterval, period > .zero else { continue }
            let p = period.seconds
            let limit = stallFactor * p
            threshold = max(threshold, limit)
            for (a, b) in zip(trace.arrivals, trace.arrivals.dropFirst()) {
                let gap = (b - a).seconds
                gaps.append(gap)
                // A stall of length D starting at a uniformly random point of a period leaves a gap
                // of D plus on average half a period: gap − period/2 estimates D without bias.
                if gap > limit { durations.append(gap - p / 2) }
            }
            exposure += trace.span.seconds / 3600
        }
        var generator = SeededGenerator(seed: seed)
        func nextSeed() -> UInt64 { generator.next() }
        let rttSamples = observations.rtts.keys.sorted().flatMap { observations.rtts[$0]! }
        let rtt = FittedDistribution.fit(rttSamples, seed: nextSeed(), confidence: confidence)
        let gap = FittedDistribution.fit(gaps, seed: nextSeed(), confidence: confidence)
        let sortedGaps = gaps.sorted()
        let period = sortedGaps.isEmpty ? nil : sortedGaps[sortedGaps.count / 2]
        var stalls: Stalls?
        if !traces.isEmpty {
            stalls = Stalls(
                threshold: threshold, episodes: durations.count, exposureHours: exposure,
                rate: PoissonRate.estimate(events: durations.count, exposure: exposure, unit: "connection-hour", confidence: confidence),
                duration: FittedDistribution.fit(durations, seed: nextSeed(), confidence: confidence), durations: durations.sorted())
        }
        var loss: (Int, Int, Estimate)?
        let sent = observations.probes.values.reduce(0) { $0 + $1.sent }
        let lost = observations.probes.values.reduce(0) { $0 + $1.lost }
        if sent > 0 { loss = (sent, lost, wilson(successes: lost, trials: sent, confidence: confidence)) }
        let hours = observations.connectionHours
        let disconnects = observations.disconnects.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { Disconnects(reason: $0.key, count: $0.value,
                               rate: PoissonRate.estimate(events: $0.value, exposure: hours, unit: "connection-hour", confidence: confidence)) }
        return LearnedModel(
            sources: sources, seed: seed, confidence: confidence, rtt: rtt, traces: traces.count, period: period, gap: gap, stalls: stalls,
            loss: loss, connectionHours: hours, connections: observations.connections, disconnects: disconnects,
            heldRoundTrips: heldRoundTrips(rttSamples))
    }

    /// The round trips longer than ten times the median and than 1 s.
    static func heldRoundTrips(_ samples: [Double]) -> (count: Int, longest: Double)? {
        guard samples.count >= 10 else { return nil }
        let median = samples.sorted()[samples.count / 2]
        let held = samples.filter { $0 > max(1, 10 * median) }
        guard let longest = held.max() else { return nil }
        return (held.count, longest)
    }

    /// Wilson's score interval for a proportion, at `confidence`.
    static func wilson(successes: Int, trials: Int, confidence: Double) -> Estimate {
        let n = Double(trials)
        let p = Double(successes) / n
        let z = standardNormalQuantile(0.5 + confidence / 2)
        let centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        let half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        var estimate = Estimate(value: p, lower: max(0, centre - half), upper: min(1, centre + half), method: "wilson")
        if successes < 5 { estimate.caveat = "only \(successes) lost: the fraction is bounded, not known" }
        return estimate
    }

    // MARK: - model.json

    /// The model as `model.json` (format 1, docs/learn.md). Non-finite numbers (an unbounded
    /// interval) are written as null.
    public var json: JSONValue {
        var root: JSONObject = ["format": .string("flatline-model"), "version": .integer(1)]
        root["sources"] = .array(sources.map { .string($0) })
        root["seed"] = .integer(Int64(bitPattern: seed))
        root["confidence"] = .number(confidence)
        root["rtt_s"] = rtt.map(Self.json) ?? .null
        var heartbeat: JSONObject = ["traces": .integer(Int64(traces))]
        heartbeat["period_s"] = period.map(Self.number) ?? .null
        heartbeat["gap_s"] = gap.map(Self.json) ?? .null
        root["heartbeat"] = .object(heartbeat)
        if let stalls {
            var o: JSONObject = [
                "threshold_s": Self.number(stalls.threshold), "episodes": .integer(Int64(stalls.episodes)),
                "exposure_hours": Self.number(stalls.exposureHours), "rate_per_hour": Self.json(stalls.rate),
            ]
            o["duration_s"] = stalls.duration.map(Self.json) ?? .null
            o["durations_s"] = .array(stalls.durations.map(Self.number))
            root["stalls"] = .object(o)
        } else {
            root["stalls"] = .null
        }
        if let loss {
            root["loss"] = .object(["probes": .integer(Int64(loss.sent)), "lost": .integer(Int64(loss.lost)),
                                    "fraction": Self.json(loss.fraction)])
        } else {
            root["loss"] = .null
        }
        if let held = heldRoundTrips {
            root["held_round_trips"] = .object(["count": .integer(Int64(held.count)), "longest_s": Self.number(held.longest)])
        } else {
            root["held_round_trips"] = .null
        }
        root["disconnects"] = .object([
            "connection_hours": Self.number(connectionHours), "connections": .integer(Int64(connections)),
            "by_reason": .array(disconnects.map {
                .object(["reason": .string($0.reason), "count": .integer(Int64($0.count)), "rate_per_hour": Self.json($0.rate)])
            }),
        ])
        return .object(root)
    }

    static func number(_ x: Double) -> JSONValue { x.isFinite ? .number(x) : .null }

    static func json(_ e: Estimate) -> JSONValue {
        var o: JSONObject = ["value": number(e.value), "lower": number(e.lower), "upper": number(e.upper), "method": .string(e.method)]
        o["caveat"] = e.caveat.map { .string($0) } ?? .null
        return .object(o)
    }

    static func json(_ d: FittedDistribution) -> JSONValue {
        var o: JSONObject = ["count": .integer(Int64(d.count))]
        o["lognormal"] = .object(["mu": number(d.lognormalMu), "sigma": number(d.lognormalSigma),
                                  "median": number(exp(d.lognormalMu))])
        if let tail = d.tail, let threshold = d.threshold {
            o["tail"] = .object(["threshold": number(threshold), "exceedance_fraction": number(d.exceedanceFraction),
                                 "shape": number(tail.shape), "scale": number(tail.scale)])
        } else {
            o["tail"] = .null
        }
        o["quantiles"] = .array(d.quantiles.map { q in
            var item: JSONObject = ["level": .number(q.level)]
            guard case .object(let e) = json(q.estimate) else { return .object(item) }
            for member in e.members { item[member.key] = member.value }
            return .object(item)
        })
        return .object(o)
    }
}

extension LearnedModel {
    /// A plain-text account of the model for people: each figure with its interval, and where the
    /// data are too few, that instead of a number to act on.
    public var summary: String {
        var out = "# Learned model\n\nSources: \(sources.joined(separator: ", "))\n\n"
        let confidenceText = Self.levelName(confidence) + " %"
        func seconds(_ x: Double) -> String {
            if !x.isFinite { return "unbounded" }
            if x >= 10 { return String(format: "%.1f s", x) }
            if x >= 1 { return String(format: "%.2f s", x) }
            if x >= 0.001 { return String(format: "%.1f ms", x * 1000) }
            return String(format: "%.0f µs", x * 1e6)
        }
        func estimate(_ e: Estimate, _ format: (Double) -> String) -> String {
            var text = "\(format(e.value)) (\(confidenceText): \(format(e.lower)) – \(format(e.upper)), \(e.method))"
            if let caveat = e.caveat { text += " — \(caveat)" }
            return text
        }
        func distribution(_ title: String, _ d: FittedDistribution?) {
            guard let d else {
                out += "## \(title)\n\nFewer than 10 samples: nothing to fit.\n\n"
                return
            }
            out += "## \(title)\n\n\(d.count) samples; lognormal body median \(seconds(exp(d.lognormalMu))), σ \(String(format: "%.3g", d.lognormalSigma))"
            if let tail = d.tail, let u = d.threshold {
                out += "; tail over \(seconds(u)): generalized Pareto ξ \(String(format: "%.3g", tail.shape)), σ \(seconds(tail.scale))"
            } else {
                out += "; no tail fit (fewer than \(FittedDistribution.minimumExceedances) samples above the 90th percentile)"
            }
            out += ".\n\n| quantile | estimate |\n|---|---|\n"
            for q in d.quantiles { out += "| p\(Self.levelName(q.level)) | \(estimate(q.estimate, seconds)) |\n" }
            out += "\n"
        }
        distribution("Round-trip time", rtt)
        out += "## Heartbeats\n\n\(traces) trace\(traces == 1 ? "" : "s") (one monitor per connection)"
        if let period { out += ", period (median gap) \(seconds(period))" }
        out += ".\n\n"
        if gap != nil { distribution("Gaps between heartbeats", gap) }
        if let stalls {
            out += "## Stalls\n\nGaps longer than \(seconds(stalls.threshold)): \(stalls.episodes) over \(String(format: "%.3g", stalls.exposureHours)) connection-hours; rate \(estimate(stalls.rate) { String(format: "%.3g/h", $0) }).\n\n"
            if stalls.duration != nil { distribution("Stall durations (gap minus half a period)", stalls.duration) } else if !stalls.durations.isEmpty {
                out += "Durations: \(stalls.durations.map(seconds).joined(separator: ", ")) — too few episodes to fit a law.\n\n"
            }
        }
        if let held = heldRoundTrips {
            out += "Round trips held in stalls: \(held.count), the longest \(seconds(held.longest)); a connection survived each, so no timeout should be shorter. Stalls shorter than the gap threshold show only here.\n\n"
        }
        if let loss {
            out += "## Loss\n\n\(loss.lost) of \(loss.sent) probes lost: \(estimate(loss.fraction) { String(format: "%.3g %%", $0 * 100) }).\n\n"
        }
        if connections > 0 {
            out += "## Disconnects\n\n\(connections) connection\(connections == 1 ? "" : "s"), \(String(format: "%.3g", connectionHours)) connection-hours.\n\n"
            if disconnects.isEmpty { out += "None.\n\n" }
            for d in disconnects {
                out += "- \(d.reason): \(d.count), \(estimate(d.rate) { String(format: "%.3g/h", $0) })\n"
            }
            if !disconnects.isEmpty { out += "\n" }
        }
        return out
    }

    /// "50", "99.9".
    static func levelName(_ level: Double) -> String {
        var text = String(format: "%.6g", level * 100)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}
