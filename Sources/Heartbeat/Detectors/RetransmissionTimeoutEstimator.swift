import LabCore

/// RFC 6298's retransmission-timeout computation (Jacobson/Karels): a smoothed round-trip time,
/// its mean deviation, and RTO = SRTT + max(G, K·RTTVAR) clamped to [minimum, maximum].
///
/// It takes whatever samples it is given (TCP feeds RTTs; `JacobsonKarelsDetector` feeds heartbeat
/// inter-arrival times; the timeout engine can feed pong RTTs). Arithmetic is in floating-point
/// nanoseconds, so RFC 6298's worked numbers come out exactly; the RTO is rounded to 1 ns.
public struct RetransmissionTimeoutEstimator: Hashable, Sendable {
    /// The estimator's constants; the defaults are RFC 6298's.
    public struct Parameters: Hashable, Sendable {
        /// Gain of the smoothed RTT (RFC 6298: 1/8).
        public var alpha: Double
        /// Gain of the RTT variation (RFC 6298: 1/4).
        public var beta: Double
        /// Multiplier of the variation in the RTO (RFC 6298: 4).
        public var k: Double
        /// The clock granularity G, a floor under K·RTTVAR (here 1 ms, a 1000 Hz kernel tick).
        public var clockGranularity: TimeSpan
        /// The smallest RTO (RFC 6298 2.4: 1 s; Linux's TCP_RTO_MIN is 200 ms).
        public var minimum: TimeSpan
        /// The largest RTO (RFC 6298 2.5: optional, at least 60 s; Linux's TCP_RTO_MAX is 120 s).
        public var maximum: TimeSpan
        /// The RTO before the first sample (RFC 6298 2.1: 1 s).
        public var initial: TimeSpan

        /// Creates parameters; every argument defaults to RFC 6298's value.
        public init(
            alpha: Double = 1.0 / 8, beta: Double = 1.0 / 4, k: Double = 4,
            clockGranularity: TimeSpan = .milliseconds(1),
            minimum: TimeSpan = .seconds(1), maximum: TimeSpan = .seconds(60), initial: TimeSpan = .seconds(1)
        ) {
            self.alpha = alpha
            self.beta = beta
            self.k = k
            self.clockGranularity = clockGranularity
            self.minimum = minimum
            self.maximum = maximum
            self.initial = initial
        }

        /// RFC 6298 as written: α 1/8, β 1/4, K 4, minimum 1 s, maximum 60 s, initial 1 s.
        public static let rfc6298 = Parameters()
        /// Linux's bounds (include/net/tcp.h: TCP_RTO_MIN 200 ms, TCP_RTO_MAX 120 s, TCP_TIMEOUT_INIT
        /// 1 s) on RFC 6298's formula; Linux itself applies its floor to the variation term.
        public static let linux = Parameters(minimum: .milliseconds(200), maximum: .seconds(120))
    }

    /// The constants in use.
    public let parameters: Parameters
    private var srtt: Double?
    private var rttvar: Double?
    /// The current retransmission timeout (RTO).
    public private(set) var timeout: TimeSpan

    /// Creates an estimator with no sample yet; the parameters must satisfy 0 < α, β ≤ 1, K ≥ 0,
    /// G ≥ 0, 0 < minimum ≤ maximum and initial > 0.
    public init(_ parameters: Parameters = .rfc6298) throws(DetectorConfigurationError) {
        func check(_ ok: Bool, _ name: String, _ value: String, _ rule: String) throws(DetectorConfigurationError) {
            if !ok {
                throw DetectorConfigurationError(
                    detector: "RetransmissionTimeoutEstimator", parameter: name, value: value, requirement: rule)
            }
        }
        try check(parameters.alpha > 0 && parameters.alpha <= 1, "alpha", "\(parameters.alpha)", "must be in (0, 1]")
        try check(parameters.beta > 0 && parameters.beta <= 1, "beta", "\(parameters.beta)", "must be in (0, 1]")
        try check(parameters.k >= 0 && parameters.k.isFinite, "k", "\(parameters.k)", "must be a finite number >= 0")
        try check(parameters.clockGranularity >= .zero, "clockGranularity", "\(parameters.clockGranularity)", "must be >= 0")
        try check(parameters.minimum > .zero, "minimum", "\(parameters.minimum)", "must be > 0")
        try check(parameters.maximum >= parameters.minimum, "maximum", "\(parameters.maximum)", "must be >= minimum")
        try check(parameters.initial > .zero, "initial", "\(parameters.initial)", "must be > 0")
        self.parameters = parameters
        self.timeout = parameters.initial
    }

    /// The smoothed round-trip time (SRTT); nil before the first sample.
    public var smoothedRoundTrip: TimeSpan? { srtt.map { TimeSpan(nanoseconds: Int64($0.rounded())) } }
    /// The round-trip time variation (RTTVAR); nil before the first sample.
    public var roundTripVariation: TimeSpan? { rttvar.map { TimeSpan(nanoseconds: Int64($0.rounded())) } }
    /// SRTT in (possibly fractional) nanoseconds, for exact checks and reports.
    public var smoothedRoundTripNanoseconds: Double? { srtt }
    /// RTTVAR in (possibly fractional) nanoseconds, for exact checks and reports.
    public var roundTripVariationNanoseconds: Double? { rttvar }

    /// Takes one sample (RFC 6298 2.2 for the first, 2.3 after: RTTVAR is updated with the old SRTT,
    /// then SRTT), then recomputes the RTO (2.4, 2.5). Negative samples count as zero.
    public mutating func observe(_ sample: TimeSpan) {
        let r = Double(max(sample, .zero).nanoseconds)
        if let s = srtt, let v = rttvar {
            rttvar = (1 - parameters.beta) * v + parameters.beta * abs(s - r)
            srtt = (1 - parameters.alpha) * s + parameters.alpha * r
        } else {
            srtt = r
            rttvar = r / 2
        }
        let g = Double(parameters.clockGranularity.nanoseconds)
        timeout = clamped(srtt! + max(g, parameters.k * rttvar!))
    }

    /// Doubles the RTO, up to the maximum, as RFC 6298 5.5 does when the retransmission timer
    /// expires; the next sample recomputes it from SRTT and RTTVAR.
    public mutating func backOff() {
        timeout = clamped(Double(timeout.nanoseconds) * 2)
    }

    private func clamped(_ nanoseconds: Double) -> TimeSpan {
        let lo = Double(parameters.minimum.nanoseconds)
        let hi = Double(parameters.maximum.nanoseconds)
        return TimeSpan(nanoseconds: Int64(min(max(nanoseconds, lo), hi).rounded()))
    }
}
