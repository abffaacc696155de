// Plain blocking-socket helpers for the benchmark tool: no NIO, no Foundation, only Glibc.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The text of the current `errno`.
func errnoText() -> String { String(cString: strerror(errno)) }

/// Monotonic time in nanoseconds.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Writes one line to standard output with a single write(2), so lines from several threads never
/// interleave and a driver tailing a log file sees each line as soon as it is complete.
func emit(_ line: String) {
    var text = line
    text.append("\n")
    text.withUTF8 { buf in
        var off = 0
        while off < buf.count {
            let n = write(1, buf.baseAddress! + off, buf.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            off += n
        }
    }
}

/// Writes a diagnostic line to standard error.
func warn(_ line: String) {
    var text = "FlatlineBench: " + line
    text.append("\n")
    text.withUTF8 { buf in _ = write(2, buf.baseAddress!, buf.count) }
}

/// An IPv4 endpoint that must be a loopback address (127.0.0.0/8): the benchmark never talks to
/// anything off the machine.
struct Endpoint: CustomStringConvertible {
    var host: String
    var port: UInt16

    var description: String { "\(host):\(port)" }

    static func parse(_ text: String) throws -> Endpoint {
        guard let colon = text.lastIndex(of: ":") else {
            throw BenchError("expected HOST:PORT, got '\(text)'")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText), port > 0 else {
            throw BenchError("bad port in '\(text)'")
        }
        if host == "localhost" || host.isEmpty { host = "127.0.0.1" }
        let endpoint = Endpoint(host: host, port: port)
        _ = try endpoint.sockaddr()
        return endpoint
    }

    func sockaddr() throws -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            throw BenchError("'\(host)' is not an IPv4 address")
        }
        // s_addr is in network byte order; the first octet must be 127.
        let first = UInt32(bigEndian: addr.sin_addr.s_addr) >> 24
        guard first == 127 else {
            throw BenchError("'\(host)' is not a loopback address; the benchmark only uses 127.0.0.0/8")
        }
        return addr
    }
}

/// Sets SO_RCVTIMEO and SO_SNDTIMEO (the latter also bounds a blocking connect on Linux).
func setTimeouts(_ fd: Int32, receive: Double?, send: Double?) {
    func tv(_ seconds: Double) -> timeval {
        let whole = seconds.rounded(.down)
        return timeval(tv_sec: Int(whole), tv_usec: Int((seconds - whole) * 1_000_000))
    }
    if let receive {
        var t = tv(receive)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
    }
    if let send {
        var t = tv(send)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
    }
}

func setNoDelay(_ fd: Int32) {
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
}

/// A blocking TCP connection to a loopback endpoint, bounded by `timeout` seconds.
func connectTCP(_ endpoint: Endpoint, timeout: Double) throws -> Int32 {
    var addr = try endpoint.sockaddr()
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket: \(errnoText())") }
    setTimeouts(fd, receive: timeout, send: timeout)
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    if rc != 0 {
        let text = errno == EINPROGRESS ? "timed out" : errnoText()
        close(fd)
        throw BenchError("connect \(endpoint): \(text)")
    }
    return fd
}

/// A listening TCP socket on a loopback endpoint.
func listenTCP(_ endpoint: Endpoint, backlog: Int32 = 4096, nonBlocking: Bool = false) throws -> Int32 {
    var addr = try endpoint.sockaddr()
    var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
    let fd = socket(AF_INET, type, 0)
    guard fd >= 0 else { throw BenchError("socket: \(errnoText())") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard rc == 0 else {
        let text = errnoText()
        close(fd)
        throw BenchError("bind \(endpoint): \(text)")
    }
    guard listen(fd, backlog) == 0 else {
        let text = errnoText()
        close(fd)
        throw BenchError("listen \(endpoint): \(text)")
    }
    return fd
}

/// Sends the whole buffer; throws on error or send timeout.
func sendAll(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) throws {
    var off = 0
    while off < count {
        let n = send(fd, base + off, count - off, Int32(MSG_NOSIGNAL))
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw BenchError("send timed out") }
            throw BenchError("send: \(errnoText())")
        }
        off += n
    }
}

/// Reads exactly `count` bytes; throws on EOF, error or receive timeout.
func recvExactly(_ fd: Int32, _ base: UnsafeMutableRawPointer, _ count: Int) throws {
    var off = 0
    while off < count {
        let n = recv(fd, base + off, count - off, 0)
        if n == 0 { throw BenchError("connection closed by peer") }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw BenchError("receive timed out") }
            throw BenchError("recv: \(errnoText())")
        }
        off += n
    }
}

/// Reads one byte by polling the socket without blocking until it comes, the peer closes, or
/// `timeout` seconds pass.
func recvOneSpinning(_ fd: Int32, _ base: UnsafeMutableRawPointer, timeout: Double) throws {
    let deadline = monotonicNanos() + UInt64(timeout * 1e9)
    while true {
        let n = recv(fd, base, 1, Int32(MSG_DONTWAIT))
        if n == 1 { return }
        if n == 0 { throw BenchError("connection closed by peer") }
        if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { throw BenchError("recv: \(errnoText())") }
        if monotonicNanos() > deadline { throw BenchError("receive timed out") }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
@discardableResult
func raiseFileLimit() -> UInt64 {
    var lim = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0 else { return 0 }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
    }
    return UInt64(lim.rlim_cur)
}

/// Runs `body` on a new detached POSIX thread.
final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

func spawnThread(_ body: @escaping () -> Void) throws {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setstacksize(&attr, 256 * 1024)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    defer { pthread_attr_destroy(&attr) }
    var tid = pthread_t()
    let rc = pthread_create(&tid, &attr, { arg in
        let box = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    if rc != 0 {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        throw BenchError("pthread_create: \(String(cString: strerror(rc)))")
    }
}

/// Sleeps for a number of seconds (fractional allowed).
func sleepSeconds(_ seconds: Double) {
    guard seconds > 0 else { return }
    let whole = seconds.rounded(.down)
    var req = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1_000_000_000))
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
}
