import LabCore

/// Why a connection closed, named as socket.io names its disconnect reasons, so event logs and
/// reports read the same as a browser console.
public enum CloseReason: String, Sendable, Hashable, CaseIterable, Codable {
    case pingTimeout = "ping timeout"
    case transportClose = "transport close"
    case transportError = "transport error"
    case parseError = "parse error"
    case ioServerDisconnect = "io server disconnect"
    case ioClientDisconnect = "io client disconnect"
    case forcedClose = "forced close"
    /// What a Socket.IO server calls a client's namespace DISCONNECT packet.
    case clientNamespaceDisconnect = "client namespace disconnect"
    /// What a Socket.IO server calls its own namespace disconnect of a client.
    case serverNamespaceDisconnect = "server namespace disconnect"
    /// RFC 6455 keepalive failure as the Python `websockets` library reports it (close code 1011).
    case keepalivePingTimeout = "keepalive ping timeout"
    /// An application-level health check declared the connection stale.
    case healthCheckStale = "health check stale"
    /// The connect (handshake) did not finish within the connect timeout.
    case connectTimeout = "connect timeout"
}

/// Something a sans-IO machine asks its driver to do. Machines take an input and `now` and
/// return these; the live driver (NIO) and the simulator carry them out the same way.
public enum HeartbeatAction<Timer: Hashable & Sendable, Outbound: Sendable>: Sendable {
    /// Send this to the peer.
    case send(Outbound)
    /// Arm (or re-arm) the named timer to fire at the instant; the driver then calls the machine's
    /// timer input with this timer.
    case arm(Timer, at: Instant)
    /// Disarm the named timer if it is armed.
    case cancel(Timer)
    /// Close the transport, for this reason.
    case close(CloseReason)
    /// Record an observation in the event log (a ping sent, a pong with its RTT...).
    case observe(HeartbeatObservation)
}

/// What a machine saw, for the event log (DESIGN.md, principle 3).
public enum HeartbeatObservation: Sendable, Hashable {
    /// A heartbeat ping was sent.
    case pingSent
    /// A heartbeat ping was received.
    case pingReceived
    /// A pong came back after `rtt`.
    case pongReceived(rtt: TimeSpan)
    /// The connection opened.
    case opened
    /// The connection closed for this reason.
    case closed(CloseReason)
}

extension HeartbeatAction: Equatable where Outbound: Equatable {}
