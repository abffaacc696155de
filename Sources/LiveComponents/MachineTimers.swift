import EventLoopTime
import LabCore
import NIOCore

/// Carries out a sans-IO machine's `arm`/`cancel` actions through an `EventLoopScheduler` (LabCore's
/// `Scheduler` on the driver's loop): one timer per name, re-arming replaces the old one. So every
/// live driver takes its timers, like its time, from the loop's clock, and runs unchanged on a
/// testing loop. Event-loop bound: use it on the loop it was first armed on.
struct MachineTimers<Timer: Hashable> {
    private var scheduler: EventLoopScheduler?
    private var tokens: [Timer: TimerToken] = [:]

    /// Arms `timer` at `instant` on `loop`'s clock, replacing any earlier arming; `fire` runs on the loop.
    mutating func arm(_ timer: Timer, at instant: Instant, on loop: any EventLoop, _ fire: @escaping () -> Void) {
        let scheduler = self.scheduler ?? EventLoopScheduler(loop: loop)
        self.scheduler = scheduler
        if let old = tokens[timer] { scheduler.cancel(old) }
        tokens[timer] = scheduler.schedule(at: instant, fire)
    }

    /// Disarms `timer` if armed.
    mutating func cancel(_ timer: Timer) {
        if let token = tokens.removeValue(forKey: timer) { scheduler?.cancel(token) }
    }

    /// Forgets that `timer` is armed (call when it fired).
    mutating func fired(_ timer: Timer) {
        tokens[timer] = nil
    }

    /// Disarms everything.
    mutating func cancelAll() {
        for token in tokens.values { scheduler?.cancel(token) }
        tokens.removeAll()
    }
}
