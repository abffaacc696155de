import Foundation
import LabCore
import NIOConcurrencyHelpers

/// Writes events as JSON lines to a file handle (standard output by default), one `write` per
/// line under a lock, so lines from different event loops never interleave.
public final class JSONLinesEventWriter: EventSink {
    private let handle: FileHandle
    private let lock = NIOLock()

    /// Creates a writer to `handle`.
    public init(handle: FileHandle = .standardOutput) {
        self.handle = handle
    }

    public func record(_ event: LabEvent) {
        let line = Data((event.jsonLine + "\n").utf8)
        // The throwing write: a closed pipe (`flatline ... | head`) must not crash the process.
        lock.withLock { try? handle.write(contentsOf: line) }
    }
}

/// Keeps events in memory, for tests and for runs that analyse their own log.
public final class MemoryEventSink: EventSink {
    private let box = NIOLockedValueBox<[LabEvent]>([])

    /// Creates an empty sink.
    public init() {}

    public func record(_ event: LabEvent) {
        box.withLockedValue { $0.append(event) }
    }

    /// Everything recorded so far, in order.
    public var events: [LabEvent] { box.withLockedValue { $0 } }
}
