import LabCore

/// socket.io-client's reconnection backoff (its `backo2` contrib), computed in the same IEEE-754
/// double arithmetic so that a delay here equals the browser's for the same random draw.
///
/// For attempt n (counting from 0): `ms = min * factor^n`; with jitter, one draw `r` in [0, 1)
/// gives `deviation = floor(r * jitter * ms)` and `ms` moves down when `floor(r * 10)` is even, up
/// when odd; the result is `min(ms, max)` truncated to a 32-bit integer as JavaScript's `| 0` does.
/// The one random draw per delay comes from the caller's `SeededGenerator` (Math.random's role).
public struct SocketIOBackoff: Sendable, Hashable {
    /// The first delay in milliseconds (backo2's `ms`).
    public var minimumMilliseconds: Double
    /// The cap in milliseconds.
    public var maximumMilliseconds: Double
    /// The growth factor (socket.io-client never changes backo2's 2).
    public var factor: Double
    /// The jitter actually applied: the configured factor when in (0, 1], else 0, as backo2 decides.
    public private(set) var jitter: Double
    /// How many delays have been drawn since the last reset (backo2's `attempts`).
    public private(set) var attempts: Int = 0

    /// A backoff as socket.io-client builds it from its manager options (`min` and `max` already
    /// defaulted by the caller); a jitter outside (0, 1] is ignored, as backo2 ignores it.
    public init(minimumMilliseconds: Double, maximumMilliseconds: Double, jitter: Double, factor: Double = 2) {
        self.minimumMilliseconds = minimumMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
        self.factor = factor
        self.jitter = (jitter > 0 && jitter <= 1) ? jitter : 0
    }

    /// The next delay, in whole milliseconds, counting one more attempt; draws once from
    /// `generator` when jitter is on.
    ///
    /// Like the original, once `min * factor^n` overflows to infinity (n ≥ 1015 with the defaults)
    /// a downward jitter gives `Infinity - Infinity = NaN`, which `| 0` turns into 0 ms; that
    /// quirk is reproduced, and a negative result (a cap above 2³¹ ms) is clamped to 0 ms, as a
    /// browser's setTimeout clamps it.
    public mutating func nextDelayMilliseconds(using generator: inout SeededGenerator) -> Int32 {
        var ms = minimumMilliseconds * Self.pow(factor, attempts)
        attempts += 1
        if jitter != 0 {
            let rand = generator.nextUnit()
            let deviation = (rand * jitter * ms).rounded(.down)
            let even = Int((rand * 10).rounded(.down)) & 1 == 0
            ms = even ? ms - deviation : ms + deviation
        }
        return Self.toInt32(Self.jsMin(ms, maximumMilliseconds))
    }

    /// The next delay as a span (negative JavaScript results become zero).
    public mutating func nextDelay(using generator: inout SeededGenerator) -> TimeSpan {
        .milliseconds(Int64(max(0, nextDelayMilliseconds(using: &generator))))
    }

    /// Starts counting attempts from zero again (backo2's `reset`).
    public mutating func reset() {
        attempts = 0
    }

    /// `Math.pow(base, n)` for a whole exponent, by repeated squaring in doubles; exact for
    /// powers of two, which is what socket.io-client uses.
    static func pow(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        var b = base
        var e = exponent
        while e > 0 {
            if e & 1 == 1 { result *= b }
            b *= b
            e >>= 1
        }
        return result
    }

    /// `Math.min(a, b)`: NaN if either is NaN.
    static func jsMin(_ a: Double, _ b: Double) -> Double {
        if a.isNaN || b.isNaN { return .nan }
        return a < b ? a : b
    }

    /// JavaScript's ToInt32 (`x | 0`): NaN and infinities become 0, everything else is truncated
    /// and wrapped modulo 2³².
    static func toInt32(_ value: Double) -> Int32 {
        guard value.isFinite else { return 0 }
        let truncated = value.rounded(.towardZero)
        let modulo = truncated.truncatingRemainder(dividingBy: 4_294_967_296)
        let positive = modulo < 0 ? modulo + 4_294_967_296 : modulo
        return Int32(truncatingIfNeeded: UInt32(positive))
    }
}
