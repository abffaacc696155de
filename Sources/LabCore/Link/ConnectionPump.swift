import DequeModule

/// What a link pump carries: a driver's unit of data. The proxy's buffers are a byte stream the
/// far end takes a piece at a time; the simulator's packets are messages, useful only whole.
public protocol LinkPayload {
    /// Whether the far end reads this kind of payload as a byte stream (a link that cuts it, by loss,
    /// a slicer or a data limit, delivers each piece when it arrives), rather than as a message (a
    /// cut one arrives with its last byte, and not at all when a data limit cuts it short).
    static var arrivesInPieces: Bool { get }

    /// Splits off the first `count` bytes as a payload of their own; asked only when `arrivesInPieces`.
    mutating func split(first count: Int) -> Self
}

/// What became of a message written on a link (`ConnectionPump.writeMessage`).
public enum MessageFate: Sendable, Hashable {
    /// The far end receives it at `at`; when `thenClose`, a data limit closes the connection then, after it.
    case deliver(at: Instant, thenClose: Bool)
    /// A data limit cut it short: it never arrives, and the connection closes at `closeAt`.
    case cutShort(closeAt: Instant)
    /// The link holds it; the pump keeps it and reports it when it releases it.
    case held
    /// A blackhole swallowed it.
    case dropped
    /// The pump is closed: nothing happens.
    case ignored
}

/// The pure queue of one connection's two links (DESIGN.md, principle 1): what the live proxy and
/// the simulator both do with data and FINs written on a link, and with the connection's due actions.
/// It holds items in order while a condition (an untimed stall, a zero rate) or a far end still
/// connecting holds them, releases them in order when that changes, keeps a FIN behind held data,
/// asks the `ConnectionSchedule` when each item reaches the far end, and decides the connection's
/// resets, idle timeouts and blackhole deadlines. Drivers only carry out its `Action`s.
///
/// Each operation reports its actions, in order, to `perform` while it runs. `perform` must not call
/// back into the pump: a driver whose reactions may do so (closing the connection, a socket write
/// that reports writability) collects the actions and carries them out after the call returns.
public struct ConnectionPump<Payload: LinkPayload> {
    /// What the driver is to do.
    public enum Action {
        /// Hand `payload` to the far end of the link at `at`, after everything delivered on it before.
        case deliver(Payload, LinkDirection, at: Instant)
        /// Pass the link's FIN (its writer closed its socket) to the far end at `at`, after its data.
        case deliverFIN(LinkDirection, at: Instant)
        /// `payload` never arrives: a blackhole swallowed it.
        case drop(Payload, LinkDirection)
        /// A data limit on the link was reached: close the connection at `at`, after the deliveries
        /// reported before (on that link: the driver keeps the close behind them).
        case closeAfterData(LinkDirection, at: Instant)
        /// A due connection action closes both sides now (an idle timeout, a blackhole's deadline),
        /// because of the condition named `cause`; the driver ends the connection and calls `close()`.
        case close(cause: String)
        /// A due connection action resets both sides now (a reset condition, an idle timeout); the
        /// driver ends the connection and calls `close()`.
        case reset(cause: String)
        /// (Re-)arm the connection's one action timer at `at`, replacing any armed one; call
        /// `actionTimerFired` when it fires.
        case armActionTimer(at: Instant)
        /// No connection action is due: cancel the action timer if one is armed.
        case cancelActionTimer
    }

    /// An item waiting on a link.
    @usableFromInline
    enum Held {
        case data(Payload, bytes: Int)
        case fin
    }

    /// The connection's pure model: both links and the connection-level conditions.
    public var schedule: ConnectionSchedule { links }
    @usableFromInline var links: ConnectionSchedule
    /// When the connection was accepted.
    public var openedAt: Instant { links.openedAt }
    @usableFromInline var heldUpstream = Deque<Held>()
    @usableFromInline var heldDownstream = Deque<Held>()
    @usableFromInline var heldBytesUpstream = 0
    @usableFromInline var heldBytesDownstream = 0
    @usableFromInline var awaitingUpstream = false
    @usableFromInline var awaitingDownstream = false
    /// Whether an idle-timeout middlebox has silently forgotten the connection: from then on
    /// everything written is dropped, FINs included, and neither side is told.
    public private(set) var isEvicted = false
    /// Whether the connection ended (`close()`): the pump does nothing more.
    public private(set) var isClosed = false

    /// Creates the pump of a connection opened at `openedAt`, its links drawing from streams derived from `random`.
    public init(openedAt: Instant, random: SeededGenerator) {
        links = ConnectionSchedule(openedAt: openedAt, random: random)
    }

    // MARK: Inputs

    /// `payload`, `bytes` long, was written on `direction` at `now`: it counts as activity, then is
    /// delivered (at the instants the link's schedule gives), held behind what the link holds, or dropped.
    @inlinable
    public mutating func write(_ payload: Payload, bytes: Int, on direction: LinkDirection, at now: Instant,
                               _ perform: (Action) -> Void) {
        guard Payload.arrivesInPieces else {
            switch writeMessage(payload, bytes: bytes, on: direction, at: now) {
            case .deliver(let at, let thenClose):
                perform(.deliver(payload, direction, at: at))
                if thenClose { perform(.closeAfterData(direction, at: at)) }
            case .cutShort(let at):
                perform(.closeAfterData(direction, at: at))
            case .dropped:
                perform(.drop(payload, direction))
            case .held, .ignored:
                break
            }
            return
        }
        guard !isClosed else { return }
        links.noteActivity(at: now)
        if isEvicted { return perform(.drop(payload, direction)) }
        if isHolding(direction) || !admit(payload, bytes: bytes, direction, at: now, perform) {
            append(.data(payload, bytes: bytes), direction)
        }
    }

    /// `write` for a message, told as a value: the writer keeps its message, so a simulator's send
    /// path copies nothing into an action and out again. Held messages come back through `perform`
    /// of the call that releases them, like every other action.
    @inlinable
    public mutating func writeMessage(_ payload: Payload, bytes: Int, on direction: LinkDirection,
                                      at now: Instant) -> MessageFate {
        guard !isClosed else { return .ignored }
        links.noteActivity(at: now)
        if isEvicted { return .dropped }
        if !isHolding(direction) {
            let fate = direction == .upstream ? links.upstream.admitWhole(bytes: bytes, at: now)
                : links.downstream.admitWhole(bytes: bytes, at: now)
            switch fate {
            case .deliver(let at, let delivered, let thenClose):
                // A message cut short by a data limit is of no use to the far end: only the close follows.
                return delivered == bytes ? .deliver(at: at, thenClose: thenClose) : .cutShort(closeAt: at)
            case .drop:
                return .dropped
            case .hold:
                break
            }
        }
        append(.data(payload, bytes: bytes), direction)
        return .held
    }

    /// The writer of `direction` closed its socket at `now`: the FIN follows the link's data (held
    /// behind held data), or vanishes in a blackhole.
    @inlinable
    public mutating func writeFIN(on direction: LinkDirection, at now: Instant, _ perform: (Action) -> Void) {
        guard !isClosed, !isEvicted else { return }
        if isHolding(direction) || !admitFIN(direction, at: now, perform) {
            append(.fin, direction)
        }
    }

    /// New conditions on both links at `now`: what they held is released in order until a link
    /// holds again, and the connection's next action is planned anew.
    public mutating func setConditions(upstream: [ActiveCondition], downstream: [ActiveCondition], at now: Instant,
                                       _ perform: (Action) -> Void) {
        guard !isClosed else { return }
        links.upstream.setConditions(upstream)
        links.downstream.setConditions(downstream)
        release(.upstream, at: now, perform)
        release(.downstream, at: now, perform)
        planAction(perform)
    }

    /// The far end of `direction` is not connected yet (the proxy's upstream connect, a slow
    /// connect): everything written on the link is held, in order, until `farEndConnected`.
    public mutating func awaitFarEnd(of direction: LinkDirection) {
        if direction == .upstream { awaitingUpstream = true } else { awaitingDownstream = true }
    }

    /// The far end of `direction` connected at `now`: what the link held for it is released.
    public mutating func farEndConnected(of direction: LinkDirection, at now: Instant, _ perform: (Action) -> Void) {
        if direction == .upstream { awaitingUpstream = false } else { awaitingDownstream = false }
        guard !isClosed else { return }
        release(direction, at: now, perform)
    }

    /// The action timer fired at `now`: the due action is carried out, or, when traffic postponed
    /// an idle timeout, the timer is armed for its new deadline.
    public mutating func actionTimerFired(at now: Instant, _ perform: (Action) -> Void) {
        guard !isClosed, let due = nextAction else { return }
        guard due.at <= now else { return perform(.armActionTimer(at: due.at)) }
        switch due.action {
        case .close:
            perform(.close(cause: due.cause))
        case .reset:
            perform(.reset(cause: due.cause))
        case .blackhole:
            isEvicted = true
            for direction in LinkDirection.allCases {
                while let item = popHeld(direction) {
                    if case .data(let payload, _) = item { perform(.drop(payload, direction)) }
                }
            }
            planAction(perform)
        }
    }

    /// The connection ended (either side closed it, a data limit's close came): held items are
    /// discarded and nothing more happens. The driver cancels its own timers.
    public mutating func close() {
        isClosed = true
        heldUpstream.removeAll()
        heldDownstream.removeAll()
        heldBytesUpstream = 0
        heldBytesDownstream = 0
    }

    // MARK: State

    /// The connection's next due action, if any (none once closed).
    public var nextAction: DueAction? {
        isClosed ? nil : links.nextAction(afterEviction: isEvicted)
    }

    /// Bytes the link holds (for a driver's flow-control window).
    @inlinable
    public func heldBytes(_ direction: LinkDirection) -> Int {
        direction == .upstream ? heldBytesUpstream : heldBytesDownstream
    }

    /// The number of items (data and FIN) the link holds.
    public func heldCount(_ direction: LinkDirection) -> Int {
        direction == .upstream ? heldUpstream.count : heldDownstream.count
    }

    /// Whether the link holds anything: then whatever is written next waits behind it.
    @inlinable
    public func isHolding(_ direction: LinkDirection) -> Bool {
        direction == .upstream ? awaitingUpstream || !heldUpstream.isEmpty
            : awaitingDownstream || !heldDownstream.isEmpty
    }

    // MARK: The schedule

    /// Asks the link what happens to `payload`; false when it holds it (the caller queues it).
    @inlinable
    mutating func admit(_ payload: Payload, bytes: Int, _ direction: LinkDirection, at now: Instant,
                        _ perform: (Action) -> Void) -> Bool {
        // The stored links directly: `ConnectionSchedule`'s subscript coroutine showed up per packet.
        let cuts = Payload.arrivesInPieces
            && (direction == .upstream ? links.upstream.cutsChunks : links.downstream.cutsChunks)
        if !cuts {
            let fate = direction == .upstream ? links.upstream.admitWhole(bytes: bytes, at: now)
                : links.downstream.admitWhole(bytes: bytes, at: now)
            switch fate {
            case .deliver(let at, let delivered, let thenClose):
                // A message cut short by a data limit is of no use to the far end: only the close follows.
                if delivered == bytes { perform(.deliver(payload, direction, at: at)) }
                if thenClose { perform(.closeAfterData(direction, at: at)) }
                return true
            case .hold:
                return false
            case .drop:
                perform(.drop(payload, direction))
                return true
            }
        }
        let fate = direction == .upstream ? links.upstream.admit(bytes: bytes, at: now)
            : links.downstream.admit(bytes: bytes, at: now)
        switch fate {
        case .deliver(let pieces, let thenClose):
            var rest = payload
            var last = now
            for piece in pieces {
                perform(.deliver(rest.split(first: piece.length), direction, at: piece.at))
                last = piece.at
            }
            if thenClose { perform(.closeAfterData(direction, at: last)) }
            return true
        case .hold:
            return false
        case .drop:
            perform(.drop(payload, direction))
            return true
        }
    }

    /// Asks the link when a FIN arrives; false when it holds it.
    @inlinable
    mutating func admitFIN(_ direction: LinkDirection, at now: Instant, _ perform: (Action) -> Void) -> Bool {
        let fate = direction == .upstream ? links.upstream.admitClose(at: now) : links.downstream.admitClose(at: now)
        switch fate {
        case .deliver(let at):
            perform(.deliverFIN(direction, at: at))
            return true
        case .hold:
            return false
        case .drop:
            return true
        }
    }

    /// Re-admits what the link holds, in order, until it holds again (that item stays first).
    mutating func release(_ direction: LinkDirection, at now: Instant, _ perform: (Action) -> Void) {
        if direction == .upstream ? awaitingUpstream : awaitingDownstream { return }
        while let item = popHeld(direction) {
            let passed: Bool
            switch item {
            case .data(let payload, let bytes): passed = admit(payload, bytes: bytes, direction, at: now, perform)
            case .fin: passed = admitFIN(direction, at: now, perform)
            }
            if !passed {
                prepend(item, direction)
                return
            }
        }
    }

    /// Reports when the next connection action is due, or that none is.
    mutating func planAction(_ perform: (Action) -> Void) {
        if let due = nextAction {
            perform(.armActionTimer(at: due.at))
        } else {
            perform(.cancelActionTimer)
        }
    }

    // MARK: Held items

    // Not inlined: holding is the cold path, and inlining it made every send longer.
    @usableFromInline
    mutating func append(_ item: Held, _ direction: LinkDirection) {
        let bytes = if case .data(_, let bytes) = item { bytes } else { 0 }
        if direction == .upstream {
            heldUpstream.append(item)
            heldBytesUpstream += bytes
        } else {
            heldDownstream.append(item)
            heldBytesDownstream += bytes
        }
    }

    mutating func prepend(_ item: Held, _ direction: LinkDirection) {
        let bytes = if case .data(_, let bytes) = item { bytes } else { 0 }
        if direction == .upstream {
            heldUpstream.prepend(item)
            heldBytesUpstream += bytes
        } else {
            heldDownstream.prepend(item)
            heldBytesDownstream += bytes
        }
    }

    mutating func popHeld(_ direction: LinkDirection) -> Held? {
        let item = direction == .upstream ? heldUpstream.popFirst() : heldDownstream.popFirst()
        if case .data(_, let bytes) = item {
            if direction == .upstream { heldBytesUpstream -= bytes } else { heldBytesDownstream -= bytes }
        }
        return item
    }
}

extension ConnectionPump: Sendable where Payload: Sendable {}
extension ConnectionPump.Action: Sendable where Payload: Sendable {}
extension ConnectionPump.Held: Sendable where Payload: Sendable {}

extension ConnectionPump.Action: Equatable where Payload: Equatable {}
