import Heartbeat
import LabCore
import Testing

private func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

@Suite struct RetransmissionTimeoutEstimatorTests {
    /// RFC 6298 section 2 worked by hand on four samples (ms):
    /// R1 = 800: SRTT 800, RTTVAR 400, RTO 800 + 4·400 = 2400.
    /// R2 = 1000: RTTVAR 3/4·400 + 1/4·|800 − 1000| = 350 (old SRTT), SRTT 7/8·800 + 1/8·1000 = 825,
    ///   RTO 825 + 1400 = 2225 (updating SRTT first would give RTTVAR 343.75 and RTO 2200).
    /// R3 = 600: RTTVAR 262.5 + 56.25 = 318.75, SRTT 721.875 + 75 = 796.875, RTO 2071.875.
    /// R4 = 800: RTTVAR 239.0625 + 0.78125 = 239.84375, SRTT 697.265625 + 100 = 797.265625,
    ///   RTO 797.265625 + 959.375 = 1756.640625.
    @Test func followsRFC6298UpdateSequence() throws {
        var estimator = try RetransmissionTimeoutEstimator()
        #expect(estimator.timeout == .seconds(1))  // 2.1: before any sample
        #expect(estimator.smoothedRoundTrip == nil)

        estimator.observe(.milliseconds(800))
        #expect(estimator.smoothedRoundTripNanoseconds == 800e6)
        #expect(estimator.roundTripVariationNanoseconds == 400e6)
        #expect(estimator.timeout == .milliseconds(2400))

        estimator.observe(.milliseconds(1000))
        #expect(estimator.roundTripVariationNanoseconds == 350e6)
        #expect(estimator.smoothedRoundTripNanoseconds == 825e6)
        #expect(estimator.timeout == .milliseconds(2225))

        estimator.observe(.milliseconds(600))
        #expect(estimator.roundTripVariationNanoseconds == 318.75e6)
        #expect(estimator.smoothedRoundTripNanoseconds == 796.875e6)
        #expect(estimator.timeout == .nanoseconds(2_071_875_000))

        estimator.observe(.milliseconds(800))
        #expect(estimator.roundTripVariationNanoseconds == 239.84375e6)
        #expect(estimator.smoothedRoundTripNanoseconds == 797.265625e6)
        #expect(estimator.timeout == .nanoseconds(1_756_640_625))
        #expect(estimator.smoothedRoundTrip == .nanoseconds(797_265_625))
    }

    @Test func theMinimumIsConfigurableRFCOneSecondLinuxTwoHundredMilliseconds() throws {
        var rfc = try RetransmissionTimeoutEstimator(.rfc6298)
        var linux = try RetransmissionTimeoutEstimator(.linux)
        rfc.observe(.milliseconds(10))  // 10 + 4·5 = 30 ms before the floor
        linux.observe(.milliseconds(10))
        #expect(rfc.timeout == .seconds(1))
        #expect(linux.timeout == .milliseconds(200))
        var custom = try RetransmissionTimeoutEstimator(.init(minimum: .milliseconds(20)))
        custom.observe(.milliseconds(10))
        #expect(custom.timeout == .milliseconds(30))
    }

    @Test func theClockGranularityFloorsTheVariationTerm() throws {
        var estimator = try RetransmissionTimeoutEstimator(.init(clockGranularity: .milliseconds(5), minimum: .milliseconds(1)))
        for _ in 0..<200 { estimator.observe(.milliseconds(100)) }
        // SRTT stays exactly 100 ms; 4·RTTVAR = 200·0.75^199 ms is far below G = 5 ms.
        #expect(estimator.timeout == .milliseconds(105))
    }

    @Test func theMaximumCapsTheTimeoutAndBackOffDoubles() throws {
        var estimator = try RetransmissionTimeoutEstimator()
        estimator.observe(.milliseconds(800))
        estimator.backOff()
        #expect(estimator.timeout == .milliseconds(4800))
        for _ in 0..<10 { estimator.backOff() }
        #expect(estimator.timeout == .seconds(60))
        estimator.observe(.seconds(100))  // 800 → RTO far above 60 s
        #expect(estimator.timeout == .seconds(60))
    }

    @Test func invalidParametersAreErrors() {
        #expect(throws: DetectorConfigurationError.self) { try RetransmissionTimeoutEstimator(.init(alpha: 0)) }
        #expect(throws: DetectorConfigurationError.self) { try RetransmissionTimeoutEstimator(.init(minimum: .zero)) }
        #expect(throws: DetectorConfigurationError.self) {
            try RetransmissionTimeoutEstimator(.init(minimum: .seconds(2), maximum: .seconds(1)))
        }
    }
}

@Suite struct JacobsonKarelsDetectorTests {
    /// Samples are inter-arrival times. By hand: after 0 s the RTO is the initial 3 s; the 1 s gap
    /// gives SRTT 1 s, RTTVAR 0.5 s, RTO 3 s; the next gives RTTVAR 0.375 s, RTO 1 + 1.5 = 2.5 s.
    @Test func aStopIsSuspectedRTOAfterTheLastHeartbeat() throws {
        var detector = try JacobsonKarelsDetector()
        detector.heartbeat(at: ms(0))
        #expect(detector.deadline(after: ms(0)) == ms(3000))
        detector.heartbeat(at: ms(1000))
        #expect(detector.timeout == .seconds(3))
        #expect(detector.deadline(after: ms(1000)) == ms(4000))
        detector.heartbeat(at: ms(2000))
        #expect(detector.timeout == .milliseconds(2500))
        #expect(detector.deadline(after: ms(2000)) == ms(4500))
        #expect(detector.isAvailable(at: ms(4500) - .nanoseconds(1)))
        #expect(!detector.isAvailable(at: ms(4500)))
        #expect(detector.suspicion(at: ms(3250)) == 0.5)
    }

    @Test func regularHeartbeatsAreNeverSuspectedAndTheTimeoutSettlesAtIntervalPlusG() throws {
        var detector = try JacobsonKarelsDetector()
        for second in Int64(0)..<100 {
            let now = ms(second * 1000)
            if second > 0 { #expect(detector.isAvailable(at: now)) }
            detector.heartbeat(at: now)
        }
        // SRTT is exactly 1 s; 4·RTTVAR = 2·0.75^98 s < G = 1 ms.
        #expect(detector.timeout == .milliseconds(1001))
        let trace = try HeartbeatTrace(arrivals: HeartbeatTrace.periodicArrivals(from: ms(0), every: .seconds(1), through: ms(99_000)), end: ms(99_500))
        #expect(trace.evaluate(try JacobsonKarelsDetector()).falseSuspicions == 0)
    }

    /// After 0, 1, 2 s (RTO 2.5 s), a heartbeat at 10 s is late: no sample, the RTO backs off to
    /// 5 s. The 1 s gap after it is a sample again: RTTVAR 3/4·0.375 = 0.281 25 s, SRTT 1 s,
    /// RTO 1 + 1.125 = 2.125 s.
    @Test func aLateHeartbeatIsNoSampleAndBacksTheTimeoutOff() throws {
        var detector = try JacobsonKarelsDetector()
        for second in Int64(0)...2 { detector.heartbeat(at: ms(second * 1000)) }
        let before = detector.estimator
        detector.heartbeat(at: ms(10_000))  // 8 s gap, past the 2.5 s RTO
        #expect(detector.estimator.smoothedRoundTripNanoseconds == before.smoothedRoundTripNanoseconds)
        #expect(detector.estimator.roundTripVariationNanoseconds == before.roundTripVariationNanoseconds)
        #expect(detector.timeout == .seconds(5))
        #expect(detector.deadline(after: ms(10_000)) == ms(15_000))
        detector.heartbeat(at: ms(11_000))
        #expect(detector.estimator.roundTripVariationNanoseconds == 281.25e6)
        #expect(detector.timeout == .milliseconds(2125))
    }

    /// Linux's bounds keep RFC 6298's initial 1 s: with 1 s heartbeats the second one lands exactly
    /// on the deadline (one zero-length mistake), the back-off lets the next gap count, and from
    /// then on the detector has learnt the interval.
    @Test func anInitialTimeoutEqualToTheIntervalCostsOneMistakeThenLearns() throws {
        let arrivals = HeartbeatTrace.periodicArrivals(from: ms(0), every: .seconds(1), through: ms(60_000))
        let trace = try HeartbeatTrace(arrivals: arrivals, end: ms(60_500))
        let result = trace.evaluate(try JacobsonKarelsDetector(parameters: .linux))
        #expect(result.mistakes == [.init(start: ms(1000), end: ms(1000))])
    }

    @Test func nameShowsKAndTheFloor() throws {
        #expect(try JacobsonKarelsDetector().name == "jacobson-karels K=4 min 1s")
        #expect(try JacobsonKarelsDetector(parameters: .linux).name == "jacobson-karels K=4 min 200ms")
    }
}
