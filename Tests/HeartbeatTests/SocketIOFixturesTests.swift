import Heartbeat
import LabCore
import Testing

/// Shared helpers for the Socket.IO, reconnection and application tests: explicit virtual instants.
enum SocketIOFixtures {
    /// The instant `ms` milliseconds after zero.
    static func ms(_ value: Int64) -> Instant { Instant.zero + .milliseconds(value) }
    /// The instant `s` seconds after zero.
    static func s(_ value: Int64) -> Instant { Instant.zero + .milliseconds(value * 1000) }
}
