import LabCore

/// socket.io-client's reconnection settings (Manager options), with its defaults.
public struct ReconnectionOptions: Sendable, Hashable {
    /// `reconnection`: whether to reconnect at all (default true).
    public var reconnection: Bool
    /// `reconnectionAttempts`: reconnect attempts before giving up; nil is Infinity, the default.
    public var reconnectionAttempts: Int?
    /// `reconnectionDelay`: the first delay (default 1 s).
    public var reconnectionDelay: TimeSpan
    /// `reconnectionDelayMax`: the cap on delays (default 5 s).
    public var reconnectionDelayMax: TimeSpan
    /// `randomizationFactor`: the jitter (default 0.5); a value outside (0, 1] means no jitter.
    public var randomizationFactor: Double

    /// Options with explicit values; the defaults are socket.io-client's.
    public init(reconnection: Bool = true, reconnectionAttempts: Int? = nil,
                reconnectionDelay: TimeSpan = .seconds(1), reconnectionDelayMax: TimeSpan = .seconds(5),
                randomizationFactor: Double = 0.5) {
        self.reconnection = reconnection
        self.reconnectionAttempts = reconnectionAttempts
        self.reconnectionDelay = reconnectionDelay
        self.reconnectionDelayMax = reconnectionDelayMax
        self.randomizationFactor = randomizationFactor
    }

    /// The options socket.io-client ends up with for these raw values (milliseconds, as a user
    /// writes them in JavaScript), reproducing its fallbacks: `reconnectionAttempts || Infinity`,
    /// `reconnectionDelay || 1000` and `reconnectionDelayMax || 5000` (so 0 means the default),
    /// `randomizationFactor ?? 0.5` (so 0 means no jitter).
    public static func socketIOClient(reconnection: Bool? = nil, reconnectionAttempts: Int? = nil,
                                      reconnectionDelay: Double? = nil, reconnectionDelayMax: Double? = nil,
                                      randomizationFactor: Double? = nil) -> ReconnectionOptions {
        func orDefault(_ value: Double?, _ fallback: Double) -> Double {
            guard let value, value != 0, !value.isNaN else { return fallback }
            return value
        }
        let attempts = reconnectionAttempts.flatMap { $0 == 0 ? nil : $0 }
        return ReconnectionOptions(
            reconnection: reconnection != false,
            reconnectionAttempts: attempts,
            reconnectionDelay: .seconds(orDefault(reconnectionDelay, 1000) / 1000),
            reconnectionDelayMax: .seconds(orDefault(reconnectionDelayMax, 5000) / 1000),
            randomizationFactor: randomizationFactor ?? 0.5)
    }
}

/// What the reconnection manager asks of its driver through `HeartbeatAction.send`.
public enum ReconnectionCommand: Sendable, Hashable {
    /// Open a transport now (Engine.IO handshake and namespace connect). Attempt 0 is the first
    /// connection; n ≥ 1 is reconnect attempt n (socket.io-client's "reconnect_attempt").
    case openTransport(attempt: Int)
    /// A reconnect attempt succeeded after this many attempts (socket.io-client's "reconnect").
    case reconnected(attempts: Int)
    /// `reconnectionAttempts` are used up: no more attempts (socket.io-client's "reconnect_failed").
    case reconnectFailed
}

/// The timer the reconnection manager arms.
public enum ReconnectionTimer: Sendable, Hashable {
    /// The backoff delay before the next open attempt.
    case reconnectDelay
}

/// socket.io-client's Manager reconnection logic as a sans-IO state machine: when to open a
/// transport, how long to back off (its exact `backo2` formula, jittered by a passed-in
/// `SeededGenerator`), when to give up.
///
/// Faithful to manager.ts and socket.ts: the backoff is reset when an open connection closes and
/// when a reconnect succeeds, so the first delay after a drop is always the short one; after
/// `.ioClientDisconnect` (socket.disconnect()) or `.ioServerDisconnect` (the server's DISCONNECT,
/// which destroys the socket) there is no reconnection; a failed first open starts the loop; after
/// `reconnectionAttempts` failed attempts comes `.reconnectFailed` and nothing more until `start`.
///
/// Wiring: `opened(at:)` when the transport opened (Engine.IO "open", socket.io-client's
/// criterion); `openFailed(at:)` when an attempt failed, including a session that closed with
/// `.connectTimeout` before its namespace connected; `disconnected(_:at:)` when a connection
/// closed; `stop(at:)` when the application closes the client or a CONNECT_ERROR destroyed the
/// socket (socket.io-client's Manager._close). The two failure inputs are lenient about which
/// state they arrive in: a failure reported after `opened` is a drop (fresh backoff), a
/// disconnect reported while opening is a failed attempt.
public struct ReconnectionManager: Sendable {
    /// The actions this machine returns.
    public typealias Action = HeartbeatAction<ReconnectionTimer, ReconnectionCommand>

    /// Where the manager is.
    public enum State: Sendable, Hashable {
        /// Not started, or reconnection is off and the connection is down.
        case idle
        /// An open attempt is in flight (attempt 0 is the first connection).
        case opening(attempt: Int)
        /// Connected.
        case open
        /// Waiting for the backoff timer before the next attempt.
        case waiting(until: Instant)
        /// Gave up after `reconnectionAttempts` attempts.
        case gaveUp
        /// Stopped by the application or by a reason that forbids reconnection.
        case stopped
    }

    /// The settings.
    public let options: ReconnectionOptions
    /// The current state.
    public private(set) var state: State = .idle
    /// The backoff, whose `attempts` counts reconnect attempts since the last reset.
    public private(set) var backoff: SocketIOBackoff
    private var generator: SeededGenerator

    /// A manager with these options, drawing jitter from `generator`.
    public init(options: ReconnectionOptions = ReconnectionOptions(), generator: SeededGenerator) {
        self.options = options
        self.generator = generator
        self.backoff = SocketIOBackoff(minimumMilliseconds: options.reconnectionDelay.milliseconds,
                                       maximumMilliseconds: options.reconnectionDelayMax.milliseconds,
                                       jitter: options.randomizationFactor)
    }

    /// Opens the first connection (socket.io-client's `open()`/`connect()`); ignored while opening,
    /// open or already waiting to reconnect.
    public mutating func start(at now: Instant) -> [Action] {
        switch state {
        case .idle, .gaveUp, .stopped:
            state = .opening(attempt: 0)
            return [.send(.openTransport(attempt: 0))]
        case .opening, .open, .waiting:
            return []
        }
    }

    /// The transport opened; a reconnect attempt that succeeds resets the backoff and reports
    /// `.reconnected`.
    public mutating func opened(at now: Instant) -> [Action] {
        guard case .opening(let attempt) = state else { return [] }
        state = .open
        guard attempt > 0 else { return [] }
        let attempts = backoff.attempts
        backoff.reset()
        return [.send(.reconnected(attempts: attempts))]
    }

    /// The open attempt failed (error, refused, connect timeout): back off and try again, or give
    /// up. After `opened` (the transport came up but the namespace never connected) it counts as a
    /// drop, with a fresh backoff, as a close after socket.io-client's "open" does.
    public mutating func openFailed(at now: Instant) -> [Action] {
        switch state {
        case .opening:
            return reconnect(now: now, orElse: .idle)
        case .open:
            backoff.reset()
            return reconnect(now: now, orElse: .idle)
        case .idle, .waiting, .gaveUp, .stopped:
            return []
        }
    }

    /// An open connection closed for `reason`. `.ioClientDisconnect` and `.ioServerDisconnect`
    /// stop the manager; anything else schedules a reconnect with a fresh backoff. While an attempt
    /// is in flight this counts as that attempt failing.
    public mutating func disconnected(_ reason: CloseReason, at now: Instant) -> [Action] {
        let forbidsReconnect = reason == .ioClientDisconnect || reason == .ioServerDisconnect
        switch state {
        case .open:
            backoff.reset()
            if forbidsReconnect {
                state = .stopped
                return []
            }
            return reconnect(now: now, orElse: .idle)
        case .opening:
            if forbidsReconnect {
                state = .stopped
                backoff.reset()
                return []
            }
            return reconnect(now: now, orElse: .idle)
        case .idle, .waiting, .gaveUp, .stopped:
            return []
        }
    }

    /// The application closed the client, or a CONNECT_ERROR destroyed the socket: cancel any
    /// pending attempt and never reconnect until `start`. An attempt in flight is aborted with
    /// `.close(.forcedClose)`, what socket.io-client's engine.close() reports.
    public mutating func stop(at now: Instant) -> [Action] {
        let previous = state
        state = .stopped
        backoff.reset()
        switch previous {
        case .waiting: return [.cancel(.reconnectDelay)]
        case .opening: return [.close(.forcedClose)]
        default: return []
        }
    }

    /// The backoff timer fired: open the next attempt. Stale or early firings are ignored.
    public mutating func timerFired(_ timer: ReconnectionTimer, at now: Instant) -> [Action] {
        guard case .waiting(let deadline) = state, now >= deadline else { return [] }
        let attempt = backoff.attempts
        state = .opening(attempt: attempt)
        return [.send(.openTransport(attempt: attempt))]
    }

    /// socket.io-client's `reconnect()`: give up when the attempts are used, else draw the next
    /// delay and arm the timer.
    private mutating func reconnect(now: Instant, orElse fallback: State) -> [Action] {
        guard options.reconnection else {
            state = fallback
            return []
        }
        if let limit = options.reconnectionAttempts, backoff.attempts >= limit {
            backoff.reset()
            state = .gaveUp
            return [.send(.reconnectFailed)]
        }
        let delay = backoff.nextDelay(using: &generator)
        let deadline = now + delay
        state = .waiting(until: deadline)
        return [.arm(.reconnectDelay, at: deadline)]
    }
}
