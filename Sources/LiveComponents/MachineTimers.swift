import LabCore
import NIOCore

/// Carries out a sans-IO machine's `arm`/`cancel` actions on an event loop: one scheduled task
/// per named timer, re-arming replaces the old one. Event-loop bound.
struct MachineTimers<Timer: Hashable> {
    private var tasks: [Timer: Scheduled<Void>] = [:]

    /// Arms `timer` at `instant` (live clock), replacing any earlier arming; `fire` runs on the loop.
    mutating func arm(_ timer: Timer, at instant: Instant, on loop: any EventLoop, _ fire: @escaping @Sendable () -> Void) {
        tasks[timer]?.cancel()
        tasks[timer] = loop.scheduleTask(deadline: .uptimeNanoseconds(UInt64(max(0, instant.nanoseconds))), fire)
    }

    /// Disarms `timer` if armed.
    mutating func cancel(_ timer: Timer) {
        tasks.removeValue(forKey: timer)?.cancel()
    }

    /// Forgets that `timer` is armed (call when it fired).
    mutating func fired(_ timer: Timer) {
        tasks[timer] = nil
    }

    /// Disarms everything.
    mutating func cancelAll() {
        for task in tasks.values { task.cancel() }
        tasks.removeAll()
    }
}
