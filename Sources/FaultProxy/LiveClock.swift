import EventLoopTime
import LabCore
import NIOCore

/// The live drivers' clock: LabCore instants on SwiftNIO's monotonic uptime clock, the one a real
/// event loop's `now` and deadlines use. Drivers take time from their loop (`EventLoopScheduler`,
/// `Proxy.now`); this is for code with no loop at hand, such as a protocol tap's start instant.
public enum LiveClock {
    /// The current instant of a real event loop's clock.
    public static func now() -> Instant {
        Instant(NIODeadline.now())
    }

    /// The current instant of `loop`'s clock (virtual on a testing loop).
    public static func now(on loop: any EventLoop) -> Instant {
        Instant(loop.now)
    }
}
