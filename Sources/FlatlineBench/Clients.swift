// The load generators: throughput, ping-pong round trips, idle connections.
#if canImport(Glibc)
import Glibc
#endif

// MARK: - throughput

/// `throughput --connect HOST:PORT --bytes N [--chunk 256KiB] [--max-seconds 300] [--drain-timeout 60]`
///
/// Sends N bytes to a sink, half-closes, and waits for the sink's 8-byte receipt and close. The
/// clock runs from just before the first byte is sent until the sink's close is seen, so bytes
/// still queued inside a proxy count against it. `--max-seconds` stops sending early (the result
/// is then marked `complete: false` and the rate is over what was actually delivered).
func runThroughput(_ opts: Options) throws {
    let endpoint = try opts.endpoint("connect")
    let total = try opts.bytes("bytes", default: 1 << 30)
    let chunk = max(1, try opts.bytes("chunk", default: 256 * 1024))
    let maxSeconds = try opts.double("max-seconds", default: 300)
    let drainTimeout = try opts.double("drain-timeout", default: 60)
    let opTimeout = try opts.double("timeout", default: 30)

    let fd = try connectTCP(endpoint, timeout: opTimeout)
    defer { close(fd) }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
    defer { buffer.deallocate() }
    // Non-constant payload so nothing along the way can get clever about zero pages.
    let bytes = buffer.bindMemory(to: UInt8.self, capacity: chunk)
    for i in 0..<chunk { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }

    let start = monotonicNanos()
    let deadline = start + UInt64(maxSeconds * 1e9)
    var sent = 0
    var stopReason = "complete"
    while sent < total {
        if monotonicNanos() >= deadline { stopReason = "max-seconds"; break }
        let n = min(chunk, total - sent)
        do {
            try sendAll(fd, buffer, n)
        } catch {
            stopReason = "send failed: \(error)"
            break
        }
        sent += n
    }
    let sendDone = monotonicNanos()
    shutdown(fd, Int32(SHUT_WR))
    setTimeouts(fd, receive: drainTimeout, send: nil)
    var receipt: UInt64 = 0
    var acked: UInt64? = nil
    do {
        try recvExactly(fd, &receipt, 8)
        acked = UInt64(littleEndian: receipt)
        // Then the sink's close.
        var scratch: UInt8 = 0
        while true {
            let n = recv(fd, &scratch, 1, 0)
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
    } catch {
        if stopReason == "complete" { stopReason = "no receipt from sink: \(error)" }
    }
    let end = monotonicNanos()
    let seconds = Double(end - start) / 1e9
    let delivered = Double(acked ?? 0)
    var j = JSONObject()
    j.set("bench", "throughput")
    j.set("target", endpoint.description)
    j.set("bytes", Int(acked ?? 0))
    j.set("bytes_requested", total)
    j.set("bytes_sent", sent)
    j.set("seconds", seconds, digits: 6)
    j.set("send_seconds", Double(sendDone - start) / 1e9, digits: 6)
    j.set("mbps", seconds > 0 ? delivered / seconds / 1e6 : 0, digits: 1)
    j.set("mib_per_s", seconds > 0 ? delivered / seconds / 1_048_576 : 0, digits: 1)
    j.set("complete", stopReason == "complete" && acked == UInt64(total))
    j.set("status", stopReason)
    emit(j.text)
}

// MARK: - round trips

struct RoundTrips {
    var samplesNanos: [UInt64]
    var failure: String?
}

/// 1-byte ping-pong over one TCP_NODELAY connection. Each sample is one send + one receive. With
/// `spin` the receive polls without blocking (bounded by `timeout`), so a sample holds no wake-up of
/// this client's own thread after a long wait: what a latency toxic's accuracy must not include.
func measureRoundTrips(_ endpoint: Endpoint, count: Int, warmup: Int, timeout: Double, maxSeconds: Double,
                       spin: Bool = false) throws -> RoundTrips {
    let fd = try connectTCP(endpoint, timeout: timeout)
    defer { close(fd) }
    setNoDelay(fd)
    var ping: UInt8 = 0x2A
    var pong: UInt8 = 0
    var samples: [UInt64] = []
    samples.reserveCapacity(count)
    let deadline = monotonicNanos() + UInt64(maxSeconds * 1e9)
    for i in 0..<(warmup + count) {
        let t0 = monotonicNanos()
        if t0 >= deadline {
            return RoundTrips(samplesNanos: samples, failure: "max-seconds reached after \(samples.count) samples")
        }
        do {
            try sendAll(fd, &ping, 1)
            if spin { try recvOneSpinning(fd, &pong, timeout: timeout) } else { try recvExactly(fd, &pong, 1) }
        } catch {
            return RoundTrips(samplesNanos: samples, failure: "round trip \(i): \(error)")
        }
        let t1 = monotonicNanos()
        if pong != ping {
            return RoundTrips(samplesNanos: samples, failure: "round trip \(i): echoed byte \(pong) != \(ping)")
        }
        if i >= warmup { samples.append(t1 - t0) }
        ping = ping &+ 1
    }
    return RoundTrips(samplesNanos: samples, failure: nil)
}

/// Nearest-rank percentile of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

func summarize(_ j: inout JSONObject, _ sortedMicros: [Double]) {
    j.set("count", sortedMicros.count)
    j.set("min_us", sortedMicros.first ?? .nan, digits: 2)
    j.set("p50_us", percentile(sortedMicros, 50), digits: 2)
    j.set("p90_us", percentile(sortedMicros, 90), digits: 2)
    j.set("p99_us", percentile(sortedMicros, 99), digits: 2)
    j.set("p999_us", percentile(sortedMicros, 99.9), digits: 2)
    j.set("max_us", sortedMicros.last ?? .nan, digits: 2)
    let mean = sortedMicros.isEmpty ? Double.nan : sortedMicros.reduce(0, +) / Double(sortedMicros.count)
    j.set("mean_us", mean, digits: 2)
}

/// `pingpong --connect HOST:PORT --count N [--warmup W] [--timeout 10] [--max-seconds 120]`
func runPingPong(_ opts: Options, raw: Bool) throws {
    let endpoint = try opts.endpoint("connect")
    let count = try opts.int("count", default: 10_000)
    let warmup = try opts.int("warmup", default: raw ? 20 : 1_000)
    let timeout = try opts.double("timeout", default: 10)
    let maxSeconds = try opts.double("max-seconds", default: 120)
    guard count > 0 else { throw BenchError("--count must be positive") }
    let spin = try opts.bool("spin", default: false)
    let result = try measureRoundTrips(endpoint, count: count, warmup: warmup, timeout: timeout, maxSeconds: maxSeconds, spin: spin)
    let micros = result.samplesNanos.map { Double($0) / 1000 }
    var j = JSONObject()
    j.set("bench", raw ? "latency-accuracy" : "pingpong")
    j.set("target", endpoint.description)
    j.set("requested", count)
    j.set("warmup", warmup)
    j.set("spin", spin)
    summarize(&j, micros.sorted())
    j.set("complete", result.failure == nil)
    j.set("status", result.failure ?? "complete")
    if raw {
        // In send order, so a driver can look for drift as well as the distribution.
        j.set("samples_us", numbers: micros, digits: 1)
    }
    emit(j.text)
    if result.failure != nil && micros.isEmpty { exit(1) }
}

// MARK: - idle connections

/// `idle --connect HOST:PORT --count N --hold SECONDS [--timeout 5] [--max-seconds 180] [--ready-file PATH]`
///
/// Opens N connections one after another, checks each with a 1-byte echo, prints a `ready` line
/// (and touches --ready-file) once all are open, holds them for --hold seconds, checks every one
/// again with a second echo (a proxy that dropped idle connections shows up here), then closes all.
func runIdle(_ opts: Options) throws {
    let endpoint = try opts.endpoint("connect")
    let count = try opts.int("count", default: 1_000)
    let hold = try opts.double("hold", default: 5)
    let timeout = try opts.double("timeout", default: 5)
    let maxSeconds = try opts.double("max-seconds", default: 180)
    let readyFile = opts.string("ready-file")
    let limit = raiseFileLimit()
    if UInt64(count) + 16 > limit {
        throw BenchError("--count \(count) needs more file descriptors than RLIMIT_NOFILE allows (\(limit))")
    }

    let start = monotonicNanos()
    let deadline = start + UInt64(maxSeconds * 1e9)
    var fds: [Int32] = []
    fds.reserveCapacity(count)
    defer { for fd in fds { close(fd) } }
    var failures = 0
    var firstFailure: String? = nil
    var consecutiveFailures = 0
    var openSamples: [Double] = []
    while fds.count < count && consecutiveFailures < 20 && monotonicNanos() < deadline {
        let t0 = monotonicNanos()
        do {
            let fd = try connectTCP(endpoint, timeout: timeout)
            do {
                var b: UInt8 = UInt8(truncatingIfNeeded: fds.count)
                var r: UInt8 = 0
                try sendAll(fd, &b, 1)
                try recvExactly(fd, &r, 1)
                guard r == b else { throw BenchError("echoed byte mismatch") }
            } catch {
                close(fd)
                throw error
            }
            fds.append(fd)
            openSamples.append(Double(monotonicNanos() - t0) / 1000)
            consecutiveFailures = 0
        } catch {
            failures += 1
            consecutiveFailures += 1
            if firstFailure == nil { firstFailure = "connection \(fds.count + failures): \(error)" }
        }
    }
    let openSeconds = Double(monotonicNanos() - start) / 1e9

    var ready = JSONObject()
    ready.set("event", "ready")
    ready.set("open", fds.count)
    ready.set("failures", failures)
    ready.set("open_seconds", openSeconds, digits: 3)
    emit(ready.text)
    if let readyFile {
        let f = open(readyFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if f >= 0 {
            var text = ready.text + "\n"
            text.withUTF8 { _ = write(f, $0.baseAddress!, $0.count) }
            close(f)
        }
    }

    sleepSeconds(min(hold, max(0, Double(deadline &- monotonicNanos()) / 1e9)))

    // Second check: every held connection must still echo.
    var alive = 0
    var deadAfterHold = 0
    for (i, fd) in fds.enumerated() {
        if monotonicNanos() >= deadline { break }
        var b: UInt8 = UInt8(truncatingIfNeeded: i &+ 101)
        var r: UInt8 = 0
        do {
            try sendAll(fd, &b, 1)
            try recvExactly(fd, &r, 1)
            if r == b { alive += 1 } else { deadAfterHold += 1 }
        } catch {
            deadAfterHold += 1
        }
    }

    var j = JSONObject()
    j.set("bench", "idle")
    j.set("target", endpoint.description)
    j.set("requested", count)
    j.set("opened", fds.count)
    j.set("failures", failures)
    if let firstFailure { j.set("first_failure", firstFailure) }
    j.set("open_seconds", openSeconds, digits: 3)
    j.set("hold_seconds", hold, digits: 3)
    let sorted = openSamples.sorted()
    j.set("open_p50_us", percentile(sorted, 50), digits: 1)
    j.set("open_p99_us", percentile(sorted, 99), digits: 1)
    j.set("alive_after_hold", alive)
    j.set("dead_after_hold", deadAfterHold)
    j.set("complete", fds.count == count && alive == count)
    j.set("nofile", limit)
    emit(j.text)
}
