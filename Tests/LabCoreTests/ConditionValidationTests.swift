import Testing
import LabCore

/// `Condition.validate()`: every bad parameter is reported with the field the API and the scenario
/// loader use for it; good values pass.
@Suite("Condition validation")
struct ConditionValidationTests {
    private static let minusOne = TimeSpan(nanoseconds: -1)

    /// (what is wrong, the condition, the field that must be named, a word the reason must contain)
    static let badConditions: [(String, Condition, String, String)] = [
        ("negative latency", .latency(LatencyCondition(latency: minusOne)), "latency", "-1ns"),
        ("negative jitter", .latency(LatencyCondition(latency: .milliseconds(5), jitter: minusOne)), "jitter", "-1ns"),
        ("bad distribution",
         .latency(LatencyCondition(latency: .zero, distribution: .normal(mean: 1, standardDeviation: -1))),
         "distribution", "standardDeviation"),
        ("bad lognormal sigma",
         .latency(LatencyCondition(latency: .zero, distribution: .lognormal(mu: 1, sigma: 0))),
         "distribution", "sigma"),
        ("correlation 1", .latency(LatencyCondition(latency: .zero, correlation: 1)), "correlation", "[0, 1)"),
        ("negative correlation", .latency(LatencyCondition(latency: .zero, correlation: -0.1)), "correlation", "-0.1"),
        ("NaN correlation", .latency(LatencyCondition(latency: .zero, correlation: .nan)), "correlation", "nan"),
        ("infinite correlation", .latency(LatencyCondition(latency: .zero, correlation: .infinity)), "correlation", "inf"),
        ("negative rate", .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: -1))), "rate", "-1"),
        ("NaN rate", .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: .nan))), "rate", "nan"),
        // Infinity is `ByteRate.unlimited` (a scenario's 'unlimited'), valid; NaN and negative infinity are not.
        ("NaN rate", .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: .nan))), "rate", "nan"),
        ("minus infinite rate", .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: -.infinity))), "rate", "-inf"),
        ("negative stall", .stall(StallCondition(duration: minusOne)), "duration", "-1ns"),
        ("negative blackhole timeout", .blackhole(BlackholeCondition(closeAfter: minusOne)), "timeout", "-1ns"),
        ("loss probability > 1", .loss(LossCondition(model: .bernoulli(probability: 1.5))), "model", "probability"),
        ("bad Gilbert-Elliott r",
         .loss(LossCondition(model: .gilbertElliott(p: 0.1, r: -0.5, lossInBad: 1, lossInGood: 0))), "model", "r must"),
        ("zero segment", .loss(LossCondition(model: .none, segmentSize: 0)), "segment_size", "got 0"),
        ("negative segment", .loss(LossCondition(model: .none, segmentSize: -5)), "segment_size", "got -5"),
        ("zero RTO", .loss(LossCondition(model: .none, initialRTO: .zero)), "rto", "> 0"),
        ("negative RTO", .loss(LossCondition(model: .none, initialRTO: minusOne)), "rto", "> 0"),
        ("max RTO below RTO",
         .loss(LossCondition(model: .none, initialRTO: .seconds(1), maxRTO: .milliseconds(999))), "max_rto", ">= rto"),
        ("zero slice", .slicer(SlicerCondition(averageSize: 0)), "average_size", "got 0"),
        ("negative slice", .slicer(SlicerCondition(averageSize: -3)), "average_size", "got -3"),
        ("negative variation", .slicer(SlicerCondition(averageSize: 10, sizeVariation: -1)), "size_variation", "got -1"),
        ("variation = average", .slicer(SlicerCondition(averageSize: 10, sizeVariation: 10)), "size_variation", "got 10"),
        ("negative slice delay", .slicer(SlicerCondition(averageSize: 10, delay: minusOne)), "delay", "-1ns"),
        ("negative limit", .limitData(LimitDataCondition(bytes: -1)), "bytes", "got -1"),
        ("negative slow close", .slowClose(SlowCloseCondition(delay: minusOne)), "delay", "-1ns"),
        ("negative reset", .reset(ResetCondition(after: minusOne)), "timeout", "-1ns"),
        ("zero idle timeout", .idleTimeout(IdleTimeoutCondition(after: .zero)), "timeout", "> 0"),
        ("negative idle timeout", .idleTimeout(IdleTimeoutCondition(after: minusOne, action: .reset)), "timeout", "> 0"),
        ("negative slow connect", .slowConnect(SlowConnectCondition(delay: minusOne)), "delay", "-1ns"),
    ]

    @Test("an unlimited rate is valid and touches no data")
    func unlimitedRate() throws {
        let unlimited = Condition.bandwidth(BandwidthCondition(rate: .unlimited))
        try unlimited.validate()
        #expect(!unlimited.touchesData)
        var link = LinkSchedule(random: SeededGenerator(seed: 1))
        link.setConditions([ActiveCondition(name: "bw", condition: unlimited, since: .zero)])
        #expect(link.isPassthrough)
        #expect(link.admit(bytes: 1_000_000, at: Instant(nanoseconds: 5)) == .deliver([Delivery(at: Instant(nanoseconds: 5), length: 1_000_000)], thenClose: false))
    }

    @Test("a bad parameter names its field", arguments: badConditions)
    func badParameter(what: String, condition: Condition, field: String, reasonPart: String) {
        let error = #expect(throws: ConditionError.self, "\(what)") { try condition.validate() }
        #expect(error?.field == field, "\(what): \(String(describing: error))")
        #expect(error?.reason.contains(reasonPart) == true, "\(what): \(String(describing: error))")
        if let error {
            #expect(error.description == "\(error.field): \(error.reason)")
        }
    }

    static let goodConditions: [Condition] = [
        .latency(LatencyCondition(latency: .zero)),
        .latency(LatencyCondition(latency: .milliseconds(100), jitter: .milliseconds(200),
                                  distribution: .lognormal(mu: 16, sigma: 0.5), correlation: 0.99)),
        .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 0))),
        .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 1e9))),
        .stall(StallCondition()),
        .stall(StallCondition(duration: .zero)),
        .blackhole(BlackholeCondition()),
        .blackhole(BlackholeCondition(closeAfter: .zero)),
        .loss(LossCondition(model: .bernoulli(probability: 1))),
        .loss(LossCondition(model: .bernoulli(probability: 0), segmentSize: 1, initialRTO: .nanoseconds(1),
                            maxRTO: .nanoseconds(1))),
        .slicer(SlicerCondition(averageSize: 1)),
        .slicer(SlicerCondition(averageSize: 10, sizeVariation: 9, delay: .zero)),
        .limitData(LimitDataCondition(bytes: 0)),
        .slowClose(SlowCloseCondition(delay: .zero)),
        .reset(ResetCondition()),
        .idleTimeout(IdleTimeoutCondition(after: .nanoseconds(1), action: .blackhole)),
        .slowConnect(SlowConnectCondition(delay: .zero)),
    ]

    @Test("good parameters pass", arguments: goodConditions)
    func goodParameters(condition: Condition) {
        #expect(throws: Never.self) { try condition.validate() }
    }

    @Test("the first bad parameter is the one reported")
    func firstBadParameterWins() {
        let both = Condition.latency(LatencyCondition(latency: .nanoseconds(-5), jitter: .nanoseconds(-7), correlation: 2))
        let error = #expect(throws: ConditionError.self) { try both.validate() }
        #expect(error == ConditionError(field: "latency", reason: "must be >= 0, got -5ns"))
        let slicer = Condition.slicer(SlicerCondition(averageSize: 0, sizeVariation: -1, delay: .nanoseconds(-1)))
        #expect(throws: ConditionError(field: "average_size", reason: "must be > 0, got 0")) { try slicer.validate() }
    }

    @Test("kind names", arguments: [
        (Condition.latency(LatencyCondition(latency: .zero)), "latency"),
        (.bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 1))), "bandwidth"),
        (.stall(StallCondition()), "stall"),
        (.blackhole(BlackholeCondition()), "blackhole"),
        (.loss(LossCondition(model: .none)), "loss"),
        (.slicer(SlicerCondition(averageSize: 1)), "slicer"),
        (.limitData(LimitDataCondition(bytes: 1)), "limit_data"),
        (.slowClose(SlowCloseCondition(delay: .zero)), "slow_close"),
        (.reset(ResetCondition()), "reset"),
        (.idleTimeout(IdleTimeoutCondition(after: .seconds(1))), "idle_timeout"),
        (.slowConnect(SlowConnectCondition(delay: .zero)), "slow_connect"),
    ])
    func kinds(condition: Condition, kind: String) {
        #expect(condition.kind == kind)
        let touches = !["reset", "idle_timeout", "slow_connect"].contains(kind)
        #expect(condition.touchesData == touches)
    }

    @Test("loss condition defaults are TCP-like")
    func lossDefaults() {
        let loss = LossCondition(model: .none)
        #expect(loss.segmentSize == 1448)
        #expect(loss.initialRTO == .milliseconds(200))
        #expect(loss.maxRTO == .seconds(120))
    }

    @Test("toxicity draw is fixed by seed, connection and name, and lies in [0, 1)")
    func toxicityDraw() {
        let a = ToxicityDraw.value(seed: 1, connection: 7, name: "lag")
        #expect(a == ToxicityDraw.value(seed: 1, connection: 7, name: "lag"))
        #expect(a != ToxicityDraw.value(seed: 1, connection: 8, name: "lag"))
        #expect(a != ToxicityDraw.value(seed: 1, connection: 7, name: "lag2"))
        #expect(a != ToxicityDraw.value(seed: 2, connection: 7, name: "lag"))
        var below = 0
        for connection in UInt64(0)..<4_000 {
            let v = ToxicityDraw.value(seed: 99, connection: connection, name: "t")
            #expect(v >= 0 && v < 1)
            if v < 0.25 { below += 1 }
        }
        #expect(abs(below - 1_000) < 120)  // toxicity 0.25 hits about a quarter of connections
    }

    @Test("stable hash is 64-bit FNV-1a")
    func stableHash() {
        #expect(StableHash.fnv1a("") == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.fnv1a("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.fnv1a("foobar") == 0x8594_4171_f739_67e8)
    }
}
