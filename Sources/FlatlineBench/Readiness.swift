// A minimal level-triggered readiness loop for the echo server.
//
// Glibc's Swift module does not export <sys/epoll.h>, and this target stays free of C shims, so on
// Linux the three epoll calls are looked up with dlsym and struct epoll_event is laid out by hand.
// poll(2) would work but costs O(connections) per wakeup, which makes 9,000 idle connections take
// tens of seconds to set up; poll remains the fallback elsewhere.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ReadyEvent {
    var fd: Int32
    var readable: Bool
    var writable: Bool
    var failed: Bool
}

#if os(Linux)
private typealias EpollCreate1 = @convention(c) (Int32) -> Int32
private typealias EpollCtl = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
private typealias EpollWait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32

private let EPOLLIN_: UInt32 = 0x001
private let EPOLLOUT_: UInt32 = 0x004
private let EPOLLERR_: UInt32 = 0x008
private let EPOLLHUP_: UInt32 = 0x010
private let EPOLLRDHUP_: UInt32 = 0x2000
private let EPOLL_CTL_ADD_: Int32 = 1
private let EPOLL_CTL_DEL_: Int32 = 2
private let EPOLL_CTL_MOD_: Int32 = 3

// struct epoll_event { uint32_t events; epoll_data_t data; } is packed on x86_64 (12 bytes) and
// naturally aligned elsewhere (16 bytes, data at offset 8).
#if arch(x86_64)
private let eventSize = 12
private let dataOffset = 4
#else
private let eventSize = 16
private let dataOffset = 8
#endif

struct Readiness {
    let kind = "epoll"
    private let epfd: Int32
    private let ctlFn: EpollCtl
    private let waitFn: EpollWait
    private let maxEvents = 1024
    private let events: UnsafeMutableRawPointer

    init() throws {
        guard let handle = dlopen(nil, RTLD_NOW),
              let create = dlsym(handle, "epoll_create1"),
              let ctl = dlsym(handle, "epoll_ctl"),
              let wait = dlsym(handle, "epoll_wait")
        else { throw BenchError("epoll symbols not found") }
        let createFn = unsafeBitCast(create, to: EpollCreate1.self)
        ctlFn = unsafeBitCast(ctl, to: EpollCtl.self)
        waitFn = unsafeBitCast(wait, to: EpollWait.self)
        epfd = createFn(Int32(O_CLOEXEC))
        guard epfd >= 0 else { throw BenchError("epoll_create1: \(errnoText())") }
        events = UnsafeMutableRawPointer.allocate(byteCount: eventSize * maxEvents, alignment: 16)
    }

    private func control(_ op: Int32, _ fd: Int32, _ mask: UInt32) -> Int32 {
        var raw = [UInt8](repeating: 0, count: eventSize)
        return raw.withUnsafeMutableBytes { buf in
            buf.storeBytes(of: mask, toByteOffset: 0, as: UInt32.self)
            buf.storeBytes(of: UInt64(UInt32(bitPattern: fd)), toByteOffset: dataOffset, as: UInt64.self)
            return ctlFn(epfd, op, fd, buf.baseAddress)
        }
    }

    private func mask(read: Bool) -> UInt32 {
        (read ? EPOLLIN_ | EPOLLRDHUP_ : EPOLLOUT_)
    }

    mutating func add(_ fd: Int32, read: Bool) throws {
        guard control(EPOLL_CTL_ADD_, fd, mask(read: read)) == 0 else {
            throw BenchError("epoll_ctl add: \(errnoText())")
        }
    }

    /// Waits for read interest (`read: true`) or write interest only (`read: false`).
    mutating func modify(_ fd: Int32, read: Bool) {
        _ = control(EPOLL_CTL_MOD_, fd, mask(read: read))
    }

    mutating func remove(_ fd: Int32) {
        _ = control(EPOLL_CTL_DEL_, fd, 0)
    }

    mutating func wait(timeoutMillis: Int32) throws -> [ReadyEvent] {
        let n = waitFn(epfd, events, Int32(maxEvents), timeoutMillis)
        if n < 0 {
            if errno == EINTR { return [] }
            throw BenchError("epoll_wait: \(errnoText())")
        }
        var out: [ReadyEvent] = []
        out.reserveCapacity(Int(n))
        for i in 0..<Int(n) {
            let base = events + i * eventSize
            let flags = base.loadUnaligned(as: UInt32.self)
            let data = (base + dataOffset).loadUnaligned(as: UInt64.self)
            out.append(ReadyEvent(
                fd: Int32(bitPattern: UInt32(truncatingIfNeeded: data)),
                readable: flags & (EPOLLIN_ | EPOLLRDHUP_) != 0,
                writable: flags & EPOLLOUT_ != 0,
                failed: flags & (EPOLLERR_ | EPOLLHUP_) != 0
            ))
        }
        return out
    }
}

#else

struct Readiness {
    let kind = "poll"
    private var fds: [pollfd] = []
    private var slot: [Int32: Int] = [:]

    init() throws {}

    mutating func add(_ fd: Int32, read: Bool) throws {
        slot[fd] = fds.count
        fds.append(pollfd(fd: fd, events: Int16(read ? POLLIN : POLLOUT), revents: 0))
    }

    mutating func modify(_ fd: Int32, read: Bool) {
        if let i = slot[fd] { fds[i].events = Int16(read ? POLLIN : POLLOUT) }
    }

    mutating func remove(_ fd: Int32) {
        guard let i = slot.removeValue(forKey: fd) else { return }
        let last = fds.count - 1
        if i != last {
            fds[i] = fds[last]
            slot[fds[i].fd] = i
        }
        fds.removeLast()
    }

    mutating func wait(timeoutMillis: Int32) throws -> [ReadyEvent] {
        let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeoutMillis) }
        if n < 0 {
            if errno == EINTR { return [] }
            throw BenchError("poll: \(errnoText())")
        }
        var out: [ReadyEvent] = []
        for i in fds.indices where fds[i].revents != 0 {
            let r = fds[i].revents
            out.append(ReadyEvent(
                fd: fds[i].fd,
                readable: r & Int16(POLLIN) != 0,
                writable: r & Int16(POLLOUT) != 0,
                failed: r & (Int16(POLLERR) | Int16(POLLHUP)) != 0
            ))
            fds[i].revents = 0
        }
        return out
    }
}
#endif
