import LabCore
import NIOConcurrencyHelpers
import NIOCore
import ProtocolTap
import Testing

/// Collects events in memory.
final class Collected: EventSink {
    let box = NIOLockedValueBox<[LabEvent]>([])
    func record(_ event: LabEvent) { box.withLockedValue { $0.append(event) } }
    var events: [LabEvent] { box.withLockedValue { $0 } }
}

/// Builds a WebSocket frame; client frames are masked as RFC 6455 requires.
func frame(_ text: String, opcode: UInt8 = 1, masked: Bool) -> [UInt8] {
    let payload = Array(text.utf8)
    var out: [UInt8] = [0x80 | opcode]
    let maskBit: UInt8 = masked ? 0x80 : 0
    if payload.count < 126 {
        out.append(maskBit | UInt8(payload.count))
    } else {
        out.append(maskBit | 126)
        out += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
    }
    if masked {
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        out += key
        out += payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    } else {
        out += payload
    }
    return out
}

func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

@Suite struct WebSocketFrameParserTests {
    @Test func framesSurviveAnyChunking() {
        let stream = frame("2", masked: false) + frame(String(repeating: "x", count: 300), masked: true) + frame("3", masked: true)
        for chunk in [1, 2, 3, 7, 100, stream.count] {
            var parser = WebSocketFrameParser()
            var got: [ObservedFrame] = []
            var i = 0
            while i < stream.count {
                got += parser.feed(stream[i..<min(i + chunk, stream.count)])
                i += chunk
            }
            #expect(got.map { String(decoding: $0.payload, as: UTF8.self) } == ["2", String(repeating: "x", count: 300), "3"])
        }
    }

    @Test func oversizedFrameStopsTheParserInsteadOfAllocating() {
        var parser = WebSocketFrameParser(maxPayload: 10)
        #expect(parser.feed(frame(String(repeating: "y", count: 200), masked: false)).isEmpty)
        #expect(parser.failure != nil)
        #expect(parser.feed(frame("2", masked: false)).isEmpty)
    }
}

@Suite struct EngineIOTapTests {
    @Test func followsTheUpgradeAndMeasuresHeartbeatRTT() {
        let sink = Collected()
        let tap = EngineIOTap(events: sink, startedAt: .zero)
        let ms = { (n: Int64) in Instant(nanoseconds: n * 1_000_000) }
        tap.connectionOpened(id: 1, proxy: "p", at: ms(0))
        let request = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
        tap.chunk(id: 1, direction: .upstream, bytes: buffer(Array(request.utf8)), at: ms(1))
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        tap.chunk(id: 1, direction: .downstream, bytes: buffer(Array(response.utf8) + frame(#"0{"sid":"a"}"#, masked: false)
                                                               + frame(#"40{"sid":"b"}"#, masked: false)), at: ms(2))
        tap.chunk(id: 1, direction: .downstream, bytes: buffer(frame("2", masked: false)), at: ms(100))
        tap.chunk(id: 1, direction: .upstream, bytes: buffer(frame("3", masked: true)), at: ms(142))
        tap.chunk(id: 1, direction: .downstream, bytes: buffer(frame("2", masked: false)), at: ms(200))
        tap.connectionClosed(id: 1, reason: "closed", at: ms(300))
        let e = sink.events
        #expect(e.map(\.kind) == [.connect, .ping, .pong, .ping, .disconnect])
        #expect(e[2].rtt == .milliseconds(42))
        #expect(e[2].side == .client && e[1].side == .server)
        #expect(e.last?.reason == "transport close")
        #expect(e.allSatisfy { $0.connection == "p1" })
    }

    /// The open packet's advertised heartbeat is the connect event's detail, so a run can compare
    /// it with the cadence the pings keep.
    @Test func theOpenPacketsHeartbeatIsKept() {
        let sink = Collected()
        let tap = EngineIOTap(events: sink, startedAt: .zero)
        tap.connectionOpened(id: 1, proxy: "p", at: .zero)
        let request = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
        tap.chunk(id: 1, direction: .upstream, bytes: buffer(Array(request.utf8)), at: .zero)
        let open = #"0{"sid":"a","upgrades":[],"pingInterval":1000,"pingTimeout":3000,"maxPayload":1000000}"#
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        tap.chunk(id: 1, direction: .downstream, bytes: buffer(Array(response.utf8) + frame(open, masked: false)), at: .zero)
        #expect(sink.events.isEmpty, "the transport's open is not yet a connection: \(sink.events)")
        tap.chunk(id: 1, direction: .downstream, bytes: buffer(frame(#"40{"sid":"b"}"#, masked: false)), at: .zero)
        let connect = sink.events.first { $0.kind == .connect }
        #expect(connect?.detail == "socket.io / (engine.io open pingInterval=1000ms pingTimeout=3000ms)")
        #expect(EngineIOTap.advertisedPingInterval(connect?.detail) == 1000)
        #expect(EngineIOTap.advertisedPingInterval("socket.io /") == nil && EngineIOTap.advertisedPingInterval(nil) == nil)
    }

    /// Issue 10: a connection counts as connected only when the server acknowledges the namespace
    /// CONNECT; a CONNECT_ERROR is its own outcome, with the server's message, and a server's
    /// namespace DISCONNECT is its own reason.
    @Test func namespaceConnectRefusalAndDisconnectAreTheirOwnEvents() {
        let sink = Collected()
        let tap = EngineIOTap(events: sink, startedAt: .zero)
        let request = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        for id in [UInt64(1), 2] {
            tap.connectionOpened(id: id, proxy: "p", at: .zero)
            tap.chunk(id: id, direction: .upstream, bytes: buffer(Array(request.utf8)), at: .zero)
            tap.chunk(id: id, direction: .downstream, bytes: buffer(Array(response.utf8) + frame(#"0{"sid":"a","pingInterval":25000}"#, masked: false)), at: .zero)
        }
        tap.chunk(id: 1, direction: .downstream, bytes: buffer(frame(#"44{"message":"not allowed"}"#, masked: false)), at: .zero)
        tap.chunk(id: 2, direction: .downstream, bytes: buffer(frame(#"40{"sid":"b"}"#, masked: false) + frame("41", masked: false)), at: .zero)
        let e = sink.events
        #expect(e.map(\.kind) == [.connectError, .connect, .disconnect], "\(e)")
        #expect(e.first?.reason == "refused by server" && e.first?.detail == "not allowed" && e.first?.connection == "p1")
        #expect(e.last?.reason == "io server disconnect" && e.last?.connection == "p2")
    }

    @Test func ignoresConnectionsThatAreNotEngineIOWebSockets() {
        let sink = Collected()
        let tap = EngineIOTap(events: sink, startedAt: .zero)
        tap.connectionOpened(id: 2, proxy: "p", at: .zero)
        tap.chunk(id: 2, direction: .upstream, bytes: buffer(Array("GET / HTTP/1.1\r\n\r\n".utf8)), at: .zero)
        tap.chunk(id: 2, direction: .downstream, bytes: buffer(Array("HTTP/1.1 200 OK\r\n\r\n2".utf8)), at: .zero)
        tap.connectionClosed(id: 2, reason: "closed", at: .zero)
        #expect(sink.events.isEmpty)
    }
}
