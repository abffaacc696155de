/// Timers throttled like a hidden browser tab's: during a window, a timer due at t runs at the next
/// multiple of the window's alignment (counted from the run's start), or when the window ends if
/// that comes first (the tab is shown again). Outside every window timers run on time. One rule for
/// the simulator and the live client.
public struct TimerThrottle: Sendable, Hashable {
    /// A stretch of the run during which timers are aligned.
    public struct Window: Sendable, Hashable {
        /// When the throttling applies, from the run's start.
        public var range: Range<TimeSpan>
        /// The timers' alignment; positive.
        public var alignment: TimeSpan

        /// Creates a window.
        public init(range: Range<TimeSpan>, alignment: TimeSpan) {
            self.range = range
            self.alignment = alignment
        }
    }

    /// The windows, in any order.
    public var windows: [Window]

    /// Creates a throttle from its windows (none: timers run on time).
    public init(windows: [Window] = []) {
        self.windows = windows
    }

    /// Whether no window throttles anything.
    public var isEmpty: Bool { windows.isEmpty }

    /// When a timer due at `due` (from the run's start) actually runs.
    public func deadline(_ due: TimeSpan) -> TimeSpan {
        var result = due
        for window in windows where window.range.contains(due) && window.alignment > .zero {
            let a = window.alignment.nanoseconds
            let n = due.nanoseconds
            let (quotient, remainder) = n.quotientAndRemainder(dividingBy: a)
            let aligned = remainder == 0 ? n : (quotient + 1).multipliedReportingOverflow(by: a).partialValue
            result = max(result, min(TimeSpan(nanoseconds: aligned), window.range.upperBound))
        }
        return result
    }
}
