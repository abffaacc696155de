/// A run of bytes of a chunk and the instant it is delivered to the far side.
public struct Delivery: Sendable, Hashable {
    /// When these bytes reach the far side.
    public var at: Instant
    /// How many bytes (from where the previous delivery ended).
    public var length: Int

    /// Creates a delivery of `length` bytes at `at`.
    public init(at: Instant, length: Int) {
        self.at = at
        self.length = length
    }
}

/// What happens to one chunk that arrived on a link.
public enum ChunkFate: Sendable, Hashable {
    /// Deliver the chunk (or, when a data limit cut it, its first bytes) in these pieces, in order;
    /// when `thenClose` is set the connection closes after the last piece.
    case deliver([Delivery], thenClose: Bool)
    /// Keep the chunk, unsent, until the conditions change (a stall until lifted, a zero rate).
    case hold
    /// Discard the chunk silently (a blackhole).
    case drop
}

/// `ChunkFate` as a simulator needs it (`LinkSchedule.admitWhole`): no per-piece detail.
public enum WholeChunkFate: Sendable, Hashable {
    /// `bytes` of the chunk are delivered, the last of them at `at` (all of them unless a data
    /// limit cut the chunk); when `thenClose` is set the connection closes after them.
    case deliver(at: Instant, bytes: Int, thenClose: Bool)
    /// Keep the chunk until the conditions change.
    case hold
    /// Discard it.
    case drop
}

/// What happens to a close (FIN) that arrived on a link.
public enum CloseFate: Sendable, Hashable {
    /// Pass the FIN to the far side at this instant (after the data before it).
    case deliver(at: Instant)
    /// Keep it behind held data until the conditions change.
    case hold
    /// Swallow it: the far side never learns (a blackhole).
    case drop
}

/// The pure link model: given the active conditions, the arrival time and size of a chunk and the
/// link's seeded state, it decides when each byte is delivered, or that the chunk is held or
/// dropped. The live proxy and the simulator both drive this one type (DESIGN.md, principle 1).
///
/// Guarantees: bytes are never reordered (a later chunk is never delivered before an earlier
/// one) and every random draw comes from a stream derived from the link's seed and the
/// condition's name, so adding one condition does not change another's draws.
public struct LinkSchedule: Sendable {
    /// The state one condition keeps on this link.
    struct Runtime: Sendable {
        var rng: SeededGenerator
        var sampler: CorrelatedSampler?
        var loss: LossProcess?
        var busyUntil: Instant = .zero
        var bytesPassed: Int64 = 0
    }

    /// What a blocking condition does to every chunk while it applies.
    private enum Blocking: Sendable { case hold, drop }

    /// One condition that delays a piece without cutting it, flattened for the hot path: plain
    /// values only, so passing a chunk through retains and copies nothing.
    struct Step: Sendable {
        enum Kind: Sendable { case latency, bandwidth, stall }
        var kind: Kind
        /// The condition's index in `conditions` (and `runtimes`).
        var index: Int
        /// Latency: the constant part and the jitter, in nanoseconds (a distribution is the runtime's sampler).
        var latency: Int64 = 0
        var jitter: Int64 = 0
        /// Bandwidth: the rate.
        var rate = ByteRate(bytesPerSecond: 0)
        /// A timed stall: when it ends.
        var stallEnd = Instant.zero
    }

    /// A run of bytes of a chunk on its way through the conditions. `separate` marks the first bytes
    /// of a slicer slice: they stay their own delivery even when they leave at the same instant as
    /// the bytes before them (otherwise a slicer without delay would deliver the chunk whole).
    struct Piece: Sendable {
        var at: Instant
        var length: Int
        var separate: Bool = false
    }

    /// A segment still lost after an hour of retransmissions is delivered then: the stream is dead
    /// for any practical purpose.
    static let retransmissionGiveUp = TimeSpan.seconds(3600)
    /// The same after this many retransmissions of one segment, which bounds the work per segment
    /// when the RTO is tiny (an hour of 1 ns RTOs would be 3.6e12 draws).
    static let maxRetransmissions = 1_000

    /// The conditions currently on this link, in the order they apply.
    public private(set) var conditions: [ActiveCondition] = []
    /// The state of each condition: `runtimes[i]` belongs to `conditions[i]`.
    private var runtimes: [Runtime] = []
    /// The first blocking condition's effect (an untimed stall, a zero rate, a blackhole), if any applies.
    private var blocking: Blocking?
    /// Whether an applying condition may cut a chunk into several deliveries (loss, slicer, data
    /// limit); when none does, a chunk is one piece and `admit` takes its allocation-free path.
    private var cuts = false
    /// The applying conditions that delay pieces (latency, bandwidth, timed stalls), in order.
    private var steps: [Step] = []
    private let root: SeededGenerator
    /// The delivery time of the last byte scheduled so far: nothing later may be delivered earlier.
    public private(set) var lastDelivery: Instant = .zero
    /// Bytes admitted and scheduled for delivery so far.
    public private(set) var bytesDelivered: Int64 = 0
    /// Bytes discarded so far: by a blackhole, or cut off by a data limit.
    public private(set) var bytesDropped: Int64 = 0

    /// Creates an empty link whose random draws derive from `random`.
    public init(random: SeededGenerator) {
        self.root = random
    }

    /// Whether an applying condition may cut a chunk into several deliveries (loss, slicer, data
    /// limit): only then does `admit` have more to say than `admitWhole`.
    public var cutsChunks: Bool { cuts }

    /// True when no applying condition touches data or FINs, so a driver may forward bytes
    /// directly without consulting the schedule (the proxy's fast path).
    public var isPassthrough: Bool {
        !conditions.contains { $0.applies && $0.condition.touchesData }
    }

    /// Replaces the conditions. A condition whose name and value are unchanged keeps its state
    /// (correlation memory, loss state, bandwidth queue, bytes counted); a changed one starts afresh.
    public mutating func setConditions(_ new: [ActiveCondition]) {
        var kept: [Runtime] = []
        kept.reserveCapacity(new.count)
        for active in new {
            if let i = conditions.firstIndex(where: { $0.name.hasSameBytes(as: active.name) }), conditions[i].condition == active.condition {
                kept.append(runtimes[i])
            } else {
                kept.append(makeRuntime(for: active))
            }
        }
        runtimes = kept
        conditions = new
        blocking = nil
        cuts = false
        steps = []
        func block(_ effect: Blocking) {
            if blocking == nil { blocking = effect }  // the first blocking condition decides
        }
        for (index, active) in new.enumerated() where active.applies {
            switch active.condition {
            case .latency(let c):
                steps.append(Step(kind: .latency, index: index, latency: c.latency.nanoseconds, jitter: c.jitter.nanoseconds))
            case .bandwidth(let c):
                if c.rate.bytesPerSecond <= 0 {
                    block(.hold)
                } else if !c.rate.isUnlimited {
                    steps.append(Step(kind: .bandwidth, index: index, rate: c.rate))
                }
            case .stall(let c):
                if let duration = c.duration {
                    steps.append(Step(kind: .stall, index: index, stallEnd: active.since + duration))
                } else {
                    block(.hold)
                }
            case .blackhole:
                block(.drop)
            case .loss, .slicer, .limitData:
                cuts = true
            case .slowClose, .reset, .idleTimeout, .slowConnect:
                break
            }
        }
    }

    private func makeRuntime(for active: ActiveCondition) -> Runtime {
        let rng = root.derived(StableHash.fnv1a(active.name))
        var runtime = Runtime(rng: rng)
        switch active.condition {
        case .latency(let c):
            if let d = c.distribution {
                runtime.sampler = try? CorrelatedSampler(distribution: d, correlation: c.correlation)
            }
        case .loss(let c):
            runtime.loss = LossProcess(model: c.model)
        default:
            break
        }
        return runtime
    }

    /// Decides the fate of `bytes` bytes arriving at `now`.
    public mutating func admit(bytes: Int, at now: Instant) -> ChunkFate {
        guard bytes > 0 else { return .deliver([], thenClose: false) }
        if let blocked = blockedFate(bytes: bytes) { return blocked == .drop ? .drop : .hold }
        if !cuts { return .deliver([Delivery(at: passWhole(bytes: bytes, at: now), length: bytes)], thenClose: false) }
        let (deliveries, thenClose) = passCut(bytes: bytes, at: now)
        return .deliver(deliveries, thenClose: thenClose)
    }

    /// The same decision as `admit`, told as a simulator needs it: when the chunk's last delivered
    /// byte arrives and how many bytes are delivered. Allocates nothing on links that cut no chunks.
    public mutating func admitWhole(bytes: Int, at now: Instant) -> WholeChunkFate {
        guard bytes > 0 else { return .deliver(at: now, bytes: 0, thenClose: false) }
        if let blocked = blockedFate(bytes: bytes) { return blocked == .drop ? .drop : .hold }
        if !cuts { return .deliver(at: passWhole(bytes: bytes, at: now), bytes: bytes, thenClose: false) }
        let (deliveries, thenClose) = passCut(bytes: bytes, at: now)
        var delivered = 0
        for d in deliveries { delivered += d.length }
        return .deliver(at: deliveries.last?.at ?? now, bytes: delivered, thenClose: thenClose)
    }

    /// The blocking effect on a chunk of `bytes`, if a blocking condition applies (a drop is counted).
    private mutating func blockedFate(bytes: Int) -> Blocking? {
        if blocking == .drop { bytesDropped += Int64(bytes) }
        return blocking
    }

    /// A chunk that no condition cuts: one piece through the conditions, then after every byte before it.
    private mutating func passWhole(bytes: Int, at now: Instant) -> Instant {
        var piece = Piece(at: now, length: bytes)
        for step in steps {
            pass(&piece, step)
        }
        let at = max(piece.at, lastDelivery)
        lastDelivery = at
        bytesDelivered += Int64(bytes)
        return at
    }

    /// Delays one piece by a condition that acts on pieces one by one (latency, bandwidth, a timed
    /// stall); the conditions that cut pieces are `passCut`'s.
    private mutating func pass(_ piece: inout Piece, _ step: Step) {
        switch step.kind {
        case .latency:
            piece.at = piece.at + Self.delay(latency: step.latency, jitter: step.jitter, &runtimes[step.index])
        case .bandwidth:
            let start = max(piece.at, runtimes[step.index].busyUntil)
            let end = start + (step.rate.transmissionTime(of: piece.length) ?? .zero)
            runtimes[step.index].busyUntil = end
            piece.at = end
        case .stall:
            if piece.at < step.stallEnd { piece.at = step.stallEnd }
        }
    }

    /// The general path: the chunk as pieces, which loss, slicers and data limits cut.
    private mutating func passCut(bytes: Int, at now: Instant) -> (deliveries: [Delivery], thenClose: Bool) {
        var pieces = [Piece(at: now, length: bytes)]
        var thenClose = false
        var nextStep = 0
        for i in conditions.indices where conditions[i].applies {
            switch conditions[i].condition {
            case .latency, .bandwidth, .stall:
                // Untimed stalls and zero rates block instead (`blocking`) and have no step.
                guard nextStep < steps.count, steps[nextStep].index == i else { continue }
                for j in pieces.indices { pass(&pieces[j], steps[nextStep]) }
                nextStep += 1
            case .loss(let c):
                pieces = Self.applyLoss(c, to: pieces, &runtimes[i])
            case .slicer(let c):
                pieces = Self.slice(c, pieces, &runtimes[i])
            case .limitData(let c):
                let allowed = max(0, c.bytes - runtimes[i].bytesPassed)
                var remaining = allowed
                var cut: [Piece] = []
                for piece in pieces where remaining > 0 {
                    let take = Int(min(Int64(piece.length), remaining))
                    cut.append(Piece(at: piece.at, length: take, separate: piece.separate))
                    remaining -= Int64(take)
                }
                let total = pieces.reduce(0) { $0 + $1.length }
                runtimes[i].bytesPassed += allowed - remaining
                if Int64(total) >= allowed {
                    thenClose = true
                    // Close once the limit is reached exactly too, as Toxiproxy does.
                }
                if Int64(total) > allowed { bytesDropped += Int64(total) - (allowed - remaining) }
                pieces = cut
            case .blackhole, .slowClose, .reset, .idleTimeout, .slowConnect:
                break
            }
        }
        // No overtaking: each piece leaves no earlier than the one before it. Pieces leaving together
        // are one delivery, except where a slicer cut them apart.
        var merged: [Delivery] = []
        merged.reserveCapacity(pieces.count)
        for piece in pieces where piece.length > 0 {
            let at = max(piece.at, lastDelivery)
            lastDelivery = at
            if let last = merged.last, last.at == at, !piece.separate {
                merged[merged.count - 1].length += piece.length
            } else {
                merged.append(Delivery(at: at, length: piece.length))
            }
            bytesDelivered += Int64(piece.length)
        }
        return (merged, thenClose)
    }

    /// Decides when a FIN arriving at `now` reaches the far side: after the link's latency and any
    /// timed stall, never before the data sent before it, plus any slow-close delay; held behind
    /// held data; swallowed by a blackhole.
    public mutating func admitClose(at now: Instant) -> CloseFate {
        if let blocking {
            return blocking == .drop ? .drop : .hold
        }
        // A FIN travels like a segment: it takes the link's latency and waits out a timed stall,
        // then comes after every byte before it, then any slow-close delay.
        var at = now
        for i in conditions.indices where conditions[i].applies {
            switch conditions[i].condition {
            case .latency(let c):
                at = at + Self.delay(c, &runtimes[i])
            case .stall(let c):
                if let duration = c.duration { at = max(at, conditions[i].since + duration) }
            default:
                break
            }
        }
        at = max(at, lastDelivery)
        for active in conditions where active.applies {
            if case .slowClose(let c) = active.condition { at = at + c.delay }
        }
        lastDelivery = at
        return .deliver(at: at)
    }

    private static func delay(_ c: LatencyCondition, _ runtime: inout Runtime) -> TimeSpan {
        delay(latency: c.latency.nanoseconds, jitter: c.jitter.nanoseconds, &runtime)
    }

    /// A latency condition's delay for one piece: the constant, a uniform jitter draw, and the
    /// distribution's correlated draw when it has one (`runtime.sampler`).
    private static func delay(latency: Int64, jitter: Int64, _ runtime: inout Runtime) -> TimeSpan {
        // A constant delay needs no arithmetic in Double (the same value: latencies are far below 2^53 ns).
        if jitter <= 0, runtime.sampler == nil { return TimeSpan(nanoseconds: max(0, latency)) }
        var ns = Double(latency)
        if jitter > 0 {
            let j = Double(jitter)
            ns += (runtime.rng.nextUnit() * 2 - 1) * j
        }
        if var sampler = runtime.sampler {
            ns += sampler.next(using: &runtime.rng)
            runtime.sampler = sampler
        }
        // Negative (or NaN) delays are none; a delay past Int64 nanoseconds (a huge latency plus
        // jitter, a heavy-tailed law) saturates to "never" instead of trapping in the conversion.
        let rounded = max(0, ns).rounded()
        guard rounded < 0x1p63 else { return TimeSpan(nanoseconds: .max) }
        return TimeSpan(nanoseconds: Int64(rounded))
    }

    private static func applyLoss(_ c: LossCondition, to pieces: [Piece], _ runtime: inout Runtime) -> [Piece] {
        guard var process = runtime.loss else { return pieces }
        let lossRate = c.model.stationaryLossRate
        var out: [Piece] = []
        for piece in pieces {
            var offset = 0
            while offset < piece.length {
                let length = min(c.segmentSize, piece.length - offset)
                var extra = TimeSpan.zero
                var rto = c.initialRTO
                var retransmissions = 0
                var lost = process.isLost(using: &runtime.rng)
                while lost {
                    extra = extra + rto
                    rto = min(rto * 2, c.maxRTO)
                    retransmissions += 1
                    if extra > retransmissionGiveUp || retransmissions >= maxRetransmissions { break }
                    // A retransmission leaves an RTO later, when a burst of the chain (a few packets
                    // long) has moved on with the other traffic: it is lost at the model's long-run
                    // rate, independently, and does not advance the chain. Drawing retries from the
                    // chain back to back would keep one segment inside its burst for the burst's
                    // whole length, stalling the stream for seconds with each doubling RTO.
                    lost = runtime.rng.nextUnit() < lossRate
                }
                out.append(Piece(at: piece.at + extra, length: length, separate: offset == 0 && piece.separate))
                offset += length
            }
        }
        runtime.loss = process
        return out
    }

    private static func slice(_ c: SlicerCondition, _ pieces: [Piece], _ runtime: inout Runtime) -> [Piece] {
        var out: [Piece] = []
        for piece in pieces {
            var offset = 0
            var at = piece.at
            while offset < piece.length {
                // average - variation + a draw in [0, 2·variation]: the same draws as average + [-var, +var],
                // in UInt64 so that huge valid sizes cannot overflow. The clamps only matter for
                // parameters that skipped `validate()`.
                let average = max(1, c.averageSize)
                let variation = UInt64(min(max(0, c.sizeVariation), average - 1))
                var size = UInt64(average)
                if variation > 0 {
                    size = size - variation + runtime.rng.next() % (2 * variation + 1)
                }
                let sliceLength = max(1, Int(min(size, UInt64(piece.length - offset))))
                out.append(Piece(at: at, length: sliceLength, separate: true))
                offset += sliceLength
                at = at + c.delay
            }
        }
        return out
    }
}

extension Condition {
    /// Whether the condition acts on bytes or FINs of its link (as opposed to the connection:
    /// resets, idle timeouts, slow connects, which `ConnectionSchedule` handles).
    public var touchesData: Bool {
        switch self {
        case .bandwidth(let c): !c.rate.isUnlimited
        case .latency, .stall, .blackhole, .loss, .slicer, .limitData, .slowClose: true
        case .reset, .idleTimeout, .slowConnect: false
        }
    }
}
