import LabCore

/// Which of the two transports an upgrade action addresses: the one carrying the session now
/// (polling, until the upgrade completes) or the probe being tested (WebSocket).
public enum EngineIOTransportRole: Sendable, Hashable {
    /// The transport carrying the session; after `.upgraded` that is the former probe.
    case current
    /// The transport being probed, before the upgrade completes.
    case probe
}

/// Why a polling -> WebSocket upgrade was abandoned. The session itself goes on over polling.
public enum EngineIOUpgradeFailure: Sendable, Hashable {
    /// The peer sent something other than the probe exchange ("2probe" / "3probe", then "5").
    case probeError
    /// The upgrade did not complete within its timeout.
    case timeout
    /// The probe transport closed or failed before the upgrade completed.
    case probeClosed
    /// The session closed while the upgrade was in progress.
    case sessionClosed
}

/// The upgrade machines' one timer.
public enum EngineIOUpgradeTimer: Hashable, Sendable {
    /// The upgrade must complete before this fires.
    case upgradeTimeout
}

/// Something an upgrade machine asks its driver to do. Unlike the heartbeat machines, upgrades
/// address two transports at once and switch between them, which `HeartbeatAction` cannot say.
public enum EngineIOUpgradeAction: Sendable, Hashable {
    /// Send this packet on that transport. On `.current` (polling) the driver queues it for the
    /// waiting GET, or the next one; packets still queued when `.upgraded` comes move to the new transport.
    case send(EngineIOPacket, on: EngineIOTransportRole)
    /// Arm (or re-arm) the timer to fire at the instant.
    case arm(EngineIOUpgradeTimer, at: Instant)
    /// Disarm the timer.
    case cancel(EngineIOUpgradeTimer)
    /// Client: open the probe transport (a WebSocket carrying the session id).
    case openProbe
    /// Close the probe transport; the session stays on the current one.
    case closeProbe
    /// Client: stop polling once the in-flight requests finish, then report `currentPaused`.
    case pauseCurrent
    /// Client: the upgrade failed while polling was paused; poll again.
    case resumeCurrent
    /// The probe now carries the session: route everything there and discard the old transport.
    case upgraded
    /// The upgrade was abandoned, for this reason.
    case failed(EngineIOUpgradeFailure)
}
