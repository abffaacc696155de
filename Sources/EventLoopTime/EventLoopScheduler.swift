import LabCore
import NIOCore

/// LabCore's `Scheduler` on a SwiftNIO event loop: timers are `scheduleTask`s on the loop and the
/// time is the loop's clock (`loop.now`), so a live driver written against it runs on real time on
/// a `MultiThreadedEventLoopGroup` and on virtual time under `EmbeddedEventLoop` or
/// `NIOAsyncTestingEventLoop`, where advancing the loop's time fires its timers at exact instants.
///
/// Event-loop bound: use it only on `loop` (callbacks run there too).
public final class EventLoopScheduler: Scheduler {
    /// The loop whose clock and timers this scheduler uses.
    public let loop: any EventLoop
    private var tasks: [UInt64: Scheduled<Void>] = [:]
    private var nextID: UInt64 = 0

    /// Creates a scheduler on `loop`.
    public init(loop: any EventLoop) {
        self.loop = loop
    }

    /// The loop's current instant: the monotonic uptime clock on a real loop, the virtual one on a testing loop.
    public var now: Instant { Instant(loop.now) }

    /// Runs `body` on the loop at `deadline` (on its next tick if that has passed).
    @discardableResult
    public func schedule(at deadline: Instant, _ body: @escaping () -> Void) -> TimerToken {
        nextID += 1
        let id = nextID
        let task = loop.assumeIsolated().scheduleTask(deadline: NIODeadline(deadline)) { [self] in
            tasks[id] = nil
            body()
        }
        tasks[id] = task
        return TimerToken(id: id)
    }

    /// Cancels a timer that has not fired; a no-op for one that has, or was cancelled.
    public func cancel(_ token: TimerToken) {
        tasks.removeValue(forKey: token.id)?.cancel()
    }

    /// Cancels every timer still waiting (the driver is done with the loop).
    public func cancelAll() {
        let waiting = tasks
        tasks = [:]
        for task in waiting.values { task.cancel() }
    }
}

@available(*, unavailable)
extension EventLoopScheduler: Sendable {}

extension Instant {
    /// The LabCore instant of an event loop's deadline: both count nanoseconds of the same
    /// monotonic uptime clock (or of a testing loop's virtual one).
    public init(_ deadline: NIODeadline) {
        self.init(nanoseconds: Int64(clamping: deadline.uptimeNanoseconds))
    }
}

extension NIODeadline {
    /// The event-loop deadline of a LabCore instant (instants before the clock's origin are its origin).
    public init(_ instant: Instant) {
        self = .uptimeNanoseconds(UInt64(max(0, instant.nanoseconds)))
    }
}
