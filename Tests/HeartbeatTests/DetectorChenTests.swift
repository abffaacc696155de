import Heartbeat
import LabCore
import Testing

private func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

/// The paper's estimate written out, independently of the detector:
/// EA(ℓ+1) = (1/n)·Σ(Aᵢ − η·sᵢ) + (ℓ+1)·η over the window, with sᵢ = i the arrival index.
private func paperExpectedArrival(window: [Double], eta: Double) -> Double {
    let n = Double(window.count)
    let adjusted = window.enumerated().map { index, arrival in arrival - eta * Double(index + 1) }
    return adjusted.reduce(0, +) / n + (n + 1) * eta
}

@Suite struct ChenDetectorTests {
    @Test func regularHeartbeatsExpectTheNextOneIntervalLater() throws {
        var detector = try ChenDetector(windowSize: 3, safetyMargin: .milliseconds(500))
        for second in Int64(0)...10 { detector.heartbeat(at: ms(second * 1000)) }
        #expect(detector.expectedArrival == ms(11_000))
        #expect(detector.freshnessPoint == ms(11_500))
        #expect(detector.deadline(after: ms(10_000)) == ms(11_500))
        #expect(detector.isAvailable(at: ms(11_500) - .nanoseconds(1)))
        #expect(!detector.isAvailable(at: ms(11_500)))

        let arrivals = HeartbeatTrace.periodicArrivals(from: ms(0), every: .seconds(1), through: ms(300_000))
        let trace = try HeartbeatTrace(arrivals: arrivals, end: ms(300_400))
        #expect(trace.evaluate(try ChenDetector(windowSize: 3, safetyMargin: .milliseconds(500))).falseSuspicions == 0)
    }

    /// Arrivals 0, 1.1, 1.9, 3.0 s with n = 3: the window is 1.1, 1.9, 3.0, η = 1.9/2 = 0.95 s and
    /// EA = (1/3)(0.15 + 0 + 0.15) + 4·0.95 = 3.9 s, so τ = 4.4 s.
    @Test func jitteredArrivalsWithEstimatedPeriod() throws {
        var detector = try ChenDetector(windowSize: 3, safetyMargin: .milliseconds(500))
        for arrival: Int64 in [0, 1100, 1900, 3000] { detector.heartbeat(at: ms(arrival)) }
        let paper = paperExpectedArrival(window: [1.1, 1.9, 3.0], eta: 0.95)
        #expect(abs(paper - 3.9) < 1e-12)
        #expect(detector.expectedArrival == ms(3900))
        #expect(detector.freshnessPoint == ms(4400))
    }

    /// The same arrivals with a known η = 1 s: EA = (1/3)(0.1 − 0.1 + 0) + 4 = 4 s.
    @Test func jitteredArrivalsWithKnownPeriod() throws {
        var detector = try ChenDetector(windowSize: 3, safetyMargin: .milliseconds(500), interval: .seconds(1))
        for arrival: Int64 in [0, 1100, 1900, 3000] { detector.heartbeat(at: ms(arrival)) }
        #expect(abs(paperExpectedArrival(window: [1.1, 1.9, 3.0], eta: 1) - 4) < 1e-12)
        #expect(detector.expectedArrival == ms(4000))
        #expect(detector.deadline(after: ms(3000)) == ms(4500))
    }

    @Test func theFirstHeartbeatExpectsTheInitialInterval() throws {
        var detector = try ChenDetector(safetyMargin: .milliseconds(200), initialInterval: .seconds(2))
        #expect(detector.deadline(after: ms(0)) == .distantFuture)
        detector.heartbeat(at: ms(7000))
        #expect(detector.expectedArrival == ms(9000))
        #expect(detector.deadline(after: ms(7000)) == ms(9200))
    }

    /// Arrivals 0, 1, 2, 5 s with η = 1 s and n = 3: EA = (1/3)(0 + 0 + 2) + 4 = 4.667 s and
    /// τ = 4.867 s, before the arrival at 5 s: that heartbeat is stale and does not restore trust.
    @Test func aHeartbeatLaterThanItsFreshnessPointDoesNotRestoreTrust() throws {
        var detector = try ChenDetector(windowSize: 3, safetyMargin: .milliseconds(200), interval: .seconds(1))
        for arrival: Int64 in [0, 1000, 2000, 5000] { detector.heartbeat(at: ms(arrival)) }
        #expect(detector.expectedArrival == .zero + .nanoseconds(4_666_666_667))
        #expect(detector.deadline(after: ms(5000)) == ms(5000))
        #expect(!detector.isAvailable(at: ms(5000)))
        #expect(detector.suspicion(at: ms(5000)) == .infinity)
    }

    @Test func invalidParametersAreErrors() {
        #expect(throws: DetectorConfigurationError.self) { try ChenDetector(windowSize: 0, safetyMargin: .zero) }
        #expect(throws: DetectorConfigurationError.self) { try ChenDetector(safetyMargin: .milliseconds(-1)) }
        #expect(throws: DetectorConfigurationError.self) { try ChenDetector(safetyMargin: .zero, interval: .zero) }
    }
}
