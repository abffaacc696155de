import LabCore

/// A timeout detector whose timeout is TCP's retransmission timeout (RFC 6298, Jacobson/Karels)
/// computed over heartbeat **inter-arrival times**: the peer is suspected RTO after the last
/// heartbeat, where SRTT and RTTVAR track the gaps between heartbeats.
///
/// Samples are inter-arrival times, not RTTs, because a detector only sees arrivals; RTT samples
/// (pong round trips) go straight into a `RetransmissionTimeoutEstimator`. A heartbeat that comes
/// after the peer was already suspected is treated as TCP treats an expired retransmission timer:
/// its gap is not a sample (Karn's rule; Akka's φ detector skips it too), so one outage does not
/// inflate SRTT and RTTVAR, and the RTO backs off (doubles, RFC 6298 5.5) until the next ordinary
/// gap recomputes it. Without the back-off a timeout equal to the heartbeat interval would never
/// learn: every heartbeat would land on the deadline and be skipped.
///
/// Defaults are RFC 6298's except the initial timeout, 3 s (RFC 1122's, Linux's fallback): with a
/// 1 s heartbeat, RFC 6298's initial 1 s would expire exactly as the second heartbeat arrives.
public struct JacobsonKarelsDetector: FailureDetector, Hashable {
    /// The RTO estimator fed with inter-arrival times.
    public private(set) var estimator: RetransmissionTimeoutEstimator
    /// The arrival instant of the last heartbeat; nil before the first one.
    public private(set) var lastHeartbeat: Instant?

    /// The parameters used when none are given: RFC 6298's, with a 3 s initial timeout.
    public static let defaultParameters = RetransmissionTimeoutEstimator.Parameters(initial: .seconds(3))

    /// Creates a detector over a fresh estimator with these parameters.
    public init(parameters: RetransmissionTimeoutEstimator.Parameters = defaultParameters) throws(DetectorConfigurationError) {
        self.estimator = try RetransmissionTimeoutEstimator(parameters)
    }

    /// "jacobson-karels" with its K and floor, e.g. "jacobson-karels K=4 min 1s".
    public var name: String {
        let k = estimator.parameters.k
        let kText = k == k.rounded() ? String(Int(k)) : String(k)
        return "jacobson-karels K=\(kText) min \(estimator.parameters.minimum)"
    }

    /// The timeout in force after the last heartbeat (the current RTO).
    public var timeout: TimeSpan { estimator.timeout }

    /// Feeds the gap since the previous heartbeat to the estimator, or backs the RTO off if the
    /// peer was already suspected.
    public mutating func heartbeat(at now: Instant) {
        guard let last = lastHeartbeat else {
            lastHeartbeat = now
            return
        }
        if now < last { return }
        if now < last + estimator.timeout {
            estimator.observe(now - last)
        } else {
            estimator.backOff()
        }
        lastHeartbeat = now
    }

    /// The last heartbeat plus the current RTO, or `now` if that has passed.
    public func deadline(after now: Instant) -> Instant {
        guard let last = lastHeartbeat else { return .distantFuture }
        return max(now, last + estimator.timeout)
    }

    /// Time since the last heartbeat over the current RTO.
    public func suspicion(at now: Instant) -> Double {
        guard let last = lastHeartbeat else { return 0 }
        return DetectorMath.timeoutFraction(last: last, deadline: last + estimator.timeout, now: now)
    }
}
