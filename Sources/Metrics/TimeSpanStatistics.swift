import LabCore

/// Order statistics of a set of durations (RTTs, detection times, reconnect times), with
/// nearest-rank percentiles: the p-th percentile of n sorted values is the value at rank
/// ⌈p/100 · n⌉ (1-based), so every reported percentile is a value that was observed.
public struct TimeSpanStatistics: Sendable, Hashable {
    /// How many values.
    public var count: Int
    /// The smallest value.
    public var min: TimeSpan
    /// The median (nearest rank).
    public var p50: TimeSpan
    /// The 90th percentile (nearest rank).
    public var p90: TimeSpan
    /// The 99th percentile (nearest rank).
    public var p99: TimeSpan
    /// The largest value.
    public var max: TimeSpan
    /// The arithmetic mean, rounded to the nanosecond.
    public var mean: TimeSpan

    /// Statistics of `values`; nil when there are none.
    public init?(_ values: [TimeSpan]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        count = sorted.count
        min = sorted[0]
        max = sorted[sorted.count - 1]
        p50 = Self.percentile(50, ofSorted: sorted)
        p90 = Self.percentile(90, ofSorted: sorted)
        p99 = Self.percentile(99, ofSorted: sorted)
        let total = sorted.reduce(0.0) { $0 + Double($1.nanoseconds) }
        mean = TimeSpan(nanoseconds: Int64((total / Double(sorted.count)).rounded()))
    }

    /// The nearest-rank `p`-th percentile (0–100) of values sorted in ascending order; the
    /// smallest value for p = 0. `sorted` must not be empty.
    public static func percentile(_ p: Double, ofSorted sorted: [TimeSpan]) -> TimeSpan {
        precondition(!sorted.isEmpty, "percentile of no values")
        let rank = Int((p * Double(sorted.count) / 100).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }
}
