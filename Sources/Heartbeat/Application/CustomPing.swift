import LabCore

/// An application-level event a machine of this layer wants emitted on the Socket.IO socket.
public struct ApplicationEmit: Sendable, Hashable {
    /// The event name.
    public var event: String
    /// The event's arguments.
    public var arguments: [JSONValue]

    /// Creates an emit request.
    public init(event: String, arguments: [JSONValue] = []) {
        self.event = event
        self.arguments = arguments
    }
}

/// The timers `CustomPing` arms.
public enum CustomPingTimer: Sendable, Hashable {
    /// Time to emit the next ping.
    case interval
    /// The oldest unanswered ping must be answered before this fires.
    case pongTimeout
}

/// A dashboard's own keepalive on top of Socket.IO: every `interval` the client emits a ping event
/// and expects a pong event within `timeout`, else it forces a reconnect, as the motivating case's
/// client did (45 s / 20 s) alongside Engine.IO's own heartbeat.
///
/// A missed pong closes with `.forcedClose`: that is what socket.io-client reports when an
/// application forces a reconnect by closing the engine (`socket.io.engine.close()`), and it is a
/// reason the `ReconnectionManager` reconnects after, unlike `.ioClientDisconnect`; it also keeps a
/// custom-ping kill apart from the health check's `.healthCheckStale` in the event log.
///
/// Pings carry a sequence number (`[n]`); a pong that echoes it answers that ping and every older
/// one, a pong without it answers the oldest outstanding ping. When `timeout` exceeds `interval`,
/// pings overlap and the oldest unanswered one sets the deadline. Deadlines are exclusive: a pong
/// arriving exactly at `sentAt + timeout` is late. After the forced close the machine waits for
/// the next `connected(at:)` and ignores everything else.
public struct CustomPing: Sendable {
    /// The actions this machine returns.
    public typealias Action = HeartbeatAction<CustomPingTimer, ApplicationEmit>

    /// The custom ping's settings.
    public struct Options: Sendable, Hashable {
        /// Time between pings.
        public var interval: TimeSpan
        /// How long a ping may wait for its pong.
        public var timeout: TimeSpan
        /// The delay before the first ping after connecting; nil means `interval` (a setInterval).
        public var firstPingAfter: TimeSpan?
        /// The event the client emits.
        public var pingEvent: String
        /// The event the server answers with.
        public var pongEvent: String

        /// Options; 45 s / 20 s are the motivating case's values.
        public init(interval: TimeSpan = .seconds(45), timeout: TimeSpan = .seconds(20), firstPingAfter: TimeSpan? = nil,
                    pingEvent: String = "ping", pongEvent: String = "pong") {
            self.interval = interval
            self.timeout = timeout
            self.firstPingAfter = firstPingAfter
            self.pingEvent = pingEvent
            self.pongEvent = pongEvent
        }
    }

    /// Where the machine is.
    public enum State: Sendable, Hashable {
        /// Not connected (never, or after a disconnect or a forced close).
        case idle
        /// Connected and pinging.
        case running
    }

    /// The settings.
    public let options: Options
    /// The current state.
    public private(set) var state: State = .idle

    private var nextPingAt: Instant = .distantFuture
    private var sequence: Int64 = 0
    /// Unanswered pings, oldest first.
    private var outstanding: [(sequence: Int64, sentAt: Instant)] = []

    /// A machine that is not running yet.
    public init(options: Options = Options()) {
        self.options = options
    }

    /// How many pings are waiting for a pong.
    public var outstandingCount: Int { outstanding.count }

    /// The socket connected: schedule the first ping (restarting if already running).
    public mutating func connected(at now: Instant) -> [Action] {
        var actions: [Action] = []
        if state == .running { actions += stopTimers() }
        state = .running
        sequence = 0
        outstanding = []
        nextPingAt = now + (options.firstPingAfter ?? options.interval)
        actions.append(.arm(.interval, at: nextPingAt))
        return actions
    }

    /// The socket disconnected for any reason: stop pinging.
    public mutating func disconnected(at now: Instant) -> [Action] {
        guard state == .running else { return [] }
        state = .idle
        let actions = stopTimers()
        outstanding = []
        return actions
    }

    /// A pong arrived, echoing `sequence` if the server echoes it.
    public mutating func pongReceived(sequence echoed: Int64? = nil, at now: Instant) -> [Action] {
        guard state == .running, let oldest = outstanding.first else { return [] }
        if now >= oldest.sentAt + options.timeout { return forceClose() }
        let index = echoed.flatMap { seq in outstanding.firstIndex { $0.sequence == seq } } ?? 0
        let answered = outstanding[index]
        outstanding.removeFirst(index + 1)
        var actions: [Action] = [.observe(.pongReceived(rtt: now - answered.sentAt))]
        if let next = outstanding.first {
            actions.append(.arm(.pongTimeout, at: next.sentAt + options.timeout))
        } else {
            actions.append(.cancel(.pongTimeout))
        }
        return actions
    }

    /// Any event from the server: a `pongEvent` counts as a pong (its first integer argument as the
    /// echoed sequence); other events are not this machine's business.
    public mutating func received(event name: String, arguments: [JSONValue] = [], at now: Instant) -> [Action] {
        guard name == options.pongEvent else { return [] }
        var echoed: Int64?
        if case .integer(let n)? = arguments.first { echoed = n }
        return pongReceived(sequence: echoed, at: now)
    }

    /// A timer fired; stale or early firings are ignored.
    public mutating func timerFired(_ timer: CustomPingTimer, at now: Instant) -> [Action] {
        guard state == .running else { return [] }
        switch timer {
        case .pongTimeout:
            guard let oldest = outstanding.first, now >= oldest.sentAt + options.timeout else { return [] }
            return forceClose()
        case .interval:
            guard now >= nextPingAt else { return [] }
            if let oldest = outstanding.first, now >= oldest.sentAt + options.timeout { return forceClose() }
            sequence += 1
            let wasIdle = outstanding.isEmpty
            outstanding.append((sequence, now))
            nextPingAt = now + options.interval
            var actions: [Action] = [
                .send(ApplicationEmit(event: options.pingEvent, arguments: [.integer(sequence)])),
                .observe(.pingSent),
            ]
            if wasIdle { actions.append(.arm(.pongTimeout, at: now + options.timeout)) }
            actions.append(.arm(.interval, at: nextPingAt))
            return actions
        }
    }

    private mutating func forceClose() -> [Action] {
        state = .idle
        outstanding = []
        return stopTimers() + [.close(.forcedClose), .observe(.closed(.forcedClose))]
    }

    private mutating func stopTimers() -> [Action] {
        nextPingAt = .distantFuture
        return [.cancel(.interval), .cancel(.pongTimeout)]
    }
}
