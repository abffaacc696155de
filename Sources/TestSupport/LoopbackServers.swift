import NIOCore
import NIOPosix

/// A TCP server on a loopback address for tests and the demo; what it does with a connection is
/// decided by the handler it was started with (`echo`, `resetting`).
public final class LoopbackServer: Sendable {
    /// The bound port.
    public let port: Int
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// An echo server on an ephemeral port: writes back everything it reads and passes half-close
    /// on (after the client's FIN it finishes writing and closes its side).
    public static func echo(group: any EventLoopGroup, host: String = "127.0.0.1") async throws -> LoopbackServer {
        try await start(group: group, host: host, halfClosure: true) { EchoHandler() }
    }

    /// A server that answers the first bytes it reads with a RST (SO_LINGER 0 and close), to test
    /// how a proxy passes a server's reset on.
    public static func resetting(group: any EventLoopGroup, host: String = "127.0.0.1") async throws -> LoopbackServer {
        try await start(group: group, host: host, halfClosure: false) { ResetOnReadHandler() }
    }

    private static func start(group: any EventLoopGroup, host: String, halfClosure: Bool,
                              handler: @escaping @Sendable () -> any ChannelHandler) async throws -> LoopbackServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: halfClosure)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(handler())
                }
            }
            .bind(host: host, port: 0).get()
        return LoopbackServer(channel: channel)
    }

    /// Stops listening (open connections are left to their clients).
    public func stop() async {
        try? await channel.close()
    }
}

private final class EchoHandler: ChannelInboundHandler {
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
extension EchoHandler: Sendable {}

private final class ResetOnReadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension ResetOnReadHandler: Sendable {}
