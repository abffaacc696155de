import Heartbeat
import LabCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Where an Engine.IO client connects: host, port and the endpoint path ("/socket.io/").
public struct EngineIOEndpoint: Sendable, Hashable {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int
    /// The Engine.IO path, with a trailing slash.
    public var path: String

    /// Creates an endpoint.
    public init(host: String, port: Int, path: String = "/socket.io/") {
        self.host = host
        self.port = port
        self.path = path.hasSuffix("/") ? path : path + "/"
    }

    /// Reads "http://host:port[/path]" (ws:// is accepted too); errors say what is wrong.
    public init(url: String) throws(UnitParseError) {
        var rest = Substring(url)
        for scheme in ["http://", "ws://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        guard rest.count < url.count else {
            throw UnitParseError("'\(url)' is not a URL: expected http://host:port[/path] (https is not supported)")
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let path = rest[slash...].isEmpty ? "/socket.io/" : String(rest[slash...])
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]),
              (1...65535).contains(port) else {
            throw UnitParseError("'\(url)' has no port: expected http://host:port[/path]")
        }
        self.init(host: String(authority[..<colon]), port: port, path: path)
    }

    /// The request target for a transport, with the session id once there is one.
    func target(transport: String, sid: String?) -> String {
        var target = "\(path)?EIO=4&transport=\(transport)"
        if let sid { target += "&sid=\(sid)" }
        return target
    }
}

/// One HTTP/1.1 request on its own connection (Connection: close), for long-polling: the client
/// never reuses a polling connection, so a slow poll never blocks a POST.
enum PollingRequest {
    struct Failure: Error {
        let status: Int
    }

    static func send(on loop: any EventLoop, endpoint: EngineIOEndpoint, method: HTTPMethod, target: String,
                     body: String?) -> EventLoopFuture<String> {
        let promise = loop.makePromise(of: String.self)
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.pipeline.addHTTPClientHandlers().flatMap {
                    channel.pipeline.addHandler(ResponseCollector(promise: promise))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { result in
                switch result {
                case .failure(let error): promise.fail(error)
                case .success(let channel):
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
                    headers.add(name: "Connection", value: "close")
                    if let body {
                        headers.add(name: "Content-Type", value: "text/plain; charset=UTF-8")
                        headers.add(name: "Content-Length", value: String(body.utf8.count))
                    }
                    channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: target,
                                                                             headers: headers)), promise: nil)
                    if let body {
                        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
                    }
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                }
            }
        return promise.futureResult
    }

    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<String>
        var status = 0
        var body = ""

        init(promise: EventLoopPromise<String>) {
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(let buffer): body += String(buffer: buffer)
            case .end:
                if status == 200 { promise.succeed(body) } else { promise.fail(Failure(status: status)) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}

/// A WebSocket client connection for Engine.IO: connects, upgrades, then reports each message as
/// an `EngineIOFrame` and the end of the connection once.
final class WebSocketClientConnection: @unchecked Sendable {
    /// The largest message the client reassembles from fragments (engine.io's maxPayload default).
    static let maxMessageSize = 1_000_000
    private(set) var channel: (any Channel)?
    /// Set once NIO has finished the upgrade (HTTP handlers gone); frames sent before wait here.
    private var ready = false
    private var pending: [EngineIOFrame] = []

    /// Connects and upgrades; `onFrame` and `onClose` run on `loop`. The connection object is
    /// returned at once so the caller can treat it as its transport before the first frame
    /// arrives (the server's first frame can come in the same read as the 101 response).
    static func connect(on loop: any EventLoop, endpoint: EngineIOEndpoint, sid: String?,
                        onFrame: @escaping (EngineIOFrame) -> Void,
                        onClose: @escaping () -> Void) -> (WebSocketClientConnection, EventLoopFuture<Void>) {
        let connection = WebSocketClientConnection()
        let upgraded = loop.makePromise(of: Void.self)
        let target = endpoint.target(transport: "websocket", sid: sid)
        let onFrameBox = UnsafeTransfer(onFrame)
        let onCloseBox = UnsafeTransfer(onClose)
        let future = ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                connection.channel = channel
                return channel.eventLoop.makeCompletedFuture {
                    try WebSocketClientHandshake.configure(
                        channel, target: target, host: "\(endpoint.host):\(endpoint.port)", maxFrameSize: 1 << 20,
                        failed: { _ in upgraded.fail(PollingRequest.Failure(status: 0)) },
                        upgraded: { channel in
                            try channel.pipeline.syncOperations.addHandler(WebSocketFrameRulesHandler(fromClient: false))
                            try channel.pipeline.syncOperations.addHandler(
                                // Frames are handed on in a later loop turn, in order, so that anything
                                // written in answer meets a pipeline that accepts writes.
                                EngineIOWebSocketHandler(maxMessageSize: WebSocketClientConnection.maxMessageSize, masksFrames: true,
                                                         onText: { text in loop.execute { onFrameBox.value(.text(text)) } },
                                                         onBinary: { bytes in loop.execute { onFrameBox.value(.binary(bytes)) } },
                                                         onClose: { loop.execute { onCloseBox.value() } }))
                            upgraded.succeed(())
                            WebSocketClientHandshake.whenWritable(channel) { ok in
                                if ok { connection.markReady() }
                            }
                        })
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMapError { error in
                // A refused connect never activates the channel: complete the upgrade promise here.
                upgraded.fail(error)
                return loop.makeFailedFuture(error)
            }
            .flatMap { channel in
                channel.closeFuture.whenComplete { _ in upgraded.fail(ChannelError.eof) }
                return upgraded.futureResult
            }
        return (connection, future)
    }

    fileprivate func markReady() {
        ready = true
        let queued = pending
        pending.removeAll()
        for frame in queued { send(frame) }
    }

    /// Sends one Engine.IO frame (held until the upgrade has completed).
    func send(_ frame: EngineIOFrame) {
        guard ready else {
            pending.append(frame)
            return
        }
        guard let channel else { return }
        var buffer = channel.allocator.buffer(capacity: 64)
        let opcode: WebSocketOpcode
        switch frame {
        case .text(let t):
            buffer.writeString(t)
            opcode = .text
        case .binary(let b):
            buffer.writeBytes(b)
            opcode = .binary
        }
        // Client frames must be masked (RFC 6455 5.3).
        let mask = WebSocketMaskingKey.random()
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: opcode, maskKey: mask, data: buffer), promise: nil)
    }

    /// Closes the connection.
    func close() {
        channel?.close(promise: nil)
    }
}

/// Carries a non-Sendable closure into a Sendable one; only used for callbacks that run on the
/// connection's own event loop.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
