#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP client socket for tests: it lets a test observe exactly what a real
/// client sees (bytes, EOF, ECONNRESET, timing) without any framework in between. Its only state
/// is the descriptor, and one thread may read while another writes, hence `@unchecked Sendable`.
public final class BlockingSocket: @unchecked Sendable {
    /// What a read returned.
    public enum ReadResult: Equatable, Sendable {
        case data([UInt8])
        case eof
        case reset
        case timeout
        case error(Int32)
    }

    /// The socket's file descriptor.
    public let fd: Int32

    /// Connects to `host:port` (IPv4 literal) with TCP_NODELAY; throws the errno on failure.
    public init(host: String = "127.0.0.1", port: Int) throws {
        // Keep the descriptor local until connect succeeds: a throwing class init still runs
        // deinit, which would close the same number twice (possibly another thread's socket).
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw SocketError(errno: errno, call: "socket") }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(descriptor)
            throw SocketError(errno: e, call: "connect")
        }
        fd = descriptor
    }

    deinit { close(fd) }

    /// Writes all of `bytes`.
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SocketError(errno: errno, call: "send") }
            offset += n
        }
    }

    /// Writes a string as UTF-8.
    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads whatever is available, waiting at most `timeout` seconds.
    public func read(max: Int = 65536, timeout: Double) -> ReadResult {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        if n > 0 { return .data(Array(buffer[0..<n])) }
        if n == 0 { return .eof }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK { return .timeout }
        if e == ECONNRESET { return .reset }
        return .error(e)
    }

    /// Reads until `count` bytes arrived, EOF, reset, or `timeout` seconds in total passed.
    public func read(exactly count: Int, timeout: Double) -> (bytes: [UInt8], end: ReadResult?) {
        var out: [UInt8] = []
        let deadline = MonotonicClock.seconds() + timeout
        while out.count < count {
            let left = deadline - MonotonicClock.seconds()
            if left <= 0 { return (out, .timeout) }
            switch read(max: count - out.count, timeout: left) {
            case .data(let d): out += d
            case let other: return (out, other)
            }
        }
        return (out, nil)
    }

    /// Shuts down the sending direction (a half-close: FIN, still able to read).
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}

/// An errno from a socket call.
public struct SocketError: Error, Equatable, Sendable {
    /// The errno value.
    public let errno: Int32
    /// The call that failed.
    public let call: String
}

/// Monotonic seconds for measuring intervals in tests.
public enum MonotonicClock {
    /// Seconds on CLOCK_MONOTONIC.
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
