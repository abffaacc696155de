import Foundation
import NIOCore
import NIOPosix
@testable import ProxyAPI

#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking socket code on its own thread, so tests never block Swift's cooperative pool
/// (the server under test needs it to answer).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// An errno from a test socket call.
struct TestSocketError: Error, CustomStringConvertible {
    var call: String
    var code: Int32
    var description: String { "\(call): errno \(code) (\(String(cString: strerror(code))))" }
}

/// A blocking IPv4 TCP client socket with a receive timeout, for tests that must see exactly the
/// bytes, EOF or reset a real client sees.
final class TestSocket: @unchecked Sendable {
    let fd: Int32

    init(port: Int, host: String = "127.0.0.1") throws {
        // Everything happens on a local descriptor: a class init that throws after its stored
        // properties are set still runs deinit, which would close the descriptor a second time
        // (by then possibly another thread's socket).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSocketError(call: "socket", code: errno) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw TestSocketError(call: "connect", code: code)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestSocketError(call: "send", code: errno) }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    enum Read: Equatable {
        case data([UInt8])
        case eof
        case reset
        case timeout
        case failed(Int32)
    }

    /// Reads what is available, waiting at most `timeout` seconds.
    func read(timeout: Double, max: Int = 65536) -> Read {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        if n > 0 { return .data(Array(buffer[0..<n])) }
        if n == 0 { return .eof }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK { return .timeout }
        if code == ECONNRESET { return .reset }
        return .failed(code)
    }

    /// Reads exactly `count` bytes or returns what arrived before EOF, reset or the deadline.
    func read(exactly count: Int, timeout: Double) -> (bytes: [UInt8], end: Read?) {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while out.count < count {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return (out, .timeout) }
            switch read(timeout: max(left, 0.001), max: count - out.count) {
            case .data(let d): out += d
            case let other: return (out, other)
            }
        }
        return (out, nil)
    }
}

/// One parsed HTTP response.
struct TestHTTPResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON (fails the caller's expectations with nil when it is not).
    var json: JSONValue? { try? JSONValue.parse(body) }
}

/// A tiny HTTP/1.1 client over one keep-alive connection: writes requests (well-formed or not)
/// and parses responses by Content-Length.
final class TestHTTPClient: @unchecked Sendable {
    let socket: TestSocket
    private var buffer: [UInt8] = []

    init(port: Int) throws { socket = try TestSocket(port: port) }

    /// Sends a request with an optional body and reads the response.
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:],
                 timeout: Double = 10) throws -> TestHTTPResponse {
        try sendRequest(method, path, body: body.map { Array($0.utf8) }, headers: headers)
        return try readResponse(timeout: timeout)
    }

    /// Writes a request without reading the response (for pipelining).
    func sendRequest(_ method: String, _ path: String, body: [UInt8]?, headers: [String: String] = [:]) throws {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        var headers = headers
        if headers["User-Agent"] == nil { headers["User-Agent"] = "flatline-tests" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        text += "\r\n"
        try socket.send(Array(text.utf8) + (body ?? []))
    }

    /// Reads one response (skipping 1xx interim ones).
    func readResponse(timeout: Double = 10) throws -> TestHTTPResponse {
        while true {
            let response = try readOne(timeout: timeout)
            if response.status >= 200 { return response }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func fill(timeout: Double) throws {
        switch socket.read(timeout: timeout) {
        case .data(let d): buffer += d
        case let other: throw Failure(description: "connection ended while reading a response: \(other)")
        }
    }

    private func readOne(timeout: Double) throws -> TestHTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            if buffer.count >= 4 {
                headEnd = (0...(buffer.count - 4)).first { Array(buffer[$0..<$0 + 4]) == separator }
            }
            if headEnd == nil { try fill(timeout: timeout) }
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw Failure(description: "bad status line in \(headText)")
        }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = TestHTTPResponse(status: status, headers: headers, body: [])
        if status < 200 || status == 204 || status == 304 { return response }
        if let length = response.header("content-length").flatMap(Int.init) {
            while buffer.count < length { try fill(timeout: timeout) }
            response.body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        } else {
            while case .data(let d) = socket.read(timeout: timeout) { buffer += d }
            response.body = buffer
            buffer = []
        }
        return response
    }
}

/// A TCP echo server on 127.0.0.1 (NIO), the upstream of proxies under test.
final class TestEchoServer: Sendable {
    let port: Int
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    static func start() async throws -> TestEchoServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(EchoHandler()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestEchoServer(channel: channel)
    }

    func stop() async { try? await channel.close() }

    private final class EchoHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
        func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}

/// Helpers to look into JSON responses.
extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}
