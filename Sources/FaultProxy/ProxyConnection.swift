import DequeModule
import EventLoopTime
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

/// A proxied buffer as the link pump carries it: a byte stream, cut where a link cuts it.
struct ProxyChunk: LinkPayload {
    var buffer: ByteBuffer

    static var arrivesInPieces: Bool { true }

    mutating func split(first count: Int) -> ProxyChunk {
        ProxyChunk(buffer: buffer.readSlice(length: count)!)
    }
}

/// Opens a connection's channel to the upstream server, with `initialize` run on it before it is
/// active: a TCP connect on the connection's loop, or, in tests, an embedded channel.
typealias UpstreamConnector = @Sendable (
    _ loop: any EventLoop, _ upstream: HostPort, _ timeout: TimeAmount,
    _ initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
) -> EventLoopFuture<any Channel>

/// One proxied TCP connection: a client channel, an upstream channel on the same event loop, and
/// two links (upstream, downstream) whose queue is LabCore's `ConnectionPump`, the simulator's too.
/// This driver only carries out the pump's actions: NIO writes, FINs and closes, one timer per link
/// for deliveries not yet due and one for the connection's next action, all on an
/// `EventLoopScheduler`, so the loop's clock is the only time it reads.
///
/// Event-loop bound: every mutable property is touched only on `eventLoop`; the entry points
/// that may be called from elsewhere (`applyToxics`, `abort`) hop onto it first. That is why the
/// class is `@unchecked Sendable`.
final class ProxyConnection: @unchecked Sendable {
    typealias Action = ConnectionPump<ProxyChunk>.Action

    /// An item the link writes at its instant.
    enum Item {
        case data(ByteBuffer)
        case fin
        case closeConnection
    }

    /// The pump's deliveries on one link that are not due yet: how this driver carries out
    /// "deliver at t" (one timer per link, for the head; the simulator schedules an event per packet).
    struct Outbox {
        var scheduled: Deque<(at: Instant, item: Item)> = []
        var bytes = 0
        var timer: TimerToken?
        var timerAt: Instant?
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
    /// The connection's clock and timers: its event loop's.
    let scheduler: EventLoopScheduler
    let proxyName: String
    let openedAt: Instant
    let clientAddress: String
    private weak var owner: Proxy?
    private let observer: (any ChunkObserver)?
    private let connector: UpstreamConnector
    private let window: Int
    private let seed: UInt64

    private var pump: ConnectionPump<ProxyChunk>
    private var sides = [SideState(), SideState()]
    private var outboxes = [Outbox(), Outbox()]
    private var closed = false
    private var actionTimer: TimerToken?
    private var actionTimerAt: Instant?
    /// The upstream connect while it is in flight (nil before it starts and once it ends).
    private var connecting: EventLoopFuture<any Channel>?
    /// Which of the proxy's upstreams this connection goes to, once chosen.
    private(set) var upstreamIndex: Int?
    /// For a proxy balancing by Engine.IO session: picks the upstream from the first request
    /// line's `sid` (nil: none), until the connection is routed.
    private var router: ((String?) -> (HostPort, Int)?)?
    /// The client's first bytes while the connection waits for its route (at most `routeHeadLimit`).
    private var requestHead: [UInt8] = []
    /// The server's first bytes, read for the session id its open packet hands out (a handshake
    /// routed by balancing, not by a known sid); nil once done.
    private var answerHead: [UInt8]?
    private var connectTimeout: TimeAmount = .seconds(10)
    /// The proxy's toxics as last installed (re-read when a routed connection learns its upstream).
    private var installedToxics: [Toxic] = []
    /// How much of a request the router waits for before routing without a sid.
    static let routeHeadLimit = 8192
    /// How much of an answer is read for the open packet's sid.
    static let answerHeadLimit = 4096

    /// Bytes read from the client (upstream link).
    let bytesUpstream = Synchronization.Atomic<Int64>(0)
    /// Bytes read from the server (downstream link).
    let bytesDownstream = Synchronization.Atomic<Int64>(0)

    init(id: UInt64, client: any Channel, owner: Proxy, seed: UInt64, window: Int, observer: (any ChunkObserver)?,
         connector: @escaping UpstreamConnector) {
        self.id = id
        self.eventLoop = client.eventLoop
        self.scheduler = EventLoopScheduler(loop: client.eventLoop)
        self.proxyName = owner.name
        self.owner = owner
        self.seed = seed
        self.window = window
        self.observer = observer
        self.connector = connector
        let now = scheduler.now
        self.openedAt = now
        self.clientAddress = client.remoteAddress.map { "\($0)" } ?? "unknown"
        self.pump = ConnectionPump(openedAt: now, random: SeededGenerator(seed: seed, stream: [id]))
        // Until the upstream channel is there, what the client sends waits in order.
        pump.awaitFarEnd(of: .upstream)
        sides[Side.client.rawValue].channel = client
    }

    // MARK: Conditions

    /// The toxics as they apply to this connection (toxicity drawn once from the seed, per name).
    func activeConditions(_ toxics: [Toxic], direction: LinkDirection) -> [ActiveCondition] {
        toxics.compactMap { toxic in
            guard toxic.stream == direction else { return nil }
            if let only = toxic.connection, only != id { return nil }
            if let only = toxic.upstream, only != upstreamIndex { return nil }
            let draw = ToxicityDraw.value(seed: seed, connection: id, name: toxic.name)
            return ActiveCondition(name: toxic.name, condition: toxic.condition,
                                   since: max(toxic.createdAt ?? openedAt, openedAt), applies: draw < toxic.toxicity)
        }
    }

    /// Installs a new set of toxics, releasing held data if nothing holds it any more; the future
    /// completes once they are in force on this connection.
    func applyToxics(_ toxics: [Toxic]) -> EventLoopFuture<Void> {
        eventLoop.submit { self.applyToxicsOnLoop(toxics) }
    }

    private func applyToxicsOnLoop(_ toxics: [Toxic]) {
        guard !closed else { return }
        installedToxics = toxics
        let up = activeConditions(toxics, direction: .upstream)
        let down = activeConditions(toxics, direction: .downstream)
        let now = scheduler.now
        pumping { $0.setConditions(upstream: up, downstream: down, at: now, $1) }
        for direction in LinkDirection.allCases { drain(direction) }
        for side in [Side.client, .server] { resumeReadIfPossible(side) }
    }

    // MARK: Lifecycle

    /// Starts the connection: waits for any slow-connect delay, then connects to upstream number
    /// `index` of the proxy at `upstream`.
    func start(toxics: [Toxic], upstream: HostPort, index: Int, connectTimeout: TimeAmount) {
        eventLoop.preconditionInEventLoop()
        upstreamIndex = index
        applyToxicsOnLoop(toxics)
        observer?.connectionOpened(id: id, proxy: proxyName, at: openedAt)
        if let count = owner?.upstreamCount { observer?.connectionRouted(id: id, upstream: index, of: count) }
        self.connectTimeout = connectTimeout
        connectAfterDelay(upstream)
    }

    /// Starts a connection whose upstream depends on its first request (balancing by Engine.IO
    /// session): what the client sends waits, in order, until its first line is read (or
    /// `routeHeadLimit` bytes, or its FIN), then `router` picks the upstream from the line's `sid`.
    /// A connection routed without a sid reads the answer's open packet so the session's later
    /// requests can follow it (`learnSession`).
    func startRouted(toxics: [Toxic], connectTimeout: TimeAmount,
                     router: @escaping (String?) -> (HostPort, Int)?) {
        eventLoop.preconditionInEventLoop()
        applyToxicsOnLoop(toxics)
        observer?.connectionOpened(id: id, proxy: proxyName, at: openedAt)
        self.connectTimeout = connectTimeout
        self.router = router
    }

    /// Routes a connection waiting for its first request line.
    private func route(complete: Bool) {
        guard let router else { return }
        let sid = UpstreamBalancer.sessionID(inRequest: requestHead)
        let lineRead = requestHead.contains(UInt8(ascii: "\n"))
        guard complete || lineRead || requestHead.count >= Self.routeHeadLimit else { return }
        self.router = nil
        requestHead = []
        guard let (upstream, index) = router(sid) else {
            terminate(reason: "no upstream in", reset: true)
            return
        }
        upstreamIndex = index
        if let count = owner?.upstreamCount { observer?.connectionRouted(id: id, upstream: index, of: count) }
        // Toxics limited to one upstream apply from here.
        if installedToxics.contains(where: { $0.upstream != nil }) { applyToxicsOnLoop(installedToxics) }
        if sid == nil { answerHead = [] }
        connectAfterDelay(upstream)
    }

    private func connectAfterDelay(_ upstream: HostPort) {
        // A slow connect counts from the accept, however long the route took.
        let due = openedAt + pump.schedule.connectDelay
        if due > scheduler.now {
            scheduler.schedule(at: due) { [self] in
                connectUpstream(upstream, timeout: connectTimeout)
            }
        } else {
            connectUpstream(upstream, timeout: connectTimeout)
        }
    }

    private func connectUpstream(_ upstream: HostPort, timeout: TimeAmount) {
        guard !closed else { return }
        let connection = self
        let connect = connector(eventLoop, upstream, timeout) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ProxySideHandler(connection: connection, side: .server))
            }
        }
        connecting = connect
        connect.whenComplete { result in
            connection.connecting = nil
            switch result {
            case .success(let channel):
                if connection.closed {
                    channel.close(promise: nil)
                    return
                }
                connection.sides[Side.server.rawValue].channel = channel
                let now = connection.scheduler.now
                connection.pumping { $0.farEndConnected(of: .upstream, at: now, $1) }
                connection.drain(.upstream)
            case .failure:
                connection.terminate(reason: "upstream connect failed", reset: true)
            }
        }
    }

    /// The upstream connector of a real proxy: a TCP connection with the proxy's channel options.
    static let tcpConnector: UpstreamConnector = { loop, upstream, timeout, initialize in
        ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: Proxy.receiveAllocator)
            .channelOption(.maxMessagesPerRead, value: UInt(Proxy.readsPerCycle))
            .connectTimeout(timeout)
            .channelInitializer(initialize)
            .connect(host: upstream.host, port: upstream.port)
    }

    /// Closes the connection from outside (proxy disabled or deleted). The future completes once
    /// both channels are closed and a connect in flight has ended, so a shutdown that waits for it
    /// leaves nothing that could still schedule work on a loop about to stop.
    @discardableResult
    func abort(reason: String, reset: Bool = false) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.terminate(reason: reason, reset: reset)
            var closing = self.sides.compactMap { $0.channel?.closeFuture }
            if let connecting = self.connecting {
                // The connect's own completion closes a channel that arrives after the end.
                closing.append(connecting.flatMap { $0.closeFuture }.flatMapErrorThrowing { _ in })
            }
            return EventLoopFuture.andAllComplete(closing, on: self.eventLoop)
        }
    }

    /// Ends the connection: closes (or resets) both channels and drops everything queued.
    func terminate(reason: String, reset: Bool) {
        guard !closed else { return }
        closed = true
        pump.close()
        // Every timer of the connection: the links', the action timer, a slow connect's.
        scheduler.cancelAll()
        outboxes = [Outbox(), Outbox()]
        actionTimer = nil
        actionTimerAt = nil
        for side in [Side.client, .server] {
            guard let channel = sides[side.rawValue].channel else { continue }
            if channel.isActive {
                if reset { Self.setLingerZero(channel) }
                channel.close(promise: nil)
            } else {
                // Not active yet: a toxic that ends a connection as it opens (reset_peer with
                // timeout 0) acts while the listener's child initializer runs. Close it once that
                // is over, or the client gets neither RST nor FIN and the socket leaks.
                channel.eventLoop.execute {
                    if reset { Self.setLingerZero(channel) }
                    channel.close(promise: nil)
                }
            }
        }
        observer?.connectionClosed(id: id, reason: reason, at: scheduler.now)
        owner?.connectionEnded(self, reason: reason)
    }

    /// SO_LINGER with a zero timeout makes close() send a RST instead of a FIN.
    static func setLingerZero(_ channel: any Channel) {
        _ = (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
    }

    // MARK: The pump

    /// Runs one pump operation, then carries out its actions: after the call, since carrying them
    /// out may come back here (a write that changes writability, a close).
    private func pumping(_ body: (inout ConnectionPump<ProxyChunk>, (Action) -> Void) -> Void) {
        var actions: [Action] = []
        body(&pump) { actions.append($0) }
        for action in actions { carryOut(action) }
    }

    private func carryOut(_ action: Action) {
        guard !closed else { return }
        switch action {
        case .deliver(let chunk, let direction, let at):
            send(.data(chunk.buffer), bytes: chunk.buffer.readableBytes, on: direction, at: at)
        case .deliverFIN(let direction, let at):
            send(.fin, bytes: 0, on: direction, at: at)
        case .drop:
            break
        case .closeAfterData(let direction, let at):
            send(.closeConnection, bytes: 0, on: direction, at: at)
        case .close(let cause):
            terminate(reason: "closed by \(cause)", reset: false)
        case .reset(let cause):
            terminate(reason: "reset by \(cause)", reset: true)
        case .armActionTimer(let at):
            if actionTimerAt == at { return }
            if let actionTimer { scheduler.cancel(actionTimer) }
            actionTimerAt = at
            actionTimer = scheduler.schedule(at: at) { [self] in
                actionTimer = nil
                actionTimerAt = nil
                let now = scheduler.now
                pumping { $0.actionTimerFired(at: now, $1) }
                // An eviction dropped what the links held: there is room to read again.
                for side in [Side.client, .server] { resumeReadIfPossible(side) }
            }
        case .cancelActionTimer:
            if let actionTimer { scheduler.cancel(actionTimer) }
            actionTimer = nil
            actionTimerAt = nil
        }
    }

    /// Writes an item to the link's far end when it is due: at once when nothing waits before it
    /// (flushed with the read cycle), else behind the link's waiting items (see `drain`).
    private func send(_ item: Item, bytes: Int, on direction: LinkDirection, at: Instant) {
        let d = direction.index
        let destination = direction.destination
        if outboxes[d].scheduled.isEmpty, case .data(let buffer) = item, at <= scheduler.now,
           let channel = sides[destination.rawValue].channel {
            channel.write(buffer, promise: nil)
            sides[destination.rawValue].needsFlush = true
            return
        }
        outboxes[d].scheduled.append((at, item))
        outboxes[d].bytes += bytes
    }

    // MARK: Reading (called by ProxySideHandler)

    /// Whether the handler on `side` may read more: the other side is connected and writable and
    /// the link's queue is within the flow-control window.
    func mayRead(from side: Side) -> Bool {
        // A connection waiting for its route reads its first request (at most routeHeadLimit bytes).
        if side == .client, router != nil, !closed { return true }
        guard !closed, let destination = sides[side.other.rawValue].channel else { return false }
        let direction = side.inbound
        return destination.isWritable && outboxes[direction.index].bytes + pump.heldBytes(direction) < window
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
        let now = scheduler.now
        let count = buffer.readableBytes
        if direction == .upstream {
            bytesUpstream.add(Int64(count), ordering: .relaxed)
        } else {
            bytesDownstream.add(Int64(count), ordering: .relaxed)
        }
        owner?.countBytes(count, direction: direction)
        observer?.chunk(id: id, direction: direction, bytes: buffer, at: now)
        if direction == .upstream, router != nil {
            requestHead += buffer.readableBytesView.prefix(Self.routeHeadLimit - requestHead.count)
            route(complete: false)
        } else if direction == .downstream, var head = answerHead {
            head += buffer.readableBytesView.prefix(Self.answerHeadLimit - head.count)
            if let sid = UpstreamBalancer.sessionID(inOpenPacket: head), let index = upstreamIndex {
                owner?.learnSession(sid, upstream: index)
                answerHead = nil
            } else {
                answerHead = head.count >= Self.answerHeadLimit ? nil : head
            }
        }
        // NIO's first read on an accepted channel does not ask the pipeline, so data can come before
        // the upstream channel: the pump holds it until `farEndConnected`.
        pumping { $0.write(ProxyChunk(buffer: buffer), bytes: count, on: direction, at: now, $1) }
        if !outboxes[direction.index].scheduled.isEmpty { drain(direction) }
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
        if side == .client, router != nil { route(complete: true) }
        guard !closed else { return }
        let direction = side.inbound
        let now = scheduler.now
        pumping { $0.writeFIN(on: direction, at: now, $1) }
        drain(direction)
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
        let towardOther = side.inbound
        if outboxes[towardOther.index].scheduled.isEmpty, pump.heldCount(towardOther) == 0, sides[side.rawValue].inputClosed {
            otherState.channel?.close(promise: nil)
        }
    }

    // MARK: Writing

    /// Writes the link's waiting items that are due, in order, then arms its timer for the next.
    private func drain(_ direction: LinkDirection) {
        let d = direction.index
        let destination = direction.destination
        let now = scheduler.now
        while let head = outboxes[d].scheduled.first, head.at <= now {
            outboxes[d].scheduled.removeFirst()
            switch head.item {
            case .data(let buffer):
                outboxes[d].bytes -= buffer.readableBytes
                sides[destination.rawValue].channel?.write(buffer, promise: nil)
                sides[destination.rawValue].needsFlush = true
            case .fin:
                deliverFIN(to: destination)
            case .closeConnection:
                flushIfNeeded(destination)
                terminate(reason: "data limit", reset: false)
                return
            }
        }
        flushIfNeeded(destination)
        armTimer(direction)
        resumeReadIfPossible(destination.other)
    }

    private func armTimer(_ direction: LinkDirection) {
        let d = direction.index
        guard let head = outboxes[d].scheduled.first else {
            if let timer = outboxes[d].timer { scheduler.cancel(timer) }
            outboxes[d].timer = nil
            outboxes[d].timerAt = nil
            return
        }
        if outboxes[d].timerAt == head.at { return }
        if let timer = outboxes[d].timer { scheduler.cancel(timer) }
        outboxes[d].timerAt = head.at
        outboxes[d].timer = scheduler.schedule(at: head.at) { [self] in
            outboxes[d].timer = nil
            outboxes[d].timerAt = nil
            drain(direction)
        }
    }
}

extension LinkDirection {
    var index: Int { self == .upstream ? 0 : 1 }
    /// The side the link writes to.
    var destination: Side { self == .upstream ? .server : .client }
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
