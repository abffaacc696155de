import NIOCore
import NIOHTTP1

/// The HTTP/1.1 shell around `ControlAPI`: aggregates a request body up to a cap (413 beyond it),
/// hands the complete request to the API and writes its response with keep-alive. NIO's
/// pipelining handler in front of it delivers one request at a time; its protocol error handler
/// answers malformed HTTP with 400.
final class HTTPControlHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Waiting for a request head.
        case idle
        /// Collecting the body of a request.
        case receiving(HTTPRequestHead, ByteBuffer)
        /// The request was refused early (too large); its remaining parts are dropped.
        case discarding
        /// The API is working on the request.
        case responding
    }

    private let api: ControlAPI
    private let maxBodySize: Int
    /// Runs the API's work for this connection on its event loop; made at the first request.
    private var executor: EventLoopTaskExecutor?
    private var state = State.idle
    /// An error arrived while a response was being prepared: send it with `Connection: close`, then close.
    private var closeAfterResponse = false

    init(api: ControlAPI, maxBodySize: Int) {
        self.api = api
        self.maxBodySize = maxBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .idle = state else { return }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodySize {
                refuseTooLarge(context: context, head: head)
                return
            }
            if head.headers.first(name: "user-agent")?.hasPrefix("Mozilla/") == true {
                // Toxiproxy refuses browsers so a web page cannot drive the API (CSRF, DNS rebinding).
                state = .discarding
                respond(context: context, head: head, keepAlive: false,
                        response: .error(APIError(status: 403, reason: "User agent not allowed")))
                return
            }
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                                      promise: nil)
            }
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
        case .body(var chunk):
            guard case .receiving(let head, var body) = state else { return }
            if body.readableBytes + chunk.readableBytes > maxBodySize {
                refuseTooLarge(context: context, head: head)
                return
            }
            state = .idle  // drop the reference so the buffer is written in place
            body.writeBuffer(&chunk)
            state = .receiving(head, body)
        case .end:
            switch state {
            case .receiving(let head, let body):
                state = .responding
                dispatch(context: context, head: head, body: body)
            case .discarding, .idle, .responding:
                break
            }
        }
    }

    private func refuseTooLarge(context: ChannelHandlerContext, head: HTTPRequestHead) {
        state = .discarding
        let error = APIError(status: 413, reason: "request body larger than \(maxBodySize) bytes")
        respond(context: context, head: head, keepAlive: false, response: .error(error))
    }

    private func dispatch(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer) {
        let request = APIRequest(method: head.method.rawValue, path: head.uri, body: Array(body.readableBytesView))
        let api = self.api
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let executor = self.executor ?? EventLoopTaskExecutor(context.eventLoop)
        self.executor = executor
        let answered = context.eventLoop.makePromise(of: APIResponse.self)
        // The request's task runs on this connection's event loop, not on Swift's cooperative pool:
        // a pool held by other work must not keep a Toxiproxy client waiting.
        Task(executorPreference: executor) {
            answered.succeed(await api.handle(request))
        }
        answered.futureResult.whenSuccess { response in
            let (handler, context) = bound.value
            handler.state = .idle
            handler.respond(context: context, head: head,
                            keepAlive: head.isKeepAlive && !handler.closeAfterResponse,
                            response: response)
        }
    }

    private func respond(context: ChannelHandlerContext, head request: HTTPRequestHead, keepAlive: Bool, response: APIResponse) {
        let version = request.version
        let respondingToConnect = request.method == .CONNECT
        let keepAlive = keepAlive && !respondingToConnect
        var headers = HTTPHeaders()
        if let type = response.contentType { headers.add(name: "Content-Type", value: type) }
        headers.add(name: "Content-Length", value: String(response.body.count))
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if version.major == 1, version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        // NIO frames any answer to CONNECT without a body (and ends parsing there, as for a tunnel), so
        // such an answer is its status and headers, delimited by the close that follows (keepAlive false).
        if !response.body.isEmpty, !respondingToConnect {
            let body = context.channel.allocator.buffer(bytes: response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // A client that holds a connection without sending anything for the idle limit is dropped.
            if case .responding = state {} else {
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Bytes that are no HTTP after a whole request (the decoder's error state) must not cut off
        // the answer the API is still preparing: close once it is written.
        if case .responding = state {
            closeAfterResponse = true
            return
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPControlHandler: Sendable {}
