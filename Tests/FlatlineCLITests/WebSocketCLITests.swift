import Foundation
import Testing

/// `flatline serve websocket` and `flatline connect websocket` end to end: the built binary, its
/// exit codes and its event log.
@Suite(.serialized)
struct WebSocketCLITests {
    /// The event log lines of `stdout`, as JSON objects.
    static func events(_ stdout: String) -> [[String: Any]] {
        stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func of(_ events: [[String: Any]], _ type: String, detail: String? = nil) -> [[String: Any]] {
        events.filter { $0["type"] as? String == type && (detail == nil || $0["detail"] as? String == detail) }
    }

    @Test func badInputIsAUsageError() throws {
        let scheme = try CLITests.run(["connect", "websocket", "http://127.0.0.1:8765/"])
        #expect(scheme.status == 64)
        #expect(scheme.stderr.contains("is not a ws:// URL"))
        let timeout = try CLITests.run(["connect", "websocket", "ws://127.0.0.1:8765/", "--ping-timeout", "0s"])
        #expect(timeout.status == 64)
        #expect(timeout.stderr.contains("--ping-timeout must be > 0"))
        let interval = try CLITests.run(["serve", "websocket", "--port", "0", "--ping-interval", "25"])
        #expect(interval.status == 64)
        #expect(interval.stderr.contains("'25' has no unit"))
    }

    @Test func aRefusedConnectionIsAConnectErrorAndExitsNonZero() throws {
        let port = try CLITests.freePort()  // nothing listens there
        let r = try CLITests.run(["connect", "websocket", "ws://127.0.0.1:\(port)/", "--duration", "5s"], timeout: 20)
        #expect(r.status == 1)
        let errors = Self.of(Self.events(r.stdout), "connect_error")
        #expect(errors.count == 1)
        #expect(errors.first?["reason"] as? String == "transport error")
    }

    @Test func serverAndClientPingEachOtherEchoAndCloseWith1000() throws {
        let port = try CLITests.freePort()
        let server = Process()
        server.executableURL = CLITests.binary
        server.arguments = ["serve", "websocket", "--port", "\(port)", "--ping-interval", "100ms", "--ping-timeout", "500ms"]
        let serverOut = Pipe()
        server.standardOutput = serverOut
        server.standardError = Pipe()
        try server.run()
        defer { if server.isRunning { server.terminate() } }
        var listening = false
        for _ in 0..<100 where !listening {
            listening = CLITests.httpGet(port: port, path: "/")?.hasPrefix("HTTP/1.1 426") ?? false
            if !listening { usleep(50_000) }
        }
        #expect(listening)

        let client = try CLITests.run(["connect", "websocket", "ws://127.0.0.1:\(port)/lab", "--ping-interval", "100ms",
                                       "--ping-timeout", "500ms", "--send-rate", "10/s", "--duration", "800ms"], timeout: 20)
        #expect(client.status == 0)
        let c = Self.events(client.stdout)
        #expect(c.first?["type"] as? String == "connect")
        #expect(Self.of(c, "ping", detail: "sent").count >= 4)
        #expect(Self.of(c, "pong").count >= 4)
        #expect(Self.of(c, "ping", detail: "received").count >= 4)
        #expect(Self.of(c, "message_sent").count >= 5)
        #expect(Self.of(c, "message_received").count >= Self.of(c, "message_sent").count - 1)
        let closed = Self.of(c, "disconnect")
        #expect(closed.count == 1)
        #expect(closed.first?["reason"] as? String == "close 1000")

        kill(server.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while server.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!server.isRunning)
        let s = Self.events(String(decoding: serverOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        #expect(Self.of(s, "connect").first?["detail"] as? String == "websocket /lab")
        #expect(Self.of(s, "pong").count >= 4)
        #expect(Self.of(s, "message_received").count == Self.of(s, "message_sent").count)
        #expect(Self.of(s, "disconnect").first?["reason"] as? String == "close 1000")
    }
}
