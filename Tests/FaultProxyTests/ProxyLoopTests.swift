import FaultProxy
import LabCore
import NIOCore
import NIOEmbedded
import Testing

private typealias F = LoopProxyFixture

/// The proxy's behaviour on a testing event loop: the same `ProxyConnection` as on real sockets,
/// with embedded channels at both ends and the loop's virtual clock, so each delivery, FIN, close
/// and read is checked at its exact instant instead of within wall-clock bounds.
@Suite("Proxy on a testing event loop")
struct ProxyLoopTests {
    @Test("latency delays each chunk by exactly its value, on its own link only")
    func latency() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("lat", .latency(LatencyCondition(latency: .milliseconds(100))))
        let c = try f.connect()
        let server = try #require(c.server)
        try c.client.receive("ping")
        #expect(try server.written() == ["ping"])
        try server.receive("pong")
        f.advance(toMilliseconds: 99, plusNanoseconds: 999_999)
        #expect(try c.client.written() == [])
        f.advance(toMilliseconds: 100)
        #expect(try c.client.written() == ["pong"])
    }

    @Test("a latency added to an open connection applies to what is sent next; removed, data passes at once")
    func latencyOnAnOpenConnection() throws {
        let f = F()
        defer { f.shutdown() }
        let c = try f.connect()
        let server = try #require(c.server)
        f.advance(toMilliseconds: 200)
        f.toxic("lat", .latency(LatencyCondition(latency: .milliseconds(80))), stream: .upstream)
        try c.client.receive("slow")
        f.advance(toMilliseconds: 279)
        #expect(try server.written() == [])
        f.advance(toMilliseconds: 280)
        #expect(try server.written() == ["slow"])
        f.advance(toMilliseconds: 300)
        f.remove("lat")
        try c.client.receive("fast")
        #expect(try server.written() == ["fast"])
    }

    @Test("a stall holds data, in order, until lifted; the connection stays open and keeps working")
    func stallHoldsUntilLifted() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("stall", .stall(StallCondition()), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        try c.client.receive("he")
        try c.client.receive("ld")
        f.advance(toMilliseconds: 10_000)
        #expect(try server.written() == [])
        #expect(c.client.isActive && server.isActive)
        f.remove("stall")
        #expect(try server.written() == ["he", "ld"])
        try c.client.receive("after")
        #expect(try server.written() == ["after"])
    }

    @Test("a stall with a duration holds data until it ends, then data passes at once")
    func timedStall() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("stall", .stall(StallCondition(duration: .milliseconds(300))), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        try c.client.receive("a")
        f.advance(toMilliseconds: 299)
        #expect(try server.written() == [])
        f.advance(toMilliseconds: 300)
        #expect(try server.written() == ["a"])
        f.advance(toMilliseconds: 400)
        try c.client.receive("b")
        #expect(try server.written() == ["b"])
    }

    @Test("a blackhole swallows data without a FIN and closes at its deadline, which traffic does not move")
    func blackholeDeadline() throws {
        let f = F()
        defer { f.shutdown() }
        let c = try f.connect()
        let server = try #require(c.server)
        f.advance(toMilliseconds: 100)
        f.toxic("hole", .blackhole(BlackholeCondition(closeAfter: .milliseconds(600))), stream: .upstream)
        for ms in stride(from: Int64(100), through: 600, by: 100) {
            f.advance(toMilliseconds: ms)
            try c.client.receive("x")
        }
        f.advance(toMilliseconds: 699)
        #expect(try server.written() == [])
        #expect(c.client.isActive && server.isActive)
        f.advance(toMilliseconds: 700)
        #expect(!c.client.isActive && !server.isActive)
        #expect(c.clientHead.closes == [.all])
        #expect(f.observer.closed.map(\.reason) == ["closed by hole"])
        #expect(f.observer.closed.map(\.at) == [F.ms(700)])
    }

    @Test("a blackhole without a deadline never closes")
    func blackholeForever() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("hole", .blackhole(BlackholeCondition()))
        let c = try f.connect()
        let server = try #require(c.server)
        try server.receive("lost")
        f.advance(toMilliseconds: 3_600_000)
        #expect(try c.client.written() == [])
        #expect(c.client.isActive && f.observer.closed.isEmpty)
    }

    @Test("a reset after a timeout resets both sides at exactly that instant")
    func resetAfterTimeout() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("rst", .reset(ResetCondition(after: .milliseconds(300))))
        let c = try f.connect()
        let server = try #require(c.server)
        f.advance(toMilliseconds: 299)
        #expect(c.client.isActive && server.isActive)
        f.advance(toMilliseconds: 300)
        #expect(!c.client.isActive && !server.isActive)
        #expect(f.observer.closed.map(\.reason) == ["reset by rst"])
        #expect(f.observer.closed.map(\.at) == [F.ms(300)])
    }

    @Test("a slow connect opens the upstream connection after its delay; what the client sent waits for it")
    func slowConnect() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("slow", .slowConnect(SlowConnectCondition(delay: .milliseconds(250))), stream: .upstream)
        let c = try f.connect()
        f.advance(toMilliseconds: 10)
        try c.client.receive("early")
        // Toxics changing during the wait do not release it to a channel that is not there yet.
        f.toxic("lat", .latency(LatencyCondition(latency: .milliseconds(5))))
        f.advance(toMilliseconds: 249)
        #expect(c.server == nil)
        f.advance(toMilliseconds: 250)
        #expect(f.upstream.channels.map(\.at) == [F.ms(250)])
        #expect(try c.server?.written() == ["early"])
    }

    /// Issue 12, finding 1, its FIN: a client that sends and half-closes before the upstream
    /// connect completes, with toxics changing (added, then removed) during the wait, gets its
    /// bytes and then its FIN delivered once the server side is there, in that order.
    @Test("data and a FIN sent during a slow connect both reach the server, whatever toxics change meanwhile")
    func slowConnectKeepsTheFIN() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("slow", .slowConnect(SlowConnectCondition(delay: .milliseconds(250))), stream: .upstream)
        let c = try f.connect()
        f.advance(toMilliseconds: 10)
        try c.client.receive("last words")
        c.client.receiveFIN()
        f.toxic("lat", .latency(LatencyCondition(latency: .milliseconds(5))), stream: .downstream)
        f.advance(toMilliseconds: 100)
        f.remove("lat")
        f.advance(toMilliseconds: 249)
        #expect(c.server == nil)
        f.advance(toMilliseconds: 250)
        let server = try #require(c.server)
        #expect(try server.written() == ["last words"])
        #expect(c.serverHead?.closes == [.output])
        #expect(f.observer.closed.isEmpty, "\(f.observer.closed)")
    }

    @Test("a bandwidth limit spaces the chunks by their transmission time: 100 kB at 1 MB/s is 100 ms")
    func bandwidth() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("bw", .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 1_000_000))), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        for _ in 0..<3 { try c.client.receive([UInt8](repeating: 7, count: 100_000)) }
        var arrivals: [Int64: [Int]] = [:]
        for ms in [Int64(99), 100, 199, 200, 299, 300] {
            f.advance(toMilliseconds: ms)
            arrivals[ms] = try server.writtenSizes()
        }
        #expect(arrivals == [99: [], 100: [100_000], 199: [], 200: [100_000], 299: [], 300: [100_000]])
    }

    @Test("an unlimited bandwidth toxic (a scenario's 'unlimited'; Toxiproxy's rate 0 holds) passes data at once")
    func unlimitedBandwidth() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("bw0", .bandwidth(BandwidthCondition(rate: .unlimited)), stream: .upstream)
        let c = try f.connect()
        try c.client.receive("now")
        #expect(try c.server?.written() == ["now"])
    }

    @Test("a slicer delivers a chunk in slices, one every delay")
    func slicer() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("slice", .slicer(SlicerCondition(averageSize: 100, delay: .milliseconds(20))), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        try c.client.receive(String(repeating: "a", count: 1000))
        var slices: [[Int]] = [try server.writtenSizes()]
        for ms in stride(from: Int64(20), through: 200, by: 20) {
            f.advance(toMilliseconds: ms - 1)
            #expect(try server.writtenSizes() == [])
            f.advance(toMilliseconds: ms)
            slices.append(try server.writtenSizes())
        }
        #expect(slices == Array(repeating: [100], count: 10) + [[]])
    }

    @Test("a slow close delays the FIN by exactly its delay")
    func slowClose() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("sc", .slowClose(SlowCloseCondition(delay: .milliseconds(300))), stream: .upstream)
        let c = try f.connect()
        let head = try #require(c.serverHead)
        f.advance(toMilliseconds: 1000)
        c.client.receiveFIN()
        f.advance(toMilliseconds: 1299)
        #expect(head.closes == [])
        f.advance(toMilliseconds: 1300)
        #expect(head.closes == [.output])
    }

    @Test("a half-close passes behind the data before it, and data still flows back")
    func halfClose() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("lat", .latency(LatencyCondition(latency: .milliseconds(100))), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        try c.client.receive("hello")
        f.advance(toMilliseconds: 10)
        c.client.receiveFIN()
        f.advance(toMilliseconds: 100)
        #expect(try server.written() == ["hello"])
        #expect(c.serverHead?.closes == [])
        f.advance(toMilliseconds: 110)
        #expect(c.serverHead?.closes == [.output])
        try server.receive("hello")
        #expect(try c.client.written() == ["hello"])
    }

    @Test("an idle timeout closes the connection exactly that long after the last traffic, and not before")
    func idleTimeout() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("idle", .idleTimeout(IdleTimeoutCondition(after: .milliseconds(400))), stream: .upstream)
        let c = try f.connect()
        for ms in stride(from: Int64(0), through: 600, by: 150) {
            f.advance(toMilliseconds: ms)
            try c.client.receive("ping")
        }
        f.advance(toMilliseconds: 999)
        #expect(c.client.isActive)
        f.advance(toMilliseconds: 1000)
        #expect(!c.client.isActive)
        #expect(f.observer.closed.map(\.reason) == ["closed by idle"])
        #expect(f.observer.closed.map(\.at) == [F.ms(1000)])
    }

    @Test("an idle timeout can reset instead")
    func idleReset() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("idle", .idleTimeout(IdleTimeoutCondition(after: .milliseconds(200), action: .reset)), stream: .upstream)
        _ = try f.connect()
        f.advance(toMilliseconds: 200)
        #expect(f.observer.closed.map(\.reason) == ["reset by idle"])
        #expect(f.observer.closed.map(\.at) == [F.ms(200)])
    }

    @Test("an idle timeout can forget the connection silently: data vanishes from then on and neither side is told")
    func idleEviction() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("nat", .idleTimeout(IdleTimeoutCondition(after: .milliseconds(200), action: .blackhole)), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        try c.client.receive("seen")
        #expect(try server.written() == ["seen"])
        f.advance(toMilliseconds: 400)
        try c.client.receive("gone")
        try server.receive("gone too")
        c.client.receiveFIN()
        f.advance(toMilliseconds: 3_600_000)
        #expect(try server.written() == [])
        #expect(try c.client.written() == [])
        #expect(c.serverHead?.closes == [])
        #expect(c.client.isActive && server.isActive && f.observer.closed.isEmpty)
    }

    @Test("a data limit passes exactly its bytes, then closes the connection")
    func limitData() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("limit", .limitData(LimitDataCondition(bytes: 10)))
        let c = try f.connect()
        let server = try #require(c.server)
        f.advance(toMilliseconds: 5)
        try server.receive("0123456789abcdef")
        #expect(try c.client.written() == ["0123456789"])
        #expect(!c.client.isActive)
        #expect(f.observer.closed.map(\.reason) == ["data limit"])
        #expect(f.observer.closed.map(\.at) == [F.ms(5)])
    }

    @Test("a link that holds everything stops reading at its window, and reads again once it is released")
    func flowControlWindow() throws {
        let f = F(window: 1 << 20)
        defer { f.shutdown() }
        f.toxic("stall", .stall(StallCondition()), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        // A socket with data always waiting: each read the proxy lets through brings one 64 KiB chunk.
        let chunk = [UInt8](repeating: 1, count: 65_536)
        var delivered = 0
        c.client.read()
        while c.clientHead.reads > delivered, delivered < 100 {
            delivered += 1
            try c.client.receive(chunk)
            c.client.read()
        }
        #expect(delivered == 16)
        #expect(c.clientHead.reads == 16)
        #expect(f.proxy.connections.first?.bytesUpstream == 1 << 20)
        f.remove("stall")
        #expect(try server.writtenSizes() == Array(repeating: 65_536, count: 16))
        #expect(c.clientHead.reads == 17)
    }

    @Test("toxicity is drawn once per connection from the seed: the same connections suffer it, also after an update")
    func toxicity() throws {
        func affected(seed: UInt64) throws -> [Bool] {
            let f = F(seed: seed)
            defer { f.shutdown() }
            let connections = try (0..<12).map { _ in try f.connect() }
            let servers = f.upstream.channels.map(\.channel)
            func delayed() throws -> [Bool] {
                for server in servers { try server.receive("ping") }
                let atOnce = try connections.map { try $0.client.written() == ["ping"] }
                f.loop.advanceTime(by: .seconds(1))
                for c in connections { _ = try c.client.written() }
                return atOnce.map { !$0 }
            }
            let toxic = { (ms: Int64) in
                Toxic(name: "lat", type: "latency", stream: .downstream, toxicity: 0.5,
                      condition: .latency(LatencyCondition(latency: .milliseconds(ms))))
            }
            f.proxy.changeToxics(adding: [toxic(60)], removing: [])
            f.loop.run()
            let first = try delayed()
            // Replacing the toxic keeps each connection's draw.
            f.proxy.changeToxics(adding: [toxic(70)], removing: [])
            f.loop.run()
            #expect(try delayed() == first)
            return first
        }
        let a = try affected(seed: 7)
        #expect(try affected(seed: 7) == a)
        #expect(a == [false, true, true, false, false, true, false, false, false, true, true, false])
    }

    @Test("a toxic limited to one connection delays that one only, and the listing says so")
    func toxicForOneConnection() throws {
        let f = F()
        defer { f.shutdown() }
        let first = try f.connect()
        let second = try f.connect()
        let ids = f.proxy.connections.map(\.id)
        #expect(ids == [(1 << 40) + 1, (1 << 40) + 2])
        f.proxy.changeToxics(adding: [Toxic(name: "only", type: "latency", stream: .downstream,
                                            condition: .latency(LatencyCondition(latency: .milliseconds(100))),
                                            connection: ids[0])], removing: [])
        f.loop.run()
        try f.upstream.channels[0].channel.receive("one")
        try f.upstream.channels[1].channel.receive("two")
        #expect(try first.client.written() == [])
        #expect(try second.client.written() == ["two"])
        f.advance(toMilliseconds: 100)
        #expect(try first.client.written() == ["one"])
        #expect(f.proxy.connections.map(\.toxics) == [["only"], []])
    }

    @Test("loss delays segments by their retransmissions and never corrupts or reorders the stream")
    func loss() throws {
        let f = F()
        defer { f.shutdown() }
        f.toxic("loss", .loss(LossCondition(model: .bernoulli(probability: 0.5))), stream: .upstream)
        let c = try f.connect()
        let server = try #require(c.server)
        // With p = 0.5 and seed 42: each message one segment, lost and retransmitted after the 200 ms
        // RTO (then 400 ms more), or not lost; each arrives intact at exactly its instant.
        let delays: [Int64] = [200, 200, 200, 0, 200, 600, 200, 0]
        for (i, delay) in delays.enumerated() {
            let sent = Int64(i) * 10_000
            f.advance(toMilliseconds: sent)
            try c.client.receive("message-\(i)")
            if delay > 0 {
                f.advance(toMilliseconds: sent + delay - 1, plusNanoseconds: 999_999)
                #expect(try server.written() == [])
            }
            f.advance(toMilliseconds: sent + delay)
            #expect(try server.written() == ["message-\(i)"])
        }
    }
}
