import Heartbeat
import LabCore
import Testing

/// socket.io-client's backo2 formula. The golden sequences below were cross-checked by running
/// backo2's own `duration()` under Node.js with `Math.random` replaced by the same
/// `SeededGenerator(seed: 7).nextUnit()` draws: every value matched.
@Suite("socket.io-client backoff")
struct SocketIOBackoffTests {
    @Test func withoutJitterItDoublesUpToTheCap() {
        var generator = SeededGenerator(seed: 1)
        let untouched = generator
        var backoff = SocketIOBackoff(minimumMilliseconds: 1000, maximumMilliseconds: 5000, jitter: 0)
        let delays = (0..<8).map { _ in backoff.nextDelayMilliseconds(using: &generator) }
        #expect(delays == [1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000])
        #expect(backoff.attempts == 8)
        // No jitter, no draw.
        #expect(generator == untouched)
        backoff.reset()
        #expect(backoff.attempts == 0)
        #expect(backoff.nextDelay(using: &generator) == .seconds(1))
    }

    @Test func defaultsWithSeed7MatchBacko2() {
        var generator = SeededGenerator(seed: 7)
        var backoff = SocketIOBackoff(minimumMilliseconds: 1000, maximumMilliseconds: 5000, jitter: 0.5)
        let delays = (0..<12).map { _ in backoff.nextDelayMilliseconds(using: &generator) }
        #expect(delays == [1350, 1722, 2321, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000])
    }

    @Test func uncappedSequenceShowsTheJitterBothWays() {
        var generator = SeededGenerator(seed: 7)
        var backoff = SocketIOBackoff(minimumMilliseconds: 1000, maximumMilliseconds: 1_000_000, jitter: 0.5)
        let delays = (0..<10).map { _ in backoff.nextDelayMilliseconds(using: &generator) }
        #expect(delays == [1350, 1722, 2321, 11924, 23926, 18036, 62056, 134683, 204326, 550864])
        // Each delay lies within ±50 % of min·2ⁿ.
        for (n, delay) in delays.enumerated() {
            let base = 1000.0 * Double(1 << n)
            #expect(Double(delay) >= base * 0.5 && Double(delay) <= base * 1.5)
        }
    }

    @Test func firstDelayFollowsTheFormulaByHand() {
        var draws = SeededGenerator(seed: 7)
        let rand = draws.nextUnit()
        let deviation = (rand * 0.5 * 1000).rounded(.down)
        let expected = Int((rand * 10).rounded(.down)) % 2 == 0 ? 1000 - deviation : 1000 + deviation
        var generator = SeededGenerator(seed: 7)
        var backoff = SocketIOBackoff(minimumMilliseconds: 1000, maximumMilliseconds: 5000, jitter: 0.5)
        #expect(Double(backoff.nextDelayMilliseconds(using: &generator)) == expected)
    }

    @Test func jitterOutsideZeroToOneIsIgnoredAsBacko2Does() {
        #expect(SocketIOBackoff(minimumMilliseconds: 1, maximumMilliseconds: 2, jitter: 1.5).jitter == 0)
        #expect(SocketIOBackoff(minimumMilliseconds: 1, maximumMilliseconds: 2, jitter: -0.1).jitter == 0)
        #expect(SocketIOBackoff(minimumMilliseconds: 1, maximumMilliseconds: 2, jitter: 1).jitter == 1)
    }

    /// After ~1015 consecutive attempts min·2ⁿ is Infinity; a downward jitter then gives NaN and
    /// `| 0` makes it 0 ms. Node gives 42 zeros in the first 1100 delays, the first at index 1016.
    @Test func reproducesTheInfinityQuirk() {
        var generator = SeededGenerator(seed: 7)
        var backoff = SocketIOBackoff(minimumMilliseconds: 1000, maximumMilliseconds: 5000, jitter: 0.5)
        let delays = (0..<1100).map { _ in backoff.nextDelayMilliseconds(using: &generator) }
        #expect(delays.filter { $0 == 0 }.count == 42)
        #expect(delays.firstIndex(of: 0) == 1016)
        #expect(Array(delays[1010..<1030])
            == [5000, 5000, 5000, 5000, 5000, 5000, 0, 5000, 0, 5000, 5000, 0, 5000, 5000, 0, 0, 5000, 5000, 5000, 0])
    }

    /// A cap above 2³¹ ms wraps through `| 0` into negative numbers, as in JavaScript; as a span
    /// that is 0 ms.
    @Test func hugeCapsWrapLikeJavaScript() {
        var generator = SeededGenerator(seed: 7)
        var backoff = SocketIOBackoff(minimumMilliseconds: 1000, maximumMilliseconds: 3_000_000_000, jitter: 0.5)
        let delays = (0..<25).map { _ in backoff.nextDelayMilliseconds(using: &generator) }
        #expect(Array(delays[20...]) == [1_138_452_821, 1_414_155_431, -1_500_414_122, -1_294_967_296, -1_294_967_296])
        var again = SeededGenerator(seed: 7)
        var spans = SocketIOBackoff(minimumMilliseconds: 1000, maximumMilliseconds: 3_000_000_000, jitter: 0.5)
        let last = (0..<25).map { _ in spans.nextDelay(using: &again) }.last
        #expect(last == .zero)
    }

    @Test func optionFallbacksAreSocketIOClients() {
        let defaults = ReconnectionOptions()
        #expect(defaults.reconnection && defaults.reconnectionAttempts == nil)
        #expect(defaults.reconnectionDelay == .seconds(1) && defaults.reconnectionDelayMax == .seconds(5))
        #expect(defaults.randomizationFactor == 0.5)
        #expect(ReconnectionOptions.socketIOClient() == defaults)
        // `||` fallbacks: 0 means the default; `??` for the randomization factor: 0 stays 0.
        let zeros = ReconnectionOptions.socketIOClient(reconnectionAttempts: 0, reconnectionDelay: 0,
                                                       reconnectionDelayMax: 0, randomizationFactor: 0)
        #expect(zeros == ReconnectionOptions(randomizationFactor: 0))
        let custom = ReconnectionOptions.socketIOClient(reconnection: false, reconnectionAttempts: 3,
                                                        reconnectionDelay: 500, reconnectionDelayMax: 10_000)
        #expect(custom == ReconnectionOptions(reconnection: false, reconnectionAttempts: 3,
                                              reconnectionDelay: .milliseconds(500), reconnectionDelayMax: .seconds(10)))
    }
}
