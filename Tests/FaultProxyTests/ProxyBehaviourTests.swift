import FaultProxy
import LabCore
import NIOCore
import NIOPosix
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The proxy on real loopback sockets, for what only a kernel shows: bytes through real buffers,
/// half-closes and EOF, real RSTs, refused connects, NIO's reads per cycle, the listener and its
/// connections listing, and the real clock under one latency. Each condition's timing is checked at exact instants on a testing
/// event loop (`ProxyLoopTests`). Timing bounds here are generous on the slow side (a loaded
/// 2-core CI machine) and strict on the side a wrong implementation would miss.
@Suite(.serialized)
struct ProxyBehaviourTests {
    @Test func forwardsBytesUnchangedWithoutConditions() async throws {
        let f = try await ProxyFixture()
        let s = try f.connect()
        var rng = SeededGenerator(seed: 1)
        let payload = (0..<(4 << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        // The reader blocks: on a thread of its own, not the cooperative pool the proxy needs.
        async let read = onThread { s.read(exactly: payload.count, timeout: 20) }
        try s.send(payload)
        let (echoed, end) = try await read
        #expect(end == nil)
        #expect(echoed == payload)
        await f.shutdown()
    }

    @Test func latencyDelaysEachRoundTrip() async throws {
        let f = try await ProxyFixture()
        try await f.toxic("lat", .latency(LatencyCondition(latency: .milliseconds(100))))
        let s = try f.connect()
        for _ in 0..<3 {
            let rtt = try #require(try roundTrip(s))
            #expect(rtt >= 0.100)
            #expect(rtt < 0.180)
        }
        await f.shutdown()
    }

    @Test func halfClosePassesThroughAndDataStillFlowsBack() async throws {
        let f = try await ProxyFixture()
        // Delay the way back so the echo arrives after the client's FIN went through.
        try await f.toxic("lat", .latency(LatencyCondition(latency: .milliseconds(100))))
        let s = try f.connect()
        try s.send("hello")
        s.shutdownWrite()
        let (bytes, end) = s.read(exactly: 5, timeout: 3)
        #expect(end == nil)
        #expect(bytes == Array("hello".utf8))
        // The echo server closes its side after our FIN: we then see EOF, not a reset.
        #expect(s.read(timeout: 3) == .eof)
        await f.shutdown()
    }

    @Test func resetSendsRealRSTOnAnAlreadyOpenConnection() async throws {
        let f = try await ProxyFixture()
        let s = try f.connect()
        _ = try #require(try roundTrip(s))
        try await f.toxic("rst", .reset(ResetCondition(after: .zero)))
        #expect(s.read(timeout: 3) == .reset)
        await f.shutdown()
    }

    /// Issue 12, finding 2: with reset_peer timeout 0 installed, every new connection is reset at
    /// once (a real RST) and leaves nothing behind: it used to get neither RST nor FIN and sit in
    /// CLOSE-WAIT, gone from the proxy's list but with its descriptor held.
    @Test func resetAtZeroResetsNewConnectionsAndLeaksNothing() async throws {
        let f = try await ProxyFixture()
        try await f.toxic("rst", .reset(ResetCondition(after: .zero)))
        for _ in 0..<20 {
            let s = try f.connect()
            let result = s.read(timeout: 3)
            #expect(result == .reset || result == .eof, "\(result)")
        }
        // Every one of them is gone from the proxy, not only from its list.
        var active = f.proxy.counters.connectionsActive
        for _ in 0..<100 where active > 0 {
            try await Task.sleep(nanoseconds: 10_000_000)
            active = f.proxy.counters.connectionsActive
        }
        #expect(active == 0)
        #expect(f.proxy.connections.isEmpty)
        await f.shutdown()
    }

    @Test func serverResetReachesTheClientAsAReset() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }  // on every way out, a failed `try` included
        let resetting = try await LoopbackServer.resetting(group: group)
        let f = try await ProxyFixture(upstreamPort: resetting.port)
        let s = try f.connect()
        try s.send("provoke")
        #expect(s.read(timeout: 3) == .reset)
        await f.shutdown()
        await resetting.stop()
        try await group.shutdownGracefully()
    }

    @Test func upstreamConnectFailureClosesClientPromptly() async throws {
        // Find a port nobody listens on: bind, read the port, close.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }  // on every way out, a failed `try` included
        let probe = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let deadPort = probe.localAddress!.port!
        try await probe.close()
        try await group.shutdownGracefully()
        let f = try await ProxyFixture(upstreamPort: deadPort)
        let start = MonotonicClock.seconds()
        let s = try f.connect()
        let result = s.read(timeout: 3)
        #expect(result == .reset || result == .eof)
        #expect(MonotonicClock.seconds() - start < 0.5)
        await f.shutdown()
    }

    @Test func slowLinkBoundsWhatTheProxyReads() async throws {
        // A 1 MiB window and a link that holds everything: the proxy must stop reading from the
        // client instead of buffering all it is sent.
        let f = try await ProxyFixture(window: 1 << 20)
        try await f.toxic("stall", .stall(StallCondition()), stream: .upstream)
        let s = try f.connect()
        var flags = fcntl(s.fd, F_GETFL)
        flags |= O_NONBLOCK
        _ = fcntl(s.fd, F_SETFL, flags)
        let chunk = [UInt8](repeating: 1, count: 65536)
        var sent = 0
        let deadline = MonotonicClock.seconds() + 3
        while sent < 256 << 20, MonotonicClock.seconds() < deadline {
            let n = chunk.withUnsafeBytes { send(s.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n } else { try await Task.sleep(nanoseconds: 5_000_000) }
        }
        let read = f.proxy.connections.first?.bytesUpstream ?? -1
        #expect(read > 0)
        // The window plus one read of slack; the rest sits in the kernel's socket buffers.
        #expect(read <= (1 << 20) + 256 * 1024)
        #expect(sent < 256 << 20)
        await f.shutdown()
    }

    @Test func disabledProxyClosesConnectionsAndRefusesNewOnes() async throws {
        let f = try await ProxyFixture()
        let s = try f.connect()
        _ = try #require(try roundTrip(s))
        await f.proxy.disable()
        #expect(s.read(timeout: 2) == .eof)
        #expect(throws: SocketError.self) { _ = try f.connect() }
        try await f.proxy.enable()
        let again = try f.connect()
        #expect(try roundTrip(again) != nil)
        await f.shutdown()
    }
}
