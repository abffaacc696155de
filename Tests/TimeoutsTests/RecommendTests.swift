import Foundation
import LabCore
import Testing
@testable import Timeouts

@Suite struct RecommendTests {
    /// Heartbeats every second for `hours`, with stalls of a known law at a known rate.
    private func model(hours: Double, stallsPerHour: Double, median: Double, p99: Double, seed: UInt64) throws -> LearnedModel {
        var rng = SeededGenerator(seed: seed)
        let length = try Distribution.lognormal(median: median, p99: p99)
        var arrivals: [Instant] = []
        var nextStall = -log(rng.nextOpenUnit()) * 3600 / stallsPerHour
        var stallEnd = -1.0
        var sent = 0.0
        while sent < hours * 3600 {
            if sent >= nextStall {
                stallEnd = sent + length.sample(using: &rng)
                nextStall = stallEnd - log(rng.nextOpenUnit()) * 3600 / stallsPerHour
            }
            let ns = Int64((max(sent, stallEnd) + 0.02 + 0.01 * rng.nextUnit()) * 1e9)
            arrivals.append(Instant(nanoseconds: max(ns, arrivals.last?.nanoseconds ?? 0)))
            sent += 1
        }
        var observations = Observations()
        observations.traces = [ArrivalTrace(name: "beats", arrivals: arrivals)]
        observations.rtts["rtt"] = (0..<500).map { 0.04 + 0.0001 * Double($0 % 50) }
        return LearnedModel.learn(from: observations, sources: ["beats"], seed: 3)
    }

    @Test func ratesAreParsedWithTheirUnits() {
        #expect(TimeoutObjective.rate("1/1000h", per: 3600) == 0.001)
        #expect(TimeoutObjective.rate("4/m", per: 60) == 4)
        #expect(TimeoutObjective.rate("2/30s", per: 60) == 4)
        #expect(TimeoutObjective.rate("6/h", per: 3600) == 6)
        for bad in ["abc", "1/0h", "1/h/2", "-1/h", "1/fortnight", "1"] {
            #expect(TimeoutObjective.rate(bad, per: 3600) == nil, "\(bad)")
        }
    }

    @Test func eachStacksDetectionSemantics() {
        #expect(TimeoutStack.pythonSocketIO.detection(interval: 25, timeout: 20).max == 65, "server: up to 2·timeout after its ping")
        #expect(TimeoutStack.socketioJS.detection(interval: 25, timeout: 20).max == 45)
        #expect(TimeoutStack.websockets.detection(interval: 20, timeout: 20).max == 40)
        #expect(TimeoutStack.grpc.minimumInterval == 300)
        #expect(TimeoutStack.pythonSocketIO.settings(interval: 25, timeout: 20, tolerateStall: 0).map(\.0) == ["ping_interval", "ping_timeout"])
        #expect(TimeoutStack.socketioJS.settings(interval: 25, timeout: 20, tolerateStall: 0).map(\.1) == ["25000", "20000"])
        #expect(TimeoutStack.flatline.setLines(interval: 25, timeout: 20, tolerateStall: 10).first == "server.pingInterval=25s")
    }

    /// The prediction against the truth: stalls at 6 per hour of lognormal length (median 10 s,
    /// p99 30 s); a timeout T with interval I falsely closes when D − U + RTT > T. The predicted
    /// rate's interval holds λ·E[P(D > T − RTT + U)] computed from the true law.
    @Test func theFalseRateMatchesTheTrueStallLaw() throws {
        let learned = try model(hours: 30, stallsPerHour: 6, median: 10, p99: 30, seed: 8)
        let mu = log(10.0), sigma = log(3.0) / 2.326348
        func truth(interval: Double, timeout: Double, rtt: Double) -> Double {
            var p = 0.0
            for k in 0..<400 {
                let x = timeout - rtt + interval * (Double(k) + 0.5) / 400
                p += 1 - standardNormalCDF((log(x) - mu) / sigma)
            }
            return 6 * p / 400
        }
        var previous = Double.infinity
        for timeout in [8.0, 12, 16, 20] {
            let predicted = Recommender.falseRate(learned, interval: 5, timeout: timeout, rtt: 0.05)
            let real = truth(interval: 5, timeout: timeout, rtt: 0.05)
            #expect(predicted.lower <= real && real <= predicted.upper, "T \(timeout): \(real) outside \(predicted)")
            // Where 30 or more learned episodes are that long, the point estimate is close too.
            let longer = learned.stalls!.durations.filter { $0 > timeout - 0.05 }.count
            if longer >= 30 { #expect(abs(predicted.value / real - 1) < 0.35, "T \(timeout): \(predicted.value) against \(real)") }
            #expect(predicted.value <= previous)
            previous = predicted.value
        }
    }

    @Test func theRecommendationMeetsTheObjectiveAndSaysWhatBinds() throws {
        let learned = try model(hours: 20, stallsPerHour: 6, median: 3, p99: 8, seed: 2)
        let objective = TimeoutObjective(maxFalsePerHour: 0.01, detectWithin: 60, tolerateStall: 5)
        let r = Recommender.recommend(learned, stack: .pythonSocketIO, objective: objective)
        #expect(r.feasible, "\(r.problems)")
        let chosen = try #require(r.chosen)
        #expect(chosen.interval == chosen.interval.rounded() && chosen.timeout == chosen.timeout.rounded(), "python-engineio: whole seconds")
        #expect(chosen.timeout >= 5 + r.rttMargin)
        #expect(chosen.falsePerHour.value <= 0.01)
        #expect(chosen.detectionMax + r.rttMargin <= 60 && chosen.detectionMax == chosen.interval + 2 * chosen.timeout)
        // One second less timeout breaks the false-disconnect objective or the stall tolerance.
        let shorter = Recommender.falseRate(learned, interval: chosen.interval, timeout: chosen.timeout - 1, rtt: r.rttMargin)
        #expect(shorter.value > 0.01 || chosen.timeout - 1 < 5 + r.rttMargin)
        #expect(!r.binding.isEmpty && !r.curve.isEmpty)

        let idle = Recommender.recommend(learned, stack: .socketioJS, objective: TimeoutObjective(
            maxFalsePerHour: 0.01, detectWithin: 120, tolerateStall: 5, idleTimeout: 30))
        #expect(try #require(idle.chosen).interval <= 30 - idle.rttMargin - 1 + 1e-9)
        #expect(idle.binding.contains("idle timeout"))
    }

    /// A ping held 9 s in a stall the connection survived: no timeout shorter than that is proposed,
    /// whatever the stall tolerance asked, and the explanation says why.
    @Test func aRoundTripTheDataShowSurvivingBoundsTheTimeout() throws {
        var observations = Observations()
        observations.rtts["rtt"] = (0..<500).map { 0.04 + 0.0001 * Double($0 % 50) } + [9.0, 4.5]
        let learned = LearnedModel.learn(from: observations, sources: ["rtt"], seed: 1)
        #expect(learned.heldRoundTrips?.count == 2 && learned.heldRoundTrips?.longest == 9)
        let r = Recommender.recommend(learned, stack: .websockets, objective: TimeoutObjective(
            maxFalsePerHour: 0.01, detectWithin: 30, tolerateStall: 2))
        let chosen = try #require(r.chosen)
        #expect(chosen.timeout >= 9 + r.rttMargin, "\(chosen)")
        #expect(r.binding.contains("longest round trip"), "\(r.binding)")
        #expect(learned.summary.contains("Round trips held in stalls: 2"))
    }

    @Test func anImpossibleObjectiveIsInfeasibleWithTheClosestTradeOff() throws {
        let learned = try model(hours: 10, stallsPerHour: 6, median: 3, p99: 8, seed: 4)
        let r = Recommender.recommend(learned, stack: .socketioJS, objective: TimeoutObjective(
            maxFalsePerHour: 0.001, detectWithin: 20, tolerateStall: 30))
        #expect(!r.feasible)
        #expect(r.problems.contains { $0.contains("tolerating 30 s stalls") }, "\(r.problems)")
        #expect(r.chosen != nil, "the closest trade-off is shown")
        let grpc = Recommender.recommend(learned, stack: .grpc, objective: TimeoutObjective(maxFalsePerHour: 0.01, detectWithin: 60))
        #expect(!grpc.feasible, "a 300 s keepalive minimum cannot detect within 60 s")
    }

    @Test func theReplayMustCoverTheObjectivesConnectionHours() {
        let objective = TimeoutObjective(maxFalsePerHour: 0.001, detectWithin: 60)
        let needed = ValidationResult.neededHours(0.001)
        #expect(abs(needed - 2995.7) < 1, "about 3,000 connection-hours for 1 per 1,000")
        var v = ValidationResult(runs: 300, connectionHours: needed, falseDisconnects: 0, neededConnectionHours: needed,
                                 outageRuns: 5, worstDetection: 50)
        #expect(v.passed(objective))
        v.falseDisconnects = 1
        #expect(!v.passed(objective), "one false disconnect in 3,000 hours does not support 1 per 1,000")
        v.falseDisconnects = 0
        v.connectionHours = needed / 2
        #expect(!v.passed(objective))
        v.connectionHours = needed
        v.worstDetection = 61
        #expect(!v.passed(objective))
        v.worstDetection = nil
        #expect(!v.passed(objective), "no outage measured: nothing judged, not passed")
    }
}
