import LabCore

/// The client side of an Engine.IO v4 polling -> WebSocket upgrade as a sans-IO machine: open a
/// WebSocket for the session, send "2probe", and on "3probe" pause polling, then send "5" on the
/// WebSocket and move there. Every outgoing packet passes through `outbound(_:at:)`, which holds
/// packets while the switch is under way, as engine.io-client does.
///
/// Reference behaviour (engine.io-client `lib/socket.ts` `SocketWithUpgrade._probe`, python-engineio
/// `client.py` `_connect_websocket`):
/// - engine.io-client probes every upgrade the handshake lists that it supports, right after
///   `onOpen`. When the probe opens it sends "2probe"; the *first* packet back must be "3probe",
///   else "probe error" (`upgradeError`). On "3probe" it sets `upgrading = true` — `flush()` then
///   holds every outgoing packet — and pauses polling (waits for the in-flight GET and POST).
///   When paused it switches transports, sends "5", clears `upgrading` and flushes what was held.
///   So a ping that arrives during the switch is still answered: its pong leaves on the WebSocket
///   right after the "5". engine.io-client has no upgrade timer of its own.
/// - python-engineio upgrades synchronously during `connect()` (before its polling loops start):
///   "2probe", wait for "3probe" ("no PONG packet" otherwise), "5", done. A failed upgrade leaves
///   the session on polling.
/// - engine.io-client leaves the probe open after a wrong first packet; this machine closes it.
public struct EngineIOClientUpgrade: Sendable {
    /// What the machine asks its driver to do.
    public typealias Action = EngineIOUpgradeAction

    /// Where the upgrade is.
    public enum Phase: Sendable, Hashable {
        /// Not started; the session is on polling.
        case polling
        /// The WebSocket is connecting.
        case opening
        /// "2probe" sent; waiting for "3probe".
        case probing
        /// "3probe" received; polling is pausing and outgoing packets are held.
        case pausing
        /// The session is on the WebSocket.
        case upgraded
        /// The upgrade was abandoned; the session stays on polling.
        case failed(EngineIOUpgradeFailure)
        /// The server offered no WebSocket upgrade.
        case unavailable
    }

    /// Time allowed from opening the probe to sending "5"; nil for none (engine.io-client).
    public let probeTimeout: TimeSpan?
    /// Where the upgrade is.
    public private(set) var phase: Phase = .polling
    /// Packets held while polling pauses, in order.
    public private(set) var held: [EngineIOPacket] = []
    /// When the upgrade times out, while one is pending.
    public private(set) var deadline: Instant?

    /// A machine for one session, with an optional timeout of its own.
    public init(probeTimeout: TimeSpan? = nil) {
        self.probeTimeout = probeTimeout
    }

    /// True while the upgrade has started and neither completed nor failed.
    public var isPending: Bool {
        switch phase {
        case .opening, .probing, .pausing: true
        case .polling, .upgraded, .failed, .unavailable: false
        }
    }

    /// The session opened on polling with this handshake: probe WebSocket if the server offers it.
    public mutating func start(upgrades: [String], at now: Instant) -> [Action] {
        guard case .polling = phase else { return [] }
        guard upgrades.contains("websocket") else {
            phase = .unavailable
            return []
        }
        phase = .opening
        var actions: [Action] = [.openProbe]
        if let probeTimeout {
            let due = now + probeTimeout
            deadline = due
            actions.append(.arm(.upgradeTimeout, at: due))
        }
        return actions
    }

    /// The WebSocket connected: send the probe ping on it.
    public mutating func probeOpened(at now: Instant) -> [Action] {
        guard case .opening = phase else { return [] }
        phase = .probing
        return [.send(.ping("probe"), on: .probe)]
    }

    /// A packet arrived on the probe before the switch: the first must be "3probe".
    public mutating func receivedOnProbe(_ packet: EngineIOPacket, at now: Instant) -> [Action] {
        guard case .probing = phase else { return [] }
        guard packet == .pong("probe") else { return fail(.probeError, closeProbe: true) }
        phase = .pausing
        return [.pauseCurrent]
    }

    /// Polling has paused (no request in flight): send "5" on the probe, switch, release held packets.
    public mutating func currentPaused(at now: Instant) -> [Action] {
        guard case .pausing = phase else { return [] }
        phase = .upgraded
        let released = held.map { Action.send($0, on: .current) }
        held = []
        return cancelTimer() + [.send(.upgrade, on: .probe), .upgraded] + released
    }

    /// The gate for every outgoing packet (pongs from the heartbeat, messages): sent on the current
    /// transport, or held while polling pauses and released after the "5".
    public mutating func outbound(_ packet: EngineIOPacket, at now: Instant) -> [Action] {
        if case .pausing = phase {
            held.append(packet)
            return []
        }
        return [.send(packet, on: .current)]
    }

    /// The upgrade timer fired; stale or early deliveries are ignored.
    public mutating func timerFired(_ timer: EngineIOUpgradeTimer, at now: Instant) -> [Action] {
        guard isPending, let deadline, now >= deadline else { return [] }
        self.deadline = nil // it has fired: nothing to cancel
        return fail(.timeout, closeProbe: true)
    }

    /// The probe transport closed or failed before the switch.
    public mutating func probeClosed(at now: Instant) -> [Action] {
        guard isPending else { return [] }
        return fail(.probeClosed, closeProbe: false)
    }

    /// The session closed: abandon a pending upgrade and drop held packets.
    public mutating func sessionClosed(at now: Instant) -> [Action] {
        guard isPending else { return [] }
        held = []
        return fail(.sessionClosed, closeProbe: true, resume: false)
    }

    private mutating func cancelTimer() -> [Action] {
        guard deadline != nil else { return [] }
        deadline = nil
        return [.cancel(.upgradeTimeout)]
    }

    /// Abandons the upgrade; if polling was pausing (and the session lives on), it resumes and the
    /// held packets go out on it.
    private mutating func fail(_ failure: EngineIOUpgradeFailure, closeProbe: Bool, resume: Bool = true) -> [Action] {
        var actions = cancelTimer() + (closeProbe ? [.closeProbe] : [])
        let wasPausing = phase == .pausing
        phase = .failed(failure)
        actions.append(.failed(failure))
        if wasPausing && resume {
            actions.append(.resumeCurrent)
            actions += held.map { .send($0, on: .current) }
            held = []
        }
        return actions
    }
}
