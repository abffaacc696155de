import Heartbeat
import LabCore
import Testing

private func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

@Suite struct DetectorTraceTests {
    /// 1 s heartbeats from 0 to 20 s, an 8 s pause (next heartbeat at 28 s), heartbeats again up to
    /// 40 s, then the peer really dies at 40 s; watched until 100 s.
    private func pauseThenStop() throws -> HeartbeatTrace {
        let arrivals = HeartbeatTrace.periodicArrivals(
            from: ms(0), every: .seconds(1), through: ms(40_000), skipping: [ms(20_000)..<ms(28_000)])
        #expect(arrivals.count == 41 - 7)
        return try HeartbeatTrace(arrivals: arrivals, crash: ms(40_000), end: ms(100_000))
    }

    @Test func aFiveSecondTimeoutFalselySuspectsTheEightSecondPauseATenSecondOneDoesNot() throws {
        let trace = try pauseThenStop()
        let results = trace.compare([
            try FixedTimeoutDetector(timeout: .seconds(5)),
            try FixedTimeoutDetector(timeout: .seconds(10)),
        ])
        let five = results[0], ten = results[1]

        #expect(five.detector == "fixed 5s")
        #expect(five.falseSuspicions == 1)
        #expect(five.mistakes == [.init(start: ms(25_000), end: ms(28_000))])
        #expect(five.totalMistakeDuration == .seconds(3))
        #expect(five.detection == ms(45_000))
        #expect(five.detectionTime == .seconds(5))

        #expect(ten.detector == "fixed 10s")
        #expect(ten.falseSuspicions == 0)
        #expect(ten.detection == ms(50_000))
        #expect(ten.detectionTime == .seconds(10))
    }

    /// Every detector runs over the same trace: the report the timeout engine will build on.
    /// With Akka's defaults φ tolerates 1 s + 3 s + 5.2 sd: it trips on the 8 s pause too, and
    /// detects the stop about 4.5 s after it.
    @Test func allDetectorsOnOneTrace() throws {
        let trace = try pauseThenStop()
        let detectors: [any FailureDetector] = [
            try FixedTimeoutDetector(timeout: .seconds(5)),
            try FixedTimeoutDetector(timeout: .seconds(10)),
            try JacobsonKarelsDetector(),
            try PhiAccrualDetector(),
            try ChenDetector(windowSize: 10, safetyMargin: .milliseconds(500)),
        ]
        let results = trace.compare(detectors)
        #expect(results.map(\.detector) == detectors.map(\.name))
        for result in results {
            #expect(result.detectionTime != nil, "\(result.detector) never detected the stop")
        }

        let phi = results[3]
        #expect(phi.falseSuspicions == 1)
        #expect(phi.mistakes.first.map { $0.end } == ms(28_000))
        let phiDetection = try #require(phi.detectionTime)
        #expect(phiDetection > .seconds(4) && phiDetection < .seconds(5))

        // Jacobson/Karels settles at about 1 s + 4·RTTVAR: the tightest, it detects within ~1 s.
        let jacobson = results[2]
        #expect(jacobson.falseSuspicions >= 1)
        #expect(try #require(jacobson.detectionTime) < .milliseconds(1100))
    }

    /// The shared deadline rule: a heartbeat exactly at the deadline is late, a zero-length mistake.
    @Test func aHeartbeatExactlyAtTheDeadlineIsAZeroLengthMistake() throws {
        let arrivals = HeartbeatTrace.periodicArrivals(from: ms(0), every: .seconds(1), through: ms(5000))
        let trace = try HeartbeatTrace(arrivals: arrivals, end: ms(5000))
        let result = trace.evaluate(try FixedTimeoutDetector(timeout: .seconds(1)))
        #expect(result.falseSuspicions == 5)
        #expect(result.totalMistakeDuration == .zero)
        #expect(trace.evaluate(try FixedTimeoutDetector(timeout: .milliseconds(1001))).falseSuspicions == 0)
    }

    /// Chen with η = 1 s, n = 3, α = 200 ms on arrivals 0, 1, 2, 5, 6 s: suspected from τ = 3.2 s;
    /// the heartbeat at 5 s is stale (τ = 4.867 s) and leaves it suspected; the one at 6 s restores
    /// trust (τ = 6.533 s). That is one mistake, 3.2 s to 6 s, not two.
    @Test func aHeartbeatThatLeavesThePeerSuspectedDoesNotEndTheMistake() throws {
        let trace = try HeartbeatTrace(arrivals: [ms(0), ms(1000), ms(2000), ms(5000), ms(6000)], end: ms(6500))
        let chen = try ChenDetector(windowSize: 3, safetyMargin: .milliseconds(200), interval: .seconds(1))
        #expect(trace.evaluate(chen).mistakes == [.init(start: ms(3200), end: ms(6000))])
    }

    @Test func withoutACrashTheTrailingSilenceIsAMistakeCutAtTheEnd() throws {
        let trace = try HeartbeatTrace(arrivals: [ms(0), ms(1000)], end: ms(10_000))
        let result = trace.evaluate(try FixedTimeoutDetector(timeout: .seconds(2)))
        #expect(result.mistakes == [.init(start: ms(3000), end: ms(10_000))])
        #expect(result.detection == nil)
        #expect(result.detectionTime == nil)
    }

    @Test func aSuspicionAlreadyUnderwayAtTheCrashDetectsItAtOnce() throws {
        let trace = try HeartbeatTrace(arrivals: [ms(0)], crash: ms(5000), end: ms(10_000))
        let result = trace.evaluate(try FixedTimeoutDetector(timeout: .seconds(2)))
        #expect(result.mistakes == [.init(start: ms(2000), end: ms(5000))])
        #expect(result.detection == ms(5000))
        #expect(result.detectionTime == .zero)
    }

    @Test func aDetectionAfterTheEndDoesNotCount() throws {
        let trace = try HeartbeatTrace(arrivals: [ms(0)], crash: ms(0), end: ms(1000))
        #expect(trace.evaluate(try FixedTimeoutDetector(timeout: .seconds(2))).detection == nil)
    }

    @Test func evaluationLeavesTheDetectorUntouched() throws {
        let detector = try PhiAccrualDetector()
        _ = try pauseThenStop().evaluate(detector)
        #expect(detector.lastHeartbeat == nil)
    }

    @Test func badTracesAreErrorsNamingTheArrival() {
        #expect(throws: HeartbeatTraceError.unorderedArrival(index: 2, arrival: ms(500), previous: ms(2000))) {
            try HeartbeatTrace(arrivals: [ms(0), ms(2000), ms(500)], end: ms(3000))
        }
        #expect(throws: HeartbeatTraceError.arrivalAfterCrash(index: 1, arrival: ms(2000), crash: ms(1000))) {
            try HeartbeatTrace(arrivals: [ms(0), ms(2000)], crash: ms(1000), end: ms(3000))
        }
        #expect(throws: HeartbeatTraceError.arrivalAfterEnd(index: 1, arrival: ms(4000), end: ms(3000))) {
            try HeartbeatTrace(arrivals: [ms(0), ms(4000)], end: ms(3000))
        }
        #expect(throws: HeartbeatTraceError.crashAfterEnd(crash: ms(5000), end: ms(3000))) {
            try HeartbeatTrace(arrivals: [], crash: ms(5000), end: ms(3000))
        }
        #expect(HeartbeatTraceError.arrivalAfterEnd(index: 1, arrival: ms(4000), end: ms(3000)).description
            == "arrivals[1] = @4s is after the end of the trace at @3s")
    }
}
