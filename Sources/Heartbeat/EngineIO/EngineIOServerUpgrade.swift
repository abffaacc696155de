import LabCore

/// The server side of an Engine.IO v4 polling -> WebSocket upgrade as a sans-IO machine: a
/// WebSocket arrives for a polling session, the client probes it with "2probe", the server answers
/// "3probe" and ends the pending poll with "6", and the client's "5" moves the session over.
///
/// Reference behaviour (socketio/engine.io `lib/socket.ts` `_maybeUpgrade`, python-engineio
/// `socket.py` `_websocket_handler`):
/// - engine.io arms `upgradeTimeout` (default 10 s) when the WebSocket arrives; when it fires the
///   probe transport is closed and the session stays on polling. python-engineio has no such timer.
/// - On "2probe" both answer "3probe" on the WebSocket. engine.io then writes "6" to the polling
///   transport every 100 ms while a GET is waiting; python-engineio queues one "6" and answers
///   every GET during the upgrade with "6" at once. Here: one "6" after the probe, and "6" for
///   each `pollRequested` while the upgrade is pending (python's rule; engine.io's is ≤100 ms later).
/// - On "5" the session switches to the WebSocket; packets not yet taken by a GET go out there.
///   Any other packet on the probe abandons the upgrade and closes the probe. engine.io accepts a
///   "5" even without a probe first; python-engineio requires the probe, and so does this machine.
/// - The heartbeat is not paused: the server's pings keep going out on the current transport and a
///   pong counts on whichever transport it arrives (`EngineIOServerHeartbeat` does not care).
public struct EngineIOServerUpgrade: Sendable {
    /// What the machine asks its driver to do.
    public typealias Action = EngineIOUpgradeAction

    /// Where the upgrade is.
    public enum Phase: Sendable, Hashable {
        /// No probe transport yet; the session is on polling.
        case polling
        /// A WebSocket arrived; waiting for "2probe" on it.
        case awaitingProbe
        /// "3probe" sent; waiting for "5".
        case probed
        /// The session is on the WebSocket.
        case upgraded
        /// The upgrade was abandoned; the session stays on polling.
        case failed(EngineIOUpgradeFailure)
    }

    /// Time allowed from the WebSocket's arrival to the "5"; nil for none (python-engineio).
    public let upgradeTimeout: TimeSpan?
    /// Where the upgrade is.
    public private(set) var phase: Phase = .polling
    /// When the upgrade times out, while one is pending.
    public private(set) var deadline: Instant?

    /// A machine for one session; the default timeout is engine.io's `upgradeTimeout`, 10 s.
    public init(upgradeTimeout: TimeSpan? = .milliseconds(10_000)) {
        self.upgradeTimeout = upgradeTimeout
    }

    /// True while a probe is open and the upgrade has neither completed nor failed.
    public var isPending: Bool {
        switch phase {
        case .awaitingProbe, .probed: true
        case .polling, .upgraded, .failed: false
        }
    }

    /// A WebSocket carrying this session's id connected: start the upgrade and its timeout.
    public mutating func probeOpened(at now: Instant) -> [Action] {
        guard case .polling = phase else { return [] }
        phase = .awaitingProbe
        guard let upgradeTimeout else { return [] }
        let due = now + upgradeTimeout
        deadline = due
        return [.arm(.upgradeTimeout, at: due)]
    }

    /// A packet arrived on the probe transport (before the upgrade completed; afterwards the
    /// WebSocket is the session's transport and its packets go to the heartbeat machine).
    public mutating func receivedOnProbe(_ packet: EngineIOPacket, at now: Instant) -> [Action] {
        switch (phase, packet) {
        case (.awaitingProbe, .ping("probe")), (.probed, .ping("probe")):
            phase = .probed
            return [.send(.pong("probe"), on: .probe), .send(.noop, on: .current)]
        case (.probed, .upgrade):
            phase = .upgraded
            return cancelTimer() + [.upgraded]
        case (.awaitingProbe, _), (.probed, _):
            return fail(.probeError, closeProbe: true)
        default:
            return []
        }
    }

    /// A polling GET arrived while the upgrade may be pending: after the probe, answer it with "6".
    public mutating func pollRequested(at now: Instant) -> [Action] {
        guard case .probed = phase else { return [] }
        return [.send(.noop, on: .current)]
    }

    /// The upgrade timer fired; stale or early deliveries are ignored.
    public mutating func timerFired(_ timer: EngineIOUpgradeTimer, at now: Instant) -> [Action] {
        guard isPending, let deadline, now >= deadline else { return [] }
        self.deadline = nil // it has fired: nothing to cancel
        return fail(.timeout, closeProbe: true)
    }

    /// The probe transport closed or failed before the upgrade completed.
    public mutating func probeClosed(at now: Instant) -> [Action] {
        guard isPending else { return [] }
        return fail(.probeClosed, closeProbe: false)
    }

    /// The session closed: abandon a pending upgrade.
    public mutating func sessionClosed(at now: Instant) -> [Action] {
        guard isPending else { return [] }
        return fail(.sessionClosed, closeProbe: true)
    }

    private mutating func cancelTimer() -> [Action] {
        guard deadline != nil else { return [] }
        deadline = nil
        return [.cancel(.upgradeTimeout)]
    }

    private mutating func fail(_ failure: EngineIOUpgradeFailure, closeProbe: Bool) -> [Action] {
        let actions = cancelTimer() + (closeProbe ? [.closeProbe] : [])
        phase = .failed(failure)
        return actions + [.failed(failure)]
    }
}
