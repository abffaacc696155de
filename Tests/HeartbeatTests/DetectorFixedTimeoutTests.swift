import Heartbeat
import LabCore
import Testing

private func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

@Suite struct FixedTimeoutDetectorTests {
    @Test func notMonitoringBeforeTheFirstHeartbeat() throws {
        let detector = try FixedTimeoutDetector(timeout: .seconds(5))
        #expect(detector.lastHeartbeat == nil)
        #expect(detector.isAvailable(at: ms(1_000_000)))
        #expect(detector.deadline(after: ms(0)) == .distantFuture)
        #expect(detector.suspicion(at: ms(1_000_000)) == 0)
        #expect(detector.name == "fixed 5s")
    }

    @Test func regularHeartbeatsAreNeverSuspected() throws {
        var detector = try FixedTimeoutDetector(timeout: .milliseconds(1500))
        for second in Int64(0)...60 {
            let now = ms(second * 1000)
            if second > 0 {
                // Just before the heartbeat the peer is still trusted.
                #expect(detector.isAvailable(at: now - .nanoseconds(1)))
                #expect(detector.isAvailable(at: now))
            }
            detector.heartbeat(at: now)
            #expect(detector.deadline(after: now) == now + .milliseconds(1500))
        }
    }

    @Test func aStopIsSuspectedExactlyTimeoutAfterTheLastHeartbeat() throws {
        var detector = try FixedTimeoutDetector(timeout: .seconds(5))
        for second in Int64(0)...10 { detector.heartbeat(at: ms(second * 1000)) }
        #expect(detector.deadline(after: ms(10_000)) == ms(15_000))
        #expect(detector.isAvailable(at: ms(15_000) - .nanoseconds(1)))
        #expect(!detector.isAvailable(at: ms(15_000)))
        #expect(detector.suspicion(at: ms(12_500)) == 0.5)
        #expect(detector.suspicion(at: ms(15_000)) == 1)
        // Once suspected, the deadline is "now".
        #expect(detector.deadline(after: ms(20_000)) == ms(20_000))
    }

    @Test func anEarlierHeartbeatIsIgnored() throws {
        var detector = try FixedTimeoutDetector(timeout: .seconds(1))
        detector.heartbeat(at: ms(5000))
        detector.heartbeat(at: ms(4000))
        #expect(detector.lastHeartbeat == ms(5000))
    }

    @Test func aNonPositiveTimeoutIsAnErrorNamingTheParameter() {
        #expect(throws: DetectorConfigurationError.self) { try FixedTimeoutDetector(timeout: .zero) }
        do {
            _ = try FixedTimeoutDetector(timeout: .milliseconds(-5))
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "FixedTimeoutDetector.timeout = -5ms: must be > 0")
        }
    }
}
