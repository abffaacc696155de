import Foundation
import Heartbeat
import LabCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// An HTTP answer to a request the server will not serve: the status, any header it must carry
/// and a short body saying why.
struct HTTPRefusal: Sendable {
    /// The status line's code.
    var status: HTTPResponseStatus
    /// The body's content type.
    var contentType = "text/plain; charset=UTF-8"
    /// Extra headers (426 names the version it speaks).
    var headers: [(String, String)] = []
    /// The body.
    var body: String
}

/// RFC 6455's rules for the opening handshake and the frames a server receives, shared by the
/// built-in Engine.IO server and the built-in WebSocket server, so both decline and close alike.
enum WebSocketServerRules {
    /// Whether `head` asks for a WebSocket upgrade (an `Upgrade: websocket` header).
    static func asksForUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
    }

    /// Why the opening handshake in `head` cannot be accepted (RFC 6455 section 4.2.1), or nil when
    /// it can: a method other than GET or a missing or malformed `Sec-WebSocket-Key` gets 400; a
    /// version other than 13 gets 426 with the version this server speaks (section 4.4).
    static func handshakeRefusal(_ head: HTTPRequestHead) -> HTTPRefusal? {
        guard head.method == .GET else {
            return HTTPRefusal(status: .badRequest, body: "a WebSocket handshake must be a GET request\n")
        }
        let versions = head.headers[canonicalForm: "sec-websocket-version"]
        guard versions.count == 1, versions[0] == "13" else {
            return HTTPRefusal(status: .upgradeRequired, headers: [("Sec-WebSocket-Version", "13")],
                               body: "unsupported WebSocket version: this server speaks version 13\n")
        }
        let keys = head.headers[canonicalForm: "sec-websocket-key"]
        guard keys.count == 1, let key = Data(base64Encoded: String(keys[0])), key.count == 16 else {
            return HTTPRefusal(status: .badRequest, body: "missing or malformed Sec-WebSocket-Key\n")
        }
        return nil
    }

    /// Why a received frame must fail the connection, or nil when it is acceptable (RFC 6455
    /// section 5): an unmasked frame from a client or a masked one from a server (5.1), a reserved
    /// bit set with no extension negotiated (5.2), or a reserved opcode; each is 1002.
    /// `fromClient` says which end sent it.
    static func violation(of frame: WebSocketFrame, fromClient: Bool) -> WebSocketRuleViolation? {
        func broken(_ what: String) -> WebSocketRuleViolation { WebSocketRuleViolation(code: WebSocketCloseCode.protocolError, what: what) }
        if frame.rsv1 || frame.rsv2 || frame.rsv3 { return broken("reserved bit set") }
        switch frame.opcode {
        case .continuation, .text, .binary, .connectionClose, .ping, .pong: break
        default: return broken("reserved opcode \(UInt8(webSocketOpcode: frame.opcode))")
        }
        if fromClient && frame.maskKey == nil { return broken("unmasked client frame") }
        if !fromClient && frame.maskKey != nil { return broken("masked server frame") }
        return nil
    }

    /// The close code to answer a peer's Close frame with (see `WebSocketCloseCode.answer`).
    static func closeAnswer(to frame: WebSocketFrame) -> WebSocketErrorCode {
        WebSocketErrorCode(codeNumber: Int(WebSocketCloseCode.answer(toClose: Array(frame.unmaskedData.readableBytesView))))
    }
}

/// A frame that breaks RFC 6455, told to the handlers after `WebSocketFrameRulesHandler` as a user
/// event so each fails its connection its own way (close frame, event log): the close code to send
/// and what was wrong.
struct WebSocketRuleViolation: Sendable, Hashable {
    /// The close code (1002).
    var code: UInt16
    /// What was wrong, for the event log.
    var what: String
}

/// Checks every frame right after the frame decoder, before anything reassembles fragments (NIO's
/// aggregator drops the masking key and reserved bits): the first frame that breaks the rules is
/// dropped and told on as a `WebSocketRuleViolation` user event, and every later frame is dropped.
final class WebSocketFrameRulesHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let fromClient: Bool
    private var failed = false

    /// A checker for frames sent by a client (`fromClient`, on a server) or by a server.
    init(fromClient: Bool) { self.fromClient = fromClient }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        if let violation = WebSocketServerRules.violation(of: unwrapInboundIn(data), fromClient: fromClient) {
            failed = true
            context.fireUserInboundEventTriggered(violation)
            return
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension WebSocketFrameRulesHandler: Sendable {}

/// Bounds how long a connection may take to deliver a whole HTTP request, and how long a kept-alive
/// connection may sit between requests: a client that sends headers a byte at a time, or never
/// finishes them, is closed after `requestTimeout` instead of holding a socket forever. It sits
/// after the HTTP decoder; once a request is whole it waits for the server's answer, and it is
/// removed with the HTTP handlers when the connection upgrades to WebSocket.
final class HTTPRequestTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let requestTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var timer: Scheduled<Void>?

    /// A handler that allows `requestTimeout` from the connection's start (or the end of the last
    /// answer) until a request is whole, and `idleTimeout` of silence between kept-alive requests.
    init(requestTimeout: TimeSpan, idleTimeout: TimeSpan? = nil) {
        self.requestTimeout = .nanoseconds(requestTimeout.nanoseconds)
        self.idleTimeout = .nanoseconds((idleTimeout ?? requestTimeout).nanoseconds)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, after: requestTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, after: requestTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            // The head is whole (a partial one never gets here, so the timer armed at the start or
            // after the last answer bounds it); the body now has requestTimeout to follow.
            arm(context, after: requestTimeout)
        case .body:
            break
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            // The answer is complete: a kept-alive connection may now idle, up to idleTimeout.
            arm(context, after: idleTimeout)
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIO's upgrader declines an upgrade by failing (its shouldUpgrade returned nil, or the
        // handshake's headers are wrong) and then hands the request on: swallow that error here so
        // the HTTP handler behind, which closes on errors, lives to answer the request with why.
        if error is NIOWebSocketUpgradeError { return }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension HTTPRequestTimeoutHandler: Sendable {}
