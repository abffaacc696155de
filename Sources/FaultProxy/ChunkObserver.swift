import LabCore
import NIOCore

/// The seam for protocol taps: an observer told of every chunk as it enters a link and of
/// connection lifecycle, on the connection's event loop. Implementations must not block.
public protocol ChunkObserver: Sendable {
    /// A connection was accepted.
    func connectionOpened(id: UInt64, proxy: String, at: Instant)
    /// Bytes arrived on a link, before any condition acted on them.
    func chunk(id: UInt64, direction: LinkDirection, bytes: ByteBuffer, at: Instant)
    /// The connection ended; `reason` says how ("closed", "reset", "upstream connect failed"...).
    func connectionClosed(id: UInt64, reason: String, at: Instant)
    /// The connection goes to upstream `upstream` (0-based) of the proxy's `count` (server instances).
    func connectionRouted(id: UInt64, upstream: Int, of count: Int)
}

extension ChunkObserver {
    /// Observers that do not care where a connection goes ignore it.
    public func connectionRouted(id: UInt64, upstream: Int, of count: Int) {}
}
