import EventLoopTime
@testable import FaultProxy
import LabCore
import NIOCore
import NIOEmbedded

/// What reaches the head of a channel's pipeline from the proxy: the reads it lets through and the
/// closes it asks for. An output close (a FIN) is recorded and not passed on, as a socket's write
/// half closes while the channel stays active.
final class HeadRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    private(set) var reads = 0
    private(set) var closes: [CloseMode] = []

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        closes.append(mode)
        if mode == .output {
            promise?.succeed(())
        } else {
            context.close(mode: mode, promise: promise)
        }
    }
}

/// The connections' ends as the proxy reports them, on one test thread.
final class ClosedConnections: ChunkObserver, @unchecked Sendable {
    private(set) var closed: [(reason: String, at: Instant)] = []

    func connectionOpened(id: UInt64, proxy: String, at: Instant) {}
    func chunk(id: UInt64, direction: LinkDirection, bytes: ByteBuffer, at: Instant) {}
    func connectionClosed(id: UInt64, reason: String, at: Instant) { closed.append((reason, at)) }
}

/// The upstream channels the proxy opened, and when (one test thread).
final class UpstreamChannels: @unchecked Sendable {
    var channels: [(channel: EmbeddedChannel, head: HeadRecorder, at: Instant)] = []
}

/// One proxied connection's two channels, seen from outside the proxy.
struct LoopConnection {
    let client: EmbeddedChannel
    let clientHead: HeadRecorder
    let upstream: UpstreamChannels

    /// The upstream channel, once the proxy opened it.
    var server: EmbeddedChannel? { upstream.channels.last?.channel }
    var serverHead: HeadRecorder? { upstream.channels.last?.head }
}

/// A proxy named "p" on an `EmbeddedEventLoop`: client channels are handed to it as if accepted,
/// its upstream connects open embedded channels, and time moves only when a test advances the
/// loop, so every delivery, close and timer is checked at its exact instant.
final class LoopProxyFixture {
    let loop = EmbeddedEventLoop()
    let observer = ClosedConnections()
    let upstream = UpstreamChannels()
    let proxy: Proxy

    init(seed: UInt64 = 42, window: Int = 4 << 20) {
        let upstream = upstream
        proxy = Proxy(name: "p", listen: HostPort(host: "127.0.0.1", port: 0), upstream: HostPort(host: "127.0.0.1", port: 1),
                      group: loop, seed: seed, window: window, observer: observer, connectionIDs: 1 << 40,
                      connector: { loop, _, _, initialize in
                          let channel = EmbeddedChannel(loop: loop as! EmbeddedEventLoop)
                          let head = HeadRecorder()
                          try! channel.pipeline.syncOperations.addHandler(head)
                          _ = initialize(channel)
                          channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
                          upstream.channels.append((channel, head, Instant(loop.now)))
                          return loop.makeSucceededFuture(channel as any Channel)
                      },
                      enabled: true)
    }

    /// Installs a toxic now; it is in force on every connection when this returns.
    func toxic(_ name: String, _ condition: Condition, stream: LinkDirection = .downstream) {
        proxy.changeToxics(adding: [Toxic(name: name, type: condition.kind, stream: stream, condition: condition)], removing: [])
        loop.run()
    }

    /// Removes a toxic now.
    func remove(_ name: String) {
        proxy.changeToxics(adding: [], removing: [name])
        loop.run()
    }

    /// A client connects now.
    func connect() throws -> LoopConnection {
        let client = EmbeddedChannel(loop: loop)
        let head = HeadRecorder()
        try client.pipeline.syncOperations.addHandler(head)
        client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 2), promise: nil)
        try proxy.accept(client)
        loop.run()
        return LoopConnection(client: client, clientHead: head, upstream: upstream)
    }

    /// Moves the loop's clock to `ms` milliseconds after its start, running what falls due.
    func advance(toMilliseconds ms: Int64, plusNanoseconds ns: Int64 = 0) {
        loop.advanceTime(to: .uptimeNanoseconds(UInt64(ms * 1_000_000 + ns)))
    }

    /// The loop's instant `ms` milliseconds after its start.
    static func ms(_ ms: Int64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }

    func shutdown() {
        try? loop.syncShutdownGracefully()
    }
}

extension EmbeddedChannel {
    /// Bytes arrive on this channel's socket (one read).
    func receive(_ text: String) throws {
        try writeInbound(ByteBuffer(string: text))
    }

    /// Bytes arrive on this channel's socket (one read).
    func receive(_ bytes: [UInt8]) throws {
        try writeInbound(ByteBuffer(bytes: bytes))
    }

    /// The peer half-closed: its FIN arrives.
    func receiveFIN() {
        pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// Everything the proxy has written (and flushed) to this channel's socket since the last call, one string a write.
    func written() throws -> [String] {
        var out: [String] = []
        while let buffer = try readOutbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    /// The sizes of the writes since the last call.
    func writtenSizes() throws -> [Int] {
        var out: [Int] = []
        while let buffer = try readOutbound(as: ByteBuffer.self) { out.append(buffer.readableBytes) }
        return out
    }
}
