import Foundation
import LabCore
import LiveComponents
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The built-in server's WebSocket surface against a hand-written client on a real loopback
/// socket: what it does with fragments and frames a well-behaved client never sends.
@Suite(.serialized)
struct ServerWebSocketBoundsTests {
    /// One client frame, masked (with a zero key, so the payload goes as it is).
    static func frame(fin: Bool, opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            out.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            out += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        return out + [0, 0, 0, 0] + payload
    }

    /// Opens an Engine.IO WebSocket on the built-in server, sends `frames`, and returns every byte
    /// the server sent until it closed, `until` appeared, or 20 s passed (the suite runs in
    /// parallel on two cores).
    static func exchange(maxPayload: Int, frames: [[UInt8]], until marker: String? = nil) async throws -> [UInt8] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }  // on every way out, a failed `try` included
        var configuration = EngineIOServerConfiguration()
        configuration.maxPayload = maxPayload
        let server = try await EngineIOServer.start(group: group, port: 0, configuration: configuration, events: MemoryEventSink())
        let socket = try BlockingSocket(port: server.port)
        let received: [UInt8] = try await onThread {
            try socket.send("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            for frame in frames { try? socket.send(frame) }
            var bytes: [UInt8] = []
            let deadline = Instant.monotonicNow() + .seconds(20)
            while Instant.monotonicNow() < deadline {
                switch socket.read(timeout: 0.2) {
                case .data(let chunk):
                    bytes += chunk
                    if let marker, String(decoding: bytes, as: UTF8.self).contains(marker) { return bytes }
                case .timeout: continue
                default: return bytes
                }
            }
            return bytes
        }
        socket.shutdownWrite()
        await server.stop()
        try await group.shutdownGracefully()
        return received
    }

    /// As `exchange`, reading until the connection ends, and how it ended ("eof", "reset", "timeout").
    static func exchangeEnd(maxPayload: Int, frames: [[UInt8]]) async throws -> ([UInt8], String) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        var configuration = EngineIOServerConfiguration()
        configuration.maxPayload = maxPayload
        let server = try await EngineIOServer.start(group: group, port: 0, configuration: configuration, events: MemoryEventSink())
        let socket = try BlockingSocket(port: server.port)
        let received: ([UInt8], String) = try await onThread {
            try socket.send("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            // Let the upgrade complete, so the frame meets the WebSocket decoder.
            var bytes: [UInt8] = []
            while !String(decoding: bytes, as: UTF8.self).contains("\r\n\r\n") {
                guard case .data(let chunk) = socket.read(timeout: 20) else { return (bytes, "no upgrade") }
                bytes += chunk
            }
            for frame in frames { try? socket.send(frame) }
            while true {
                switch socket.read(timeout: 20) {
                case .data(let chunk): bytes += chunk
                case .timeout: return (bytes, "timeout")
                case let end: return (bytes, "\(end)")
                }
            }
        }
        await server.stop()
        try await group.shutdownGracefully()
        return received
    }

    /// The close frame with this status code, as a server sends it (unmasked).
    static func closeFrame(_ code: UInt16) -> [UInt8] { [0x88, 0x02, UInt8(code >> 8), UInt8(code & 0xFF)] }

    @Test("fragments past maxPayload close the connection with 1009 (issue 12, finding 6)")
    func fragmentsAreBoundedAsAMessage() async throws {
        // Each fragment is well under the frame limit; together they pass maxPayload.
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 40_000)
        var frames = [Self.frame(fin: false, opcode: 0x1, Array("4".utf8) + piece)]
        for _ in 0..<9 { frames.append(Self.frame(fin: false, opcode: 0x0, piece)) }
        let bytes = try await Self.exchange(maxPayload: 100_000, frames: frames)
        #expect(bytes.count > 0)
        #expect(bytes.ends(with: Self.closeFrame(1009)), "\(bytes.suffix(8))")
    }

    @Test("a frame past the limit, its bytes still arriving, gets its 1009 Close frame and a FIN, not a reset")
    func anOversizedFrameIsRefusedWithACloseFrameThatArrives() async throws {
        // A header announcing 4 MB against a 100 kB limit, then 1 MB of it at once: the server
        // refuses the frame with unread bytes queued. A plain close would answer with a reset.
        var header: [UInt8] = [0x82, 0x80 | 127]
        for shift in stride(from: 56, through: 0, by: -8) { header.append(UInt8(((4 << 20) >> shift) & 0xFF)) }
        let frames = [header + [0, 0, 0, 0] + [UInt8](repeating: 0x61, count: 1 << 20)]
        for _ in 0..<5 {
            let (bytes, end) = try await Self.exchangeEnd(maxPayload: 100_000, frames: frames)
            #expect(bytes.ends(with: Self.closeFrame(1009)), "\(bytes.suffix(8))")
            #expect(end == "eof", "the connection ended with \(end), not a FIN after the Close frame")
        }
    }

    @Test("a polling POST past maxPayload, its body still arriving, gets its 413 and a FIN, not a reset")
    func anOversizedPollingBodyIsRefusedWithAnAnswerThatArrives() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        var configuration = EngineIOServerConfiguration()
        configuration.maxPayload = 100_000
        let server = try await EngineIOServer.start(group: group, port: 0, configuration: configuration, events: MemoryEventSink())
        let socket = try BlockingSocket(port: server.port)
        let (text, end): (String, String) = try await onThread {
            try socket.send("POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            + "Content-Type: text/plain\r\nContent-Length: 4000000\r\n\r\n")
            try? socket.send([UInt8](repeating: 0x61, count: 1 << 20))
            var bytes: [UInt8] = []
            while true {
                switch socket.read(timeout: 20) {
                case .data(let chunk): bytes += chunk
                case .timeout: return (String(decoding: bytes, as: UTF8.self), "timeout")
                case let end: return (String(decoding: bytes, as: UTF8.self), "\(end)")
                }
            }
        }
        await server.stop()
        try await group.shutdownGracefully()
        #expect(text.hasPrefix("HTTP/1.1 413"), "\(text.prefix(80))")
        #expect(end == "eof", "the connection ended with \(end), not a FIN after the answer")
    }

    @Test("a continuation with no message begun closes with 1002")
    func strayContinuationIsAProtocolError() async throws {
        let bytes = try await Self.exchange(maxPayload: 100_000, frames: [Self.frame(fin: true, opcode: 0x0, Array("x".utf8))])
        #expect(bytes.ends(with: Self.closeFrame(1002)), "\(bytes.suffix(8))")
    }

    @Test("a reserved opcode closes with 1002")
    func reservedOpcodeIsAProtocolError() async throws {
        let bytes = try await Self.exchange(maxPayload: 100_000, frames: [Self.frame(fin: true, opcode: 0x3, [])])
        #expect(bytes.ends(with: Self.closeFrame(1002)), "\(bytes.suffix(8))")
    }

    @Test("a message within maxPayload, in fragments, is taken whole")
    func fragmentsWithinTheBoundAreReassembled() async throws {
        // Engine.IO "4" + Socket.IO CONNECT "0": the server answers the namespace connect.
        let frames = [Self.frame(fin: false, opcode: 0x1, Array("4".utf8)), Self.frame(fin: true, opcode: 0x0, Array("0".utf8))]
        let bytes = try await Self.exchange(maxPayload: 100_000, frames: frames, until: #"40{"sid":"#)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#"40{"sid":"#), "\(text)")
    }
}

extension Array where Element == UInt8 {
    /// Whether the array ends with `suffix`.
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
