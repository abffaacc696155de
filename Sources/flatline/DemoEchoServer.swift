import NIOCore
import NIOPosix

/// The demo's echo server on an ephemeral loopback port: writes back everything it reads and,
/// after the client's FIN, finishes writing and closes its side, so `flatline demo` shows the proxy
/// at work without any other program. (Tests have their own in TestSupport, which the shipped
/// binary does not link.)
final class DemoEchoServer: Sendable {
    /// The bound port.
    let port: Int
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// Starts listening on 127.0.0.1, port picked by the kernel.
    static func start(group: any EventLoopGroup) async throws -> DemoEchoServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(DemoEchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return DemoEchoServer(channel: channel)
    }

    /// Stops listening (open connections are left to their clients).
    func stop() async {
        try? await channel.close()
    }
}

/// Echoes reads back and passes a half-close on.
private final class DemoEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.flush()
            context.close(mode: .output, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension DemoEchoHandler: Sendable {}
