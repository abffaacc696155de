import LabCore

/// The client side of the Engine.IO v4 heartbeat as a sans-IO state machine: after the open packet
/// it expects a ping at least every `pingInterval + pingTimeout`, answers each with a pong, and
/// closes with "ping timeout" when the server goes quiet for longer.
///
/// Reference behaviour it reproduces:
/// - engine.io-client (`lib/socket.ts`): `onHandshake` and every received ping call
///   `_resetPingTimeout()`, which clears the timer, sets `_pingTimeoutTime = Date.now() + delay`
///   (delay = pingInterval + pingTimeout) and arms `setTimeout(… _onClose("ping timeout"), delay)`.
///   A ping is answered with `_sendPacket("pong")`, *without* the ping's data.
/// - engine.io-client `_hasPingExpired()`: timers are throttled when a laptop sleeps or a phone
///   locks, so socket.io-client's `emit` asks it first (`isConnected = connected &&
///   !engine._hasPingExpired()`). It returns true when `Date.now() > _pingTimeoutTime` (strict),
///   then sets `_pingTimeoutTime = 0` and closes with "ping timeout" on the next tick; the packet
///   being emitted goes to socket.io's send buffer instead of the dead transport.
///   `checkExpired(at:)` is that check: call it before each send.
/// - The newest engine.io-client in the socket.io monorepo tracks `_lastPacketTime` and, when the
///   timer fires or `_hasPingExpired` runs, extends the deadline to `delay` after the last packet
///   of any kind instead of closing: `Configuration.anyPacketProvesLiveness`.
/// - python-engineio's client (`client.py` / `async_client.py`) answers "2" with "3" + the same
///   data. On WebSocket its read loop waits `ping_interval + ping_timeout` for *any* packet
///   (`ws.settimeout` / `asyncio.wait_for`) and, on timeout, logs "Server has stopped
///   communicating" and disconnects with reason "transport error": `Configuration.pythonEngineIO`.
///   (Over polling it has no such rule: its GET times out after `max(interval, timeout) + 5 s`.)
///
/// Timing rules: the deadline timer fires at `last reset + pingInterval + pingTimeout` and closes
/// when delivered at or after it; a ping delivered at that same instant *before* the timer wins
/// and re-arms; `checkExpired` is strict (`now > deadline`), as `_hasPingExpired` is. Before the
/// open packet nothing is armed; after a close every input returns no actions.
public struct EngineIOClientHeartbeat: Sendable {
    /// The machine's timers.
    public enum Timer: Hashable, Sendable {
        /// The server has been silent too long (no ping within interval + timeout).
        case pingTimeout
    }

    /// What the machine asks its driver to do.
    public typealias Action = HeartbeatAction<Timer, EngineIOPacket>

    /// How this client reads the server's heartbeat.
    public struct Configuration: Sendable, Hashable {
        /// Answer "2data" with "3data" (python-engineio) rather than a bare "3" (engine.io-client).
        public var echoesPingData: Bool
        /// Any packet from the server, not only a ping, pushes the deadline back.
        public var anyPacketProvesLiveness: Bool
        /// The reason reported when the deadline passes.
        public var timeoutReason: CloseReason
        /// A failure detector that sets the silence limit instead of `pingInterval + pingTimeout`
        /// (Flatline's own client, `detector:` in a scenario): fed the open packet and each ping,
        /// built for the handshake's `pingInterval` with that fixed limit as its initial timeout.
        /// Nil: the fixed limit, as engine.io-client has it.
        public var detector: DetectorChoice?

        /// Creates a configuration; the defaults are engine.io-client's as released.
        public init(echoesPingData: Bool = false, anyPacketProvesLiveness: Bool = false,
                    timeoutReason: CloseReason = .pingTimeout, detector: DetectorChoice? = nil) {
            self.echoesPingData = echoesPingData
            self.anyPacketProvesLiveness = anyPacketProvesLiveness
            self.timeoutReason = timeoutReason
            self.detector = detector
        }

        /// engine.io-client v6 as released: only pings re-arm, bare pong, "ping timeout".
        public static let engineIOClient = Configuration()
        /// python-engineio's client on WebSocket: any packet re-arms, pong echoes data, "transport error".
        public static let pythonEngineIO = Configuration(echoesPingData: true, anyPacketProvesLiveness: true,
                                                         timeoutReason: .transportError)
    }

    /// Where the session is.
    public enum Phase: Sendable, Hashable {
        /// Waiting for the server's open packet.
        case awaitingOpen
        /// Open; the deadline timer is armed.
        case open
        /// Closed for this reason; every further input is ignored.
        case closed(CloseReason)
    }

    /// The settings this machine runs with.
    public let configuration: Configuration
    /// Where the session is.
    public private(set) var phase: Phase = .awaitingOpen
    /// The server's handshake, once the open packet has arrived.
    public private(set) var handshake: EngineIOHandshake?
    /// When the open packet or the last ping arrived: the instant the deadline counts from.
    public private(set) var lastResetAt: Instant?
    /// When the last packet of any kind arrived from the server.
    public private(set) var lastPacketAt: Instant?
    /// The configured detector, learning from the pings; nil without one (or before the open).
    public private(set) var detector: (any FailureDetector)?

    /// A machine waiting for the server's open packet.
    public init(configuration: Configuration = .engineIOClient) {
        self.configuration = configuration
    }

    /// True once the session has closed.
    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    /// The silence limit in force: the detector's current timeout when there is one, else the
    /// handshake's pingInterval + pingTimeout.
    public var silenceLimit: TimeSpan? {
        if let detector, let last = detector.lastHeartbeat {
            let deadline = detector.deadline(after: last)
            return deadline == .distantFuture ? nil : deadline - last
        }
        return handshake.map { $0.pingInterval + $0.pingTimeout }
    }

    /// The instant the armed timer fires: the last reset plus the silence limit.
    public var deadline: Instant? {
        guard case .open = phase, let lastResetAt, let silenceLimit else { return nil }
        return lastResetAt + silenceLimit
    }

    /// The deadline after taking other packets into account when `anyPacketProvesLiveness` is on.
    public var effectiveDeadline: Instant? {
        guard let deadline else { return nil }
        guard configuration.anyPacketProvesLiveness, let lastPacketAt, let silenceLimit else { return deadline }
        return max(deadline, lastPacketAt + silenceLimit)
    }

    /// A packet arrived from the server. The open packet starts the clock; each ping is answered
    /// and restarts it; a close packet ends the session ("transport close").
    public mutating func received(_ packet: EngineIOPacket, at now: Instant) -> [Action] {
        switch phase {
        case .closed:
            return []
        case .awaitingOpen:
            guard case .open(let handshake) = packet else { return [] }
            self.handshake = handshake
            phase = .open
            lastPacketAt = now
            if let choice = configuration.detector {
                // Validated where the choice was made (a scenario's loader); a choice this handshake's
                // interval cannot build leaves the fixed limit in force.
                detector = try? choice.make(period: handshake.pingInterval,
                                            initialTimeout: handshake.pingInterval + handshake.pingTimeout)
            }
            return [.observe(.opened)] + reset(at: now)
        case .open:
            lastPacketAt = now
            switch packet {
            case .ping(let data):
                let pong = EngineIOPacket.pong(configuration.echoesPingData ? data : "")
                // One array, not three: this runs on every ping of every simulated connection.
                guard let arm = resetAction(at: now) else { return [.send(pong), .observe(.pingReceived)] }
                return [.send(pong), .observe(.pingReceived), arm]
            case .close:
                return close(.transportClose)
            case .open, .pong, .message, .binary, .upgrade, .noop:
                return []
            }
        }
    }

    /// Data messages arrived, the last of them at `last`: the same as `received(.message(_:), at:)`
    /// for each in turn (a message only proves liveness), in one call, for drivers that deliver
    /// messages in batches (the simulator's batched ticks).
    public mutating func receivedMessages(lastAt last: Instant) -> [Action] {
        received(.message(""), at: last)
    }

    /// Bytes arrived that are not a packet. engine.io-client turns a decode failure into an
    /// "error" packet and closes with "transport error"; python-engineio aborts the same way.
    public mutating func receivedMalformed(_ error: EngineIOParseError, at now: Instant) -> [Action] {
        close(.transportError)
    }

    /// The deadline timer fired. Stale or early deliveries are ignored; with
    /// `anyPacketProvesLiveness` a recent packet re-arms the timer for the rest of its window.
    public mutating func timerFired(_ timer: Timer, at now: Instant) -> [Action] {
        guard case .open = phase, let deadline, now >= deadline, let effective = effectiveDeadline else { return [] }
        if effective > now { return [.arm(.pingTimeout, at: effective)] }
        return close(configuration.timeoutReason, timerFiring: true)
    }

    /// engine.io-client's `_hasPingExpired()`: call before sending. When `now` is strictly past the
    /// deadline (the timer was throttled and has not fired), closes with the timeout reason.
    public mutating func checkExpired(at now: Instant) -> [Action] {
        guard let effective = effectiveDeadline, now > effective else { return [] }
        return close(configuration.timeoutReason)
    }

    /// Whether a send at `now` would find the heartbeat expired; does not change the machine.
    public func hasExpired(at now: Instant) -> Bool {
        if isClosed { return true }
        guard let effective = effectiveDeadline else { return false }
        return now > effective
    }

    /// The transport closed under the session.
    public mutating func transportClosed(at now: Instant) -> [Action] {
        close(.transportClose)
    }

    /// The transport failed.
    public mutating func transportError(at now: Instant) -> [Action] {
        close(.transportError)
    }

    /// The application closes the session: send "1" if open, then close ("forced close").
    public mutating func close(at now: Instant) -> [Action] {
        switch phase {
        case .open: return [.send(.close)] + close(.forcedClose)
        case .awaitingOpen: return close(.forcedClose)
        case .closed: return []
        }
    }

    private mutating func reset(at now: Instant) -> [Action] {
        resetAction(at: now).map { [$0] } ?? []
    }

    /// Restarts the clock at `now`; the timer to arm for the new deadline, if there is one.
    private mutating func resetAction(at now: Instant) -> Action? {
        lastResetAt = now
        detector?.heartbeat(at: now)
        return deadline.map { .arm(.pingTimeout, at: $0) }
    }

    /// Closes for `reason`, disarming the timer unless it is the one firing now.
    private mutating func close(_ reason: CloseReason, timerFiring: Bool = false) -> [Action] {
        let actions: [Action]
        switch phase {
        case .closed: return []
        case .awaitingOpen: actions = []
        case .open: actions = timerFiring ? [] : [.cancel(.pingTimeout)]
        }
        phase = .closed(reason)
        return actions + [.close(reason), .observe(.closed(reason))]
    }
}
