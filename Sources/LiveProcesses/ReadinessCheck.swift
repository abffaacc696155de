import Foundation
import LabCore
import NIOCore
import NIOPosix
import Scenario

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits for an external server to be ready: polls its readiness probe (a TCP connect, or an HTTP
/// GET answering 2xx) on 127.0.0.1 until it succeeds, the program exits, or the probe's timeout
/// passes, so clients only start against a server that accepts them.
public enum ReadinessCheck {
    /// Why one probe attempt failed, for the error message.
    struct AttemptFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Polls `probe` against 127.0.0.1:`port` until it succeeds; throws a `ReadinessError` (with
    /// the program's stderr tail) when the program exits first or the timeout passes, and
    /// `CancellationError` when the run is interrupted meanwhile.
    public static func wait(for probe: ReadinessProbe, port: Int, process: ExternalProcess,
                            group: any EventLoopGroup) async throws {
        let started = Instant.monotonicNow()
        let deadline = started + probe.timeout
        var lastFailure = "no attempt made"
        while true {
            try Task.checkCancellation()
            if process.hasExited {
                await process.stop()
                throw ReadinessError(message: "the program exited (\(process.exitDescription ?? "exited")) "
                                     + "before it was ready on 127.0.0.1:\(port)" + tailNote(process))
            }
            let remaining = deadline - Instant.monotonicNow()
            let attemptTimeout = min(max(remaining, .milliseconds(50)), .seconds(1))
            do {
                try await attempt(probe.kind, port: port, group: group, timeout: attemptTimeout)
                return
            } catch let failure as AttemptFailure {
                lastFailure = failure.description
            }
            if Instant.monotonicNow() >= deadline {
                throw ReadinessError(message: "not ready within \(probe.timeout) "
                                     + "(\(describe(probe.kind, port: port)): \(lastFailure))" + tailNote(process))
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    static func tailNote(_ process: ExternalProcess) -> String {
        let tail = process.stderrTail()
        return tail.isEmpty ? "; its stderr was empty" : "; the end of its stderr:\n" + tail
    }

    static func describe(_ kind: ReadinessProbe.Kind, port: Int) -> String {
        switch kind {
        case .tcp: return "tcp connect to 127.0.0.1:\(port)"
        case .http(let path): return "http GET http://127.0.0.1:\(port)\(path)"
        }
    }

    /// One probe attempt, bounded by `timeout`.
    static func attempt(_ kind: ReadinessProbe.Kind, port: Int, group: any EventLoopGroup, timeout: TimeSpan) async throws {
        let loop = group.next()
        let status = loop.makePromise(of: Int.self)
        let path: String?
        if case .http(let p) = kind { path = p } else { path = nil }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(timeout.nanoseconds))
            .channelInitializer { channel in
                guard let path else { return channel.eventLoop.makeSucceededVoidFuture() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTPStatusProbe(path: path, port: port, status: status))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
        } catch {
            status.fail(AttemptFailure(description: "\(error)"))
            throw AttemptFailure(description: connectFailure(error))
        }
        guard path != nil else {
            status.succeed(0)
            try? await channel.close()
            return
        }
        let timer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            status.fail(AttemptFailure(description: "no HTTP status line within \(timeout)"))
        }
        defer { timer.cancel() }
        let code: Int
        do {
            code = try await status.futureResult.get()
        } catch {
            try? await channel.close()
            throw (error as? AttemptFailure) ?? AttemptFailure(description: "\(error)")
        }
        try? await channel.close()
        guard (200..<300).contains(code) else { throw AttemptFailure(description: "HTTP status \(code)") }
    }

    static func connectFailure(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("refused") || text.contains("ECONNREFUSED") || text.contains("errno: 111") { return "connection refused" }
        if error is ChannelError, case .connectTimeout = error as! ChannelError { return "connect timed out" }
        return text
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it), for a
    /// program that must be told its port before it starts.
    public static func freeLoopbackPort() throws(ReadinessError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ReadinessError(message: "socket(): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw ReadinessError(message: "bind(127.0.0.1:0): \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw ReadinessError(message: "getsockname(): \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Why an external server never became ready (it exited first, or the probe's timeout passed), or
/// why no port could be found for it; the message names the probe and ends with the program's
/// stderr tail.
public struct ReadinessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What happened, e.g. "not ready within 1s (tcp connect to 127.0.0.1:40123: connection refused)".
    public var message: String

    /// Creates an error with its message.
    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Sends one HTTP/1.1 GET when the connection is up and reports the status code of the answer's
/// first line (anything else fails the promise).
private final class HTTPStatusProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let path: String
    private let port: Int
    private let status: EventLoopPromise<Int>
    private var received: [UInt8] = []

    init(path: String, port: Int, status: EventLoopPromise<Int>) {
        self.path = path
        self.port = port
        self.status = status
    }

    func channelActive(context: ChannelHandlerContext) {
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: flatline-readiness\r\nConnection: close\r\n\r\n"
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.append(contentsOf: buffer.readableBytesView)
        guard let end = received.firstIndex(of: UInt8(ascii: "\n")) else {
            if received.count > 8192 { status.fail(ReadinessCheck.AttemptFailure(description: "no HTTP status line")) }
            return
        }
        let line = String(decoding: received[..<end], as: UTF8.self)
        let parts = line.split(separator: " ")
        if parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) {
            status.succeed(code)
        } else {
            status.fail(ReadinessCheck.AttemptFailure(description: "not an HTTP answer: \(line.prefix(80))"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        status.fail(ReadinessCheck.AttemptFailure(description: "connection closed before an HTTP status line"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        status.fail(ReadinessCheck.AttemptFailure(description: "\(error)"))
        context.close(promise: nil)
    }
}
