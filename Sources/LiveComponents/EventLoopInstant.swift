import EventLoopTime
import LabCore
import NIOCore

extension EventLoop {
    /// The loop's clock as a LabCore instant (EventLoopTime's conversion): NIO's uptime clock on a
    /// real loop, virtual time on a testing loop. Live drivers read time here, never from the
    /// system clock, so that they run unchanged on `EmbeddedEventLoop` and `NIOAsyncTestingEventLoop`.
    var instant: Instant { Instant(now) }
}
