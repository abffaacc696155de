import Foundation
import LabCore
import LiveComponents
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// Both built-in servers (Engine.IO and plain WebSocket) against a hand-written client on a real
/// loopback socket: opening handshakes and frames that break RFC 6455, and requests that never
/// finish (issue 12, finding 9).
@Suite(.serialized)
struct ServerHandshakeTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case engineIO, webSocket
        var testDescription: String { rawValue }
        /// A target the server upgrades.
        var target: String { self == .engineIO ? "/socket.io/?EIO=4&transport=websocket" : "/feed" }
    }

    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    static func upgrade(_ target: String, version: String? = "13", key: String? = Self.key, method: String = "GET") -> String {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        if let key { text += "Sec-WebSocket-Key: \(key)\r\n" }
        if let version { text += "Sec-WebSocket-Version: \(version)\r\n" }
        return text + "\r\n"
    }

    /// One frame; masked with a zero key unless `masked` is false; `rsv1` sets the first reserved bit.
    static func frame(opcode: UInt8, _ payload: [UInt8], masked: Bool = true, rsv1: Bool = false) -> [UInt8] {
        precondition(payload.count < 126)
        var out: [UInt8] = [0x80 | (rsv1 ? 0x40 : 0) | opcode, (masked ? 0x80 : 0) | UInt8(payload.count)]
        if masked { out += [0, 0, 0, 0] }
        return out + payload
    }

    static func close(_ code: UInt16, _ reason: [UInt8] = []) -> [UInt8] {
        frame(opcode: 0x8, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    /// The close frame a server sends with this code (unmasked).
    static func serverClose(_ code: UInt16) -> [UInt8] { [0x88, 0x02, UInt8(code >> 8), UInt8(code & 0xFF)] }

    struct Exchange {
        var bytes: [UInt8]
        /// Whether the server closed the connection (rather than the read giving up).
        var closedByServer: Bool
        /// Seconds from the last write to the server's close.
        var closedAfter: Double
        /// How the connection ended: "eof", "reset", … ("open" when the read gave up).
        var end = "open"
        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// Starts the server of `kind`, sends `request` then `frames`, and collects what the server
    /// sends until it closes or `wait` seconds pass.
    static func exchange(_ kind: Kind, request: String, frames: [[UInt8]] = [], wait: Double = 5,
                         requestTimeout: TimeSpan = .seconds(10)) async throws -> Exchange {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let port: Int
        let stop: () async -> Void
        switch kind {
        case .engineIO:
            var configuration = EngineIOServerConfiguration()
            configuration.requestTimeout = requestTimeout
            let server = try await EngineIOServer.start(group: group, port: 0, configuration: configuration, events: MemoryEventSink())
            port = server.port
            stop = { await server.stop() }
        case .webSocket:
            var options = WebSocketKeepaliveOptions()
            options.handshakeTimeout = requestTimeout
            options.closeTimeout = .milliseconds(200)
            let server = try await WebSocketKeepaliveServer.start(group: group, port: 0, options: options, events: MemoryEventSink())
            port = server.port
            stop = { await server.stop() }
        }
        let socket = try BlockingSocket(port: port)
        let result: Exchange = try await onThread {
            try socket.send(request)
            var bytes: [UInt8] = []
            if !frames.isEmpty {
                // Let the whole 101 come first, so the frames meet the WebSocket pipeline.
                let headersDeadline = Instant.monotonicNow() + .seconds(2)
                while !bytes.contains(subsequence: Array("\r\n\r\n".utf8)), Instant.monotonicNow() < headersDeadline {
                    guard case .data(let chunk) = socket.read(timeout: 0.05) else { continue }
                    bytes += chunk
                }
            }
            for frame in frames { try? socket.send(frame) }
            let sent = Instant.monotonicNow()
            let deadline = sent + .seconds(wait)
            while Instant.monotonicNow() < deadline {
                switch socket.read(timeout: 0.05) {
                case .data(let chunk): bytes += chunk
                case .timeout: continue
                case let end:
                    return Exchange(bytes: bytes, closedByServer: true, closedAfter: (Instant.monotonicNow() - sent).seconds, end: "\(end)")
                }
            }
            return Exchange(bytes: bytes, closedByServer: false, closedAfter: wait)
        }
        socket.shutdownWrite()
        await stop()
        try await group.shutdownGracefully()
        return result
    }

    // MARK: Refusals that arrive

    @Test("a frame past the size limit, its bytes still arriving, gets a 1009 Close frame and a FIN, not a reset",
          arguments: Kind.allCases)
    func anOversizedFrameGetsItsCloseFrameAndAFin(kind: Kind) async throws {
        // A header announcing 64 MB, then 1 MB of it at once: far past either server's limit.
        var header: [UInt8] = [0x82, 0x80 | 127]
        for shift in stride(from: 56, through: 0, by: -8) { header.append(UInt8(((64 << 20) >> shift) & 0xFF)) }
        let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target),
                                            frames: [header + [0, 0, 0, 0] + [UInt8](repeating: 0x61, count: 1 << 20)])
        #expect(reply.bytes.ends(with: Self.serverClose(1009)), "\(reply.bytes.suffix(8))")
        #expect(reply.end == "eof", "\(kind): the connection ended with \(reply.end), not a FIN after the Close frame")
    }

    // MARK: Declined handshakes get an answer

    @Test("a handshake for another WebSocket version gets 426 naming version 13", arguments: Kind.allCases)
    func otherVersionGets426(kind: Kind) async throws {
        let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target, version: "8"))
        #expect(reply.text.hasPrefix("HTTP/1.1 426"), "\(reply.text)")
        #expect(reply.text.lowercased().contains("sec-websocket-version: 13"), "\(reply.text)")
        #expect(reply.closedByServer)
    }

    @Test("a handshake without a Sec-WebSocket-Key, or with a malformed one, gets 400", arguments: Kind.allCases)
    func missingKeyGets400(kind: Kind) async throws {
        for key in [nil, "c2hvcnQ="] as [String?] {
            let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target, key: key))
            #expect(reply.text.hasPrefix("HTTP/1.1 400"), "key \(key ?? "none"): \(reply.text)")
            #expect(reply.closedByServer)
        }
    }

    @Test("Engine.IO: an upgrade on transport=polling, with an unknown sid, or on an unknown path is answered")
    func engineIOUpgradeRefusals() async throws {
        let polling = try await Self.exchange(.engineIO, request: Self.upgrade("/socket.io/?EIO=4&transport=polling"))
        #expect(polling.text.hasPrefix("HTTP/1.1 400"), "\(polling.text)")
        #expect(polling.text.contains(#""message":"Bad request""#), "\(polling.text)")
        let unknownSid = try await Self.exchange(.engineIO, request: Self.upgrade("/socket.io/?EIO=4&transport=websocket&sid=nosuch"))
        #expect(unknownSid.text.hasPrefix("HTTP/1.1 400"), "\(unknownSid.text)")
        #expect(unknownSid.text.contains(#""message":"Session ID unknown""#), "\(unknownSid.text)")
        let path = try await Self.exchange(.engineIO, request: Self.upgrade("/elsewhere/?EIO=4&transport=websocket"))
        #expect(path.text.hasPrefix("HTTP/1.1 404"), "\(path.text)")
        let version = try await Self.exchange(.engineIO, request: Self.upgrade("/socket.io/?EIO=3&transport=websocket"))
        #expect(version.text.hasPrefix("HTTP/1.1 400"), "\(version.text)")
        for reply in [polling, unknownSid, path, version] { #expect(reply.closedByServer) }
    }

    @Test("a good handshake still upgrades", arguments: Kind.allCases)
    func goodHandshakeUpgrades(kind: Kind) async throws {
        let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target), wait: 0.3)
        #expect(reply.text.hasPrefix("HTTP/1.1 101"), "\(reply.text)")
        #expect(reply.text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "\(reply.text)")
    }

    // MARK: Frames that break the protocol close with 1002

    @Test("an unmasked client frame closes with 1002", arguments: Kind.allCases)
    func unmaskedFrameCloses1002(kind: Kind) async throws {
        let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target),
                                            frames: [Self.frame(opcode: 0x1, Array("4hello".utf8), masked: false)])
        #expect(reply.bytes.ends(with: Self.serverClose(1002)), "\(reply.bytes.suffix(8))")
        #expect(reply.closedByServer)
    }

    @Test("a reserved bit with no extension closes with 1002", arguments: Kind.allCases)
    func reservedBitCloses1002(kind: Kind) async throws {
        let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target),
                                            frames: [Self.frame(opcode: 0x1, Array("4hello".utf8), rsv1: true)])
        #expect(reply.bytes.ends(with: Self.serverClose(1002)), "\(reply.bytes.suffix(8))")
    }

    @Test("a reserved opcode closes with 1002", arguments: Kind.allCases)
    func reservedOpcodeCloses1002(kind: Kind) async throws {
        let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target), frames: [Self.frame(opcode: 0xB, [])])
        #expect(reply.bytes.ends(with: Self.serverClose(1002)), "\(reply.bytes.suffix(8))")
    }

    @Test("a close code nobody may send is answered with 1002; a good one is echoed", arguments: Kind.allCases)
    func closeCodes(kind: Kind) async throws {
        for (sent, expected) in [(UInt16(999), UInt16(1002)), (5000, 1002), (1005, 1002), (1004, 1002), (2999, 1002),
                                 (1000, 1000), (1001, 1001), (4000, 4000), (3001, 3001)] {
            let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target), frames: [Self.close(sent)], wait: 2)
            #expect(reply.bytes.ends(with: Self.serverClose(expected)), "sent \(sent): \(reply.bytes.suffix(8))")
        }
    }

    @Test("a one-byte close payload is 1002, a reason that is not UTF-8 is 1007", arguments: Kind.allCases)
    func malformedClosePayloads(kind: Kind) async throws {
        let short = try await Self.exchange(kind, request: Self.upgrade(kind.target), frames: [Self.frame(opcode: 0x8, [0x03])], wait: 2)
        #expect(short.bytes.ends(with: Self.serverClose(1002)), "\(short.bytes.suffix(8))")
        let notUTF8 = try await Self.exchange(kind, request: Self.upgrade(kind.target), frames: [Self.close(1000, [0xC3, 0x28])], wait: 2)
        #expect(notUTF8.bytes.ends(with: Self.serverClose(1007)), "\(notUTF8.bytes.suffix(8))")
    }

    /// Found by `make fuzz` (protocol_fuzz): the plain WebSocket server echoed text that is not
    /// UTF-8, and closed without a Close frame on a continuation with nothing to continue.
    @Test("text that is not UTF-8 closes with 1007", arguments: Kind.allCases)
    func textThatIsNotUTF8Closes1007(kind: Kind) async throws {
        let reply = try await Self.exchange(kind, request: Self.upgrade(kind.target), frames: [Self.frame(opcode: 0x1, Array("42".utf8) + [0xFF])], wait: 2)
        #expect(reply.bytes.ends(with: Self.serverClose(1007)), "\(reply.bytes.suffix(8))")
    }

    @Test("the WebSocket server closes text that is not UTF-8 with 1007, a stray continuation with 1002")
    func webSocketMessageRules() async throws {
        let notUTF8 = try await Self.exchange(.webSocket, request: Self.upgrade(Kind.webSocket.target),
                                              frames: [Self.frame(opcode: 0x1, [0xE2, 0x82])], wait: 2)
        #expect(notUTF8.bytes.ends(with: Self.serverClose(1007)), "\(notUTF8.bytes.suffix(8))")
        #expect(!notUTF8.bytes.contains(subsequence: [0x81, 0x02, 0xE2, 0x82]), "the text was echoed")
        let stray = try await Self.exchange(.webSocket, request: Self.upgrade(Kind.webSocket.target),
                                            frames: [Self.frame(opcode: 0x0, Array("tail".utf8))], wait: 2)
        #expect(stray.bytes.ends(with: Self.serverClose(1002)), "\(stray.bytes.suffix(8))")
        #expect(stray.closedByServer)
    }

    // MARK: Requests that never finish

    @Test("headers that never finish are closed after the request timeout", arguments: Kind.allCases)
    func unfinishedHeadersAreClosed(kind: Kind) async throws {
        let reply = try await Self.exchange(kind, request: "GET \(kind.target) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr",
                                            wait: 5, requestTimeout: .milliseconds(300))
        #expect(reply.closedByServer, "the server still held the connection after 5 s")
        #expect(reply.closedAfter >= 0.2 && reply.closedAfter < 2, "closed after \(reply.closedAfter) s")
        #expect(reply.bytes.isEmpty)
    }

    @Test("Engine.IO: a POST body that never finishes is closed after the request timeout")
    func unfinishedBodyIsClosed() async throws {
        let request = "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n40"
        let reply = try await Self.exchange(.engineIO, request: request, wait: 5, requestTimeout: .milliseconds(300))
        #expect(reply.closedByServer, "the server still held the connection after 5 s")
        #expect(reply.closedAfter < 2, "closed after \(reply.closedAfter) s")
    }

    @Test("Engine.IO: a long poll waiting for data is not cut by the request timeout")
    func longPollOutlivesTheRequestTimeout() async throws {
        // The request timeout bounds reading a request, not the server holding a poll open.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = EngineIOServerConfiguration()
        configuration.requestTimeout = .milliseconds(200)
        configuration.pingInterval = .milliseconds(1000)
        configuration.allowUpgrades = false
        let server = try await EngineIOServer.start(group: group, port: 0, configuration: configuration, events: MemoryEventSink())
        let port = server.port
        let (handshake, poll, heldFor): (String, String, Double) = try await onThread {
            func request(_ target: String, wait: Double) throws -> (String, Double) {
                let socket = try BlockingSocket(port: port)
                try socket.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                let sent = Instant.monotonicNow()
                var bytes: [UInt8] = []
                while Instant.monotonicNow() < sent + .seconds(wait) {
                    switch socket.read(timeout: 0.05) {
                    case .data(let chunk): bytes += chunk
                    case .timeout: continue
                    default: return (String(decoding: bytes, as: UTF8.self), (Instant.monotonicNow() - sent).seconds)
                    }
                }
                return (String(decoding: bytes, as: UTF8.self), wait)
            }
            let (handshake, _) = try request("/socket.io/?EIO=4&transport=polling", wait: 2)
            guard let range = handshake.range(of: #""sid":""#) else { return (handshake, "", 0) }
            let sid = handshake[range.upperBound...].prefix { $0 != "\"" }
            let (poll, heldFor) = try request("/socket.io/?EIO=4&transport=polling&sid=\(sid)", wait: 3)
            return (handshake, poll, heldFor)
        }
        await server.stop()
        try await group.shutdownGracefully()
        #expect(handshake.hasPrefix("HTTP/1.1 200"), "\(handshake)")
        #expect(poll.hasPrefix("HTTP/1.1 200"), "the held poll was not answered: \(poll)")
        #expect(poll.hasSuffix("\r\n\r\n2"), "the held poll should carry the ping: \(poll)")
        #expect(heldFor > 0.5, "the poll was answered after \(heldFor) s, before the ping was due")
    }
}

extension Array where Element: Equatable {
    /// Whether `needle` occurs in the array as a contiguous run.
    func contains(subsequence needle: [Element]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return needle.isEmpty }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
