import ArgumentParser
import Foundation
import FaultProxy
import LabCore
import NIOCore
import NIOPosix

/// `flatline demo`: a built-in echo server behind the fault proxy, round trips measured directly,
/// through the bare proxy, under a latency condition, across a stall that is lifted, and through
/// a reset, so a new user sees in seconds what the proxy does.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show the fault proxy at work on a built-in loopback echo server."
    )

    @Option(help: "Round trips per measurement.")
    var count = 50

    @Option(help: "Seed for the latency jitter.")
    var seed: UInt64 = 1

    func validate() throws {
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be 1-10000, got \(count)") }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let echo = try await DemoEchoServer.start(group: group)
        let registry = ProxyRegistry(group: group, seed: seed)
        let proxy = try await registry.create(name: "demo", listen: HostPort(host: "127.0.0.1", port: 0),
                                              upstream: HostPort(host: "127.0.0.1", port: echo.port))
        let port = proxy.listenAddress.port
        print("Flatline demo: echo server on 127.0.0.1:\(echo.port), proxy \"demo\" on 127.0.0.1:\(port)")
        print("")
        print(RoundTrips.header)

        let direct = try DemoSocket(port: echo.port)
        print(try RoundTrips.measure("direct to the echo server", direct, count: count).row)
        let proxied = try DemoSocket(port: port)
        print(try RoundTrips.measure("through the proxy, no condition", proxied, count: count).row)

        let latency = Condition.latency(LatencyCondition(latency: .milliseconds(50), jitter: .milliseconds(5)))
        try await proxy.addToxic(Toxic(name: "latency_downstream", type: "latency", stream: .downstream, condition: latency))
        print(try RoundTrips.measure("latency 50ms ± 5ms (downstream)", proxied, count: count).row)
        try await proxy.removeToxic(named: "latency_downstream")
        print(try RoundTrips.measure("condition removed, same connection", proxied, count: count).row)

        // A stall holds data on the open connection; lifting it delivers the data, no reconnect.
        try await proxy.addToxic(Toxic(name: "stall_upstream", type: "stall", stream: .upstream,
                                       condition: .stall(StallCondition())))
        let stallStart = Instant.monotonicNow()
        try proxied.send("during-stall")
        let whileStalled = proxied.read(timeout: 0.5)
        try await proxy.removeToxic(named: "stall_upstream")
        let (afterLift, end) = proxied.read(exactly: "during-stall".utf8.count, timeout: 5)
        let stallSeconds = (Instant.monotonicNow() - stallStart).seconds
        print("")
        print("stall (upstream) for 0.5 s, then lifted: while stalled the client read \(whileStalled == .timeout ? "nothing" : "\(whileStalled)"); "
            + "after lifting, the held message arrived \(end == nil && afterLift.count == 12 ? "intact" : "BROKEN") "
            + String(format: "%.0f ms", stallSeconds * 1000) + " after it was sent, on the same connection")

        // A reset condition sends a real RST on an already-open connection.
        try await proxy.addToxic(Toxic(name: "reset_peer_downstream", type: "reset_peer", stream: .downstream,
                                       condition: .reset(ResetCondition())))
        let afterReset = proxied.read(timeout: 2)
        print("reset_peer on the open connection: the client's next read returned \(afterReset == .reset ? "ECONNRESET (a real RST)" : "\(afterReset)")")
        print("")
        print("Run `flatline proxy` for the Toxiproxy-compatible API on 127.0.0.1:8474, e.g.")
        print("  curl -XPOST 127.0.0.1:8474/proxies -d '{\"name\":\"app\",\"listen\":\"127.0.0.1:26379\",\"upstream\":\"127.0.0.1:6379\"}'")
        print("  curl -XPOST 127.0.0.1:8474/proxies/app/toxics -d '{\"type\":\"latency\",\"attributes\":{\"latency\":50,\"jitter\":5}}'")

        await registry.removeAll()
        await echo.stop()
        try await group.shutdownGracefully()
    }
}

/// Round-trip statistics of 1-byte-ish ping-pong on a blocking socket.
struct RoundTrips {
    let label: String
    let samples: [Double]

    static let header = "round trips (ms)                          p50      p90      p99      max"

    static func measure(_ label: String, _ socket: DemoSocket, count: Int) throws -> RoundTrips {
        var samples: [Double] = []
        for _ in 0..<count {
            let start = Instant.monotonicNow()
            try socket.send("p")
            let (bytes, end) = socket.read(exactly: 1, timeout: 5)
            guard end == nil, bytes.count == 1 else { throw ValidationError("echo failed: \(String(describing: end))") }
            samples.append((Instant.monotonicNow() - start).seconds * 1000)
        }
        return RoundTrips(label: label, samples: samples.sorted())
    }

    func percentile(_ p: Double) -> Double {
        samples[min(samples.count - 1, Int((p * Double(samples.count)).rounded(.up)) - 1)]
    }

    var row: String {
        let padded = label.padding(toLength: 40, withPad: " ", startingAt: 0)
        return padded + [0.5, 0.9, 0.99].map { String(format: "%9.3f", percentile($0)) }.joined()
            + String(format: "%9.3f", samples.last ?? 0)
    }
}
