import LabCore

/// What kind of inbound traffic the health check saw.
public enum HealthCheckTraffic: Sendable, Hashable {
    /// An application message: a Socket.IO event or ack (any Engine.IO "4" message).
    case message
    /// An Engine.IO heartbeat (ping "2" or pong "3"), which counts only if configured to.
    case heartbeat
}

/// The timer `HealthCheck` arms.
public enum HealthCheckTimer: Sendable, Hashable {
    /// Check the connection for staleness.
    case check
}

/// A dashboard's application-level health check: the client declares the connection stale after
/// `staleAfter` without any inbound traffic and forces a reconnect with `.healthCheckStale`, as
/// the motivating case's client did (30 s before the fix, 90 s after).
///
/// Two ways to look, both seen in real dashboards: exact (nil `checkInterval`: stale exactly
/// `staleAfter` after the last counted traffic) and polling (a check every `checkInterval` from
/// connect, like a setInterval, so staleness is noticed up to one interval late). Deadlines are
/// exclusive and a check at instant T sees only traffic strictly before T, whatever order the
/// driver delivers traffic and a timer due at the same instant in. After the forced close the
/// machine waits for the next `connected(at:)` and ignores everything else.
public struct HealthCheck: Sendable {
    /// The actions this machine returns; it never sends anything.
    public typealias Action = HeartbeatAction<HealthCheckTimer, Never>

    /// The health check's settings.
    public struct Options: Sendable, Hashable {
        /// Silence longer than this (inclusive) makes the connection stale.
        public var staleAfter: TimeSpan
        /// Whether Engine.IO pings and pongs count as traffic (many dashboards cannot see them).
        public var heartbeatsCount: Bool
        /// Look every this often instead of exactly at the deadline; nil is exact.
        public var checkInterval: TimeSpan?
        /// Only these Socket.IO events count as traffic (a dashboard that watches for its server's
        /// `ping` event: "no server ping for 120 s"); nil: any message does.
        public var events: Set<String>?

        /// Options; 30 s, heartbeats not counted, exact checking, any message by default.
        public init(staleAfter: TimeSpan = .seconds(30), heartbeatsCount: Bool = false, checkInterval: TimeSpan? = nil,
                    events: Set<String>? = nil) {
            self.staleAfter = staleAfter
            self.heartbeatsCount = heartbeatsCount
            self.checkInterval = checkInterval
            self.events = events
        }
    }

    /// Where the machine is.
    public enum State: Sendable, Hashable {
        /// Not connected (never, or after a disconnect or a stale verdict).
        case idle
        /// Watching a connection.
        case watching
    }

    /// The settings.
    public let options: Options
    /// The current state.
    public private(set) var state: State = .idle
    /// The last counted inbound traffic (or the connect instant).
    public private(set) var lastTraffic: Instant = .zero

    /// When the armed check timer is due.
    private var nextCheck: Instant = .distantFuture

    /// The polling period, if polling (a zero or negative `checkInterval` means exact checking).
    private var pollInterval: TimeSpan? {
        guard let interval = options.checkInterval, interval > .zero else { return nil }
        return interval
    }

    /// A machine that is not watching yet.
    public init(options: Options = Options()) {
        self.options = options
    }

    /// Whether every application message counts as traffic; false when only chosen events do
    /// (then `counts(event:)` says which), so a driver can tell before decoding a message.
    public var countsEveryMessage: Bool { options.events == nil }

    /// Whether a decoded Socket.IO event with this name counts as traffic when only chosen events do.
    public func counts(event name: String) -> Bool { options.events?.contains(name) ?? false }

    /// The socket connected: silence is measured from now.
    public mutating func connected(at now: Instant) -> [Action] {
        state = .watching
        lastTraffic = now
        nextCheck = now + (pollInterval ?? options.staleAfter)
        return [.arm(.check, at: nextCheck)]
    }

    /// The socket disconnected for any reason: stop watching.
    public mutating func disconnected(at now: Instant) -> [Action] {
        guard state == .watching else { return [] }
        state = .idle
        nextCheck = .distantFuture
        return [.cancel(.check)]
    }

    /// Inbound traffic arrived. A check falling due at this very instant runs first, on the traffic
    /// before it; heartbeats are ignored unless `heartbeatsCount`.
    public mutating func received(_ traffic: HealthCheckTraffic, at now: Instant) -> [Action] {
        guard state == .watching else { return [] }
        var actions: [Action] = []
        if now >= nextCheck {
            actions = check(now: now)
            if state != .watching { return actions }
        }
        if traffic == .message || options.heartbeatsCount { lastTraffic = now }
        return actions
    }

    /// The check timer fired; a stale or early firing is ignored.
    public mutating func timerFired(_ timer: HealthCheckTimer, at now: Instant) -> [Action] {
        guard state == .watching, now >= nextCheck else { return [] }
        return check(now: now)
    }

    /// Looks at the silence as of `now` (traffic at `now` itself not yet counted).
    private mutating func check(now: Instant) -> [Action] {
        if now - lastTraffic >= options.staleAfter {
            state = .idle
            nextCheck = .distantFuture
            return [.cancel(.check), .close(.healthCheckStale), .observe(.closed(.healthCheckStale))]
        }
        if let interval = pollInterval {
            // A setInterval keeps its own cadence: the next tick after `now` on the connect grid.
            let behind = (now - nextCheck).nanoseconds / interval.nanoseconds
            nextCheck = nextCheck + interval * (behind + 1)
        } else {
            nextCheck = lastTraffic + options.staleAfter
        }
        return [.arm(.check, at: nextCheck)]
    }
}
