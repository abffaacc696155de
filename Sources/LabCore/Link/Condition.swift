/// Which way bytes flow on a proxied connection: upstream is client to server, downstream is
/// server to client (Toxiproxy's names).
public enum LinkDirection: String, Sendable, Hashable, CaseIterable, Codable {
    case upstream
    case downstream
}

/// A parameter of a condition that failed validation: the field's name and the reason, so the
/// API and the scenario loader can point at the exact attribute.
public struct ConditionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The attribute, e.g. "rate" or "distribution.sigma".
    public let field: String
    /// Why the value is not acceptable.
    public let reason: String

    /// Creates an error for `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// Extra delay on every chunk: a fixed part, uniform jitter (as Toxiproxy's latency toxic) and/or a
/// distribution of delays, with optional correlation between successive draws.
public struct LatencyCondition: Sendable, Hashable {
    /// The fixed part of the delay.
    public var latency: TimeSpan
    /// Uniform jitter: each draw adds a value in [-jitter, +jitter].
    public var jitter: TimeSpan
    /// Optional extra delay drawn from a law over nanoseconds; added to `latency`.
    public var distribution: Distribution?
    /// Correlation in [0, 1) between successive draws of `distribution`.
    public var correlation: Double

    /// Creates a latency condition; see the properties for the meaning of each part.
    public init(latency: TimeSpan, jitter: TimeSpan = .zero, distribution: Distribution? = nil, correlation: Double = 0) {
        self.latency = latency
        self.jitter = jitter
        self.distribution = distribution
        self.correlation = correlation
    }
}

/// A bottleneck link: chunks are serialised at `rate`; a rate of zero holds all data until changed.
public struct BandwidthCondition: Sendable, Hashable {
    /// The link rate; zero holds data.
    public var rate: ByteRate
    /// Creates a bandwidth limit of `rate`.
    public init(rate: ByteRate) { self.rate = rate }
}

/// Holds data on the link and resumes it on the same connection, for `duration` or, when nil,
/// until the condition is removed (a Wi-Fi roaming pause, not a dead peer).
public struct StallCondition: Sendable, Hashable {
    /// How long the stall lasts from when it starts applying; nil means until lifted.
    public var duration: TimeSpan?
    /// Creates a stall for `duration`, or until lifted when nil.
    public init(duration: TimeSpan? = nil) { self.duration = duration }
}

/// Drops all data silently with no FIN (a half-open peer); optionally closes the connection at a
/// deadline measured from when it started applying, which traffic cannot extend.
public struct BlackholeCondition: Sendable, Hashable {
    /// When set, close the connection this long after the blackhole started applying.
    public var closeAfter: TimeSpan?
    /// Creates a blackhole, closing after `closeAfter` when given.
    public init(closeAfter: TimeSpan? = nil) { self.closeAfter = closeAfter }
}

/// Segment loss on a TCP stream: a lost segment is not a hole but a retransmission delay, with
/// the retransmission timeout starting at `initialRTO` and doubling per loss of the same segment.
public struct LossCondition: Sendable, Hashable {
    /// Which segments are lost.
    public var model: LossModel
    /// The segment size the chunk is cut into before loss is decided (a loopback-like MSS by default).
    public var segmentSize: Int
    /// The first retransmission timeout (RFC 6298's 1 s is Linux's 200 ms minimum in practice).
    public var initialRTO: TimeSpan
    /// The cap on the doubled timeout (Linux TCP_RTO_MAX).
    public var maxRTO: TimeSpan

    /// Creates a loss condition with TCP-like defaults.
    public init(model: LossModel, segmentSize: Int = 1448, initialRTO: TimeSpan = .milliseconds(200),
                maxRTO: TimeSpan = .seconds(120)) {
        self.model = model
        self.segmentSize = segmentSize
        self.initialRTO = initialRTO
        self.maxRTO = maxRTO
    }
}

/// Cuts data into small slices of `averageSize` plus or minus `sizeVariation` bytes, `delay` apart
/// (Toxiproxy's slicer): exercises parsers that assume whole frames arrive at once.
public struct SlicerCondition: Sendable, Hashable {
    /// Mean slice size in bytes, at least 1.
    public var averageSize: Int
    /// Slice sizes vary uniformly by up to this many bytes; less than `averageSize`.
    public var sizeVariation: Int
    /// Time between successive slices.
    public var delay: TimeSpan
    /// Creates a slicer.
    public init(averageSize: Int, sizeVariation: Int = 0, delay: TimeSpan = .zero) {
        self.averageSize = averageSize
        self.sizeVariation = sizeVariation
        self.delay = delay
    }
}

/// Closes the connection once `bytes` have passed on this link (Toxiproxy's limit_data).
public struct LimitDataCondition: Sendable, Hashable {
    /// The number of bytes allowed through.
    public var bytes: Int64
    /// Creates a limit of `bytes`.
    public init(bytes: Int64) { self.bytes = bytes }
}

/// Delays passing a close (FIN) on this link by `delay` (Toxiproxy's slow_close).
public struct SlowCloseCondition: Sendable, Hashable {
    /// How long the FIN is held after the data before it.
    public var delay: TimeSpan
    /// Creates a slow close.
    public init(delay: TimeSpan) { self.delay = delay }
}

/// Resets the connection with a real RST `after` it started applying, also on connections that
/// were open before the condition was added (Toxiproxy's reset_peer).
public struct ResetCondition: Sendable, Hashable {
    /// Time from the start of the condition (or of the connection, if later) to the reset.
    public var after: TimeSpan
    /// Creates a reset.
    public init(after: TimeSpan = .zero) { self.after = after }
}

/// What a middlebox does to a connection it considers dead.
public enum MiddleboxAction: String, Sendable, Hashable, CaseIterable {
    /// Close both sides with a FIN (a proxy like nginx with proxy_timeout).
    case close
    /// Reset both sides (a firewall that sends RST).
    case reset
    /// Forget the connection and drop its packets silently from then on (a NAT table eviction).
    case blackhole
}

/// A middlebox that ends a connection after `after` without data in either direction, like
/// nginx's 60 s proxy timeout or a home router's NAT table.
public struct IdleTimeoutCondition: Sendable, Hashable {
    /// Idle time after which the middlebox acts.
    public var after: TimeSpan
    /// What it does then.
    public var action: MiddleboxAction
    /// Creates an idle timeout.
    public init(after: TimeSpan, action: MiddleboxAction = .close) {
        self.after = after
        self.action = action
    }
}

/// Delays establishing the upstream connection by `delay` (a slow SYN/ACK).
public struct SlowConnectCondition: Sendable, Hashable {
    /// Extra time before the proxy connects upstream.
    public var delay: TimeSpan
    /// Creates a slow connect.
    public init(delay: TimeSpan) { self.delay = delay }
}

/// One network condition as a plain value; what it does to a chunk is decided by `LinkSchedule`,
/// which both the live proxy and the simulator call (DESIGN.md, principle 1).
public enum Condition: Sendable, Hashable {
    case latency(LatencyCondition)
    case bandwidth(BandwidthCondition)
    case stall(StallCondition)
    case blackhole(BlackholeCondition)
    case loss(LossCondition)
    case slicer(SlicerCondition)
    case limitData(LimitDataCondition)
    case slowClose(SlowCloseCondition)
    case reset(ResetCondition)
    case idleTimeout(IdleTimeoutCondition)
    case slowConnect(SlowConnectCondition)

    /// The condition's kind as used in names and metrics ("latency", "stall", ...).
    public var kind: String {
        switch self {
        case .latency: "latency"
        case .bandwidth: "bandwidth"
        case .stall: "stall"
        case .blackhole: "blackhole"
        case .loss: "loss"
        case .slicer: "slicer"
        case .limitData: "limit_data"
        case .slowClose: "slow_close"
        case .reset: "reset"
        case .idleTimeout: "idle_timeout"
        case .slowConnect: "slow_connect"
        }
    }

    /// Checks every parameter, throwing the first bad one with its field name.
    public func validate() throws(ConditionError) {
        func nonNegative(_ span: TimeSpan, _ field: String) throws(ConditionError) {
            if span < .zero { throw ConditionError(field: field, reason: "must be >= 0, got \(span.nanoseconds)ns") }
        }
        switch self {
        case .latency(let c):
            try nonNegative(c.latency, "latency")
            try nonNegative(c.jitter, "jitter")
            if let d = c.distribution {
                do { try d.validate() } catch { throw ConditionError(field: "distribution", reason: error.message) }
            }
            guard c.correlation.isFinite, c.correlation >= 0, c.correlation < 1 else {
                throw ConditionError(field: "correlation", reason: "must be in [0, 1), got \(c.correlation)")
            }
        case .bandwidth(let c):
            guard c.rate.isUnlimited || (c.rate.bytesPerSecond.isFinite && c.rate.bytesPerSecond >= 0) else {
                throw ConditionError(field: "rate", reason: "must be >= 0, got \(c.rate.bytesPerSecond)")
            }
        case .stall(let c):
            if let d = c.duration { try nonNegative(d, "duration") }
        case .blackhole(let c):
            if let d = c.closeAfter { try nonNegative(d, "timeout") }
        case .loss(let c):
            do { try c.model.validate() } catch { throw ConditionError(field: "model", reason: error.message) }
            guard c.segmentSize > 0 else {
                throw ConditionError(field: "segment_size", reason: "must be > 0, got \(c.segmentSize)")
            }
            guard c.initialRTO > .zero else { throw ConditionError(field: "rto", reason: "must be > 0") }
            guard c.maxRTO >= c.initialRTO else { throw ConditionError(field: "max_rto", reason: "must be >= rto") }
        case .slicer(let c):
            guard c.averageSize > 0 else {
                throw ConditionError(field: "average_size", reason: "must be > 0, got \(c.averageSize)")
            }
            guard c.sizeVariation >= 0, c.sizeVariation < c.averageSize else {
                throw ConditionError(field: "size_variation",
                                     reason: "must be >= 0 and less than average_size (\(c.averageSize)), got \(c.sizeVariation)")
            }
            try nonNegative(c.delay, "delay")
        case .limitData(let c):
            guard c.bytes >= 0 else { throw ConditionError(field: "bytes", reason: "must be >= 0, got \(c.bytes)") }
        case .slowClose(let c):
            try nonNegative(c.delay, "delay")
        case .reset(let c):
            try nonNegative(c.after, "timeout")
        case .idleTimeout(let c):
            guard c.after > .zero else { throw ConditionError(field: "timeout", reason: "must be > 0") }
        case .slowConnect(let c):
            try nonNegative(c.delay, "delay")
        }
    }
}

/// A condition as it applies to one link of one connection: its name (unique per proxy), since
/// when it applies there, and whether this connection drew it (toxicity, decided once and kept).
public struct ActiveCondition: Sendable, Hashable {
    /// The condition's name, unique within its proxy; keys its per-link state and random stream.
    public var name: String
    /// What the condition does.
    public var condition: Condition
    /// When it started applying to this link: the later of its creation and the connection's start.
    public var since: Instant
    /// Whether this connection was drawn to suffer it.
    public var applies: Bool

    /// Creates an active condition.
    public init(name: String, condition: Condition, since: Instant, applies: Bool = true) {
        self.name = name
        self.condition = condition
        self.since = since
        self.applies = applies
    }
}

/// The per-connection draw behind Toxiproxy's "toxicity": a number in [0, 1) fixed by (seed,
/// connection, condition name), so a condition's fate on a connection never changes when it is
/// updated, unlike Toxiproxy, which re-rolls.
public enum ToxicityDraw {
    /// The connection's fixed draw for the named condition; the condition applies when draw < toxicity.
    public static func value(seed: UInt64, connection: UInt64, name: String) -> Double {
        var rng = SeededGenerator(seed: seed, stream: [0x746f78, connection, StableHash.fnv1a(name)])
        return rng.nextUnit()
    }
}

/// A hash that is the same in every process (Swift's `Hasher` is randomly seeded), for deriving
/// random streams from names.
public enum StableHash {
    /// 64-bit FNV-1a of the UTF-8 bytes.
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
