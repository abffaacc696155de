import Heartbeat
import LabCore
import Testing

/// Flatline's adaptive detector: the timeout that minimises detection time plus a price per
/// mistake under the gaps seen; online, deterministic, more patient as the price grows.
@Suite struct DetectorAdaptiveTests {
    /// Arrivals every second with ±50 ms of seeded jitter, and one 8 s stall at `stallAt`.
    static func arrivals(count: Int, stallAt: Int? = nil) -> [Instant] {
        var rng = SeededGenerator(seed: 4)
        var t = 0.0
        return (0..<count).map { k in
            t += 1 + 0.1 * (rng.nextUnit() - 0.5) + (k == stallAt ? 7 : 0)
            return Instant.zero + .seconds(t)
        }
    }

    static func timeouts(_ price: Double, _ arrivals: [Instant]) throws -> [Double] {
        var d = try AdaptiveDetector(mistakePrice: price, initialTimeout: .seconds(3))
        return arrivals.map { a in
            d.heartbeat(at: a)
            return (d.deadline(after: a) - a).seconds
        }
    }

    @Test func theTimeoutGrowsWithThePriceAndStaysNearTheGapsWhenCheap() throws {
        let trace = Self.arrivals(count: 600)
        let cheap = try Self.timeouts(2, trace), dear = try Self.timeouts(2_000, trace), dearest = try Self.timeouts(2e6, trace)
        for i in 100..<600 {
            #expect(cheap[i] <= dear[i] + 1e-9 && dear[i] <= dearest[i] + 1e-9, "at \(i): \(cheap[i]) \(dear[i]) \(dearest[i])")
        }
        // Cheap mistakes: about the largest recent gap (1.05 s); a dear one buys margin past it.
        #expect(cheap[599] > 1.0 && cheap[599] < 1.2, "\(cheap[599])")
        #expect(dearest[599] > cheap[599] + 0.3, "\(dearest[599])")
    }

    @Test func itIsOnlineAndDeterministic() throws {
        let a = Self.arrivals(count: 300)
        var b = a
        for i in 200..<300 { b[i] = b[i] + .seconds(Double(i - 199) * 0.5) }  // a different future
        let ta = try Self.timeouts(500, a), tb = try Self.timeouts(500, b)
        #expect(Array(ta[..<200]) == Array(tb[..<200]), "a timeout depends only on the arrivals before it")
        #expect(try Self.timeouts(500, a) == ta)
    }

    /// A long silence seen once is remembered at its long-run frequency: at a high enough price the
    /// timeout covers it long after it left the window.
    @Test func aStallSeenOnceIsPricedLongAfterItLeftTheWindow() throws {
        let trace = Self.arrivals(count: 2_500, stallAt: 300)
        let seen = try Self.timeouts(1e6, trace)
        let never = try Self.timeouts(1e6, Self.arrivals(count: 2_500))
        #expect(seen[2_400] >= 8, "2,100 gaps after the 8 s stall: \(seen[2_400])")
        #expect(never[2_400] < seen[2_400], "\(never[2_400])")
    }

    @Test func invalidParametersAreErrorsNamingTheParameter() {
        #expect(throws: DetectorConfigurationError.self) { try AdaptiveDetector(windowSize: 4, mistakePrice: 1) }
        do {
            _ = try AdaptiveDetector(mistakePrice: -1)
            Issue.record("accepted a negative price")
        } catch {
            #expect(error.description == "AdaptiveDetector.mistakePrice = -1.0: must be >= 0")
        }
        #expect(throws: DetectorConfigurationError.self) { try AdaptiveDetector(mistakePrice: 1, initialTimeout: .zero) }
    }

    @Test func beforeAnyHeartbeatThePeerIsTrusted() throws {
        let d = try AdaptiveDetector(mistakePrice: 10)
        #expect(d.deadline(after: Instant.zero + .seconds(5)) == .distantFuture)
        #expect(d.isAvailable(at: Instant.zero + .seconds(100)) && d.suspicion(at: Instant.zero + .seconds(100)) == 0)
    }

    /// Gaps that recur exactly (timers on a clock tick, a simulated schedule): the largest gap seen
    /// is still priced by the prior, so the timeout lies strictly past it and the next such gap is
    /// not a mistake. (It once chose the largest gap itself, where the empirical survival is zero.)
    @Test func aGapThatRecursExactlyIsNeverTheTimeout() throws {
        for price in [5.0, 60, 3600] {
            var d = try AdaptiveDetector(mistakePrice: price, initialTimeout: .seconds(3))
            var t = Instant.zero
            for k in 0..<300 {
                t = t + .milliseconds(k % 3 == 0 ? 1_007 : 996)
                d.heartbeat(at: t)
                if k >= 10 {
                    #expect(d.deadline(after: t) > t + .milliseconds(1_007), "price \(price), beat \(k): \(d.deadline(after: t) - t)")
                }
            }
        }
    }
}
