import DequeModule
import LabCore
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One end of a proxied connection.
enum Side: Int, Sendable {
    /// The accepted connection from the client.
    case client = 0
    /// The connection the proxy opened to the upstream server.
    case server = 1

    /// The other end.
    var other: Side { self == .client ? .server : .client }
    /// The link that carries bytes read on this side.
    var inbound: LinkDirection { self == .client ? .upstream : .downstream }
}

/// One proxied TCP connection: a client channel, an upstream channel on the same event loop, and
/// two links (upstream, downstream) that move bytes according to the pure `ConnectionSchedule`.
///
/// Event-loop bound: every mutable property is touched only on `eventLoop`; the entry points
/// that may be called from elsewhere (`applyToxics`, `abort`) hop onto it first. That is why the
/// class is `@unchecked Sendable`.
final class ProxyConnection: @unchecked Sendable {
    /// An item waiting to be written on a link.
    enum Item {
        case data(ByteBuffer)
        case fin
        case closeConnection
    }

    /// The queues of one link: items scheduled at an instant, and items held until conditions change.
    struct Pump {
        var scheduled: Deque<(at: Instant, item: Item)> = []
        var held: Deque<Item> = []
        var pendingBytes = 0
        var timer: Scheduled<Void>?
        var timerAt: Instant?
        var finQueued = false

        var isIdle: Bool { scheduled.isEmpty && held.isEmpty }
    }

    /// What is known about one side's channel.
    struct SideState {
        var channel: (any Channel)?
        var pendingRead = false
        var inputClosed = false
        var sawReset = false
        var needsFlush = false
        var inactive = false
    }

    let id: UInt64
    let eventLoop: any EventLoop
    let proxyName: String
    let openedAt: Instant
    let clientAddress: String
    private weak var owner: Proxy?
    private let observer: (any ChunkObserver)?
    private let window: Int
    private let seed: UInt64

    private var schedule: ConnectionSchedule
    private var sides = [SideState(), SideState()]
    private var pumps = [Pump(), Pump()]
    private var closed = false
    private var blackholed = false
    private var actionTimer: Scheduled<Void>?
    private var actionTimerAt: Instant?

    /// Bytes read from the client (upstream link).
    let bytesUpstream = Synchronization.Atomic<Int64>(0)
    /// Bytes read from the server (downstream link).
    let bytesDownstream = Synchronization.Atomic<Int64>(0)

    init(id: UInt64, client: any Channel, owner: Proxy, seed: UInt64, window: Int, observer: (any ChunkObserver)?) {
        self.id = id
        self.eventLoop = client.eventLoop
        self.proxyName = owner.name
        self.owner = owner
        self.seed = seed
        self.window = window
        self.observer = observer
        let now = LiveClock.now()
        self.openedAt = now
        self.clientAddress = client.remoteAddress.map { "\($0)" } ?? "unknown"
        self.schedule = ConnectionSchedule(openedAt: now, random: SeededGenerator(seed: seed, stream: [id]))
        sides[Side.client.rawValue].channel = client
    }

    // MARK: Conditions

    /// The toxics as they apply to this connection (toxicity drawn once from the seed, per name).
    func activeConditions(_ toxics: [Toxic], direction: LinkDirection) -> [ActiveCondition] {
        toxics.compactMap { toxic in
            guard toxic.stream == direction else { return nil }
            if let only = toxic.connection, only != id { return nil }
            let draw = ToxicityDraw.value(seed: seed, connection: id, name: toxic.name)
            return ActiveCondition(name: toxic.name, condition: toxic.condition,
                                   since: max(toxic.createdAt, openedAt), applies: draw < toxic.toxicity)
        }
    }

    /// Installs a new set of toxics, releasing held data if nothing holds it any more; the future
    /// completes once they are in force on this connection.
    func applyToxics(_ toxics: [Toxic]) -> EventLoopFuture<Void> {
        eventLoop.submit { self.applyToxicsOnLoop(toxics) }
    }

    private func applyToxicsOnLoop(_ toxics: [Toxic]) {
        guard !closed else { return }
        let up = activeConditions(toxics, direction: .upstream)
        let down = activeConditions(toxics, direction: .downstream)
        schedule.upstream.setConditions(up)
        schedule.downstream.setConditions(down)
        let now = LiveClock.now()
        for direction in LinkDirection.allCases { releaseHeld(direction, now: now) }
        armActionTimer()
        for side in [Side.client, .server] { resumeReadIfPossible(side) }
    }

    // MARK: Lifecycle

    /// Starts the connection: waits for any slow-connect delay, then connects upstream.
    func start(toxics: [Toxic], upstream: HostPort, connectTimeout: TimeAmount) {
        eventLoop.preconditionInEventLoop()
        applyToxicsOnLoop(toxics)
        observer?.connectionOpened(id: id, proxy: proxyName, at: openedAt)
        let delay = schedule.connectDelay
        if delay > .zero {
            eventLoop.scheduleTask(in: .nanoseconds(delay.nanoseconds)) {
                self.connectUpstream(upstream, timeout: connectTimeout)
            }
        } else {
            connectUpstream(upstream, timeout: connectTimeout)
        }
    }

    private func connectUpstream(_ upstream: HostPort, timeout: TimeAmount) {
        guard !closed else { return }
        let connection = self
        ClientBootstrap(group: eventLoop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: Proxy.receiveAllocator)
            .channelOption(.maxMessagesPerRead, value: UInt(Proxy.readsPerCycle))
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProxySideHandler(connection: connection, side: .server))
                }
            }
            .connect(host: upstream.host, port: upstream.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    if connection.closed {
                        channel.close(promise: nil)
                        return
                    }
                    connection.sides[Side.server.rawValue].channel = channel
                    connection.releaseHeld(.upstream, now: LiveClock.now())
                    connection.resumeReadIfPossible(.client)
                case .failure:
                    connection.terminate(reason: "upstream connect failed", reset: true)
                }
            }
    }

    /// Closes the connection from outside (proxy disabled or deleted).
    func abort(reason: String) {
        eventLoop.execute { self.terminate(reason: reason, reset: false) }
    }

    /// Ends the connection: closes (or resets) both channels and drops everything queued.
    func terminate(reason: String, reset: Bool) {
        guard !closed else { return }
        closed = true
        discardQueuedData()
        actionTimer?.cancel()
        for side in [Side.client, .server] {
            guard let channel = sides[side.rawValue].channel, channel.isActive else { continue }
            if reset { Self.setLingerZero(channel) }
            channel.close(promise: nil)
        }
        observer?.connectionClosed(id: id, reason: reason, at: LiveClock.now())
        owner?.connectionEnded(self, reason: reason)
    }

    /// Drops everything both links still hold or have scheduled, and their timers.
    private func discardQueuedData() {
        for i in pumps.indices {
            pumps[i].timer?.cancel()
            pumps[i].timer = nil
            pumps[i].timerAt = nil
            pumps[i].scheduled.removeAll()
            pumps[i].held.removeAll()
            pumps[i].pendingBytes = 0
        }
    }

    /// SO_LINGER with a zero timeout makes close() send a RST instead of a FIN.
    static func setLingerZero(_ channel: any Channel) {
        _ = (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
    }

    // MARK: Reading (called by ProxySideHandler)

    /// Whether the handler on `side` may read more: the other side is connected and writable and
    /// the link's queue is within the flow-control window.
    func mayRead(from side: Side) -> Bool {
        guard !closed, let destination = sides[side.other.rawValue].channel else { return false }
        return destination.isWritable && pumps[side.inbound.index].pendingBytes < window
    }

    func deferRead(from side: Side) {
        sides[side.rawValue].pendingRead = true
    }

    private func resumeReadIfPossible(_ side: Side) {
        guard sides[side.rawValue].pendingRead, let channel = sides[side.rawValue].channel, mayRead(from: side) else { return }
        sides[side.rawValue].pendingRead = false
        channel.read()
    }

    func received(_ buffer: ByteBuffer, from side: Side) {
        guard !closed else { return }
        let direction = side.inbound
        let now = LiveClock.now()
        let count = buffer.readableBytes
        if direction == .upstream {
            bytesUpstream.add(Int64(count), ordering: .relaxed)
        } else {
            bytesDownstream.add(Int64(count), ordering: .relaxed)
        }
        owner?.countBytes(count, direction: direction)
        schedule.noteActivity(at: now)
        observer?.chunk(id: id, direction: direction, bytes: buffer, at: now)
        if blackholed { return }
        let d = direction.index
        if pumps[d].isIdle, schedule[direction].isPassthrough, let destination = sides[side.other.rawValue].channel {
            destination.write(buffer, promise: nil)
            sides[side.other.rawValue].needsFlush = true
            return
        }
        // Held data, or no upstream yet (NIO's first read on an accepted channel does not ask the
        // pipeline): keep it in order until the link can take it.
        if !pumps[d].held.isEmpty || sides[side.other.rawValue].channel == nil {
            pumps[d].held.append(.data(buffer))
            pumps[d].pendingBytes += count
            return
        }
        admit(buffer, direction: direction, now: now)
        drain(direction)
    }

    private func admit(_ buffer: ByteBuffer, direction: LinkDirection, now: Instant) {
        let d = direction.index
        var buffer = buffer
        switch schedule[direction].admit(bytes: buffer.readableBytes, at: now) {
        case .deliver(let pieces, let thenClose):
            var last = now
            for piece in pieces {
                guard let slice = buffer.readSlice(length: piece.length) else { break }
                pumps[d].scheduled.append((piece.at, .data(slice)))
                pumps[d].pendingBytes += piece.length
                last = piece.at
            }
            if thenClose { pumps[d].scheduled.append((last, .closeConnection)) }
        case .hold:
            pumps[d].held.append(.data(buffer))
            pumps[d].pendingBytes += buffer.readableBytes
        case .drop:
            break
        }
    }

    func readComplete(from side: Side) {
        flushIfNeeded(side.other)
    }

    private func flushIfNeeded(_ side: Side) {
        guard sides[side.rawValue].needsFlush else { return }
        sides[side.rawValue].needsFlush = false
        sides[side.rawValue].channel?.flush()
    }

    func inputClosed(on side: Side) {
        guard !closed, !sides[side.rawValue].inputClosed else { return }
        sides[side.rawValue].inputClosed = true
        guard !blackholed else { return }
        let direction = side.inbound
        let d = direction.index
        if pumps[d].isIdle, schedule[direction].isPassthrough, sides[side.other.rawValue].channel != nil {
            deliverFIN(to: side.other)
            return
        }
        if !pumps[d].held.isEmpty || sides[side.other.rawValue].channel == nil {
            pumps[d].held.append(.fin)
            return
        }
        admitFIN(direction: direction, now: LiveClock.now())
        drain(direction)
    }

    private func admitFIN(direction: LinkDirection, now: Instant) {
        let d = direction.index
        switch schedule[direction].admitClose(at: now) {
        case .deliver(let at): pumps[d].scheduled.append((at, .fin))
        case .hold: pumps[d].held.append(.fin)
        case .drop: break
        }
    }

    private func deliverFIN(to side: Side) {
        flushIfNeeded(side)
        guard let channel = sides[side.rawValue].channel else { return }
        if sides[side.other.rawValue].inactive {
            // The sending side is gone entirely: nothing more will come, close this side fully.
            channel.close(promise: nil)
        } else {
            channel.close(mode: .output, promise: nil)
        }
    }

    func writabilityChanged(on side: Side) {
        resumeReadIfPossible(side.other)
    }

    func errorCaught(on side: Side, _ error: any Error) {
        if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
            sides[side.rawValue].sawReset = io.errnoCode == ECONNRESET
        }
        sides[side.rawValue].channel?.close(promise: nil)
    }

    func channelInactive(_ side: Side) {
        sides[side.rawValue].inactive = true
        guard !closed else { return }
        let other = side.other
        let otherState = sides[other.rawValue]
        if sides[side.rawValue].sawReset {
            terminate(reason: side == .client ? "client reset" : "server reset", reset: true)
            return
        }
        if otherState.inactive || otherState.channel == nil {
            terminate(reason: "closed", reset: false)
            return
        }
        // Pass the end of this side's stream on as a FIN after whatever is queued.
        if !sides[side.rawValue].inputClosed { inputClosed(on: side) }
        let towardOther = side.inbound.index
        if pumps[towardOther].isIdle, sides[side.rawValue].inputClosed {
            otherState.channel?.close(promise: nil)
        }
    }

    // MARK: Writing

    private func drain(_ direction: LinkDirection) {
        let d = direction.index
        let destination: Side = direction == .upstream ? .server : .client
        let now = LiveClock.now()
        var wrote = false
        while let head = pumps[d].scheduled.first, head.at <= now {
            pumps[d].scheduled.removeFirst()
            switch head.item {
            case .data(let buffer):
                pumps[d].pendingBytes -= buffer.readableBytes
                sides[destination.rawValue].channel?.write(buffer, promise: nil)
                wrote = true
            case .fin:
                if wrote { sides[destination.rawValue].channel?.flush(); wrote = false }
                deliverFIN(to: destination)
            case .closeConnection:
                if wrote { sides[destination.rawValue].channel?.flush() }
                terminate(reason: "data limit", reset: false)
                return
            }
        }
        if wrote { sides[destination.rawValue].channel?.flush() }
        armTimer(direction)
        resumeReadIfPossible(direction == .upstream ? .client : .server)
    }

    private func armTimer(_ direction: LinkDirection) {
        let d = direction.index
        guard let head = pumps[d].scheduled.first else {
            pumps[d].timer?.cancel()
            pumps[d].timer = nil
            pumps[d].timerAt = nil
            return
        }
        if pumps[d].timerAt == head.at { return }
        pumps[d].timer?.cancel()
        pumps[d].timerAt = head.at
        pumps[d].timer = eventLoop.scheduleTask(deadline: LiveClock.deadline(head.at)) {
            self.pumps[d].timer = nil
            self.pumps[d].timerAt = nil
            self.drain(direction)
        }
    }

    private func releaseHeld(_ direction: LinkDirection, now: Instant) {
        let d = direction.index
        guard !pumps[d].held.isEmpty else { return }
        var held = pumps[d].held
        pumps[d].held.removeAll()
        while let item = held.popFirst() {
            switch item {
            case .data(let buffer):
                pumps[d].pendingBytes -= buffer.readableBytes
                if !pumps[d].held.isEmpty {
                    pumps[d].held.append(item)
                    pumps[d].pendingBytes += buffer.readableBytes
                } else {
                    admit(buffer, direction: direction, now: now)
                }
            case .fin:
                if !pumps[d].held.isEmpty { pumps[d].held.append(item) } else { admitFIN(direction: direction, now: now) }
            case .closeConnection:
                break
            }
        }
        drain(direction)
    }

    // MARK: Connection actions (reset, blackhole deadline, idle timeout)

    private func armActionTimer() {
        guard !closed, let due = schedule.nextAction else {
            actionTimer?.cancel()
            actionTimer = nil
            actionTimerAt = nil
            return
        }
        if actionTimerAt == due.at { return }
        actionTimer?.cancel()
        actionTimerAt = due.at
        actionTimer = eventLoop.scheduleTask(deadline: LiveClock.deadline(due.at)) {
            self.actionTimer = nil
            self.actionTimerAt = nil
            self.actionDue()
        }
    }

    private func actionDue() {
        guard !closed, let due = schedule.nextAction else { return }
        let now = LiveClock.now()
        guard due.at <= now else {
            armActionTimer()  // traffic moved an idle deadline; wait for the new one
            return
        }
        switch due.action {
        case .close: terminate(reason: "closed by \(due.cause)", reset: false)
        case .reset: terminate(reason: "reset by \(due.cause)", reset: true)
        case .blackhole:
            blackholed = true
            discardQueuedData()
            actionTimer = nil
            for side in [Side.client, .server] { resumeReadIfPossible(side) }
        }
    }
}

extension LinkDirection {
    var index: Int { self == .upstream ? 0 : 1 }
}

/// The handler on each of a connection's two channels: it only forwards events to the
/// `ProxyConnection`, and holds `read()` while the connection says the other side cannot take more.
final class ProxySideHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connection: ProxyConnection
    private let side: Side

    init(connection: ProxyConnection, side: Side) {
        self.connection = connection
        self.side = side
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(unwrapInboundIn(data), from: side)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.readComplete(from: side)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            connection.inputClosed(on: side)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(on: side)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.errorCaught(on: side, error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.channelInactive(side)
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if connection.mayRead(from: side) {
            context.read()
        } else {
            connection.deferRead(from: side)
        }
    }
}

@available(*, unavailable)
extension ProxySideHandler: Sendable {}
