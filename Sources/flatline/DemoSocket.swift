import LabCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The demo's client: a plain blocking TCP socket to 127.0.0.1, so the round trips it measures
/// carry no framework overhead and a reset shows up as the ECONNRESET a real client would see.
final class DemoSocket {
    /// What a read returned.
    enum ReadResult: Equatable {
        case data([UInt8])
        case eof
        case reset
        case timeout
        case error(Int32)
    }

    /// Why a socket call failed.
    struct Failure: Error, CustomStringConvertible {
        /// The call, e.g. "connect".
        var call: String
        /// Its errno.
        var errno: Int32

        var description: String { "\(call): \(String(cString: strerror(errno)))" }
    }

    private let fd: Int32

    /// Connects to 127.0.0.1:`port` with TCP_NODELAY.
    init(port: Int) throws {
        // The descriptor stays local until connect succeeds: a throwing class init still runs
        // deinit, which would close it twice.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(call: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(descriptor)
            throw Failure(call: "connect", errno: e)
        }
        fd = descriptor
    }

    deinit { close(fd) }

    /// Writes all of `text` as UTF-8.
    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { sendWithoutSignal(fd, $0) }
            guard n > 0 else { throw Failure(call: "send", errno: errno) }
            offset += n
        }
    }

    /// Reads whatever is available, waiting at most `timeout` seconds.
    func read(max: Int = 65536, timeout: Double) -> ReadResult {
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
    func read(exactly count: Int, timeout: Double) -> (bytes: [UInt8], end: ReadResult?) {
        var out: [UInt8] = []
        let deadline = Instant.monotonicNow() + .seconds(timeout)
        while out.count < count {
            let left = (deadline - Instant.monotonicNow()).seconds
            if left <= 0 { return (out, .timeout) }
            switch read(max: count - out.count, timeout: left) {
            case .data(let d): out += d
            case let other: return (out, other)
            }
        }
        return (out, nil)
    }
}

/// send(2) without SIGPIPE (the C function, which `DemoSocket.send` hides inside the class).
private func sendWithoutSignal(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
    send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
}
