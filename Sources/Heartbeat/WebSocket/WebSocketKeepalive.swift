import LabCore

/// RFC 6455 keepalive as the Python `websockets` library runs it (17.4,
/// src/websockets/asyncio/connection.py `keepalive`; legacy/protocol.py `keepalive_ping`): a Ping
/// every `pingInterval` once the connection opens; if its Pong does not come within `pingTimeout`,
/// the connection fails with close code 1011 "keepalive ping timeout". It also answers the peer's
/// pings with a Pong carrying the same data, as `websockets`' protocol layer does.
///
/// Sans-IO: every input carries `now`; the outputs are `HeartbeatAction`s for the driver.
///
/// - Ping data is a 4-byte big-endian counter (`websockets` draws 4 random bytes; a counter is
///   deterministic and just as unique).
/// - A Pong whose data matches no outstanding ping is ignored, as `websockets` ignores unsolicited
///   pongs. A matching Pong acknowledges that ping and every earlier one, and its round trip is
///   observed (`websockets` sets `latency` from it).
/// - Deadline rule: the Pong must arrive strictly before ping + pingTimeout. At the deadline itself
///   the timeout wins, whichever of the Pong and the timer the driver hands in first, so the outcome
///   never depends on the driver's ordering of simultaneous events.
public struct WebSocketKeepalive: Sendable {
    /// The machine's timers.
    public enum Timer: Hashable, Sendable {
        /// Time to send the next keepalive ping.
        case ping
        /// The outstanding ping's pong is due.
        case pongTimeout
    }

    /// What the machine returns.
    public typealias Action = HeartbeatAction<Timer, WebSocketControl>

    /// When the ping after an answered one is sent; `websockets` changed this between its two
    /// implementations.
    public enum PingSchedule: Hashable, Sendable {
        /// The asyncio implementation: it sleeps `pingInterval - latency` after the pong, so pings
        /// go out every `pingInterval` from the previous ping, or right at the pong if it came later.
        case asyncio
        /// The legacy implementation: it sleeps `pingInterval` after the pong, so the period is
        /// `pingInterval` plus the round trip.
        case legacy
    }

    /// The keepalive settings, named and defaulted as `websockets`' connect/serve arguments.
    public struct Configuration: Hashable, Sendable {
        /// The delay before each ping (`ping_interval`, default 20 s); nil disables keepalive.
        public var pingInterval: TimeSpan?
        /// How long to wait for the pong (`ping_timeout`, default 20 s); nil never fails.
        public var pingTimeout: TimeSpan?
        /// Which implementation's ping timing to follow (default: asyncio).
        public var schedule: PingSchedule

        /// Creates settings; the defaults are `websockets`'.
        public init(pingInterval: TimeSpan? = .seconds(20), pingTimeout: TimeSpan? = .seconds(20), schedule: PingSchedule = .asyncio) {
            self.pingInterval = pingInterval
            self.pingTimeout = pingTimeout
            self.schedule = schedule
        }
    }

    /// A setting outside its valid range, with its name and the rule it broke.
    public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The setting at fault ("pingInterval").
        public var parameter: String
        /// The value given, as text.
        public var value: String
        /// What the value must satisfy.
        public var requirement: String

        /// "WebSocketKeepalive.parameter = value: requirement".
        public var description: String { "WebSocketKeepalive.\(parameter) = \(value): \(requirement)" }
    }

    /// The reason `websockets` puts in the close frame when a keepalive pong is late.
    public static let timeoutCloseReason = "keepalive ping timeout"

    private enum Phase: Hashable, Sendable {
        /// The ping timer is armed for `due`.
        case waitingToPing(due: Instant)
        /// Keepalive ping `payload` went out at `sentAt`; its pong timer is armed for `deadline`.
        case awaitingPong(payload: [UInt8], sentAt: Instant, deadline: Instant)
        /// Keepalive is off (no ping interval); only peer pings are answered.
        case disabled
    }

    private enum State: Hashable, Sendable {
        case idle
        case open(Phase)
        case closed
    }

    /// The settings in use.
    public let configuration: Configuration
    private var state: State = .idle
    private var nextPingNumber: UInt32
    /// Outstanding pings, oldest first: payload and send instant.
    private var pending: [(payload: [UInt8], sentAt: Instant)] = []
    /// The round trip of the last acknowledged ping; zero before the first (as `websockets`'
    /// `latency`).
    public private(set) var latency: TimeSpan = .zero

    /// Creates a machine; intervals, when given, must be positive. `firstPingNumber` seeds the
    /// payload counter.
    public init(configuration: Configuration = Configuration(), firstPingNumber: UInt32 = 0) throws(ConfigurationError) {
        if let interval = configuration.pingInterval, interval <= .zero {
            throw ConfigurationError(parameter: "pingInterval", value: "\(interval)", requirement: "must be > 0, or nil to disable keepalive")
        }
        if let timeout = configuration.pingTimeout, timeout <= .zero {
            throw ConfigurationError(parameter: "pingTimeout", value: "\(timeout)", requirement: "must be > 0, or nil to never time out")
        }
        self.configuration = configuration
        self.nextPingNumber = firstPingNumber
    }

    /// Whether the connection is open as far as the machine knows.
    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    /// The number of pings sent and not yet acknowledged.
    public var outstandingPings: Int { pending.count }

    /// The 4-byte payload the machine uses for ping number `number`.
    public static func pingPayload(_ number: UInt32) -> [UInt8] {
        [UInt8(number >> 24), UInt8((number >> 16) & 0xFF), UInt8((number >> 8) & 0xFF), UInt8(number & 0xFF)]
    }

    // MARK: - Inputs

    /// The opening handshake completed at `now`: the first ping is due `pingInterval` later.
    public mutating func opened(at now: Instant) -> [Action] {
        guard case .idle = state else { return [] }
        guard let interval = configuration.pingInterval else {
            state = .open(.disabled)
            return [.observe(.opened)]
        }
        let due = now + interval
        state = .open(.waitingToPing(due: due))
        return [.observe(.opened), .arm(.ping, at: due)]
    }

    /// A timer the machine armed fired at `now`; a stale or early firing is ignored.
    public mutating func timerFired(_ timer: Timer, at now: Instant) -> [Action] {
        guard case let .open(phase) = state else { return [] }
        switch (timer, phase) {
        case let (.ping, .waitingToPing(due)) where now >= due:
            return sendPing(at: now)
        case let (.pongTimeout, .awaitingPong(_, _, deadline)) where now >= deadline:
            return fail(cancellingPongTimer: false)
        default:
            return []
        }
    }

    /// A Pong frame with `payload` arrived at `now`.
    public mutating func pongReceived(_ payload: [UInt8], at now: Instant) -> [Action] {
        guard case let .open(phase) = state else { return [] }
        if case let .awaitingPong(_, _, deadline) = phase, now >= deadline {
            return fail(cancellingPongTimer: true)
        }
        guard let index = pending.firstIndex(where: { $0.payload == payload }) else { return [] }
        let rtt = now - pending[index].sentAt
        pending.removeFirst(index + 1)
        latency = rtt
        var actions: [Action] = [.observe(.pongReceived(rtt: rtt))]
        if case let .awaitingPong(awaited, sentAt, _) = phase, !pending.contains(where: { $0.payload == awaited }) {
            let interval = configuration.pingInterval ?? .zero
            let due: Instant
            switch configuration.schedule {
            case .asyncio: due = max(sentAt + interval, now)
            case .legacy: due = now + interval
            }
            state = .open(.waitingToPing(due: due))
            actions.append(.cancel(.pongTimeout))
            actions.append(.arm(.ping, at: due))
        }
        return actions
    }

    /// A Ping frame with `payload` arrived at `now`: answer it with a Pong carrying the same data.
    public mutating func pingReceived(_ payload: [UInt8], at now: Instant) -> [Action] {
        guard case .open = state else { return [] }
        return [.send(.pong(payload)), .observe(.pingReceived)]
    }

    /// The transport closed at `now` for `reason` (the peer closed, a reset...): disarm the timer.
    public mutating func closed(at now: Instant, reason: CloseReason = .transportClose) -> [Action] {
        guard case let .open(phase) = state else {
            state = .closed
            return []
        }
        state = .closed
        pending.removeAll()
        var actions: [Action] = []
        switch phase {
        case .waitingToPing: actions.append(.cancel(.ping))
        case .awaitingPong: actions.append(.cancel(.pongTimeout))
        case .disabled: break
        }
        actions.append(.observe(.closed(reason)))
        return actions
    }

    // MARK: - Internals

    private mutating func sendPing(at now: Instant) -> [Action] {
        let payload = Self.pingPayload(nextPingNumber)
        nextPingNumber &+= 1
        pending.append((payload, now))
        var actions: [Action] = [.send(.ping(payload)), .observe(.pingSent)]
        if let timeout = configuration.pingTimeout {
            let deadline = now + timeout
            state = .open(.awaitingPong(payload: payload, sentAt: now, deadline: deadline))
            actions.append(.arm(.pongTimeout, at: deadline))
        } else {
            // websockets does not wait for the pong then: the next ping follows a full interval later.
            let due = now + (configuration.pingInterval ?? .zero)
            state = .open(.waitingToPing(due: due))
            actions.append(.arm(.ping, at: due))
        }
        return actions
    }

    /// Fails the connection as `websockets` does on a keepalive timeout: Close 1011 with its reason,
    /// then the transport closes.
    private mutating func fail(cancellingPongTimer: Bool) -> [Action] {
        state = .closed
        pending.removeAll()
        var actions: [Action] = [.send(.close(code: WebSocketCloseCode.internalError, reason: Self.timeoutCloseReason))]
        if cancellingPongTimer { actions.append(.cancel(.pongTimeout)) }
        actions.append(.observe(.closed(.keepalivePingTimeout)))
        actions.append(.close(.keepalivePingTimeout))
        return actions
    }
}
