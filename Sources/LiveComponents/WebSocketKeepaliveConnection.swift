import Heartbeat
import LabCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Settings shared by Flatline's WebSocket keepalive server and client.
public struct WebSocketKeepaliveOptions: Sendable, Hashable {
    /// The keepalive machine's settings (`websockets`' ping_interval and ping_timeout, 20 s each).
    public var keepalive = WebSocketKeepalive.Configuration()
    /// How long a connection may take to send its whole opening handshake before the server closes
    /// it (`websockets`' open_timeout, 10 s).
    public var handshakeTimeout: TimeSpan = .seconds(10)
    /// How long to wait for the peer's Close frame (and, on the client, the server's TCP close)
    /// after a Close frame went out; `websockets`' close_timeout, 10 s.
    public var closeTimeout: TimeSpan = .seconds(10)
    /// The largest incoming message, in bytes, after reassembling fragments (`websockets`' max_size, 1 MiB).
    public var maxMessageSize = 1 << 20

    /// The defaults, which are `websockets`'.
    public init() {}
}

/// One open WebSocket run by the `WebSocketKeepalive` machine: it sends the machine's pings,
/// pongs and close frames, hands it the peer's pongs and pings, arms its timers, runs the RFC 6455
/// closing handshake, and writes the event log. The server echoes messages; the client can send
/// text messages at a rate. Event-loop bound; sits after NIO's frame codec and `NIOWebSocketFrameAggregator`.
final class WebSocketKeepaliveHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Which end of the connection this is: the client masks its frames (RFC 6455 section 5.3)
    /// and waits for NIO's upgrade handler to leave before writing; the server echoes messages
    /// and closes TCP as soon as the closing handshake is done (section 7.1.1).
    enum Role {
        case server
        case client(sendInterval: TimeSpan?)
    }

    /// Everything the handler needs to know, fixed for its life.
    struct Setup {
        var role: Role
        /// The connection id in the event log.
        var name: String
        /// The request path, for the connect event.
        var path: String
        var options: WebSocketKeepaliveOptions
        var events: any EventSink
        /// Event times are offsets from this instant.
        var startedAt: Instant
    }

    private enum ConnectionTimer: Hashable {
        case keepalive(WebSocketKeepalive.Timer)
        case send
        case closeTimeout
    }

    private enum State {
        /// Messages flow; keepalive runs.
        case open
        /// We sent a Close frame (our own, not an answer) and wait for the peer's.
        case closeSent
        /// The closing handshake is over or the connection failed; the disconnect is recorded.
        case closed
    }

    private let setup: Setup
    private var machine: WebSocketKeepalive
    private var timers = MachineTimers<ConnectionTimer>()
    private var state: State = .open
    private var context: ChannelHandlerContext?
    /// The handler's loop, known from `handlerAdded` on: its clock is the handler's time.
    private var eventLoop: (any EventLoop)?
    /// Now, on the loop's clock (the system's monotonic clock only before the handler is added).
    private var clock: Instant { eventLoop?.instant ?? Instant.monotonicNow() }
    /// False on the client until NIO's upgrade handler has left the pipeline; writes wait in `pending`.
    private var ready = false
    private var pending: [WebSocketFrame] = []
    /// The last write handed to the channel: writes complete in order, so once it has, all have.
    private var lastWrite: EventLoopFuture<Void>?
    /// The status code of the Close frame this side sent, if any.
    private var sentCloseCode: UInt16?
    private var closeWhenReady = false
    /// The server sent its Close and is draining the input before the connection closes.
    private var lingering = false
    private var sentCount = 0
    private let onClosed: () -> Void

    /// Creates the handler; `onClosed` runs once, on the channel's loop, when the channel has closed.
    init(setup: Setup, onClosed: @escaping () -> Void) throws(WebSocketKeepalive.ConfigurationError) {
        self.setup = setup
        self.machine = try WebSocketKeepalive(configuration: setup.options.keepalive)
        self.onClosed = onClosed
    }

    private var isClient: Bool {
        if case .client = setup.role { return true }
        return false
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        eventLoop = context.eventLoop
        self.context = context
        let now = context.eventLoop.instant
        record(.connect, detail: "websocket \(setup.path)", at: now)
        perform(machine.opened(at: now), at: now)
        if case .client(let interval?) = setup.role { arm(.send, at: now + interval) }
        if isClient { checkReady() } else { markReady() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timers.cancelAll()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = context.eventLoop.instant
        switch frame.opcode {
        case .text, .binary:
            guard case .open = state else { return }
            if frame.opcode == .text, String(validating: frame.unmaskedData.readableBytesView, as: UTF8.self) == nil {
                // RFC 6455 8.1: text that is not UTF-8 fails the connection with 1007.
                return failConnection(code: WebSocketCloseCode.invalidPayload, what: "a text message that is not UTF-8", at: now)
            }
            let detail = Self.describe(frame.opcode, bytes: frame.data.readableBytes)
            record(.messageReceived, detail: detail, at: now)
            if case .server = setup.role {
                write(WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData))
                record(.messageSent, detail: detail, at: now)
            }
        case .ping:
            perform(machine.pingReceived(Array(frame.unmaskedData.readableBytesView), at: now), at: now)
        case .pong:
            perform(machine.pongReceived(Array(frame.unmaskedData.readableBytesView), at: now), at: now)
        case .connectionClose:
            closeFrameReceived(frame.unmaskedData, at: now)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let now = context.eventLoop.instant
        if case .closed = state {} else { finish(reason: CloseReason.transportClose.rawValue, detail: nil, at: now) }
        timers.cancelAll()
        onClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let now = context.eventLoop.instant
        // The aggregator's complaints are the peer's protocol errors: answer them with a Close.
        if let error = error as? NIOWebSocketFrameAggregator.Error, case .open = state {
            switch error {
            case .accumulatedFrameSizeIsTooLarge, .tooManyFragments:
                return failConnection(code: WebSocketCloseCode.messageTooBig, what: "a message past the size limit", at: now)
            default:
                return failConnection(code: WebSocketCloseCode.protocolError, what: "fragments out of order (\(error))", at: now)
            }
        }
        // The frame decoder's refusals (RFC 6455 7.4.1): a frame too large is 1009, a fragmented or
        // long control frame 1002.
        if let error = error as? NIOWebSocketError, case .open = state {
            return error == .invalidFrameLength
                ? failConnection(code: WebSocketCloseCode.messageTooBig, what: "a frame past the size limit", at: now)
                : failConnection(code: WebSocketCloseCode.protocolError, what: "a malformed control frame (\(error))", at: now)
        }
        // A server lingering after its Close drains the input (the decoder failing on the rest of
        // an oversized frame included); the lingering close ends the connection.
        if lingering { return }
        if case .closed = state {} else {
            finish(reason: CloseReason.transportError.rawValue, detail: "\(error)", at: now)
        }
        context.close(promise: nil)
    }

    // MARK: Closing

    /// Starts the closing handshake from this side (the application is done, the server stops):
    /// sends Close with `code` and waits up to the close timeout for the peer's answer.
    func initiateClose(code: UInt16, reason: String) {
        guard case .open = state, context != nil else { return }
        let now = self.clock
        stopKeepalive(at: now)
        timers.cancel(.send)
        state = .closeSent
        write(control: .close(code: code, reason: reason))
        arm(.closeTimeout, at: now + setup.options.closeTimeout)
    }

    /// Fails the connection for a frame that breaks RFC 6455 (section 7.1.7): Close with `code`,
    /// the disconnect recorded as a parse error, then the transport closed.
    private func failConnection(code: UInt16, what: String, at now: Instant) {
        guard case .open = state, context != nil else { return }
        stopKeepalive(at: now)
        state = .closeSent
        write(control: .close(code: code, reason: ""))
        finish(reason: CloseReason.parseError.rawValue, detail: "sent close \(code): \(what)", at: now)
        closeTransport()
    }

    /// A frame that broke RFC 6455 (see `WebSocketFrameRulesHandler`) fails the connection.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let violation = event as? WebSocketRuleViolation {
            failConnection(code: violation.code, what: violation.what, at: context.eventLoop.instant)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// The peer's Close frame: either it starts the closing handshake (answer with the same
    /// code, as `websockets` does, or 1002 for a code nobody may send) or it answers ours. Either
    /// way the disconnect is the peer's code.
    private func closeFrameReceived(_ data: ByteBuffer, at now: Instant) {
        var payload = data
        let code = payload.readableBytes >= 2 ? payload.readInteger(as: UInt16.self) : nil
        let text = payload.readString(length: payload.readableBytes) ?? ""
        let reason = "close \(code ?? 1005)"
        switch state {
        case .open:
            let answer = WebSocketCloseCode.answer(toClose: Array(data.readableBytesView))
            let echoed = answer == code || (code == nil && answer == WebSocketCloseCode.normalClosure && data.readableBytes == 0)
            if echoed {
                write(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))
            } else {
                write(control: .close(code: answer, reason: ""))
            }
            finish(reason: reason, detail: Self.closeDetail(initiator: "peer", text: text), at: now)
            closeTransport()
        case .closeSent:
            timers.cancel(.closeTimeout)
            finish(reason: reason, detail: Self.closeDetail(initiator: isClient ? "client" : "server", text: text), at: now)
            closeTransport()
        case .closed:
            break
        }
    }

    /// Records the disconnect once and stops every timer of the machine.
    private func finish(reason: String, detail: String?, at now: Instant) {
        if case .closed = state { return }
        if case .open = state { stopKeepalive(at: now) }
        state = .closed
        timers.cancel(.send)
        record(.disconnect, reason: reason, detail: detail, at: now)
    }

    private func stopKeepalive(at now: Instant) {
        // The machine's own observation is not recorded: the disconnect reason is the driver's to say.
        perform(machine.closed(at: now), at: now)
    }

    /// The server closes TCP once its Close frame is out; the client waits for the server to do
    /// so (RFC 6455 section 7.1.1), for the close timeout at most.
    private func closeTransport() {
        if isClient {
            arm(.closeTimeout, at: self.clock + setup.options.closeTimeout)
        } else {
            closeAfterWrites()
        }
    }

    private func closeAfterWrites() {
        guard ready else {
            closeWhenReady = true
            return
        }
        guard let context else { return }
        // A lingering close: the peer may still be sending (the rest of a message too large), and
        // closing with unread input would answer with a reset that can lose the Close frame.
        lingering = true
        LingeringClose.close(context.channel, after: lastWrite ?? context.eventLoop.makeSucceededVoidFuture())
    }

    // MARK: Machine

    private func perform(_ actions: [WebSocketKeepalive.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .send(let control): write(control: control)
            case .arm(let timer, let at): arm(.keepalive(timer), at: at)
            case .cancel(let timer): timers.cancel(.keepalive(timer))
            case .close(let reason):
                finish(reason: reason.rawValue, detail: sentCloseCode.map { "sent close \($0)" }, at: now)
                closeAfterWrites()
            case .observe(.pingSent): record(.ping, detail: "sent", at: now)
            case .observe(.pingReceived): record(.ping, detail: "received", at: now)
            case .observe(.pongReceived(let rtt)): record(.pong, rtt: rtt, at: now)
            case .observe(.opened), .observe(.closed): break
            }
        }
    }

    private func arm(_ timer: ConnectionTimer, at instant: Instant) {
        guard let loop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        timers.arm(timer, at: instant, on: loop) { bound.value.fired(timer) }
    }

    private func fired(_ timer: ConnectionTimer) {
        timers.fired(timer)
        let now = self.clock
        switch timer {
        case .keepalive(let t): perform(machine.timerFired(t, at: now), at: now)
        case .send: sendMessage(at: now)
        case .closeTimeout:
            if case .closeSent = state {
                finish(reason: CloseReason.transportClose.rawValue, detail: "no close frame within the close timeout", at: now)
            }
            context?.close(promise: nil)
        }
    }

    private func sendMessage(at now: Instant) {
        guard case .open = state, case .client(let interval?) = setup.role, let context else { return }
        sentCount += 1
        let text = "m\(sentCount)"
        write(WebSocketFrame(fin: true, opcode: .text, data: context.channel.allocator.buffer(string: text)))
        record(.messageSent, detail: Self.describe(.text, bytes: text.utf8.count), at: now)
        arm(.send, at: now + interval)
    }

    // MARK: Writing

    private func write(control: WebSocketControl) {
        let opcode: WebSocketOpcode
        switch control {
        case .ping: opcode = .ping
        case .pong: opcode = .pong
        case .close(let code, _):
            opcode = .connectionClose
            sentCloseCode = code
        }
        write(WebSocketFrame(fin: true, opcode: opcode, data: ByteBuffer(bytes: control.payload)))
    }

    private func write(_ frame: WebSocketFrame) {
        var frame = frame
        // Client frames must be masked (RFC 6455 section 5.3); the encoder applies the key.
        if isClient { frame.maskKey = .random() }
        guard ready else {
            pending.append(frame)
            return
        }
        lastWrite = context?.writeAndFlush(wrapOutboundOut(frame))
    }

    /// Waits until NIO's client upgrade handler accepts writes (see WebSocketClientHandshake).
    private func checkReady() {
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        WebSocketClientHandshake.whenWritable(context.channel) { ok in
            let handler = bound.value
            if ok {
                handler.markReady()
            } else if let context = handler.context {
                handler.finish(reason: CloseReason.transportError.rawValue, detail: "the HTTP upgrade handler never left",
                               at: handler.clock)
                context.close(promise: nil)
            }
        }
    }

    private func markReady() {
        ready = true
        let queued = pending
        pending.removeAll()
        for frame in queued { lastWrite = context?.write(wrapOutboundOut(frame)) }
        if !queued.isEmpty { context?.flush() }
        if closeWhenReady {
            closeWhenReady = false
            closeAfterWrites()
        }
    }

    // MARK: Event log

    private func record(_ kind: EventKind, reason: String? = nil, rtt: TimeSpan? = nil, detail: String? = nil, at now: Instant) {
        setup.events.record(LabEvent(time: now - setup.startedAt, connection: setup.name, side: isClient ? .client : .server,
                                     kind: kind, reason: reason, rtt: rtt, detail: detail))
    }

    private static func describe(_ opcode: WebSocketOpcode, bytes: Int) -> String {
        "\(opcode == .text ? "text" : "binary") \(bytes)B"
    }

    private static func closeDetail(initiator: String, text: String) -> String {
        text.isEmpty ? "initiated by \(initiator)" : "initiated by \(initiator): \(text)"
    }
}

@available(*, unavailable)
extension WebSocketKeepaliveHandler: Sendable {}
