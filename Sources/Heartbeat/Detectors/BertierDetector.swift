import LabCore

/// Bertier, Marin and Sens's adaptable detector (DSN 2002): Chen's expected arrival EA with a
/// safety margin that follows the network, estimated the way Jacobson estimates TCP's RTT.
///
/// After each heartbeat k the estimation error is error = Aₖ − EAₖ − delay; then
/// delay ← delay + γ·error, var ← var + γ·(|error| − var), and the margin is
/// α = β·delay + φ·var. The peer is suspected at τ = EA + α, EA being the next arrival predicted by
/// a `ChenDetector` over the last `windowSize` arrivals. The paper's values are β = 1, φ = 4,
/// γ = 0.1; φ is the knob that trades detection time for mistakes.
public struct BertierDetector: FailureDetector, Hashable {
    /// Arrivals the expected-arrival estimate uses (Chen's n).
    public let windowSize: Int
    /// The weight of the variation in the margin (φ).
    public let varianceWeight: Double
    /// The weight of the mean error in the margin (β).
    public let delayWeight: Double
    /// The gain of both estimators (γ).
    public let gain: Double

    private var chen: ChenDetector
    /// The expected arrival in force before the last heartbeat, to measure its error.
    private var predicted: Instant?
    /// Mean estimation error, seconds.
    public private(set) var delay: Double = 0
    /// Mean absolute deviation of the error, seconds.
    public private(set) var variation: Double = 0

    /// Creates a detector; requires windowSize > 0, a positive initial interval, weights ≥ 0 and
    /// 0 < gain ≤ 1.
    public init(
        windowSize: Int = 1000,
        varianceWeight: Double = 4,
        delayWeight: Double = 1,
        gain: Double = 0.1,
        initialInterval: TimeSpan = .seconds(1)
    ) throws(DetectorConfigurationError) {
        func check(_ ok: Bool, _ name: String, _ value: String, _ rule: String) throws(DetectorConfigurationError) {
            if !ok {
                throw DetectorConfigurationError(detector: "BertierDetector", parameter: name, value: value, requirement: rule)
            }
        }
        try check(varianceWeight >= 0 && varianceWeight.isFinite, "varianceWeight", "\(varianceWeight)", "must be >= 0")
        try check(delayWeight >= 0 && delayWeight.isFinite, "delayWeight", "\(delayWeight)", "must be >= 0")
        try check(gain > 0 && gain <= 1, "gain", "\(gain)", "must be in (0, 1]")
        do {
            chen = try ChenDetector(windowSize: windowSize, safetyMargin: .zero, interval: nil, initialInterval: initialInterval)
        } catch {
            throw DetectorConfigurationError(detector: "BertierDetector", parameter: error.parameter, value: error.value,
                                             requirement: error.requirement)
        }
        self.windowSize = windowSize
        self.varianceWeight = varianceWeight
        self.delayWeight = delayWeight
        self.gain = gain
    }

    /// "bertier" with its window and φ, e.g. "bertier n=1000 phi 4".
    public var name: String { "bertier n=\(windowSize) phi \(varianceWeight)" }

    /// The arrival instant of the last heartbeat; nil before the first one.
    public var lastHeartbeat: Instant? { chen.lastHeartbeat }

    /// Updates the error estimators with this arrival's error, then the expected arrival.
    public mutating func heartbeat(at now: Instant) {
        if let last = chen.lastHeartbeat, now < last { return }
        if let predicted {
            let error = (now - predicted).seconds - delay
            delay += gain * error
            variation += gain * (abs(error) - variation)
        }
        chen.heartbeat(at: now)
        predicted = chen.expectedArrival
    }

    /// The margin α = β·delay + φ·var in force, seconds.
    public var margin: Double { delayWeight * delay + varianceWeight * variation }

    /// The freshness point τ = EA + α; nil before the first heartbeat.
    public var freshnessPoint: Instant? {
        guard let ea = chen.expectedArrival else { return nil }
        return ea + .seconds(margin)
    }

    /// The freshness point τ, or `now` if it has passed.
    public func deadline(after now: Instant) -> Instant {
        guard let tau = freshnessPoint else { return .distantFuture }
        return max(now, tau)
    }

    /// Time since the last heartbeat over the time from it to τ; infinite if τ is not after it.
    public func suspicion(at now: Instant) -> Double {
        guard let tau = freshnessPoint else { return 0 }
        return DetectorMath.timeoutFraction(last: lastHeartbeat, deadline: tau, now: now)
    }
}
