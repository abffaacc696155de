import LabCore
import NIOCore

/// The live driver's clock: LabCore instants on the event loop's monotonic uptime clock, so the
/// link schedule's delivery times map directly onto `NIODeadline`s.
public enum LiveClock {
    /// The current instant.
    public static func now() -> Instant {
        Instant.monotonicNow()
    }

    /// The NIO deadline for an instant.
    static func deadline(_ instant: Instant) -> NIODeadline {
        .uptimeNanoseconds(UInt64(max(0, instant.nanoseconds)))
    }
}
