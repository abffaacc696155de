import LabCore

/// Chen, Toueg and Aguilera's detector (2002, NFD-E): the next heartbeat's expected arrival EA is
/// estimated from the last n arrivals, and the peer is suspected at the freshness point
/// τ = EA + α, α being the safety margin.
///
/// The paper's estimate is EA(ℓ+1) = (1/n)·Σ(Aᵢ − η·sᵢ) + (ℓ+1)·η over the last n heartbeats, with
/// Aᵢ their arrival times, sᵢ their sequence numbers and η the sending period. Heartbeats here carry
/// no sequence number, so sᵢ is the arrival index (exact when none is lost), and η is either given
/// or estimated as the window's mean inter-arrival time. The sum then reduces to
/// EA = mean(Aᵢ) + η·(k+1)/2 over the k ≤ n arrivals held, computed in exact integer nanoseconds.
/// A heartbeat arriving so late that τ already lies behind it does not restore trust, as in the
/// paper (each heartbeat is only fresh until the next freshness point).
public struct ChenDetector: FailureDetector, Hashable {
    /// How many recent arrivals the estimate uses (n).
    public let windowSize: Int
    /// The safety margin α added to the expected arrival.
    public let safetyMargin: TimeSpan
    /// The sender's heartbeat period η if known; nil to estimate it from the window.
    public let interval: TimeSpan?
    /// The period assumed after the first heartbeat, when η is unknown and there is no interval yet.
    public let initialInterval: TimeSpan

    /// The arrival instant of the last heartbeat; nil before the first one.
    public private(set) var lastHeartbeat: Instant?
    private var ring: [Int64] = []
    private var oldest = 0
    private var sum: Int128 = 0

    /// Creates a detector; requires windowSize > 0, safetyMargin ≥ 0, and positive intervals.
    public init(
        windowSize: Int = 1000,
        safetyMargin: TimeSpan,
        interval: TimeSpan? = nil,
        initialInterval: TimeSpan = .seconds(1)
    ) throws(DetectorConfigurationError) {
        func check(_ ok: Bool, _ name: String, _ value: String, _ rule: String) throws(DetectorConfigurationError) {
            if !ok {
                throw DetectorConfigurationError(detector: "ChenDetector", parameter: name, value: value, requirement: rule)
            }
        }
        try check(windowSize > 0, "windowSize", "\(windowSize)", "must be > 0")
        try check(safetyMargin >= .zero, "safetyMargin", "\(safetyMargin)", "must be >= 0")
        if let interval {
            try check(interval > .zero, "interval", "\(interval)", "must be > 0")
        }
        try check(initialInterval > .zero, "initialInterval", "\(initialInterval)", "must be > 0")
        self.windowSize = windowSize
        self.safetyMargin = safetyMargin
        self.interval = interval
        self.initialInterval = initialInterval
    }

    /// "chen" with its window and margin, e.g. "chen n=1000 alpha 500ms".
    public var name: String { "chen n=\(windowSize) alpha \(safetyMargin)" }

    /// Adds the arrival to the window, dropping the oldest beyond `windowSize`.
    public mutating func heartbeat(at now: Instant) {
        if let last = lastHeartbeat, now < last { return }
        let value = now.nanoseconds
        if ring.count < windowSize {
            ring.append(value)
        } else {
            sum -= Int128(ring[oldest])
            ring[oldest] = value
            oldest = (oldest + 1) % windowSize
        }
        sum += Int128(value)
        lastHeartbeat = now
    }

    /// The estimated arrival of the next heartbeat, EA; nil before the first heartbeat.
    public var expectedArrival: Instant? {
        guard let last = lastHeartbeat else { return nil }
        let k = Int128(ring.count)
        if let interval {
            // (2·ΣA + k(k+1)·η) / 2k
            return DetectorMath.instant(
                DetectorMath.roundedQuotient(2 * sum + k * (k + 1) * Int128(interval.nanoseconds), 2 * k))
        }
        if k < 2 { return last + initialInterval }
        let first = Int128(ring[ring.count < windowSize ? 0 : oldest])
        let span = Int128(last.nanoseconds) - first
        // (2(k-1)·ΣA + k(k+1)·span) / 2k(k-1), η = span / (k-1)
        return DetectorMath.instant(
            DetectorMath.roundedQuotient(2 * (k - 1) * sum + k * (k + 1) * span, 2 * k * (k - 1)))
    }

    /// The freshness point τ = EA + α: the peer is suspected from then on unless a heartbeat comes.
    public var freshnessPoint: Instant? { expectedArrival.map { $0 + safetyMargin } }

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
