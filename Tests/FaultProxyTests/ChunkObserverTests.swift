import FaultProxy
import LabCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// Records what the proxy reports to a protocol tap.
final class RecordingObserver: ChunkObserver {
    let events = NIOLockedValueBox<[String]>([])

    func connectionOpened(id: UInt64, proxy: String, at: Instant) {
        events.withLockedValue { $0.append("open \(proxy)") }
    }

    func chunk(id: UInt64, direction: LinkDirection, bytes: ByteBuffer, at: Instant) {
        events.withLockedValue { $0.append("\(direction.rawValue) \(String(buffer: bytes))") }
    }

    func connectionClosed(id: UInt64, reason: String, at: Instant) {
        events.withLockedValue { $0.append("closed \(reason)") }
    }
}

@Suite struct ChunkObserverTests {
    @Test func tapSeesEveryChunkPerLinkAndTheLifecycle() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }  // on every way out, a failed `try` included
        let observer = RecordingObserver()
        let registry = ProxyRegistry(group: group, seed: 1, observer: observer)
        let echo = try await LoopbackServer.echo(group: group)
        let proxy = try await registry.create(name: "tap", listen: HostPort(host: "127.0.0.1", port: 0),
                                              upstream: HostPort(host: "127.0.0.1", port: echo.port))
        let s = try BlockingSocket(port: proxy.listenAddress.port)
        try s.send("ping")
        #expect(s.read(exactly: 4, timeout: 3).end == nil)
        s.shutdownWrite()
        #expect(s.read(timeout: 3) == .eof)
        #expect(await eventually { observer.events.withLockedValue { $0.last?.hasPrefix("closed") ?? false } })
        let events = observer.events.withLockedValue { $0 }
        #expect(events == ["open tap", "upstream ping", "downstream ping", "closed closed"])
        await registry.removeAll()
        await echo.stop()
        try await group.shutdownGracefully()
    }
}
