/// A handle to a scheduled callback, used to cancel it.
public struct TimerToken: Hashable, Sendable {
    /// Unique within its scheduler.
    public let id: UInt64
    /// Where the scheduler keeps the callback (a `VirtualScheduler` slot); 0 for other schedulers.
    public let slot: UInt32

    /// Creates a token with the given id (and, for the virtual scheduler, its slot).
    public init(id: UInt64, slot: UInt32 = 0) {
        self.id = id
        self.slot = slot
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
///
/// Callbacks live in reusable slots (an array and a free list), so scheduling and cancelling hash
/// nothing; a 4-ary heap orders 24-byte entries. A cancelled entry stays in the heap until it
/// comes up and is skipped there.
public final class VirtualScheduler: Scheduler {
    /// The current virtual instant.
    // Unchecked exclusivity: the scheduler is single-threaded and none of its own accesses overlap;
    // the dynamic checks cost a thread-local lookup on every schedule and step.
    @exclusivity(unchecked) public private(set) var now: Instant
    @exclusivity(unchecked) private var heap = TimerHeap()
    /// The callback in each slot, nil when the slot is free or its callback was cancelled.
    @exclusivity(unchecked) private var bodies: [(() -> Void)?] = []
    /// The sequence number of the callback each slot holds (to tell a stale token from a live one).
    @exclusivity(unchecked) private var sequences: [UInt64] = []
    @exclusivity(unchecked) private var freeSlots: [UInt32] = []
    @exclusivity(unchecked) private var nextSequence: UInt64 = 0
    @exclusivity(unchecked) private var pending = 0

    /// Called with a callback's owner just before a callback scheduled with an owner runs: a
    /// driver that defers work per owner (the simulator's batched ticks) brings that owner up to
    /// now here, without wrapping every callback in another closure.
    public var willRun: ((Int32) -> Void)?

    /// Creates a scheduler whose clock starts at `start`.
    public init(start: Instant = .zero) {
        self.now = start
    }

    /// The number of callbacks waiting.
    public var pendingCount: Int { pending }

    @discardableResult
    public func schedule(at deadline: Instant, _ body: @escaping () -> Void) -> TimerToken {
        schedule(at: deadline, owner: -1, body)
    }

    /// Schedules `body` at `deadline` on behalf of `owner` (≥ 0), which `willRun` receives first;
    /// -1 for none.
    @discardableResult
    public func schedule(at deadline: Instant, owner: Int32, _ body: @escaping () -> Void) -> TimerToken {
        nextSequence += 1
        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
            bodies[Int(slot)] = body
            sequences[Int(slot)] = nextSequence
        } else {
            slot = UInt32(bodies.count)
            bodies.append(body)
            sequences.append(nextSequence)
        }
        pending += 1
        heap.insert(TimerHeap.Entry(deadline: max(deadline, now).nanoseconds, sequence: nextSequence,
                                    slot: slot, owner: owner))
        return TimerToken(id: nextSequence, slot: slot)
    }

    public func cancel(_ token: TimerToken) {
        let slot = Int(token.slot)
        guard slot < sequences.count, sequences[slot] == token.id, bodies[slot] != nil else { return }
        bodies[slot] = nil
        pending -= 1
        // The slot is freed when its heap entry comes up, so a stale entry never meets a new callback.
    }

    /// Runs the next due callback, advancing the clock to its deadline; false when none is left.
    @discardableResult
    public func step() -> Bool {
        discardCancelled()
        guard let entry = heap.popMin() else { return false }
        let slot = Int(entry.slot)
        let body = bodies[slot]!
        release(slot)
        pending -= 1
        now = max(now, Instant(nanoseconds: entry.deadline))
        if entry.owner >= 0, let willRun { willRun(entry.owner) }
        body()
        return true
    }

    /// The deadline of the next callback still waiting, if any.
    public var nextDeadline: Instant? {
        discardCancelled()
        return heap.min.map { Instant(nanoseconds: $0.deadline) }
    }

    /// Runs every callback due at or before `deadline`, then sets the clock to `deadline`. A
    /// cancelled entry ahead of it never lets a later callback run early.
    public func advance(to deadline: Instant) {
        while let next = nextDeadline, next <= deadline {
            step()
        }
        now = max(now, deadline)
    }

    /// Advances the clock by `span`, running what falls due.
    public func advance(by span: TimeSpan) {
        advance(to: now + span)
    }

    /// Pops the cancelled entries at the top of the heap, freeing their slots.
    private func discardCancelled() {
        while let top = heap.min, bodies[Int(top.slot)] == nil {
            _ = heap.popMin()
            release(Int(top.slot))
        }
    }

    private func release(_ slot: Int) {
        bodies[slot] = nil
        sequences[slot] = 0
        freeSlots.append(UInt32(slot))
    }
}

/// The virtual scheduler's queue: a 4-ary min-heap on (deadline, sequence), shallower than a
/// binary heap and without the min-max heap's alternating levels.
private struct TimerHeap {
    struct Entry {
        var deadline: Int64
        var sequence: UInt64
        var slot: UInt32
        var owner: Int32

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && sequence < other.sequence)
        }
    }

    private var storage: [Entry] = []

    var min: Entry? { storage.first }

    mutating func insert(_ entry: Entry) {
        storage.append(entry)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) >> 2
            guard entry.precedes(storage[parent]) else { break }
            storage[child] = storage[parent]
            child = parent
        }
        storage[child] = entry
    }

    mutating func popMin() -> Entry? {
        guard let first = storage.first else { return nil }
        let last = storage.removeLast()
        guard !storage.isEmpty else { return first }
        let count = storage.count
        var hole = 0
        while true {
            let firstChild = hole << 2 + 1
            if firstChild >= count { break }
            var best = firstChild
            let end = Swift.min(firstChild + 4, count)
            var c = firstChild + 1
            while c < end {
                if storage[c].precedes(storage[best]) { best = c }
                c += 1
            }
            guard storage[best].precedes(last) else { break }
            storage[hole] = storage[best]
            hole = best
        }
        storage[hole] = last
        return first
    }
}
