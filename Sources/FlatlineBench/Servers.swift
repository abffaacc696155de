// The two loopback servers the benchmarks talk to: a sink (throughput) and an echo (round trips,
// idle connections).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Counts live sink connections so a misbehaving client cannot spawn unbounded threads.
final class SinkCounters: Sendable {
    let active = Atomic<Int>(0)
}

/// `sink --port P [--host 127.0.0.1] [--max-conns 256] [--idle-timeout 120]`
///
/// Accepts connections; each one is read to EOF and discarded on its own thread. At EOF the sink
/// writes back the number of bytes it received (8 bytes, little-endian) and closes, so a client
/// knows exactly how much arrived and when. One JSON line per connection on stdout.
func runSink(_ opts: Options) throws {
    let port = try opts.port("port")
    let host = opts.string("host") ?? "127.0.0.1"
    let maxConns = try opts.int("max-conns", default: 256)
    let idleTimeout = try opts.double("idle-timeout", default: 120)
    raiseFileLimit()
    let lfd = try listenTCP(Endpoint.parse("\(host):\(port)"))
    emit("{\"event\":\"listening\",\"role\":\"sink\",\"port\":\(port)}")

    let counters = SinkCounters()
    var nextID = 0
    while true {
        let fd = accept(lfd, nil, nil)
        if fd < 0 {
            if errno == EINTR || errno == ECONNABORTED { continue }
            if errno == EMFILE || errno == ENFILE { sleepSeconds(0.01); continue }
            throw BenchError("accept: \(errnoText())")
        }
        nextID += 1
        let id = nextID
        if counters.active.load(ordering: .relaxed) >= maxConns {
            warn("sink: refusing connection \(id): \(maxConns) already active")
            close(fd)
            continue
        }
        counters.active.add(1, ordering: .relaxed)
        let acceptedAt = monotonicNanos()
        do {
            try spawnThread {
                sinkConnection(fd: fd, id: id, acceptedAt: acceptedAt, idleTimeout: idleTimeout)
                counters.active.subtract(1, ordering: .relaxed)
            }
        } catch {
            counters.active.subtract(1, ordering: .relaxed)
            warn("sink: \(error)")
            close(fd)
        }
    }
}

private func sinkConnection(fd: Int32, id: Int, acceptedAt: UInt64, idleTimeout: Double) {
    defer { close(fd) }
    setTimeouts(fd, receive: idleTimeout, send: 10)
    let size = 1 << 20
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    defer { buffer.deallocate() }
    var total: UInt64 = 0
    var firstByteAt: UInt64 = 0
    var outcome = "eof"
    while true {
        let n = recv(fd, buffer, size, 0)
        if n > 0 {
            if total == 0 { firstByteAt = monotonicNanos() }
            total += UInt64(n)
            continue
        }
        if n == 0 { break }
        if errno == EINTR { continue }
        outcome = (errno == EAGAIN || errno == EWOULDBLOCK) ? "idle-timeout" : "error: \(errnoText())"
        break
    }
    let endedAt = monotonicNanos()
    if outcome == "eof" {
        var count = total.littleEndian
        _ = try? sendAll(fd, &count, 8)
        shutdown(fd, Int32(SHUT_WR))
    }
    let seconds = Double(endedAt - (firstByteAt == 0 ? acceptedAt : firstByteAt)) / 1e9
    var j = JSONObject()
    j.set("event", "sink")
    j.set("conn", id)
    j.set("bytes", total)
    j.set("seconds", seconds, digits: 6)
    j.set("mbps", seconds > 0 ? Double(total) / seconds / 1e6 : 0, digits: 1)
    j.set("outcome", outcome)
    emit(j.text)
}

/// `echo --port P [--host 127.0.0.1] [--max-conns 20000]`
///
/// A single-threaded, level-triggered readiness loop (epoll on Linux, poll elsewhere; see
/// Readiness.swift). Non-blocking sockets; when a peer does not read its echoes the connection
/// stops being read until they drain, so nothing buffers without bound. Sized for the idle
/// benchmark's thousands of connections, and cheap enough for the round-trip one.
func runEcho(_ opts: Options) throws {
    let port = try opts.port("port")
    let host = opts.string("host") ?? "127.0.0.1"
    let maxConns = try opts.int("max-conns", default: 20_000)
    let limit = raiseFileLimit()
    let lfd = try listenTCP(Endpoint.parse("\(host):\(port)"), nonBlocking: true)
    var loop = try Readiness()
    try loop.add(lfd, read: true)
    emit("{\"event\":\"listening\",\"role\":\"echo\",\"port\":\(port),\"nofile\":\(limit),\"poller\":\"\(loop.kind)\"}")

    var pending: [Int32: [UInt8]] = [:]
    var open = 0
    let bufSize = 64 * 1024
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufSize, alignment: 16)
    defer { buffer.deallocate() }

    func closeConn(_ fd: Int32) {
        loop.remove(fd)
        close(fd)
        pending[fd] = nil
        open -= 1
    }

    while true {
        let ready = try loop.wait(timeoutMillis: 1000)
        for event in ready {
            let fd = event.fd
            if fd == lfd {
                while true {
                    let cfd = accept(lfd, nil, nil)
                    if cfd < 0 {
                        if errno == EINTR || errno == ECONNABORTED { continue }
                        if errno == EMFILE || errno == ENFILE { warn("echo: accept: \(errnoText())") }
                        break
                    }
                    if open >= maxConns {
                        close(cfd)
                        continue
                    }
                    _ = fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(cfd, F_SETFD, FD_CLOEXEC)
                    setNoDelay(cfd)
                    do {
                        try loop.add(cfd, read: true)
                        open += 1
                    } catch {
                        close(cfd)
                    }
                }
                continue
            }
            if event.writable, var queued = pending[fd] {
                let w = queued.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                if w < 0 {
                    if errno != EAGAIN && errno != EINTR { closeConn(fd) }
                    continue
                }
                queued.removeFirst(w)
                if queued.isEmpty {
                    pending[fd] = nil
                    loop.modify(fd, read: true)
                } else {
                    pending[fd] = queued
                }
                continue
            }
            guard event.readable || event.failed else { continue }
            // One buffer per wakeup keeps connections fair; the loop is level-triggered.
            let r = recv(fd, buffer, bufSize, 0)
            if r == 0 {
                closeConn(fd)
                continue
            }
            if r < 0 {
                if errno != EAGAIN && errno != EINTR { closeConn(fd) }
                continue
            }
            var off = 0
            var failed = false
            while off < r {
                let w = send(fd, buffer + off, r - off, Int32(MSG_NOSIGNAL))
                if w < 0 {
                    if errno == EINTR { continue }
                    if errno != EAGAIN { failed = true }
                    break
                }
                off += w
            }
            if failed {
                closeConn(fd)
            } else if off < r {
                // The peer is not reading: keep the rest, stop reading until it drains.
                pending[fd] = Array(UnsafeRawBufferPointer(start: buffer + off, count: r - off))
                loop.modify(fd, read: false)
            }
        }
    }
}
