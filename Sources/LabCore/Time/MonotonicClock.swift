#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Instant {
    /// The current instant on CLOCK_MONOTONIC, the clock SwiftNIO's deadlines use, so live drivers
    /// can turn these instants straight into event-loop deadlines. Simulated runs never call it.
    public static func monotonicNow() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}
