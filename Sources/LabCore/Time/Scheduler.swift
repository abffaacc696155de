import HeapModule

/// A handle to a scheduled callback, used to cancel it.
public struct TimerToken: Hashable, Sendable {
    /// Unique within its scheduler.
    public let id: UInt64

    /// Creates a token with the given id.
    public init(id: UInt64) {
        self.id = id
    }
}

/// The only source of timers in Flatline (DESIGN.md): the simulator and tests use the
/// `VirtualScheduler`; live runs adapt an event loop. Heartbeat machines never see it; their
/// drivers translate the machines' "arm timer at t" actions into calls here.
public protocol Scheduler: AnyObject {
    /// The current instant on this scheduler's clock.
    var now: Instant { get }
    /// Runs `body` at `deadline` (at once, on the next step, if it has passed); returns a token to cancel it.
    @discardableResult
    func schedule(at deadline: Instant, _ body: @escaping () -> Void) -> TimerToken
    /// Cancels a callback that has not run yet; cancelling one that ran is a no-op.
    func cancel(_ token: TimerToken)
}

/// A deterministic virtual clock: callbacks run in order of deadline, then of scheduling, and
/// time jumps straight to the next deadline. Same schedule, same order, every run.
public final class VirtualScheduler: Scheduler {
    private struct Entry: Comparable {
        let deadline: Instant
        let sequence: UInt64
        static func < (a: Entry, b: Entry) -> Bool {
            (a.deadline, a.sequence) < (b.deadline, b.sequence)
        }
        static func == (a: Entry, b: Entry) -> Bool { a.sequence == b.sequence }
    }

    /// The current virtual instant.
    public private(set) var now: Instant
    private var heap = Heap<Entry>()
    private var bodies: [UInt64: () -> Void] = [:]
    private var nextSequence: UInt64 = 0

    /// Creates a scheduler whose clock starts at `start`.
    public init(start: Instant = .zero) {
        self.now = start
    }

    /// The number of callbacks waiting.
    public var pendingCount: Int { bodies.count }

    @discardableResult
    public func schedule(at deadline: Instant, _ body: @escaping () -> Void) -> TimerToken {
        nextSequence += 1
        heap.insert(Entry(deadline: max(deadline, now), sequence: nextSequence))
        bodies[nextSequence] = body
        return TimerToken(id: nextSequence)
    }

    public func cancel(_ token: TimerToken) {
        bodies[token.id] = nil
    }

    /// Runs the next due callback, advancing the clock to its deadline; false when none is left.
    @discardableResult
    public func step() -> Bool {
        while let entry = heap.popMin() {
            guard let body = bodies.removeValue(forKey: entry.sequence) else { continue }
            now = max(now, entry.deadline)
            body()
            return true
        }
        return false
    }

    /// Runs every callback due at or before `deadline`, then sets the clock to `deadline`.
    public func advance(to deadline: Instant) {
        while let next = heap.min, next.deadline <= deadline {
            step()
        }
        now = max(now, deadline)
    }

    /// Advances the clock by `span`, running what falls due.
    public func advance(by span: TimeSpan) {
        advance(to: now + span)
    }
}
