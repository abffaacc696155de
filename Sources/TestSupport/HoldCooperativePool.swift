import Dispatch
import Foundation

/// Why `whileCooperativePoolIsHeld` could not run its body.
public struct PoolHoldError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
}

/// Runs `body` on a thread of its own while every thread of Swift's cooperative pool is blocked,
/// so a test can show that a server answers without that pool (as it must when CPU-heavy work in
/// the same process holds it). Blockers are added one at a time until a probe task cannot start;
/// the pool is released when `body` returns, and the number of threads held is returned with its
/// result.
public func whileCooperativePoolIsHeld<T: Sendable>(maxThreads: Int = 64,
                                                    _ body: @escaping @Sendable () throws -> T) async throws -> (T, held: Int) {
    let started = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    return try await onThread { () throws -> (T, held: Int) in
        var held = 0
        defer { for _ in 0..<held { release.signal() } }
        while true {
            guard held < maxThreads else {
                throw PoolHoldError(description: "the cooperative pool still ran tasks with \(held) of its threads blocked")
            }
            Task.detached {
                started.signal()
                release.wait()
            }
            guard started.wait(timeout: .now() + 30) == .success else {
                throw PoolHoldError(description: "a blocking task did not start within 30 s with \(held) pool threads held")
            }
            held += 1
            let probe = DispatchSemaphore(value: 0)
            Task.detached { probe.signal() }
            if probe.wait(timeout: .now() + .milliseconds(200)) == .timedOut { break }
        }
        return (try body(), held)
    }
}
