import LabCore

/// A heartbeat failure detector: it is told when signs of life arrive and answers, for any instant,
/// whether the peer is still trusted. Implementations are deterministic value types with no clock:
/// the caller passes every instant in, so the simulator and a live driver get the same answers.
///
/// Contract, shared by every implementation:
/// - Heartbeats are given in time order; one earlier than the last is ignored.
/// - Before the first heartbeat the detector is not monitoring: the peer is trusted and
///   `deadline(after:)` is `.distantFuture` (drivers that want the connection's opening to count
///   call `heartbeat(at:)` then).
/// - State changes only in `heartbeat(at:)`, so between two heartbeats the suspicion instant is
///   fixed: a sans-IO machine arms one timer at `deadline(after: now)` after each heartbeat, and
///   when it fires the peer is suspected.
/// - The deadline is exclusive for the heartbeat: a heartbeat must arrive strictly before it; at the
///   deadline itself the peer is suspected (`isAvailable(at: deadline)` is false).
public protocol FailureDetector: Sendable {
    /// A short label for reports and comparisons, naming the kind and its main setting ("fixed 5s").
    var name: String { get }
    /// The arrival instant of the last heartbeat taken into account; nil before the first one.
    var lastHeartbeat: Instant? { get }
    /// Records a heartbeat (or any other sign of life) arriving at `now`.
    mutating func heartbeat(at now: Instant)
    /// The first instant at or after `now` at which the peer is suspected if nothing more arrives:
    /// `now` itself if it is already suspected, `.distantFuture` if it never will be.
    func deadline(after now: Instant) -> Instant
    /// A detector-specific suspicion level at `now`: 0 right after a heartbeat, growing with the
    /// silence, and at least 1 exactly when the peer is suspected (elapsed over timeout, or φ over
    /// the threshold).
    func suspicion(at now: Instant) -> Double
    /// Whether the peer is trusted at `now`, that is `now` is before the current deadline.
    func isAvailable(at now: Instant) -> Bool
}

extension FailureDetector {
    /// Whether the peer is trusted at `now`, derived from `deadline(after:)`.
    public func isAvailable(at now: Instant) -> Bool {
        deadline(after: now) > now
    }
}

/// A detector parameter outside its valid range, with the detector, the parameter and the rule it
/// broke, so the message names the place and the reason.
public struct DetectorConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The detector type being configured ("PhiAccrualDetector").
    public var detector: String
    /// The parameter at fault ("threshold").
    public var parameter: String
    /// The value given, as text.
    public var value: String
    /// What the value must satisfy ("must be > 0").
    public var requirement: String

    /// Creates an error for one parameter.
    public init(detector: String, parameter: String, value: String, requirement: String) {
        self.detector = detector
        self.parameter = parameter
        self.value = value
        self.requirement = requirement
    }

    /// "Detector.parameter = value: requirement".
    public var description: String { "\(detector).\(parameter) = \(value): \(requirement)" }
}

/// Detector internals shared by the timeout-style detectors.
enum DetectorMath {
    /// `elapsed / timeout` for a deadline `timeout` after `last`, the shared `suspicion(at:)` of the
    /// timeout-style detectors; infinite when the deadline is not after `last`.
    static func timeoutFraction(last: Instant?, deadline: Instant, now: Instant) -> Double {
        guard let last else { return 0 }
        let elapsed = now - last
        let timeout = deadline - last
        if timeout.nanoseconds <= 0 { return now >= deadline ? .infinity : 0 }
        return max(0, Double(elapsed.nanoseconds) / Double(timeout.nanoseconds))
    }

    /// `numerator / denominator` rounded to the nearest integer (halves upward); `denominator > 0`.
    static func roundedQuotient(_ numerator: Int128, _ denominator: Int128) -> Int128 {
        floorQuotient(2 * numerator + denominator, 2 * denominator)
    }

    /// Floor division for a positive denominator.
    static func floorQuotient(_ numerator: Int128, _ denominator: Int128) -> Int128 {
        let (q, r) = numerator.quotientAndRemainder(dividingBy: denominator)
        return r < 0 ? q - 1 : q
    }

    /// The instant `nanoseconds` after the epoch, saturating at the ends of `Instant`'s range.
    static func instant(_ nanoseconds: Int128) -> Instant {
        if nanoseconds >= Int128(Int64.max) { return .distantFuture }
        if nanoseconds <= Int128(Int64.min) { return Instant(nanoseconds: .min) }
        return Instant(nanoseconds: Int64(nanoseconds))
    }
}
