import LabCore

/// The server side of the Engine.IO v4 heartbeat as a sans-IO state machine: after the open packet
/// it pings every `pingInterval`, expects a pong within `pingTimeout` of each ping, and closes with
/// "ping timeout" when none comes.
///
/// Reference behaviour it reproduces (socketio/engine.io `lib/socket.ts`, python-engineio
/// `socket.py` / `async_socket.py`):
/// - `onOpen` sends the open packet, then `schedulePing()`: one timer, `pingInterval` from now.
///   When it fires the server sends "2" and `resetPingTimeout()` arms a `pingTimeout` timer (v4:
///   `pingTimeout` alone; v3 used interval + timeout). There is no second ping until a pong.
/// - A pong clears the timeout timer and `pingIntervalTimer.refresh()` restarts the interval, so
///   the next ping is `pingInterval` after the pong, not after the previous ping. python-engineio
///   does the same: `receive(PONG)` calls `schedule_ping()`, which sleeps `ping_interval`. A pong
///   with no ping outstanding also restarts the interval in engine.io; so it does here.
/// - A "2" from the client is "invalid heartbeat direction" in engine.io (close "transport error");
///   python-engineio ignores it (`UnknownPacketError`). `Configuration.rejectsClientPing` picks.
/// - python-engineio detects a missing pong lazily: `check_ping_timeout()` runs on every send and
///   from a service task that sweeps all sockets once per `ping_timeout`, and closes when
///   `now - last_ping > ping_timeout` (strict). `checkPingTimeout(at:)` is that check; a driver
///   that models python-engineio calls it instead of honouring the timer exactly.
/// - The newest engine.io in the socket.io monorepo (`checkPingTimeout` with `lastPacketTime`)
///   does not close while any client packet arrived within `pingTimeout`; it re-arms for the rest.
///   `Configuration.anyPacketProvesLiveness` turns that on.
///
/// Timing rules (the same in every Flatline machine): a timer "fires at" its deadline and closes
/// when the driver delivers it at or after that instant; inputs are handled in the order the
/// driver delivers them, so a pong delivered at exactly the deadline *before* the timer wins, and
/// one delivered after it finds the session closed. The lazy check is strict (`now > deadline`),
/// as python-engineio's is. After a close every input returns no actions.
public struct EngineIOServerHeartbeat: Sendable {
    /// The machine's timers.
    public enum Timer: Hashable, Sendable {
        /// Time to send the next ping.
        case ping
        /// The pong for the outstanding ping is due.
        case pingTimeout
    }

    /// What the machine asks its driver to do.
    public typealias Action = HeartbeatAction<Timer, EngineIOPacket>

    /// The server's heartbeat settings, advertised to the client in the handshake.
    public struct Configuration: Sendable, Hashable {
        /// Time from the open (or from a pong) to the next ping.
        public var pingInterval: TimeSpan
        /// Time from a ping to the pong before the session is closed.
        public var pingTimeout: TimeSpan
        /// The largest polling payload accepted, advertised as `maxPayload`.
        public var maxPayload: Int64
        /// Close with "transport error" on a ping from the client (engine.io) or ignore it (python-engineio).
        public var rejectsClientPing: Bool
        /// Any packet from the client postpones the ping timeout to `pingTimeout` after it (newest engine.io).
        public var anyPacketProvesLiveness: Bool
        /// python-engineio's service task: when set, an overdue pong is noticed only at the task's
        /// next sweep, at `origin + k·pingTimeout` strictly after the deadline, so detection falls in
        /// (pingTimeout, 2·pingTimeout] after the ping. Nil: exactly at the deadline (engine.io).
        /// (python-engineio also checks when it sends a packet; that check is not modelled.)
        public var serviceSweepOrigin: Instant?
        /// A failure detector that sets when a pong is overdue instead of `pingTimeout` after the
        /// ping (Flatline's own server, `detector:` in a scenario): its heartbeats are the open and
        /// each pong, so a pong is due by the last one plus the detector's timeout. Built for
        /// `pingInterval`, with `pingInterval + pingTimeout` as its timeout until it has learnt.
        /// Nil: `pingTimeout`, as engine.io has it.
        public var detector: DetectorChoice?

        /// Creates a configuration; the defaults are engine.io's (25 s, 20 s, 1 MB, strict direction).
        public init(pingInterval: TimeSpan = .milliseconds(25_000), pingTimeout: TimeSpan = .milliseconds(20_000),
                    maxPayload: Int64 = 1_000_000, rejectsClientPing: Bool = true,
                    anyPacketProvesLiveness: Bool = false, serviceSweepOrigin: Instant? = nil,
                    detector: DetectorChoice? = nil) {
            self.detector = detector
            self.serviceSweepOrigin = serviceSweepOrigin
            self.pingInterval = pingInterval
            self.pingTimeout = pingTimeout
            self.maxPayload = maxPayload
            self.rejectsClientPing = rejectsClientPing
            self.anyPacketProvesLiveness = anyPacketProvesLiveness
        }

        /// engine.io (Node) v6 as released: strict heartbeat direction, only a pong answers a ping.
        public static let engineIO = Configuration()
        /// python-engineio: same defaults, a client ping is ignored.
        public static let pythonEngineIO = Configuration(rejectsClientPing: false)
    }

    /// Where the session is.
    public enum Phase: Sendable, Hashable {
        /// Created, open packet not yet sent.
        case awaitingOpen
        /// Waiting to send the next ping.
        case idle
        /// A ping is out; its pong is due.
        case awaitingPong
        /// Closed for this reason; every further input is ignored.
        case closed(CloseReason)
    }

    /// The settings this machine runs with.
    public let configuration: Configuration
    /// Where the session is.
    public private(set) var phase: Phase = .awaitingOpen
    /// When the next ping is due, while idle.
    public private(set) var nextPingAt: Instant?
    /// When the outstanding ping was sent, while awaiting its pong.
    public private(set) var pingSentAt: Instant?
    /// When the last packet of any kind arrived from the client.
    public private(set) var lastPacketAt: Instant?
    /// The configured detector, learning from the pongs; nil without one (or before the open).
    public private(set) var detector: (any FailureDetector)?
    /// When the outstanding ping's pong is due by the detector, fixed when the ping is sent.
    private var detectorDeadline: Instant?

    /// A machine with these settings, waiting for `opened(sid:upgrades:at:)`.
    public init(configuration: Configuration = .engineIO) {
        self.configuration = configuration
    }

    /// True once the session has closed.
    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    /// The handshake this server advertises for a session.
    public func handshake(sid: String, upgrades: [String]) -> EngineIOHandshake {
        EngineIOHandshake(sid: sid, upgrades: upgrades, pingInterval: configuration.pingInterval,
                          pingTimeout: configuration.pingTimeout, maxPayload: configuration.maxPayload)
    }

    /// The transport accepted the session: send the open packet and schedule the first ping.
    public mutating func opened(sid: String, upgrades: [String] = [], at now: Instant) -> [Action] {
        guard case .awaitingOpen = phase else { return [] }
        phase = .idle
        lastPacketAt = now
        if let choice = configuration.detector {
            // Validated where the choice was made (a scenario's loader); a choice these settings
            // cannot build leaves pingTimeout in force.
            detector = try? choice.make(period: configuration.pingInterval,
                                        initialTimeout: configuration.pingInterval + configuration.pingTimeout)
            detector?.heartbeat(at: now)
        }
        return [.send(.open(handshake(sid: sid, upgrades: upgrades))), .observe(.opened)] + schedulePing(from: now)
    }

    /// A packet arrived from the client (on whichever transport currently carries the session).
    public mutating func received(_ packet: EngineIOPacket, at now: Instant) -> [Action] {
        switch phase {
        case .awaitingOpen, .closed: return []
        case .idle, .awaitingPong: break
        }
        lastPacketAt = now
        switch packet {
        case .pong:
            let answered: Instant? = if case .awaitingPong = phase { pingSentAt } else { nil }
            if answered != nil { detector?.heartbeat(at: now) }
            pingSentAt = nil
            detectorDeadline = nil
            phase = .idle
            let due = now + configuration.pingInterval
            nextPingAt = due
            // One array literal: this runs on every pong of every simulated connection.
            guard let sentAt = answered else { return [.arm(.ping, at: due)] }
            return [.cancel(.pingTimeout), .observe(.pongReceived(rtt: now - sentAt)), .arm(.ping, at: due)]
        case .ping:
            return configuration.rejectsClientPing ? close(.transportError) : []
        case .close:
            return close(.transportClose)
        case .open, .message, .binary, .upgrade, .noop:
            return []
        }
    }

    /// Bytes arrived that are not a packet: engine.io closes with "parse error".
    public mutating func receivedMalformed(_ error: EngineIOParseError, at now: Instant) -> [Action] {
        close(.parseError)
    }

    /// A timer this machine armed has fired. Stale or early deliveries (a timer that was re-armed
    /// or cancelled, or `now` before its deadline) are ignored.
    public mutating func timerFired(_ timer: Timer, at now: Instant) -> [Action] {
        switch (timer, phase) {
        case (.ping, .idle):
            guard let due = nextPingAt, now >= due else { return [] }
            nextPingAt = nil
            pingSentAt = now
            phase = .awaitingPong
            detectorDeadline = detector.map { $0.deadline(after: now) }
            return [.send(.plainPing), .observe(.pingSent), .arm(.pingTimeout, at: pongDeadline ?? now + configuration.pingTimeout)]
        case (.pingTimeout, .awaitingPong):
            guard let deadline = pongDeadline, now >= deadline else { return [] }
            if let extended = livenessDeadline, extended > now {
                return [.arm(.pingTimeout, at: extended)]
            }
            if let origin = configuration.serviceSweepOrigin {
                let sweep = Self.nextSweep(after: deadline, origin: origin, every: configuration.pingTimeout)
                if sweep > now { return [.arm(.pingTimeout, at: sweep)] }
            }
            return close(.pingTimeout, firing: .pingTimeout)
        default:
            return []
        }
    }

    /// The first service sweep strictly after `deadline`: `origin + k·every` for a whole k.
    static func nextSweep(after deadline: Instant, origin: Instant, every: TimeSpan) -> Instant {
        let period = max(every.nanoseconds, 1)
        let offset = (deadline - origin).nanoseconds
        let k = offset >= 0 ? offset / period + 1 : -((-offset) / period)
        var sweep = origin + .nanoseconds(k * period)
        if sweep <= deadline { sweep = sweep + .nanoseconds(period) }
        return sweep
    }

    /// python-engineio's lazy check (`check_ping_timeout`, run on each send and by its sweeping
    /// service task): closes with "ping timeout" when a pong is overdue, `now` strictly after the deadline.
    public mutating func checkPingTimeout(at now: Instant) -> [Action] {
        guard case .awaitingPong = phase, let deadline = effectiveDeadline, now > deadline else { return [] }
        return close(.pingTimeout)
    }

    /// The transport closed under the session (the client went away, a proxy cut it).
    public mutating func transportClosed(at now: Instant) -> [Action] {
        close(.transportClose)
    }

    /// The transport failed (a write error, a protocol error below Engine.IO).
    public mutating func transportError(at now: Instant) -> [Action] {
        close(.transportError)
    }

    /// The server application closes the session: send "1", then close ("forced close").
    public mutating func close(at now: Instant) -> [Action] {
        switch phase {
        case .idle, .awaitingPong:
            return [.send(.close)] + close(.forcedClose)
        case .awaitingOpen:
            return close(.forcedClose)
        case .closed:
            return []
        }
    }

    /// When the outstanding ping's pong is due, ignoring other packets: by the detector when there
    /// is one, else `pingTimeout` after the ping.
    public var pongDeadline: Instant? {
        guard let pingSentAt else { return nil }
        return detectorDeadline ?? pingSentAt + configuration.pingTimeout
    }

    private var livenessDeadline: Instant? {
        guard configuration.anyPacketProvesLiveness, let lastPacketAt else { return nil }
        return lastPacketAt + configuration.pingTimeout
    }

    private var effectiveDeadline: Instant? {
        guard let deadline = pongDeadline else { return nil }
        guard let extended = livenessDeadline else { return deadline }
        return max(deadline, extended)
    }

    private mutating func schedulePing(from now: Instant) -> [Action] {
        let due = now + configuration.pingInterval
        nextPingAt = due
        return [.arm(.ping, at: due)]
    }

    /// Closes for `reason`, disarming the armed timer unless it is the one firing now.
    private mutating func close(_ reason: CloseReason, firing: Timer? = nil) -> [Action] {
        var actions: [Action]
        switch phase {
        case .closed: return []
        case .awaitingOpen: actions = []
        case .idle: actions = [.cancel(.ping)]
        case .awaitingPong: actions = [.cancel(.pingTimeout)]
        }
        if case .cancel(let timer)? = actions.first, timer == firing { actions = [] }
        phase = .closed(reason)
        nextPingAt = nil
        pingSentAt = nil
        detectorDeadline = nil
        return actions + [.close(reason), .observe(.closed(reason))]
    }
}
