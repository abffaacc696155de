import Heartbeat
import LabCore
import Testing
import Timeouts

private func s(_ value: Double) -> Instant { .zero + .seconds(value) }

@Suite struct DetectorQoSTests {
    /// Heartbeats every second from 0 to 100 s except 50 s: a fixed 1.5 s timeout suspects the live
    /// peer from 50.5 to 51 s, once. Crashes spread evenly: within an ordinary gap [k, k+1) the
    /// detection time is k + 1.5 - c (mean 1 s); in [49, 51) it is 50.5 - c, and 0 from 50.5 on.
    @Test func aFixedTimeoutOnAGapHasTheHandComputedQoS() throws {
        let arrivals = HeartbeatTrace.periodicArrivals(from: s(0), every: .seconds(1), through: s(100), skipping: [s(49.5)..<s(50.5)])
        let trace = ArrivalTrace(name: "gap", arrivals: arrivals)
        let qos = try #require(DetectorQoS.score(try FixedTimeoutDetector(timeout: .seconds(1.5)), on: trace, warmUp: 0, crashes: 10_000))
        #expect(qos.mistakes == 1)
        #expect(abs(qos.mistakeDuration! - 0.5) < 1e-9)
        #expect(abs(qos.mistakesPerHour - 36) < 1e-9)  // one in 100 s
        #expect(abs(qos.queryAccuracy - (1 - 0.5 / 100)) < 1e-12)
        // Mean: 98 ordinary gaps of mean 1 s, and the 2 s gap: ∫(50.5-c) over [49, 50.5) = 1.125.
        let expected = (98 * 1.0 + 1.125) / 100
        #expect(abs(qos.detectionMean - expected) < 1e-3, "\(qos.detectionMean)")
        #expect(abs(qos.detectionMax - 1.5) < 0.01)  // crashes 0.01 s apart
    }

    /// The bench's one-pass scoring agrees with `HeartbeatTrace.evaluate`, an independent
    /// replay per crash, for every kind of detector, on a jittery trace with losses and stalls.
    @Test func oneScoringPassAgreesWithAReplayPerCrash() throws {
        let trace = TraceGenerator(period: .seconds(1), duration: .seconds(900), seed: 11).trace(.stalls)
        let detectors: [any FailureDetector] = [
            try FixedTimeoutDetector(timeout: .seconds(2)),
            try JacobsonKarelsDetector(),
            try PhiAccrualDetector(threshold: 3, acceptableHeartbeatPause: .zero),
            try ChenDetector(safetyMargin: .milliseconds(400)),
        ]
        let warmUp = 20, crashes = 40
        for detector in detectors {
            let result = DetectorQoS.score(detector, on: trace, warmUp: warmUp, crashes: crashes)
            let qos = try #require(result)
            let start = trace.arrivals[warmUp], end = trace.arrivals.last!
            var times: [Double] = []
            for k in 0..<crashes {
                let crash = start + .nanoseconds(Int64((Double(k) + 0.5) / Double(crashes) * Double((end - start).nanoseconds)))
                let kept = trace.arrivals.filter { $0 <= crash }
                let replay = try HeartbeatTrace(arrivals: kept, crash: crash, end: .distantFuture - .seconds(1)).evaluate(detector)
                times.append(try #require(replay.detectionTime).seconds)
            }
            let mean = times.reduce(0, +) / Double(times.count)
            #expect(abs(qos.detectionMean - mean) < 1e-9, "\(detector.name): \(qos.detectionMean) vs \(mean)")
            #expect(abs(qos.detectionMax - times.max()!) < 1e-9)
            // Mistakes after the warm-up: those of the full replay that start at or after it.
            let full = try HeartbeatTrace(arrivals: trace.arrivals, end: end).evaluate(detector)
            let scored = full.mistakes.filter { $0.start >= start }
            #expect(qos.mistakes == scored.count, "\(detector.name)")
            let total = scored.reduce(TimeSpan.zero) { $0 + $1.duration }.seconds
            #expect(abs((1 - qos.queryAccuracy) * qos.observed - total) < 1e-6, "\(detector.name)")
        }
    }

    @Test func aTraceTooShortAfterTheWarmUpIsNotScored() throws {
        let trace = ArrivalTrace(name: "short", arrivals: (0..<35).map { s(Double($0)) })
        #expect(DetectorQoS.score(try FixedTimeoutDetector(timeout: .seconds(2)), on: trace, warmUp: 30) == nil)
        #expect(DetectorQoS.score(try FixedTimeoutDetector(timeout: .seconds(2)), on: trace, warmUp: 20) != nil)
    }
}
