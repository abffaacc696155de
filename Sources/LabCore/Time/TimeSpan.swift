/// A signed length of time in nanoseconds. Flatline uses its own type rather than `Swift.Duration`
/// because the simulator does millions of additions and a single `Int64` keeps them cheap.
public struct TimeSpan: Comparable, Hashable, Sendable, AdditiveArithmetic, CustomStringConvertible {
    /// Length in nanoseconds; negative spans are allowed in arithmetic, rejected by validation.
    public var nanoseconds: Int64

    /// Creates a span of this many nanoseconds.
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    public static let zero = TimeSpan(nanoseconds: 0)

    /// A span of `value` nanoseconds.
    public static func nanoseconds(_ value: Int64) -> TimeSpan { TimeSpan(nanoseconds: value) }
    /// A span of `value` microseconds.
    public static func microseconds(_ value: Int64) -> TimeSpan { TimeSpan(nanoseconds: 1_000) * value }
    /// A span of `value` milliseconds (saturating, like every TimeSpan product).
    public static func milliseconds(_ value: Int64) -> TimeSpan { TimeSpan(nanoseconds: 1_000_000) * value }
    /// A span of `value` seconds, rounded to the nearest nanosecond and clamped to the representable range.
    public static func seconds(_ value: Double) -> TimeSpan {
        let ns = (value * 1e9).rounded()
        if ns.isNaN { return .zero }
        if ns >= Double(Int64.max) { return TimeSpan(nanoseconds: .max) }
        if ns <= Double(Int64.min) { return TimeSpan(nanoseconds: .min) }
        return TimeSpan(nanoseconds: Int64(ns))
    }

    /// The span in seconds, as a floating-point number.
    public var seconds: Double { Double(nanoseconds) / 1e9 }
    /// The span in milliseconds, as a floating-point number.
    public var milliseconds: Double { Double(nanoseconds) / 1e6 }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public static func + (lhs: TimeSpan, rhs: TimeSpan) -> TimeSpan {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        if overflow { return TimeSpan(nanoseconds: rhs.nanoseconds > 0 ? .max : .min) }
        return TimeSpan(nanoseconds: sum)
    }
    public static func - (lhs: TimeSpan, rhs: TimeSpan) -> TimeSpan { lhs + TimeSpan(nanoseconds: -rhs.nanoseconds) }
    /// The span multiplied by an integer factor, saturating.
    public static func * (lhs: TimeSpan, rhs: Int64) -> TimeSpan {
        let (product, overflow) = lhs.nanoseconds.multipliedReportingOverflow(by: rhs)
        if overflow { return TimeSpan(nanoseconds: (lhs.nanoseconds > 0) == (rhs > 0) ? .max : .min) }
        return TimeSpan(nanoseconds: product)
    }

    /// The shortest exact text for the span in the unit grammar that `init(parsing:)` reads ("250ms", "1.5s").
    public var description: String {
        let ns = nanoseconds
        if ns == 0 { return "0s" }
        let units: [(Int64, String)] = [(3_600_000_000_000, "h"), (60_000_000_000, "m"), (1_000_000_000, "s"),
                                        (1_000_000, "ms"), (1_000, "us"), (1, "ns")]
        for (scale, name) in units where ns % scale == 0 {
            return "\(ns / scale)\(name)"
        }
        return "\(ns)ns"
    }
}
