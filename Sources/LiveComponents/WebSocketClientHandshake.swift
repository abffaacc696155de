import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The client side of the RFC 6455 opening handshake on SwiftNIO, shared by the Socket.IO and the
/// keepalive clients. It handles the two traps found the hard way: the server's first frames can
/// share a read with the 101 response (so leftover bytes must be forwarded, not dropped), and NIO's
/// upgrade handler refuses writes until it has replayed them and removed itself.
enum WebSocketClientHandshake {
    /// Adds the HTTP client handlers, NIO's WebSocket upgrader and a requester that sends the GET.
    /// `upgraded` runs once the WebSocket codec is in place (add the protocol handlers there);
    /// `failed` at most once, with a reason, if the server answers without upgrading or the
    /// connection ends first. Call on the channel's event loop (a channel initializer).
    static func configure(_ channel: any Channel, target: String, host: String, maxFrameSize: Int,
                          failed: @escaping @Sendable (String) -> Void,
                          upgraded: @escaping @Sendable (any Channel) throws -> Void) throws {
        let requester = NIOLoopBound(WebSocketHandshakeRequester(target: target, host: host, failed: failed),
                                     eventLoop: channel.eventLoop)
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: maxFrameSize, upgradePipelineHandler: { channel, _ in
            channel.eventLoop.makeCompletedFuture { try upgraded(channel) }
        })
        let config: NIOHTTPClientUpgradeConfiguration = (
            upgraders: [upgrader],
            completionHandler: { context in
                requester.value.upgradeSucceeded()
                context.pipeline.syncOperations.removeHandler(requester.value, promise: nil)
            }
        )
        // .forwardBytes: the default (.dropBytes) discards whatever followed the 101 response in
        // the same read, i.e. the server's first frames.
        try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes,
                                                                  withClientUpgrade: config)
        try channel.pipeline.syncOperations.addHandler(requester.value)
    }

    /// Calls `body(true)` once NIO's client upgrade handler has left the pipeline and writes are
    /// accepted, checking a loop turn at a time; `body(false)` if it is still there after `limit`
    /// turns or the channel closed.
    static func whenWritable(_ channel: any Channel, limit: Int = 1000, _ body: @escaping @Sendable (Bool) -> Void) {
        guard channel.isActive, limit > 0 else { return body(false) }
        if (try? channel.pipeline.syncOperations.handler(type: NIOHTTPClientUpgradeHandler.self)) == nil {
            body(true)
        } else {
            channel.eventLoop.execute { whenWritable(channel, limit: limit - 1, body) }
        }
    }
}

/// Sends the handshake's GET when the connection becomes active (NIO's upgrader adds the
/// WebSocket headers); any HTTP response that reaches it means the server did not upgrade.
final class WebSocketHandshakeRequester: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let target: String
    private let host: String
    private var failed: (@Sendable (String) -> Void)?

    init(target: String, host: String, failed: @escaping @Sendable (String) -> Void) {
        self.target = target
        self.host = host
        self.failed = failed
    }

    /// The upgrade went through: later closes are not handshake failures.
    func upgradeSucceeded() {
        failed = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Length", value: "0")
        context.write(wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers))),
                      promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            fail("the server answered \(head.status.code) \(head.status.reasonPhrase) instead of upgrading")
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail("the connection closed during the opening handshake")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
        context.close(promise: nil)
    }

    private func fail(_ detail: String) {
        failed?(detail)
        failed = nil
    }
}

@available(*, unavailable)
extension WebSocketHandshakeRequester: Sendable {}
