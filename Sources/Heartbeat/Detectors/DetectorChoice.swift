import LabCore

/// A failure detector named by its kind and its one knob, as a scenario (`detector:`) or the
/// detector bench states it. A plain value, so it sits in machine configurations; `make` builds a
/// fresh detector for a heartbeat period, with the same construction for the bench, the simulator
/// and the live components.
public struct DetectorChoice: Sendable, Hashable, CustomStringConvertible {
    /// The detector kinds Flatline implements.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A fixed timeout after the last heartbeat; knob: the timeout, seconds.
        case fixed
        /// RFC 6298's RTO over inter-arrival times; knob: K, the variation's multiplier.
        case jacobsonKarels = "jacobson-karels"
        /// φ accrual (Akka's formula); knob: the threshold φ.
        case phi
        /// Chen's NFD-E; knob: the safety margin α, seconds.
        case chen
        /// Bertier, Marin and Sens's detector; knob: φ, the variation's weight in the margin.
        case bertier
        /// Flatline's adaptive detector; knob: the price of a mistake, seconds of detection time.
        case adaptive

        /// The knob's name in a scenario file (`detector: { kind: phi, threshold: 8 }`).
        public var knobField: String {
            switch self {
            case .fixed: "timeout"
            case .jacobsonKarels: "k"
            case .phi: "threshold"
            case .chen: "margin"
            case .bertier: "weight"
            case .adaptive: "price"
            }
        }

        /// Whether the knob is a duration (seconds) rather than a plain number.
        public var knobIsDuration: Bool {
            switch self {
            case .fixed, .chen, .adaptive: true
            case .jacobsonKarels, .phi, .bertier: false
            }
        }

        /// The knob used when a scenario names only the kind: each detector's published default
        /// where it has one (RFC 6298's K = 4, Akka's φ = 8, Bertier's φ = 4), else a setting that
        /// suits a heartbeat every `period`: a fixed timeout of 3 periods, Chen's margin of one
        /// period, and for the adaptive detector a mistake priced at an hour of detection time.
        public func defaultKnob(period: TimeSpan) -> Double {
            switch self {
            case .fixed: 3 * period.seconds
            case .jacobsonKarels: 4
            case .phi: 8
            case .chen: period.seconds
            case .bertier: 4
            case .adaptive: 3600
            }
        }
    }

    /// Which detector.
    public var kind: Kind
    /// Its knob, in the kind's unit (`Kind.knobField`).
    public var knob: Double

    /// A choice of `kind` with `knob`.
    public init(kind: Kind, knob: Double) {
        self.kind = kind
        self.knob = knob
    }

    /// The choice for a timeline `factor` times as long (time-scaled live runs): a knob that is a
    /// duration scales with it; a plain number (φ, K, a weight) is the same at any time scale.
    public func scaled(by factor: Double) -> DetectorChoice {
        kind.knobIsDuration ? DetectorChoice(kind: kind, knob: knob * factor) : self
    }

    /// "adaptive price 3600s", "phi threshold 8".
    public var description: String {
        let value = knob == knob.rounded() && abs(knob) < 1e15 ? String(Int64(knob)) : String(knob)
        return "\(kind.rawValue) \(kind.knobField) \(value)\(kind.knobIsDuration ? "s" : "")"
    }

    /// A fresh detector for heartbeats expected every `period`. Settings a detector has besides its
    /// knob are scaled to the period, so it is judged at its best for that period rather than at
    /// defaults made for another: RFC 6298's floor and clock granularity become period/1000; φ's
    /// deviation floor 0.1 period (Akka: 100 ms for 1 s) with no acceptable pause (the threshold
    /// plays that part); Chen and Bertier estimate the interval over 1,000 arrivals, and so does the
    /// adaptive detector's window. `initialTimeout` is the timeout before anything has been learnt
    /// (default 3 periods), so a component keeps its configured limit until its detector knows more.
    public func make(period: TimeSpan, initialTimeout: TimeSpan? = nil) throws(DetectorConfigurationError) -> any FailureDetector {
        let p = max(period.nanoseconds, 1)
        func periods(_ m: Double) -> TimeSpan { .nanoseconds(Int64((Double(p) * m).rounded())) }
        func seconds(_ s: Double) throws(DetectorConfigurationError) -> TimeSpan {
            guard s.isFinite, abs(s) < 9e9 else {
                throw DetectorConfigurationError(detector: kind.rawValue, parameter: kind.knobField, value: "\(s)",
                                                 requirement: "must be a finite duration")
            }
            return .nanoseconds(Int64((s * 1e9).rounded()))
        }
        let initial = initialTimeout ?? periods(3)
        switch kind {
        case .fixed:
            return try FixedTimeoutDetector(timeout: try seconds(knob))
        case .jacobsonKarels:
            let parameters = RetransmissionTimeoutEstimator.Parameters(
                k: knob, clockGranularity: .nanoseconds(max(1, p / 1000)), minimum: .nanoseconds(max(1, p / 1000)),
                maximum: max(periods(10_000), initial), initial: initial)
            return try JacobsonKarelsDetector(parameters: parameters)
        case .phi:
            return try PhiAccrualDetector(threshold: knob, maxSampleSize: 1000, minStdDeviation: periods(0.1),
                                          acceptableHeartbeatPause: .zero, firstHeartbeatEstimate: periods(1))
        case .chen:
            return try ChenDetector(windowSize: 1000, safetyMargin: try seconds(knob), interval: nil, initialInterval: periods(1))
        case .bertier:
            return try BertierDetector(windowSize: 1000, varianceWeight: knob, initialInterval: periods(1))
        case .adaptive:
            return try AdaptiveDetector(windowSize: 1000, mistakePrice: knob, initialTimeout: initial)
        }
    }
}
