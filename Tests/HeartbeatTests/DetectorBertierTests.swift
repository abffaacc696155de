import Heartbeat
import LabCore
import Testing

private func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

@Suite struct BertierDetectorTests {
    /// Bertier, Marin and Sens's recurrences written out in seconds, independently of the detector:
    /// EA from Chen's estimate over the last n arrivals, then for each arrival
    /// error = A − EA − delay, delay += γ·error, var += γ·(|error| − var), τ = EA + β·delay + φ·var.
    private func paperFreshnessPoints(_ arrivals: [Double], n: Int, beta: Double, phi: Double, gamma: Double) -> [Double] {
        var delay = 0.0, variation = 0.0
        var predicted: Double?
        var points: [Double] = []
        for k in arrivals.indices {
            if let ea = predicted {
                let error = arrivals[k] - ea - delay
                delay += gamma * error
                variation += gamma * (abs(error) - variation)
            }
            let window = Array(arrivals[max(0, k + 1 - n)...k])
            let ea: Double
            if window.count < 2 {
                ea = window[0] + 1
            } else {
                let eta = (window.last! - window.first!) / Double(window.count - 1)
                let m = Double(window.count)
                ea = window.enumerated().map { $1 - eta * Double($0 + 1) }.reduce(0, +) / m + (m + 1) * eta
            }
            predicted = ea
            points.append(ea + beta * delay + phi * variation)
        }
        return points
    }

    @Test func followsThePapersRecurrencesOnJitteredArrivals() throws {
        let arrivals: [Int64] = [0, 1100, 1900, 3000, 4300, 4950, 6000, 7250, 8000, 9100, 9900, 11_400]
        var detector = try BertierDetector(windowSize: 5, varianceWeight: 4, delayWeight: 1, gain: 0.1)
        let expected = paperFreshnessPoints(arrivals.map { Double($0) / 1000 }, n: 5, beta: 1, phi: 4, gamma: 0.1)
        for (arrival, tau) in zip(arrivals, expected) {
            detector.heartbeat(at: ms(arrival))
            let got = try #require(detector.freshnessPoint)
            #expect(abs((got - .zero).seconds - tau) < 1e-6, "after \(arrival) ms: \(got) against \(tau)")
            #expect(detector.deadline(after: ms(arrival)) == max(ms(arrival), got))
        }
        #expect(detector.variation > 0)
    }

    @Test func regularHeartbeatsLeaveNoMarginAndAreNeverSuspected() throws {
        var detector = try BertierDetector(windowSize: 10, varianceWeight: 4)
        for second in Int64(0)...20 { detector.heartbeat(at: ms(second * 1000)) }
        #expect(detector.margin == 0)
        #expect(detector.freshnessPoint == ms(21_000))
        #expect(detector.suspicion(at: ms(20_500)) == 0.5)
        // With no margin a heartbeat exactly on time is already late (the deadline is exclusive);
        // jitter gives the margin its variation, which then covers jitter of the same size.
        let jittered = (Int64(0)...300).map { ms($0 * 1000 + ($0 % 2 == 0 ? 0 : 60)) }
        let trace = try HeartbeatTrace(arrivals: jittered, end: ms(300_400))
        // Its estimators learn with gain 0.1, so the first few heartbeats may be suspected; after
        // that, none.
        let mistakes = trace.evaluate(try BertierDetector(windowSize: 10, varianceWeight: 4)).mistakes
        #expect(mistakes.allSatisfy { $0.start < ms(10_000) }, "\(mistakes)")
        let bare = trace.evaluate(try BertierDetector(windowSize: 10, varianceWeight: 0, delayWeight: 0)).mistakes
        #expect(bare.contains { $0.start > ms(100_000) })
    }

    @Test func aLargerVarianceWeightWaitsLongerOnTheSameArrivals() throws {
        var eager = try BertierDetector(windowSize: 5, varianceWeight: 1)
        var patient = try BertierDetector(windowSize: 5, varianceWeight: 8)
        for arrival: Int64 in [0, 1200, 1900, 3300, 3900, 5200] {
            eager.heartbeat(at: ms(arrival))
            patient.heartbeat(at: ms(arrival))
        }
        #expect(try #require(patient.freshnessPoint) > #require(eager.freshnessPoint))
    }

    @Test func invalidParametersAreErrorsNamingTheParameter() {
        #expect(throws: DetectorConfigurationError(detector: "BertierDetector", parameter: "gain", value: "0.0", requirement: "must be in (0, 1]")) {
            try BertierDetector(gain: 0)
        }
        #expect(throws: DetectorConfigurationError(detector: "BertierDetector", parameter: "windowSize", value: "0", requirement: "must be > 0")) {
            try BertierDetector(windowSize: 0)
        }
        #expect(throws: DetectorConfigurationError.self) { try BertierDetector(varianceWeight: -1) }
    }
}
