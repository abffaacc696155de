import LabCore

/// The classic detector: the peer is suspected once `timeout` has passed since the last heartbeat.
/// It is the baseline every adaptive detector is compared against, and what most stacks ship
/// (Engine.IO's pingInterval + pingTimeout rule is one).
public struct FixedTimeoutDetector: FailureDetector, Hashable {
    /// How long a silence is tolerated after a heartbeat.
    public let timeout: TimeSpan
    /// The arrival instant of the last heartbeat; nil before the first one.
    public private(set) var lastHeartbeat: Instant?

    /// Creates a detector with a positive `timeout`.
    public init(timeout: TimeSpan) throws(DetectorConfigurationError) {
        guard timeout > .zero else {
            throw DetectorConfigurationError(
                detector: "FixedTimeoutDetector", parameter: "timeout", value: "\(timeout)", requirement: "must be > 0")
        }
        self.timeout = timeout
    }

    /// "fixed" and the timeout, e.g. "fixed 5s".
    public var name: String { "fixed \(timeout)" }

    /// Restarts the timeout from `now`.
    public mutating func heartbeat(at now: Instant) {
        if let last = lastHeartbeat, now < last { return }
        lastHeartbeat = now
    }

    /// The last heartbeat plus the timeout, or `now` if that has passed.
    public func deadline(after now: Instant) -> Instant {
        guard let last = lastHeartbeat else { return .distantFuture }
        return max(now, last + timeout)
    }

    /// Time since the last heartbeat over the timeout.
    public func suspicion(at now: Instant) -> Double {
        guard let last = lastHeartbeat else { return 0 }
        return DetectorMath.timeoutFraction(last: last, deadline: last + timeout, now: now)
    }
}
