import Foundation
import LabCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The parts of an Engine.IO request URL that matter: `/socket.io/?EIO=4&transport=polling&sid=...`.
struct EngineIORequest {
    var path: String
    var query: [String: String]

    init(uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts.first ?? "")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        self.query = query
    }

    var transport: String? { query["transport"] }
    var sid: String? { query["sid"] }
    var protocolVersion: String? { query["EIO"] }
}

/// Engine.IO's error bodies for bad requests, as the reference servers send them.
enum EngineIOHTTPError: Int {
    case unknownTransport = 0
    case unknownSid = 1
    case badHandshakeMethod = 2
    case badRequest = 3
    case forbidden = 4
    case unsupportedProtocolVersion = 5

    var message: String {
        switch self {
        case .unknownTransport: "Transport unknown"
        case .unknownSid: "Session ID unknown"
        case .badHandshakeMethod: "Bad handshake method"
        case .badRequest: "Bad request"
        case .forbidden: "Forbidden"
        case .unsupportedProtocolVersion: "Unsupported protocol version"
        }
    }

    var body: String {
        String(decoding: JSONValue.object(["code": .integer(Int64(rawValue)), "message": .string(message)]).serialized,
               as: UTF8.self)
    }
}

/// Writes HTTP responses with the CORS headers browser clients need.
enum HTTPResponder {
    static func respond(on channel: any Channel, request: HTTPRequestHead, status: HTTPResponseStatus,
                        contentType: String = "text/plain; charset=UTF-8", body: String,
                        extraHeaders: [(String, String)] = []) {
        var headers = HTTPHeaders(extraHeaders)
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if let origin = request.headers.first(name: "Origin") {
            headers.add(name: "Access-Control-Allow-Origin", value: origin)
            headers.add(name: "Access-Control-Allow-Credentials", value: "true")
        } else {
            headers.add(name: "Access-Control-Allow-Origin", value: "*")
        }
        // Every polling response closes its connection: NIO's upgrader only upgrades the first
        // request of a connection, and clients (aiohttp, browsers) reuse a kept-alive polling
        // connection for the WebSocket upgrade request, which would then fail.
        let keepAlive = false
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        var buffer = channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
        let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        // A lingering close: a request body still arriving (a 413) must not turn the close into a
        // reset that loses the answer.
        if !keepAlive { LingeringClose.close(channel, after: done) }
    }

    static func preflight(on channel: any Channel, request: HTTPRequestHead) {
        var headers = HTTPHeaders()
        headers.add(name: "Access-Control-Allow-Origin", value: request.headers.first(name: "Origin") ?? "*")
        headers.add(name: "Access-Control-Allow-Credentials", value: "true")
        headers.add(name: "Access-Control-Allow-Methods", value: "GET, POST, OPTIONS")
        headers.add(name: "Access-Control-Allow-Headers",
                    value: request.headers.first(name: "Access-Control-Request-Headers") ?? "Content-Type")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPResponseHead(version: request.version, status: .noContent, headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
    }
}

/// The HTTP side of the Engine.IO server: long-polling GET/POST and CORS preflight. It only
/// aggregates a request and hands it to the server; the WebSocket side is the upgrader's.
final class EngineIOHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart

    private let server: EngineIOServer
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private let maxBody: Int
    /// The request was answered early (too large): what else arrives is dropped until the close.
    private var draining = false

    init(server: EngineIOServer, maxBody: Int) {
        self.server = server
        self.maxBody = maxBody
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !draining else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = nil
        case .body(var chunk):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBody {
                draining = true
                body = nil
                if let head {
                    HTTPResponder.respond(on: context.channel, request: head, status: .payloadTooLarge, body: "payload too large")
                } else {
                    context.close(promise: nil)
                }
                head = nil
                return
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let head else { return }
            self.head = nil
            let text = body.map { String(buffer: $0) } ?? ""
            server.handleHTTP(head, body: text, channel: context.channel)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension EngineIOHTTPHandler: Sendable {}

/// The WebSocket side: turns frames into text/binary messages for the session and answers
/// protocol-level control frames (close, ping). A message is reassembled from its fragments up to
/// `maxMessageSize` bytes: past it the connection closes with 1009, so fragments cannot grow memory
/// without bound; a continuation with no message begun, a new message inside a fragmented one, an
/// unmasked frame, a reserved bit or opcode close with 1002 (RFC 6455, 5.1-5.4), and a Close frame
/// is answered with its own code, or 1002 for a code nobody may send (7.4).
final class EngineIOWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let onText: (String) -> Void
    private let onBinary: ([UInt8]) -> Void
    private let onClose: () -> Void
    private let maxMessageSize: Int
    private let masksFrames: Bool
    private var fragments: ByteBuffer?
    private var fragmentOpcode: WebSocketOpcode = .text
    private var closing = false

    /// A handler for a server's connection, or a client's (`masksFrames`: a client masks every
    /// frame it sends, its pongs and close frames included, RFC 6455 section 5.3).
    init(maxMessageSize: Int, masksFrames: Bool = false, onText: @escaping (String) -> Void, onBinary: @escaping ([UInt8]) -> Void,
         onClose: @escaping () -> Void) {
        self.maxMessageSize = maxMessageSize
        self.masksFrames = masksFrames
        self.onText = onText
        self.onBinary = onBinary
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary, .continuation:
            var payload = frame.unmaskedData
            if frame.opcode == .continuation {
                guard fragments != nil else { return fail(context, .protocolError) }
            } else {
                guard fragments == nil else { return fail(context, .protocolError) }
                fragmentOpcode = frame.opcode
            }
            guard (fragments?.readableBytes ?? 0) + payload.readableBytes <= maxMessageSize else {
                return fail(context, .messageTooLarge)
            }
            if fragments == nil { fragments = payload } else { fragments!.writeBuffer(&payload) }
            guard frame.fin, let whole = fragments else { return }
            fragments = nil
            if fragmentOpcode == .text {
                // RFC 6455 8.1: text that is not UTF-8 fails the connection with 1007.
                guard let text = String(validating: whole.readableBytesView, as: UTF8.self) else {
                    return fail(context, WebSocketErrorCode(codeNumber: 1007))
                }
                onText(text)
            } else {
                onBinary(Array(whole.readableBytesView))
            }
        case .connectionClose:
            closing = true
            var data = context.channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: WebSocketServerRules.closeAnswer(to: frame))
            LingeringClose.close(context.channel, after: context.writeAndFlush(wrapOutboundOut(outgoing(.connectionClose, data))))
        case .ping:
            context.writeAndFlush(wrapOutboundOut(outgoing(.pong, frame.unmaskedData)), promise: nil)
        case .pong:
            break
        default:
            // Reserved opcodes.
            fail(context, .protocolError)
        }
    }

    /// A frame this end sends, masked when it is a client's.
    private func outgoing(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, maskKey: masksFrames ? .random() : nil, data: data)
    }

    /// A frame that broke RFC 6455 (see `WebSocketFrameRulesHandler`) fails the connection.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let violation = event as? WebSocketRuleViolation {
            fail(context, WebSocketErrorCode(codeNumber: Int(violation.code)))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Closes with `code` (a close frame, then the connection), dropping any partial message.
    private func fail(_ context: ChannelHandlerContext, _ code: WebSocketErrorCode) {
        guard !closing else { return }
        closing = true
        fragments = nil
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        // The peer may still be sending (the rest of a frame too large): a lingering close, so the
        // Close frame is not lost to a reset.
        LingeringClose.close(context.channel, after: context.writeAndFlush(wrapOutboundOut(outgoing(.connectionClose, data))))
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The frame decoder refused a frame (too large: 1009; a fragmented or long control frame:
        // 1002), as RFC 6455 7.4.1 codes them.
        if let refused = error as? NIOWebSocketError {
            return fail(context, refused == .invalidFrameLength ? .messageTooLarge : .protocolError)
        }
        // While closing, input is being drained (the decoder failing on the rest of an oversized
        // frame included); the lingering close ends the connection.
        guard !closing else { return }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension EngineIOWebSocketHandler: Sendable {}
