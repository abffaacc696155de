/// A point in time, in nanoseconds since an epoch chosen by the driver (the event loop's uptime
/// clock when live, zero at the start of a simulated run).
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the driver's epoch.
    public var nanoseconds: Int64

    /// Creates an instant this many nanoseconds after the epoch.
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// The driver's epoch.
    public static let zero = Instant(nanoseconds: 0)
    /// Later than any instant a run reaches: "never".
    public static let distantFuture = Instant(nanoseconds: .max)

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The instant `span` after `lhs`, saturating instead of overflowing.
    public static func + (lhs: Instant, rhs: TimeSpan) -> Instant {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        if overflow { return rhs.nanoseconds > 0 ? .distantFuture : .zero }
        return Instant(nanoseconds: sum)
    }

    /// The instant `span` before `lhs`.
    public static func - (lhs: Instant, rhs: TimeSpan) -> Instant { lhs + TimeSpan(nanoseconds: -rhs.nanoseconds) }

    /// The time elapsed from `rhs` to `lhs`.
    public static func - (lhs: Instant, rhs: Instant) -> TimeSpan {
        TimeSpan(nanoseconds: lhs.nanoseconds &- rhs.nanoseconds)
    }

    public var description: String { "@\(TimeSpan(nanoseconds: nanoseconds))" }
}
