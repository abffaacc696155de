/// An action on a whole connection, decided by the connection's conditions.
public enum ConnectionAction: String, Sendable, Hashable {
    /// Close both sides with a FIN.
    case close
    /// Reset both sides with a real RST.
    case reset
    /// Drop everything silently from now on, without telling either side.
    case blackhole
}

/// A connection action due at an instant, with the condition that asked for it.
public struct DueAction: Sendable, Hashable {
    /// When the action is due.
    public var at: Instant
    /// What to do.
    public var action: ConnectionAction
    /// The name of the condition responsible.
    public var cause: String

    /// Creates a due action.
    public init(at: Instant, action: ConnectionAction, cause: String) {
        self.at = at
        self.action = action
        self.cause = cause
    }
}

/// The pure model of one proxied connection: its two links and the conditions that act on the
/// connection as a whole (reset, blackhole deadline, idle-timeout middlebox, slow connect).
public struct ConnectionSchedule: Sendable {
    /// Client to server.
    public var upstream: LinkSchedule
    /// Server to client.
    public var downstream: LinkSchedule
    /// When the connection was accepted.
    public let openedAt: Instant
    /// When data last arrived from either side (the idle-timeout middlebox's clock).
    public private(set) var lastActivity: Instant

    /// Creates a connection opened at `openedAt` whose links draw from streams derived from `random`.
    public init(openedAt: Instant, random: SeededGenerator) {
        self.openedAt = openedAt
        self.lastActivity = openedAt
        self.upstream = LinkSchedule(random: random.derived(1))
        self.downstream = LinkSchedule(random: random.derived(2))
    }

    /// The link for `direction`. Mutations go to the stored link in place (`_modify`), so admitting
    /// a chunk never copies the link's state, which a get/set pair would do on every chunk.
    public subscript(direction: LinkDirection) -> LinkSchedule {
        get { direction == .upstream ? upstream : downstream }
        _modify {
            if direction == .upstream {
                yield &upstream
            } else {
                yield &downstream
            }
        }
    }

    /// Records data arriving from either side at `now`; an idle-timeout middlebox counts from here.
    public mutating func noteActivity(at now: Instant) {
        if now > lastActivity { lastActivity = now }
    }

    /// How long to wait before connecting upstream: the slow-connect delays that apply add up on
    /// a link, and the connection waits for the longer of its two links' totals. The connect
    /// happens once, so a delay set on both links (a scenario's `both:`) is waited for once.
    public var connectDelay: TimeSpan {
        func total(_ link: LinkSchedule) -> TimeSpan {
            link.conditions.reduce(TimeSpan.zero) { sum, active in
                if active.applies, case .slowConnect(let c) = active.condition { return sum + c.delay }
                return sum
            }
        }
        return max(total(upstream), total(downstream))
    }

    /// The earliest connection action due, if any: a reset, a blackhole's close deadline (which no
    /// traffic extends), or an idle timeout (which traffic does extend, as in a real middlebox).
    public var nextAction: DueAction? { nextAction(afterEviction: false) }

    /// The earliest connection action due, leaving out, once a middlebox has silently forgotten the
    /// connection (`evicted`, an idle timeout's blackhole), the idle timeouts that would forget it
    /// again: they can change nothing, and the resets and close deadlines after them still come.
    /// Allocates nothing: drivers ask again whenever conditions change.
    public func nextAction(afterEviction evicted: Bool) -> DueAction? {
        var best: DueAction?
        func consider(_ candidate: DueAction) {
            if best == nil || candidate.at < best!.at { best = candidate }
        }
        func scan(_ conditions: [ActiveCondition]) {
            for active in conditions where active.applies {
                // A condition acts on this connection from the later of its start and the connection's
                // open, whatever `since` the caller passed.
                let start = max(active.since, openedAt)
                switch active.condition {
                case .reset(let c):
                    consider(DueAction(at: start + c.after, action: .reset, cause: active.name))
                case .blackhole(let c):
                    if let after = c.closeAfter {
                        consider(DueAction(at: start + after, action: .close, cause: active.name))
                    }
                case .idleTimeout(let c):
                    let action: ConnectionAction = switch c.action {
                    case .close: .close
                    case .reset: .reset
                    case .blackhole: .blackhole
                    }
                    if evicted, action == .blackhole { continue }
                    let idleSince = max(lastActivity, start)
                    consider(DueAction(at: idleSince + c.after, action: action, cause: active.name))
                default:
                    continue
                }
            }
        }
        scan(upstream.conditions)
        scan(downstream.conditions)
        return best
    }
}
