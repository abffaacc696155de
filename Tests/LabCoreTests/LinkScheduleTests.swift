import Testing
import LabCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Helpers for building links and reading fates; a caseless enum so nothing leaks into the module.
private enum LinkFixture {
    /// The instant `ms` milliseconds after the epoch.
    static func ms(_ value: Int64) -> Instant { Instant(nanoseconds: value * 1_000_000) }
    /// The instant `s` seconds after the epoch.
    static func sec(_ value: Double) -> Instant { .zero + .seconds(value) }

    static func link(seed: UInt64 = 7, since: Instant = .zero, _ conditions: [(String, Condition)]) -> LinkSchedule {
        var link = LinkSchedule(random: SeededGenerator(seed: seed))
        link.setConditions(conditions.map { ActiveCondition(name: $0.0, condition: $0.1, since: since) })
        return link
    }

    /// The pieces of a `.deliver` fate; records an issue (and returns []) for hold or drop.
    static func pieces(_ fate: ChunkFate, sourceLocation: SourceLocation = #_sourceLocation) -> [Delivery] {
        guard case .deliver(let pieces, _) = fate else {
            Issue.record("expected .deliver, got \(fate)", sourceLocation: sourceLocation)
            return []
        }
        return pieces
    }

    static func closes(_ fate: ChunkFate) -> Bool {
        if case .deliver(_, let thenClose) = fate { return thenClose }
        return false
    }

    /// Delays (delivery minus arrival) of `count` one-byte chunks spaced far enough apart that the
    /// no-overtaking rule never moves one.
    static func delays(_ link: inout LinkSchedule, count: Int, spacing: TimeSpan = .seconds(100)) -> [TimeSpan] {
        var out: [TimeSpan] = []
        for i in 0..<count {
            let arrival = Instant.zero + spacing * Int64(i)
            let p = pieces(link.admit(bytes: 1, at: arrival))
            guard p.count == 1 else {
                Issue.record("expected one piece, got \(p)")
                return out
            }
            out.append(p[0].at - arrival)
        }
        return out
    }

    static func latency(_ ms: Int64, jitter: Int64 = 0, distribution: Distribution? = nil, correlation: Double = 0) -> Condition {
        .latency(LatencyCondition(latency: .milliseconds(ms), jitter: .milliseconds(jitter),
                                  distribution: distribution, correlation: correlation))
    }

    static func bandwidth(_ bytesPerSecond: Double) -> Condition {
        .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: bytesPerSecond)))
    }
}

private typealias F = LinkFixture

@Suite("Link schedule")
struct LinkScheduleTests {
    // MARK: Passthrough

    @Test("no conditions: bytes and FIN pass at arrival")
    func noConditions() {
        var link = F.link([])
        #expect(link.isPassthrough)
        #expect(link.admit(bytes: 100, at: F.ms(5)) == .deliver([Delivery(at: F.ms(5), length: 100)], thenClose: false))
        #expect(link.admit(bytes: 7, at: F.ms(6)) == .deliver([Delivery(at: F.ms(6), length: 7)], thenClose: false))
        #expect(link.bytesDelivered == 107)
        #expect(link.bytesDropped == 0)
        #expect(link.lastDelivery == F.ms(6))
        #expect(link.admitClose(at: F.ms(9)) == .deliver(at: F.ms(9)))
    }

    @Test("an empty chunk is delivered as nothing and counts nothing")
    func emptyChunk() {
        var link = F.link([("lat", F.latency(100)), ("bh", .blackhole(BlackholeCondition()))])
        #expect(link.admit(bytes: 0, at: F.ms(1)) == .deliver([], thenClose: false))
        #expect(link.bytesDelivered == 0 && link.bytesDropped == 0)
    }

    @Test("isPassthrough: only data conditions that apply count")
    func passthrough() {
        func link(_ conditions: [ActiveCondition]) -> LinkSchedule {
            var l = LinkSchedule(random: SeededGenerator(seed: 1))
            l.setConditions(conditions)
            return l
        }
        #expect(link([]).isPassthrough)
        #expect(link([
            ActiveCondition(name: "r", condition: .reset(ResetCondition(after: .seconds(1))), since: .zero),
            ActiveCondition(name: "i", condition: .idleTimeout(IdleTimeoutCondition(after: .seconds(60))), since: .zero),
            ActiveCondition(name: "c", condition: .slowConnect(SlowConnectCondition(delay: .seconds(1))), since: .zero),
        ]).isPassthrough)
        #expect(link([
            ActiveCondition(name: "l", condition: F.latency(100), since: .zero, applies: false),
            ActiveCondition(name: "b", condition: .blackhole(BlackholeCondition()), since: .zero, applies: false),
            ActiveCondition(name: "s", condition: .stall(StallCondition()), since: .zero, applies: false),
        ]).isPassthrough)
        let dataConditions: [Condition] = [
            F.latency(0), F.bandwidth(1e9), .stall(StallCondition(duration: .zero)), .blackhole(BlackholeCondition()),
            .loss(LossCondition(model: .none)), .slicer(SlicerCondition(averageSize: 1_000_000)),
            .limitData(LimitDataCondition(bytes: .max)), .slowClose(SlowCloseCondition(delay: .zero)),
        ]
        for condition in dataConditions {
            #expect(!link([ActiveCondition(name: "x", condition: condition, since: .zero)]).isPassthrough,
                    "\(condition.kind) should disable the fast path")
            #expect(!link([
                ActiveCondition(name: "off", condition: condition, since: .zero, applies: false),
                ActiveCondition(name: "on", condition: condition, since: .zero),
            ]).isPassthrough)
        }
        // Not applying: data passes untouched.
        var off = link([ActiveCondition(name: "bh", condition: .blackhole(BlackholeCondition()), since: .zero, applies: false)])
        #expect(off.admit(bytes: 10, at: F.ms(3)) == .deliver([Delivery(at: F.ms(3), length: 10)], thenClose: false))
        #expect(off.admitClose(at: F.ms(4)) == .deliver(at: F.ms(4)))
    }

    // MARK: Latency

    @Test("constant latency: delivery = arrival + latency, exactly")
    func constantLatency() {
        var link = F.link([("lat", F.latency(100))])
        #expect(!link.isPassthrough)
        let chunks: [(Int64, Int)] = [(0, 1), (10, 10), (50, 100), (1_000, 1_000), (1_000, 5)]
        for (arrival, size) in chunks {
            #expect(link.admit(bytes: size, at: F.ms(arrival))
                    == .deliver([Delivery(at: F.ms(arrival + 100), length: size)], thenClose: false))
        }
        #expect(link.bytesDelivered == 1_116)
        #expect(link.lastDelivery == F.ms(1_100))
    }

    @Test("jitter: every delay within [L-J, L+J], spread across the range")
    func jitterBounds() {
        var link = F.link([("lat", F.latency(100, jitter: 20))])
        let delays = F.delays(&link, count: 2_000)
        #expect(delays.count == 2_000)
        #expect(delays.allSatisfy { $0 >= .milliseconds(80) && $0 <= .milliseconds(120) })
        #expect(delays.min()! < .milliseconds(81))
        #expect(delays.max()! > .milliseconds(119))
        #expect(Set(delays).count > 1_990)
        let mean = delays.reduce(0.0) { $0 + $1.milliseconds } / Double(delays.count)
        #expect(abs(mean - 100) < 1.5, "mean \(mean)")  // sd of the mean ≈ 0.26 ms
        // Uniform: about a quarter in each quarter of the range.
        let lowQuarter = delays.filter { $0 < .milliseconds(90) }.count
        #expect(abs(lowQuarter - 500) < 100)
    }

    @Test("jitter larger than the latency never gives a negative delay")
    func jitterClampsAtZero() {
        var link = F.link([("lat", F.latency(5, jitter: 20))])
        let delays = F.delays(&link, count: 1_000)
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(25) })
        let zeros = delays.filter { $0 == .zero }.count
        #expect(abs(zeros - 375) < 80, "P(delay = 0) = 15/40, got \(zeros)/1000")
    }

    @Test("latency distribution (nanoseconds) is added to the fixed part: uniform")
    func uniformDistribution() {
        var link = F.link([("lat", F.latency(10, distribution: .uniform(lower: 0, upper: 10_000_000)))])
        let delays = F.delays(&link, count: 4_000)
        #expect(delays.allSatisfy { $0 >= .milliseconds(10) && $0 <= .milliseconds(20) })
        let mean = delays.reduce(0.0) { $0 + $1.milliseconds } / Double(delays.count)
        #expect(abs(mean - 15) < 0.25, "mean \(mean)")  // sd of the mean ≈ 0.046 ms
    }

    @Test("latency distribution follows its law: lognormal median and mean")
    func lognormalDistribution() {
        let law = Distribution.lognormal(mu: log(20e6), sigma: 0.5)
        var link = F.link([("lat", F.latency(0, distribution: law))])
        let delays = F.delays(&link, count: 4_000).map(\.milliseconds).sorted()
        let mean = delays.reduce(0, +) / Double(delays.count)
        #expect(abs(mean - 20 * exp(0.125)) < 1.0, "mean \(mean)")  // ≈ 22.66 ms, sd of the mean ≈ 0.19 ms
        #expect(abs(delays[2_000] - 20) < 0.8, "median \(delays[2_000])")
        // 90th percentile: 20·e^(0.5·1.2816) ≈ 37.96 ms (sd of the estimate ≈ 1.3 ms).
        #expect(abs(delays[3_600] - 37.96) < 5, "p90 \(delays[3_600])")
    }

    @Test("a normal law below zero is clamped: delays are never negative")
    func normalDistributionClamped() {
        var link = F.link([("lat", F.latency(0, distribution: .normal(mean: 0, standardDeviation: 1_000_000)))])
        let delays = F.delays(&link, count: 2_000)
        #expect(delays.allSatisfy { $0 >= .zero })
        let zeros = delays.filter { $0 == .zero }.count
        #expect(abs(zeros - 1_000) < 120)
    }

    @Test("correlation makes successive delays similar")
    func correlatedDelays() {
        func lag1(_ correlation: Double) -> Double {
            let law = Distribution.normal(mean: 50e6, standardDeviation: 5e6)
            var link = F.link([("lat", F.latency(0, distribution: law, correlation: correlation))])
            let x = F.delays(&link, count: 3_000).map(\.milliseconds)
            let m = x.reduce(0, +) / Double(x.count)
            var num = 0.0, den = 0.0
            for i in x.indices {
                den += (x[i] - m) * (x[i] - m)
                if i > 0 { num += (x[i] - m) * (x[i - 1] - m) }
            }
            return num / den
        }
        #expect(abs(lag1(0)) < 0.08)
        #expect(abs(lag1(0.9) - 0.9) < 0.05)
    }

    @Test("latency is applied before later conditions in list order")
    func latencyThenBandwidth() {
        var link = F.link([("lat", F.latency(10)), ("bw", F.bandwidth(1_000_000))])
        // 1000 B at 1 MB/s after 10 ms of latency: 11 ms.
        #expect(F.pieces(link.admit(bytes: 1_000, at: .zero)) == [Delivery(at: F.ms(11), length: 1_000)])
    }

    @Test("huge or heavy-tailed latency saturates instead of crashing")
    func hugeLatencySaturates() {
        var link = F.link([("lat", .latency(LatencyCondition(latency: TimeSpan(nanoseconds: .max))))])
        #expect(F.pieces(link.admit(bytes: 10, at: F.ms(1))) == [Delivery(at: .distantFuture, length: 10)])
        #expect(F.pieces(link.admit(bytes: 10, at: F.ms(2))) == [Delivery(at: .distantFuture, length: 10)])
        #expect(link.admitClose(at: F.ms(3)) == .deliver(at: .distantFuture))

        // Jitter pushing a valid latency past Int64 nanoseconds.
        var jittery = F.link([("lat", .latency(LatencyCondition(latency: .nanoseconds(9_000_000_000_000_000_000),
                                                               jitter: .nanoseconds(1_000_000_000_000_000_000))))])
        var saturated = 0
        for i in 0..<200 {
            let arrival = F.ms(Int64(i))
            for piece in F.pieces(jittery.admit(bytes: 1, at: arrival)) {
                #expect(piece.at >= arrival + .nanoseconds(8_000_000_000_000_000_000))
                if piece.at == .distantFuture { saturated += 1 }
            }
        }
        #expect(saturated > 0)

        // A Pareto law with shape 0.1 has draws far beyond Int64 nanoseconds.
        var heavy = F.link([("lat", F.latency(0, distribution: .pareto(scale: 1e7, shape: 0.1)))])
        saturated = 0
        for i in 0..<1_000 {
            let p = F.pieces(heavy.admit(bytes: 1, at: F.ms(Int64(i))))
            if p.first?.at == .distantFuture { saturated += 1 }
        }
        #expect(saturated > 0)
    }

    // MARK: Bandwidth

    @Test("bandwidth: n bytes at rate r finish at arrival + n/r; back-to-back chunks queue; idle gaps reset")
    func bandwidthSerialisation() {
        var link = F.link([("bw", F.bandwidth(1_000_000))])  // 1 byte per µs
        #expect(F.pieces(link.admit(bytes: 1_000, at: .zero)) == [Delivery(at: F.ms(1), length: 1_000)])
        // Arrives at 0.5 ms while the first is still being sent: starts at 1 ms, ends at 3 ms.
        #expect(F.pieces(link.admit(bytes: 2_000, at: Instant(nanoseconds: 500_000))) == [Delivery(at: F.ms(3), length: 2_000)])
        #expect(F.pieces(link.admit(bytes: 1, at: Instant(nanoseconds: 2_000_000))) == [Delivery(at: Instant(nanoseconds: 3_001_000), length: 1)])
        // After an idle gap the link starts fresh.
        #expect(F.pieces(link.admit(bytes: 500, at: F.ms(10))) == [Delivery(at: Instant(nanoseconds: 10_500_000), length: 500)])
        #expect(link.bytesDelivered == 3_501)
    }

    @Test("bandwidth from a parsed rate: 8Mbit/s sends 1 MB in 1 s")
    func bandwidthParsedRate() throws {
        var link = F.link([("bw", .bandwidth(BandwidthCondition(rate: try ByteRate(parsing: "8Mbit/s"))))])
        #expect(F.pieces(link.admit(bytes: 1_000_000, at: F.ms(250))) == [Delivery(at: F.ms(1_250), length: 1_000_000)])
    }

    @Test("bandwidth serialises each slice in turn")
    func bandwidthAfterSlicer() {
        var link = F.link([("slice", .slicer(SlicerCondition(averageSize: 250))), ("bw", F.bandwidth(1_000))])
        #expect(F.pieces(link.admit(bytes: 1_000, at: .zero)) == [
            Delivery(at: F.ms(250), length: 250), Delivery(at: F.ms(500), length: 250),
            Delivery(at: F.ms(750), length: 250), Delivery(at: F.ms(1_000), length: 250),
        ])
    }

    @Test("bandwidth 0 holds data and FIN until the rate changes")
    func bandwidthZeroHolds() {
        var link = F.link([("bw", F.bandwidth(0))])
        #expect(link.admit(bytes: 100, at: F.ms(1)) == .hold)
        #expect(link.admitClose(at: F.ms(2)) == .hold)
        #expect(link.bytesDelivered == 0 && link.bytesDropped == 0)
        link.setConditions([ActiveCondition(name: "bw", condition: F.bandwidth(1_000), since: F.ms(5))])
        #expect(F.pieces(link.admit(bytes: 100, at: F.ms(5))) == [Delivery(at: F.ms(105), length: 100)])
        #expect(link.admitClose(at: F.ms(6)) == .deliver(at: F.ms(105)))
    }

    // MARK: Stall

    @Test("a stall until lifted holds data and FIN, and releases once removed")
    func stallUntilLifted() {
        var link = F.link([("lat", F.latency(10)), ("stall", .stall(StallCondition()))])
        #expect(link.admit(bytes: 100, at: F.ms(1)) == .hold)
        #expect(link.admit(bytes: 100, at: F.ms(2)) == .hold)
        #expect(link.admitClose(at: F.ms(3)) == .hold)
        #expect(link.bytesDelivered == 0 && link.bytesDropped == 0)
        link.setConditions([ActiveCondition(name: "lat", condition: F.latency(10), since: .zero)])
        // The driver re-admits held chunks when the stall is lifted.
        #expect(F.pieces(link.admit(bytes: 100, at: F.ms(5_000))) == [Delivery(at: F.ms(5_010), length: 100)])
        #expect(F.pieces(link.admit(bytes: 100, at: F.ms(5_000))) == [Delivery(at: F.ms(5_010), length: 100)])
        #expect(link.admitClose(at: F.ms(5_000)) == .deliver(at: F.ms(5_010)))
        #expect(link.bytesDelivered == 200)
    }

    @Test("a stall with a duration delays data to since + duration")
    func stallWithDuration() {
        var link = F.link(since: F.ms(1_000), [("stall", .stall(StallCondition(duration: .seconds(2))))])
        #expect(F.pieces(link.admit(bytes: 10, at: F.ms(1_000))) == [Delivery(at: F.ms(3_000), length: 10)])
        #expect(F.pieces(link.admit(bytes: 20, at: F.ms(2_999))) == [Delivery(at: F.ms(3_000), length: 20)])
        #expect(F.pieces(link.admit(bytes: 30, at: F.ms(3_000))) == [Delivery(at: F.ms(3_000), length: 30)])
        #expect(F.pieces(link.admit(bytes: 40, at: F.ms(3_500))) == [Delivery(at: F.ms(3_500), length: 40)])
        #expect(link.bytesDelivered == 100)
    }

    @Test("latency after a timed stall counts from the end of the stall")
    func stallThenLatency() {
        var link = F.link(since: .zero, [("stall", .stall(StallCondition(duration: .seconds(1)))), ("lat", F.latency(50))])
        #expect(F.pieces(link.admit(bytes: 10, at: F.ms(200))) == [Delivery(at: F.ms(1_050), length: 10)])
    }

    // MARK: Blackhole

    @Test("a blackhole drops data and FIN, counting the bytes")
    func blackholeDrops() {
        var link = F.link([("lat", F.latency(10)), ("bh", .blackhole(BlackholeCondition(closeAfter: .seconds(5))))])
        #expect(link.admit(bytes: 100, at: F.ms(1)) == .drop)
        #expect(link.admit(bytes: 23, at: F.ms(2)) == .drop)
        #expect(link.bytesDropped == 123)
        #expect(link.bytesDelivered == 0)
        #expect(link.admitClose(at: F.ms(3)) == .drop)
        link.setConditions([])
        #expect(F.pieces(link.admit(bytes: 5, at: F.ms(4))) == [Delivery(at: F.ms(4), length: 5)])
        #expect(link.bytesDropped == 123 && link.bytesDelivered == 5)
    }

    @Test("the first blocking condition decides between hold and drop")
    func blockingOrder() {
        var stallFirst = F.link([("s", .stall(StallCondition())), ("bh", .blackhole(BlackholeCondition()))])
        #expect(stallFirst.admit(bytes: 1, at: .zero) == .hold)
        #expect(stallFirst.bytesDropped == 0)
        var blackholeFirst = F.link([("bh", .blackhole(BlackholeCondition())), ("s", .stall(StallCondition()))])
        #expect(blackholeFirst.admit(bytes: 1, at: .zero) == .drop)
        #expect(blackholeFirst.bytesDropped == 1)
    }

    // MARK: Loss

    @Test("loss with p = 0 (or no model) adds nothing")
    func noLoss() {
        for model in [LossModel.none, .bernoulli(probability: 0)] {
            var link = F.link([("loss", .loss(LossCondition(model: model, segmentSize: 100)))])
            for i in 0..<50 {
                let arrival = F.ms(Int64(i) * 3)
                // 1000 bytes = 10 segments, all on time: one piece.
                #expect(link.admit(bytes: 1_000, at: arrival) == .deliver([Delivery(at: arrival, length: 1_000)], thenClose: false))
            }
            #expect(link.bytesDelivered == 50_000)
        }
    }

    @Test("loss with p = 1 is bounded by the one-hour cap")
    func totalLossIsCapped() {
        var link = F.link([("loss", .loss(LossCondition(model: .bernoulli(probability: 1))))])
        // 200 ms doubling to 102.4 s (sum 204.6 s), then 120 s each until past one hour: 204.6 + 29·120.
        let expected = TimeSpan.milliseconds(3_684_600)
        #expect(F.pieces(link.admit(bytes: 100, at: F.ms(1))) == [Delivery(at: F.ms(1) + expected, length: 100)])
        #expect(expected > .seconds(3_600) && expected <= .seconds(3_600) + .seconds(120))
        // A multi-segment chunk: every segment takes as long, so one piece.
        #expect(F.pieces(link.admit(bytes: 5_000, at: F.ms(2))) == [Delivery(at: F.ms(2) + expected, length: 5_000)])
    }

    @Test("total loss with a tiny RTO gives up after a bounded number of retransmissions")
    func totalLossTinyRTO() {
        // Before the fix this looped 3.6 million times per segment (3.6e12 with a 1 ns RTO).
        var link = F.link([("loss", .loss(LossCondition(model: .bernoulli(probability: 1), segmentSize: 10,
                                                           initialRTO: .milliseconds(1), maxRTO: .milliseconds(1))))])
        #expect(F.pieces(link.admit(bytes: 30, at: .zero)) == [Delivery(at: F.ms(1_000), length: 30)])
        var nano = F.link([("loss", .loss(LossCondition(model: .bernoulli(probability: 1), segmentSize: 1,
                                                           initialRTO: .nanoseconds(1), maxRTO: .nanoseconds(1))))])
        #expect(F.pieces(nano.admit(bytes: 100, at: .zero)) == [Delivery(at: Instant(nanoseconds: 1_000), length: 100)])
    }

    @Test("loss delays are sums of doubling RTOs from 200 ms, capped at maxRTO")
    func lossDelaysAreRTOSums() {
        var link = F.link([("loss", .loss(LossCondition(model: .bernoulli(probability: 0.5), maxRTO: .seconds(1))))])
        // 0, 0.2, 0.2+0.4, +0.8, then +1 each (capped).
        var allowed: [TimeSpan] = [.zero]
        var rto = TimeSpan.milliseconds(200)
        for _ in 0..<60 {
            allowed.append(allowed.last! + rto)
            rto = min(rto * 2, .seconds(1))
        }
        let delays = F.delays(&link, count: 2_000, spacing: .seconds(10_000))
        #expect(delays.allSatisfy { allowed.contains($0) }, "\(Set(delays).subtracting(allowed))")
        let counts = Dictionary(grouping: delays, by: { $0 }).mapValues(\.count)
        #expect(abs(counts[.zero, default: 0] - 1_000) < 100)
        #expect(abs(counts[.milliseconds(200), default: 0] - 500) < 80)
        #expect(abs(counts[.milliseconds(600), default: 0] - 250) < 60)
        #expect(abs(counts[.milliseconds(1_400), default: 0] - 125) < 45)
        #expect(counts[.milliseconds(2_400), default: 0] > 20)
        #expect(counts[.milliseconds(3_400), default: 0] > 5)
    }

    @Test("loss matches an independent replay of its stream, with head-of-line blocking")
    func lossReplayAndHeadOfLine() {
        let model = LossModel.gilbertElliott(p: 0.2, r: 0.5, lossInBad: 0.7, lossInGood: 0.05)
        let condition = LossCondition(model: model, segmentSize: 100, initialRTO: .milliseconds(50), maxRTO: .milliseconds(400))
        var link = F.link(seed: 99, [("lossy", .loss(condition))])
        // Replay: the condition's stream is the link's generator derived by the hash of its name.
        var rng = SeededGenerator(seed: 99).derived(StableHash.fnv1a("lossy"))
        var process = LossProcess(model: model)
        var last = Instant.zero
        var headOfLine = 0
        var arrival = Instant.zero
        for i in 0..<400 {
            arrival = arrival + .milliseconds(Int64(i % 7) * 40)
            let size = 1 + (i * 37) % 450
            var expected: [Delivery] = []
            var offset = 0
            var firstExtra = TimeSpan.zero
            while offset < size {
                let length = min(100, size - offset)
                var extra = TimeSpan.zero
                var rto = TimeSpan.milliseconds(50)
                // First transmissions follow the chain; retransmissions are lost at its long-run rate.
                var lost = process.isLost(using: &rng)
                while lost {
                    extra = extra + rto
                    rto = min(rto * 2, .milliseconds(400))
                    lost = rng.nextUnit() < model.stationaryLossRate
                }
                if offset == 0 { firstExtra = extra } else if firstExtra > .zero && extra == .zero { headOfLine += 1 }
                let at = max(arrival + extra, last)
                last = at
                if let l = expected.last, l.at == at {
                    expected[expected.count - 1].length += length
                } else {
                    expected.append(Delivery(at: at, length: length))
                }
                offset += length
            }
            #expect(link.admit(bytes: size, at: arrival) == .deliver(expected, thenClose: false), "chunk \(i)")
        }
        #expect(headOfLine > 10, "the sample should include segments held behind a lost one")
    }

    @Test("a lost segment holds back the segments after it, and later chunks")
    func headOfLineBlocking() {
        // 4-state chain with p13 = 1, p32 = 1, p23 = 0: the first packet is lost (1 -> 3), its
        // retransmission gets through (3 -> 2) and the chain then stays in 2, losing nothing more.
        let model = LossModel.fourState(p13: 1, p31: 0, p32: 1, p23: 0, p14: 0)
        var link = F.link([("loss", .loss(LossCondition(model: model, segmentSize: 100)))])
        // Segment 1 is retransmitted after 200 ms; segments 2 and 3 arrived on time but wait behind it.
        #expect(F.pieces(link.admit(bytes: 300, at: .zero)) == [Delivery(at: F.ms(200), length: 300)])
        #expect(F.pieces(link.admit(bytes: 100, at: F.ms(1))) == [Delivery(at: F.ms(200), length: 100)])
        #expect(F.pieces(link.admit(bytes: 100, at: F.ms(500))) == [Delivery(at: F.ms(500), length: 100)])
    }

    @Test("retransmissions do not move the chain: an alternating chain loses every other new segment")
    func alternatingLoss() {
        // 4-state chain 1 -> 3 -> 2 -> 3 -> 2 ... (p13 = p32 = p23 = 1): new segments are lost,
        // received, lost, received, whatever happens to the retransmissions in between (each is
        // lost at the chain's long-run rate, 1/2, by its own draw).
        let model = LossModel.fourState(p13: 1, p31: 0, p32: 1, p23: 1, p14: 0)
        #expect(model.stationaryLossRate == 0.5)
        var link = F.link([("loss", .loss(LossCondition(model: model, segmentSize: 100)))])
        for i in 0..<40 {
            let arrival = F.sec(Double(i) * 3_600)  // far apart: no head-of-line blocking
            let at = F.pieces(link.admit(bytes: 100, at: arrival)).last!.at
            if i % 2 == 0 {
                #expect(at - arrival >= .milliseconds(200), "segment \(i) is lost at least once")
            } else {
                #expect(at == arrival, "segment \(i) gets through at once")
            }
        }
    }

    @Test("a burst hits consecutive new segments, but does not hold one segment for its whole length")
    func burstsDoNotPinRetransmissions() {
        // Long bursts: 50 packets on average (r = 2 %), a third of the time in the bad state, which
        // loses everything. A retransmission an RTO later is lost at 1/3, whatever the chain's state.
        let model = LossModel.gilbertElliott(p: 0.01, r: 0.02, lossInBad: 1, lossInGood: 0)
        var link = F.link(seed: 3, [("burst", .loss(LossCondition(model: model, segmentSize: 100)))])
        var longestRun = 0, run = 0, lostSegments = 0, maxRetries = 0
        for i in 0..<20_000 {
            let arrival = F.sec(Double(i) * 600)  // far apart: no head-of-line blocking between them
            let at = F.pieces(link.admit(bytes: 100, at: arrival)).last!.at
            let extra = (at - arrival).nanoseconds / 1_000_000
            var retries = 0
            var rto: Int64 = 200, total: Int64 = 0
            while total < extra {
                total += rto
                rto = min(rto * 2, 120_000)
                retries += 1
            }
            #expect(total == extra, "segment \(i): the extra delay is a sum of RTOs")
            maxRetries = max(maxRetries, retries)
            if retries > 0 { lostSegments += 1; run += 1; longestRun = max(longestRun, run) } else { run = 0 }
        }
        #expect((5_300...8_000).contains(lostSegments), "about a third of the segments meet the bad state")
        #expect(longestRun >= 20, "bursts still hit runs of consecutive new segments")
        #expect(maxRetries <= 12, "retries pass at 2/3 each: none needs a burst's length of them")
    }

    // MARK: Slicer

    @Test("slicer: sizes within [avg-var, avg+var], slices delay apart, lengths add up")
    func slicerSizesAndDelays() {
        var link = F.link([("slice", .slicer(SlicerCondition(averageSize: 100, sizeVariation: 30, delay: .milliseconds(5))))])
        let pieces = F.pieces(link.admit(bytes: 100_000, at: F.ms(7)))
        #expect(pieces.reduce(0) { $0 + $1.length } == 100_000)
        let whole = pieces.dropLast().map(\.length)
        #expect(whole.allSatisfy { (70...130).contains($0) })
        #expect((1...130).contains(pieces.last!.length))
        // About 1000 slices over 61 sizes: both ends and every size in between show up.
        #expect(whole.min() == 70 && whole.max() == 130)
        #expect(Set(whole).count == 61)
        let mean = Double(whole.reduce(0, +)) / Double(whole.count)
        #expect(abs(mean - 100) < 2.5, "mean slice \(mean)")
        var ok = true
        for (i, piece) in pieces.enumerated() where piece.at != F.ms(7 + 5 * Int64(i)) { ok = false }
        #expect(ok, "slices must be exactly 5 ms apart")
    }

    @Test("slicer without variation cuts exact slices")
    func slicerExact() {
        var link = F.link([("slice", .slicer(SlicerCondition(averageSize: 40, delay: .milliseconds(1))))])
        #expect(F.pieces(link.admit(bytes: 100, at: .zero)) == [
            Delivery(at: .zero, length: 40), Delivery(at: F.ms(1), length: 40), Delivery(at: F.ms(2), length: 20),
        ])
        // The next chunk's slices start at its own arrival, after the earlier ones.
        #expect(F.pieces(link.admit(bytes: 50, at: F.ms(1))) == [
            Delivery(at: F.ms(2), length: 40), Delivery(at: F.ms(2), length: 10),
        ])
    }

    @Test("slicer with zero delay still delivers separate slices")
    func slicerZeroDelay() {
        var link = F.link([("slice", .slicer(SlicerCondition(averageSize: 10)))])
        #expect(F.pieces(link.admit(bytes: 35, at: F.ms(3))) == [
            Delivery(at: F.ms(3), length: 10), Delivery(at: F.ms(3), length: 10),
            Delivery(at: F.ms(3), length: 10), Delivery(at: F.ms(3), length: 5),
        ])
        // Loss segments inside one slice are still one write.
        var lossy = F.link([("slice", .slicer(SlicerCondition(averageSize: 10))),
                            ("loss", .loss(LossCondition(model: .none, segmentSize: 3)))])
        #expect(F.pieces(lossy.admit(bytes: 20, at: .zero)) == [Delivery(at: .zero, length: 10), Delivery(at: .zero, length: 10)])
    }

    @Test("huge valid slicer sizes do not overflow")
    func slicerHugeSizes() {
        let huge = Condition.slicer(SlicerCondition(averageSize: .max, sizeVariation: .max - 1, delay: .milliseconds(1)))
        #expect(throws: Never.self) { try huge.validate() }
        var link = F.link([("slice", huge)])
        // Slices are 1 ... 2^64 - 2 bytes: this chunk is one slice (unless a draw below 99 comes up).
        #expect(F.pieces(link.admit(bytes: 100, at: .zero)) == [Delivery(at: .zero, length: 100)])
        var exact = F.link([("slice", .slicer(SlicerCondition(averageSize: .max)))])
        #expect(F.pieces(exact.admit(bytes: 1_000, at: F.ms(1))) == [Delivery(at: F.ms(1), length: 1_000)])
    }

    // MARK: limit_data

    @Test("limit_data delivers exactly the limit across chunks, then closes")
    func limitData() {
        var link = F.link([("lat", F.latency(10)), ("limit", .limitData(LimitDataCondition(bytes: 250)))])
        #expect(link.admit(bytes: 100, at: F.ms(0)) == .deliver([Delivery(at: F.ms(10), length: 100)], thenClose: false))
        #expect(link.admit(bytes: 100, at: F.ms(1)) == .deliver([Delivery(at: F.ms(11), length: 100)], thenClose: false))
        #expect(link.admit(bytes: 100, at: F.ms(2)) == .deliver([Delivery(at: F.ms(12), length: 50)], thenClose: true))
        #expect(link.bytesDelivered == 250)
        #expect(link.bytesDropped == 50)
        #expect(link.admit(bytes: 10, at: F.ms(3)) == .deliver([], thenClose: true))
        #expect(link.bytesDelivered == 250)
        #expect(link.bytesDropped == 60)
    }

    @Test("limit_data reached exactly closes too; limit 0 closes at once")
    func limitDataExact() {
        var link = F.link([("limit", .limitData(LimitDataCondition(bytes: 200)))])
        #expect(link.admit(bytes: 100, at: .zero) == .deliver([Delivery(at: .zero, length: 100)], thenClose: false))
        #expect(link.admit(bytes: 100, at: .zero) == .deliver([Delivery(at: .zero, length: 100)], thenClose: true))
        var zero = F.link([("limit", .limitData(LimitDataCondition(bytes: 0)))])
        #expect(zero.admit(bytes: 5, at: .zero) == .deliver([], thenClose: true))
        #expect(zero.bytesDropped == 5 && zero.bytesDelivered == 0)
    }

    @Test("limit_data cuts inside the slices of a slicer")
    func limitDataAfterSlicer() {
        var link = F.link([("slice", .slicer(SlicerCondition(averageSize: 30, delay: .milliseconds(1)))),
                           ("limit", .limitData(LimitDataCondition(bytes: 70)))])
        #expect(link.admit(bytes: 100, at: .zero) == .deliver([
            Delivery(at: .zero, length: 30), Delivery(at: F.ms(1), length: 30), Delivery(at: F.ms(2), length: 10),
        ], thenClose: true))
        #expect(link.bytesDelivered == 70 && link.bytesDropped == 30)
    }

    // MARK: FIN

    @Test("slow_close delays the FIN after the last data")
    func slowClose() {
        var link = F.link([("lat", F.latency(100)), ("sc", .slowClose(SlowCloseCondition(delay: .milliseconds(50))))])
        #expect(F.pieces(link.admit(bytes: 10, at: .zero)) == [Delivery(at: F.ms(100), length: 10)])
        // The FIN sent at 10 ms takes the 100 ms latency too (110 ms, after the data at 100 ms),
        // then the 50 ms slow close.
        #expect(link.admitClose(at: F.ms(10)) == .deliver(at: F.ms(160)))
        #expect(link.lastDelivery == F.ms(160))

        var idle = F.link([("sc", .slowClose(SlowCloseCondition(delay: .milliseconds(50)))),
                           ("sc2", .slowClose(SlowCloseCondition(delay: .milliseconds(30))))])
        #expect(idle.admitClose(at: F.ms(1_000)) == .deliver(at: F.ms(1_080)))
    }

    @Test("a FIN is never delivered before the data queued ahead of it")
    func finAfterQueuedData() {
        var link = F.link([("bw", F.bandwidth(1_000))])
        #expect(F.pieces(link.admit(bytes: 1_000, at: .zero)) == [Delivery(at: F.ms(1_000), length: 1_000)])
        #expect(link.admitClose(at: F.ms(100)) == .deliver(at: F.ms(1_000)))

        var lossy = F.link([("loss", .loss(LossCondition(model: .bernoulli(probability: 1), initialRTO: .milliseconds(100),
                                                            maxRTO: .milliseconds(100))))])
        let data = F.pieces(lossy.admit(bytes: 10, at: .zero))
        #expect(data == [Delivery(at: .zero + .milliseconds(100) * 1_000, length: 10)])
        #expect(lossy.admitClose(at: F.ms(1)) == .deliver(at: data[0].at))
    }

    // MARK: Ordering and conservation

    /// A random combination of conditions and a random chunk sequence; returns everything observed.
    private static func randomRun(case index: Int) -> (fates: [ChunkFate], close: CloseFate, admitted: Int64,
                                                         arrivals: [Instant], link: LinkSchedule, closeArrival: Instant) {
        var r = SeededGenerator(seed: 0xF1A7_11E, stream: [UInt64(index)])
        func uniform(_ n: Int) -> Int { Int(r.next() % UInt64(n)) }
        func coin(_ oneIn: Int = 2) -> Bool { uniform(oneIn) == 0 }
        var conditions: [(String, Condition)] = []
        if coin() {
            let law: Distribution? = coin(3) ? .normal(mean: Double(uniform(20)) * 1e6, standardDeviation: 5e6) : nil
            conditions.append(("lat", F.latency(Int64(uniform(50)), jitter: Int64(uniform(200)), distribution: law,
                                                correlation: coin(3) ? 0.8 : 0)))
        }
        if coin() {
            let average = 2 + uniform(60)
            conditions.append(("slice", .slicer(SlicerCondition(averageSize: average, sizeVariation: uniform(average),
                                                                delay: .microseconds(Int64(uniform(3_000)))))))
        }
        if coin() {
            let rto = TimeSpan.milliseconds(Int64(1 + uniform(50)))
            conditions.append(("loss", .loss(LossCondition(model: .bernoulli(probability: Double(uniform(60)) / 100),
                                                           segmentSize: 8 + uniform(200), initialRTO: rto,
                                                           maxRTO: rto * Int64(1 + uniform(4))))))
        }
        if coin() { conditions.append(("bw", F.bandwidth(Double(1_000 + uniform(10_000_000))))) }
        if coin(4) { conditions.append(("limit", .limitData(LimitDataCondition(bytes: Int64(uniform(3_000)))))) }
        if coin(4) { conditions.append(("stall", .stall(StallCondition(duration: .milliseconds(Int64(uniform(300))))))) }
        if coin(4) { conditions.append(("sc", .slowClose(SlowCloseCondition(delay: .milliseconds(Int64(uniform(100))))))) }
        for i in conditions.indices.reversed() where i > 0 {
            conditions.swapAt(i, uniform(i + 1))
        }
        var link = F.link(seed: UInt64(index), since: F.ms(Int64(uniform(100))), conditions)
        var fates: [ChunkFate] = []
        var arrivals: [Instant] = []
        var admitted: Int64 = 0
        var now = F.ms(Int64(uniform(100)))
        for _ in 0..<(1 + uniform(10)) {
            if !coin(3) { now = now + .microseconds(Int64(uniform(100_000))) }
            let size = 1 + uniform(300)
            admitted += Int64(size)
            arrivals.append(now)
            fates.append(link.admit(bytes: size, at: now))
        }
        let closeArrival = now + .microseconds(Int64(uniform(50_000)))
        let close = link.admitClose(at: closeArrival)
        return (fates, close, admitted, arrivals, link, closeArrival)
    }

    @Test("random chunks under random conditions: never reordered, nothing lost, no empty piece")
    func orderingProperty() {
        var sawThenClose = false
        var maxPieces = 0
        for index in 0..<3_000 {
            let run = Self.randomRun(case: index)
            var last = Instant.zero
            var delivered: Int64 = 0
            for (fate, arrival) in zip(run.fates, run.arrivals) {
                guard case .deliver(let pieces, let thenClose) = fate else {
                    Issue.record("case \(index): unexpected \(fate)")
                    continue
                }
                sawThenClose = sawThenClose || thenClose
                maxPieces = max(maxPieces, pieces.count)
                for piece in pieces {
                    #expect(piece.length > 0, "case \(index): empty piece")
                    #expect(piece.at >= last, "case \(index): reordered, \(piece.at) before \(last)")
                    #expect(piece.at >= arrival, "case \(index): delivered before it arrived")
                    last = piece.at
                    delivered += Int64(piece.length)
                }
            }
            #expect(delivered == run.link.bytesDelivered, "case \(index)")
            #expect(run.link.bytesDelivered + run.link.bytesDropped == run.admitted, "case \(index)")
            guard case .deliver(let closeAt) = run.close else {
                Issue.record("case \(index): FIN not delivered: \(run.close)")
                continue
            }
            #expect(closeAt >= last && closeAt >= run.closeArrival, "case \(index): FIN before data")
            #expect(run.link.lastDelivery == closeAt)
        }
        #expect(sawThenClose)
        #expect(maxPieces > 20)
    }

    // MARK: Determinism

    @Test("same seed and inputs give identical outputs; another seed differs")
    func determinism() {
        for index in [3, 17, 256, 1_999] {
            let a = Self.randomRun(case: index)
            let b = Self.randomRun(case: index)
            #expect(a.fates == b.fates && a.close == b.close)
        }
        let condition: [(String, Condition)] = [("lat", F.latency(50, jitter: 40)), ("loss", .loss(LossCondition(model: .bernoulli(probability: 0.3))))]
        var one = F.link(seed: 1, condition)
        var same = F.link(seed: 1, condition)
        var other = F.link(seed: 2, condition)
        let d1 = F.delays(&one, count: 100), d2 = F.delays(&same, count: 100), d3 = F.delays(&other, count: 100)
        #expect(d1 == d2)
        #expect(d1 != d3)
    }

    @Test("adding an unrelated condition does not change another's draws (streams per name)")
    func streamsPerConditionName() {
        let jitter = F.latency(100, jitter: 50)
        var alone = F.link(seed: 5, [("lat", jitter)])
        var withOthers = LinkSchedule(random: SeededGenerator(seed: 5))
        withOthers.setConditions([
            ActiveCondition(name: "sc", condition: .slowClose(SlowCloseCondition(delay: .milliseconds(5))), since: .zero),
            ActiveCondition(name: "lat", condition: jitter, since: .zero),
            ActiveCondition(name: "limit", condition: .limitData(LimitDataCondition(bytes: .max)), since: .zero),
            ActiveCondition(name: "loss0", condition: .loss(LossCondition(model: .bernoulli(probability: 0))), since: .zero),
            ActiveCondition(name: "bh", condition: .blackhole(BlackholeCondition()), since: .zero, applies: false),
        ])
        var renamed = F.link(seed: 5, [("lat2", jitter)])
        let base = F.delays(&alone, count: 300)
        #expect(F.delays(&withOthers, count: 300) == base)
        #expect(F.delays(&renamed, count: 300) != base)
    }

    @Test("setConditions keeps the state of an unchanged condition: bandwidth queue")
    func keepsBandwidthQueue() {
        let bw = ActiveCondition(name: "bw", condition: F.bandwidth(1_000), since: .zero)
        var kept = LinkSchedule(random: SeededGenerator(seed: 1))
        kept.setConditions([bw])
        #expect(F.pieces(kept.admit(bytes: 1_000, at: .zero)) == [Delivery(at: F.ms(1_000), length: 1_000)])
        kept.setConditions([bw, ActiveCondition(name: "sc", condition: .slowClose(SlowCloseCondition(delay: .zero)), since: .zero)])
        // Still busy until 1 s: 4000 B at 1 kB/s end at 5 s.
        #expect(F.pieces(kept.admit(bytes: 4_000, at: F.ms(100))) == [Delivery(at: F.ms(5_000), length: 4_000)])

        var changed = LinkSchedule(random: SeededGenerator(seed: 1))
        changed.setConditions([bw])
        _ = changed.admit(bytes: 1_000, at: .zero)
        changed.setConditions([ActiveCondition(name: "bw", condition: F.bandwidth(2_000), since: F.ms(100))])
        // A fresh queue: 4000 B at 2 kB/s from 0.1 s end at 2.1 s.
        #expect(F.pieces(changed.admit(bytes: 4_000, at: F.ms(100))) == [Delivery(at: F.ms(2_100), length: 4_000)])
    }

    @Test("setConditions keeps the state of an unchanged condition: limit counter")
    func keepsLimitCounter() {
        let limit = ActiveCondition(name: "limit", condition: .limitData(LimitDataCondition(bytes: 150)), since: .zero)
        var kept = LinkSchedule(random: SeededGenerator(seed: 1))
        kept.setConditions([limit])
        _ = kept.admit(bytes: 100, at: .zero)
        kept.setConditions([limit])
        #expect(kept.admit(bytes: 100, at: F.ms(1)) == .deliver([Delivery(at: F.ms(1), length: 50)], thenClose: true))

        var changed = LinkSchedule(random: SeededGenerator(seed: 1))
        changed.setConditions([limit])
        _ = changed.admit(bytes: 100, at: .zero)
        changed.setConditions([ActiveCondition(name: "limit", condition: .limitData(LimitDataCondition(bytes: 160)), since: .zero)])
        #expect(changed.admit(bytes: 100, at: F.ms(1)) == .deliver([Delivery(at: F.ms(1), length: 100)], thenClose: false))

        // Removing and re-adding also starts afresh.
        var readded = LinkSchedule(random: SeededGenerator(seed: 1))
        readded.setConditions([limit])
        _ = readded.admit(bytes: 100, at: .zero)
        readded.setConditions([])
        readded.setConditions([limit])
        #expect(readded.admit(bytes: 100, at: F.ms(1)) == .deliver([Delivery(at: F.ms(1), length: 100)], thenClose: false))
    }

    @Test("setConditions keeps an unchanged condition's random stream; a changed one restarts it")
    func keepsRandomStream() {
        let lat = ActiveCondition(name: "lat", condition: F.latency(100, jitter: 50), since: .zero)
        var reference = LinkSchedule(random: SeededGenerator(seed: 3))
        reference.setConditions([lat])
        let expected = F.delays(&reference, count: 20)

        var kept = LinkSchedule(random: SeededGenerator(seed: 3))
        kept.setConditions([lat])
        var got = F.delays(&kept, count: 10)
        kept.setConditions([lat, ActiveCondition(name: "other", condition: F.latency(0), since: .zero)])
        for i in 10..<20 {
            let arrival = Instant.zero + .seconds(100) * Int64(i)
            got.append(F.pieces(kept.admit(bytes: 1, at: arrival))[0].at - arrival)
        }
        #expect(got == expected)

        var restarted = LinkSchedule(random: SeededGenerator(seed: 3))
        restarted.setConditions([lat])
        _ = F.delays(&restarted, count: 10)
        var changedLat = lat
        changedLat.condition = F.latency(100, jitter: 51)
        restarted.setConditions([changedLat])
        restarted.setConditions([lat])
        let arrival = Instant.zero + .seconds(5_000)
        #expect(F.pieces(restarted.admit(bytes: 1, at: arrival))[0].at - arrival == expected[0])
    }
}

/// A FIN is a segment too: on an idle link it takes the link's latency and waits out a timed stall.
@Suite("FIN timing") struct FINTimingTests {
    @Test func finOnIdleLinkTakesTheLatency() {
        var link = LinkSchedule(random: SeededGenerator(seed: 3))
        link.setConditions([ActiveCondition(name: "lat", condition: .latency(LatencyCondition(latency: .milliseconds(500))),
                                            since: .zero)])
        #expect(link.admitClose(at: Instant(nanoseconds: 1_000)) == .deliver(at: Instant(nanoseconds: 500_001_000)))
    }

    @Test func finWaitsOutATimedStall() {
        var link = LinkSchedule(random: SeededGenerator(seed: 3))
        link.setConditions([ActiveCondition(name: "st", condition: .stall(StallCondition(duration: .seconds(2))),
                                            since: .zero)])
        #expect(link.admitClose(at: Instant(nanoseconds: 1_000)) == .deliver(at: Instant(nanoseconds: 2_000_000_000)))
    }
}
