import Foundation
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
    /// How late this loop's timers wake, in nanoseconds: a moving average of what was seen. A
    /// timer is armed this much before its deadline and finishes on time by a short spin, so a
    /// latency toxic's release is not late by the machine's timer slack and wake-up time. It stays
    /// zero on a testing loop, whose timers fire at their exact virtual instants.
    private var lateness: Int64 = 0
    private let precise: Bool

    /// The most a timer is armed early, and the longest the loop spins to reach a deadline.
    static let maximumLead: Int64 = 1_000_000
    static let maximumSpin: Int64 = 300_000

    /// Creates a scheduler on `loop`. With `precise` (the default, unless the environment sets
    /// FLATLINE_PRECISE_TIMERS=0, which benchmarks use for a baseline) timers learn the loop's
    /// wake-up lateness and are armed early by it.
    public init(loop: any EventLoop, precise: Bool = EventLoopScheduler.preciseByDefault) {
        self.loop = loop
        self.precise = precise
    }

    /// Whether schedulers arm early by default: yes, unless FLATLINE_PRECISE_TIMERS=0.
    public static let preciseByDefault = ProcessInfo.processInfo.environment["FLATLINE_PRECISE_TIMERS"] != "0"

    /// The loop's current instant: the monotonic uptime clock on a real loop, the virtual one on a testing loop.
    public var now: Instant { Instant(loop.now) }

    /// Runs `body` on the loop at `deadline` (on its next tick if that has passed), never before.
    @discardableResult
    public func schedule(at deadline: Instant, _ body: @escaping () -> Void) -> TimerToken {
        nextID += 1
        let id = nextID
        arm(id, at: deadline, lead: precise ? min(lateness, Self.maximumLead) : 0, body)
        return TimerToken(id: id)
    }

    private func arm(_ id: UInt64, at deadline: Instant, lead: Int64, _ body: @escaping () -> Void) {
        let armedAt = now
        let wake = Instant(nanoseconds: deadline.nanoseconds - lead)
        tasks[id] = loop.assumeIsolated().scheduleTask(deadline: NIODeadline(wake)) { [self] in
            var woke = now
            if precise, wake > armedAt {
                // Learn from timers that had to wait (one already due measures the loop's queue).
                let late = min(max(woke.nanoseconds - wake.nanoseconds, 0), 2 * Self.maximumLead)
                lateness += (late - lateness) / 8
            }
            if woke < deadline {
                // Woke early, as asked: spin the last stretch, or wait again without a lead when
                // the loop woke sooner than expected.
                guard deadline.nanoseconds - woke.nanoseconds <= Self.maximumSpin else {
                    return arm(id, at: deadline, lead: 0, body)
                }
                while woke < deadline { woke = now }
            }
            tasks[id] = nil
            body()
        }
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
