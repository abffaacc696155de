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
    private var tasks: [UInt64: Pending] = [:]
    private var nextID: UInt64 = 0
    private let precise: Bool
    /// What this loop's thread has learned about its timers' lateness, shared by every scheduler
    /// on it (a new connection's first timer is as precise as the loop's thousandth).
    private lazy var timing = LoopTiming.current

    /// A timer waiting: armed on the loop, or woken early and finishing its last stretch.
    private enum Pending {
        case armed(Scheduled<Void>)
        case finishing
    }

    /// Creates a scheduler on `loop`. With `precise` (the default, unless the environment sets
    /// FLATLINE_PRECISE_TIMERS=0, which benchmarks use for a baseline) timers are armed early by
    /// the loop's learned wake-up lateness and finish on time by polling the loop.
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
        arm(id, at: deadline, lead: precise ? timing.lead : 0, body)
        return TimerToken(id: id)
    }

    private func arm(_ id: UInt64, at deadline: Instant, lead: Int64, _ body: @escaping () -> Void) {
        let armedAt = now
        let wake = Instant(nanoseconds: deadline.nanoseconds - lead)
        tasks[id] = .armed(loop.assumeIsolated().scheduleTask(deadline: NIODeadline(wake)) { [self] in
            // NIO runs a task already taken for this tick even when cancelled: a timer cancelled by
            // one that came due on the same tick must not run.
            guard tasks[id] != nil else { return }
            let woke = now
            // Learn from timers that had to wait (one already due measures the loop's queue).
            if precise, wake > armedAt { timing.learn(lateness: woke.nanoseconds - wake.nanoseconds) }
            guard woke < deadline else {
                tasks[id] = nil
                return body()
            }
            // Woke early, as asked: finish the last stretch by polling, or wait again without a
            // lead when the loop woke far sooner than expected.
            guard deadline.nanoseconds - woke.nanoseconds <= LoopTiming.maximumLead + LoopTiming.slack else {
                return arm(id, at: deadline, lead: 0, body)
            }
            tasks[id] = .finishing
            finish(id, at: deadline, body)
        })
    }

    /// Runs `body` once `deadline` is reached, checking again on each turn of the loop: the loop
    /// stays awake (so the thread is not descheduled, which is where a sleeping timer's lateness
    /// comes from) and goes on serving every other channel's I/O in between.
    private func finish(_ id: UInt64, at deadline: Instant, _ body: @escaping () -> Void) {
        guard case .finishing? = tasks[id] else { return }  // cancelled meanwhile
        guard now >= deadline else {
            loop.assumeIsolated().execute { [self] in finish(id, at: deadline, body) }
            return
        }
        tasks[id] = nil
        body()
    }

    /// Cancels a timer that has not fired; a no-op for one that has, or was cancelled.
    public func cancel(_ token: TimerToken) {
        if case .armed(let task)? = tasks.removeValue(forKey: token.id) { task.cancel() }
    }

    /// Cancels every timer still waiting (the driver is done with the loop).
    public func cancelAll() {
        let waiting = tasks
        tasks = [:]
        for case .armed(let task) in waiting.values { task.cancel() }
    }
}

/// How late one event-loop thread's timers wake: a moving average of what its timers saw, shared
/// by every scheduler on the thread (kept in the thread's dictionary), so a new connection's first
/// timer is armed as early as the loop's thousandth.
///
/// Tried and measured against this (issue 12): arming by a high quantile of the recent lateness
/// (the maximum of the last 32, up to 2 ms) and polling the rest. On this 2-vCPU VM it did not
/// lower the p99 error of a 50 ms latency toxic (1.5 and 7.3 ms against 0.6 and 4.3 ms for the
/// mean, in alternating runs of 600 and 1,500 samples), since the extra polling competes with the
/// peers for the CPUs, and the tail is the VM's own (a direct loopback round trip had p99.9 1.6
/// to 4.1 ms in the same runs).
final class LoopTiming {
    /// The most a timer is armed early.
    static let maximumLead: Int64 = 1_000_000
    /// How much sooner than expected a timer may wake and still finish by polling.
    static let slack: Int64 = 300_000

    private var mean: Int64 = 0

    private static let key = "flatline.LoopTiming"

    /// The calling thread's timing, created on first use.
    static var current: LoopTiming {
        let dictionary = Thread.current.threadDictionary
        if let timing = dictionary[key] as? LoopTiming { return timing }
        let timing = LoopTiming()
        dictionary[key] = timing
        return timing
    }

    /// How early to arm a timer.
    var lead: Int64 { min(mean, Self.maximumLead) }

    /// Records how late a timer woke after its (early) instant.
    func learn(lateness: Int64) {
        let late = min(max(lateness, 0), 2 * Self.maximumLead)
        mean += (late - mean) / 8
    }
}

@available(*, unavailable)
extension LoopTiming: Sendable {}

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
