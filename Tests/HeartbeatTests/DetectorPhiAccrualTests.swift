#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Heartbeat
import LabCore
import Testing

private func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

/// Akka's φ written out again, independently of the detector: the logistic approximation of the
/// normal tail, -log10(1 - F(t)), with the branch Akka uses to avoid cancellation.
private func akkaPhi(elapsed: Double, mean: Double, sd: Double) -> Double {
    let y = (elapsed - mean) / sd
    let e = exp(-y * (1.5976 + 0.070566 * y * y))
    return elapsed > mean ? -log10(e / (1 + e)) : -log10(1 - 1 / (1 + e))
}

/// The standard score at which Akka's φ reaches `threshold`, by bisection on the formula above.
private func crossingScore(threshold: Double) -> Double {
    var low = -20.0, high = 20.0
    for _ in 0..<200 {
        let middle = (low + high) / 2
        if akkaPhi(elapsed: middle, mean: 0, sd: 1) >= threshold { high = middle } else { low = middle }
    }
    return high
}

@Suite struct PhiAccrualDetectorTests {
    @Test func defaultsAreAkkas() throws {
        let detector = try PhiAccrualDetector()
        #expect(detector.threshold == 8)
        #expect(detector.maxSampleSize == 1000)
        #expect(detector.minStdDeviation == .milliseconds(100))
        #expect(detector.acceptableHeartbeatPause == .seconds(3))
        #expect(detector.firstHeartbeatEstimate == .seconds(1))
        #expect(detector.name == "phi 8.0 pause 3s")
    }

    @Test func notMonitoringBeforeTheFirstHeartbeat() throws {
        let detector = try PhiAccrualDetector()
        #expect(detector.phi(at: ms(1_000_000)) == 0)
        #expect(detector.isAvailable(at: ms(1_000_000)))
        #expect(detector.deadline(after: ms(0)) == .distantFuture)
    }

    /// Heartbeats at 0..4 s: the history is the bootstrap pair 750, 1250 ms plus four 1000 ms
    /// intervals, so mean = 6000/6 = 1000 ms and variance = 6 125 000/6 − 1000² = 20 833.3 ms².
    @Test func phiMatchesAkkasFormulaForAKnownMeanAndDeviation() throws {
        var detector = try PhiAccrualDetector(acceptableHeartbeatPause: .zero)
        for second in Int64(0)...4 { detector.heartbeat(at: ms(second * 1000)) }
        #expect(detector.sampleCount == 6)
        let mean = 1000e6, sd = (6_125_000.0 / 6 - 1_000_000).squareRoot() * 1e6
        #expect(detector.intervalMeanNanoseconds == mean)
        #expect(abs(detector.intervalStandardDeviationNanoseconds! - sd) < 1e-3)

        let phi = detector.phi(at: ms(5500))  // 1.5 s of silence: y = 500/144.34 = 3.46
        #expect(abs(phi - akkaPhi(elapsed: 1500e6, mean: mean, sd: sd)) < 1e-12)
        #expect(abs(phi - 3.677532892458569) < 1e-9)
        #expect(detector.isAvailable(at: ms(5500)))
        #expect(abs(detector.suspicion(at: ms(5500)) - phi / 8) < 1e-15)
    }

    @Test func aStopIsSuspectedWhereAkkasPhiCrossesTheThreshold() throws {
        var detector = try PhiAccrualDetector(acceptableHeartbeatPause: .zero)
        for second in Int64(0)...4 { detector.heartbeat(at: ms(second * 1000)) }
        let sd = (6_125_000.0 / 6 - 1_000_000).squareRoot() * 1e6
        let expected = 4e9 + 1000e6 + crossingScore(threshold: 8) * sd  // ≈ 5.754 306 s
        let deadline = detector.deadline(after: ms(4000))
        #expect(abs(Double(deadline.nanoseconds) - expected) < 1000)  // within 1 µs
        #expect(detector.phi(at: deadline) >= 8)
        #expect(detector.phi(at: deadline - .nanoseconds(1)) < 8)
        #expect(detector.isAvailable(at: deadline - .nanoseconds(1)))
        #expect(!detector.isAvailable(at: deadline))
    }

    @Test func theFirstHeartbeatUsesTheBootstrapEstimate() throws {
        var detector = try PhiAccrualDetector()
        detector.heartbeat(at: ms(0))
        // mean 1 s + pause 3 s, sd = 250 ms (the bootstrap pair 750/1250 ms).
        let expected = 4e9 + crossingScore(threshold: 8) * 250e6  // ≈ 5.306 s
        #expect(abs(Double(detector.deadline(after: ms(0)).nanoseconds) - expected) < 1000)
    }

    @Test func theAcceptablePauseShiftsTheMean() throws {
        var shifted = try PhiAccrualDetector(acceptableHeartbeatPause: .seconds(3))
        var plain = try PhiAccrualDetector(acceptableHeartbeatPause: .zero)
        for second in Int64(0)...4 {
            shifted.heartbeat(at: ms(second * 1000))
            plain.heartbeat(at: ms(second * 1000))
        }
        #expect(shifted.phi(at: ms(8500)) == plain.phi(at: ms(5500)))
        #expect(shifted.deadline(after: ms(4000)) == plain.deadline(after: ms(4000)) + .seconds(3))
    }

    /// With maxSampleSize 3, the bootstrap intervals age out and regular 1 s heartbeats leave a zero
    /// deviation, floored at 100 ms; 1.5 s of silence is then y = 5, φ = 7.30 (< 8): still trusted,
    /// so that interval is recorded and the history becomes 1000, 1000, 1500 ms.
    @Test func theDeviationFloorAndTheSampleWindow() throws {
        var detector = try PhiAccrualDetector(maxSampleSize: 3, acceptableHeartbeatPause: .zero)
        for second in Int64(0)...3 { detector.heartbeat(at: ms(second * 1000)) }
        #expect(detector.sampleCount == 3)
        #expect(detector.intervalStandardDeviationNanoseconds == 0)
        let phi = detector.phi(at: ms(4500))
        #expect(abs(phi - akkaPhi(elapsed: 1500, mean: 1000, sd: 100)) < 1e-12)
        #expect(abs(phi - 7.299947394460206) < 1e-9)

        detector.heartbeat(at: ms(4500))
        #expect(detector.sampleCount == 3)
        #expect(abs(detector.intervalMeanNanoseconds! - 3500e6 / 3) < 1e-3)
        // n²·variance = 3·(1 + 1 + 2.25)e18 − (3.5e9)² = 0.5e18
        #expect(abs(detector.intervalStandardDeviationNanoseconds! - (0.5e18 / 9).squareRoot()) < 1e-3)
    }

    @Test func aHeartbeatAfterSuspicionIsNotRecordedAsAnInterval() throws {
        var detector = try PhiAccrualDetector(acceptableHeartbeatPause: .zero)
        for second in Int64(0)...4 { detector.heartbeat(at: ms(second * 1000)) }
        detector.heartbeat(at: ms(20_000))
        #expect(detector.sampleCount == 6)
        #expect(detector.intervalMeanNanoseconds == 1000e6)
        #expect(detector.lastHeartbeat == ms(20_000))
        #expect(detector.isAvailable(at: ms(20_500)))
    }

    @Test func regularHeartbeatsAreNeverSuspected() throws {
        let arrivals = HeartbeatTrace.periodicArrivals(from: ms(0), every: .seconds(1), through: ms(600_000))
        let trace = try HeartbeatTrace(arrivals: arrivals, end: ms(600_500))
        #expect(trace.evaluate(try PhiAccrualDetector()).falseSuspicions == 0)
        #expect(trace.evaluate(try PhiAccrualDetector(acceptableHeartbeatPause: .zero)).falseSuspicions == 0)
    }

    /// Where φ crosses the threshold against where the exact normal tail would: the logistic
    /// approximation is close in the body (threshold 2: y = 2.3227 vs Φ⁻¹(0.99) = 2.3263) and
    /// thinner far out (threshold 8: y = 5.226 vs 5.612), so Akka's φ suspects about 0.39 sd earlier
    /// than a detector using the true normal tail.
    @Test func thresholdCrossingAgainstTheNormalTail() throws {
        for (threshold, tolerance, logistic) in [(2.0, 0.005, 2.322745535429869), (8.0, 0.4, 5.225986644093564)] {
            var detector = try PhiAccrualDetector(threshold: threshold, acceptableHeartbeatPause: .zero)
            for second in Int64(0)...4 { detector.heartbeat(at: ms(second * 1000)) }
            let mean = 1000e6, sd = detector.intervalStandardDeviationNanoseconds!
            let elapsed = Double((detector.deadline(after: ms(4000)) - ms(4000)).nanoseconds)
            let score = (elapsed - mean) / sd
            let normal = -standardNormalQuantile(pow(10, -threshold))
            #expect(abs(score - logistic) < 1e-6)
            #expect(score < normal)
            #expect(normal - score < tolerance)
        }
    }

    @Test func invalidParametersAreErrors() {
        #expect(throws: DetectorConfigurationError.self) { try PhiAccrualDetector(threshold: 0) }
        #expect(throws: DetectorConfigurationError.self) { try PhiAccrualDetector(maxSampleSize: 0) }
        #expect(throws: DetectorConfigurationError.self) { try PhiAccrualDetector(minStdDeviation: .zero) }
        #expect(throws: DetectorConfigurationError.self) { try PhiAccrualDetector(acceptableHeartbeatPause: .milliseconds(-1)) }
        #expect(throws: DetectorConfigurationError.self) { try PhiAccrualDetector(firstHeartbeatEstimate: .zero) }
    }
}
