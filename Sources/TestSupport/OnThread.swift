import Foundation

/// Runs blocking work (socket reads with timeouts) on a thread of its own and awaits its result,
/// so that tests never block Swift's cooperative pool: it has one thread per core (two here), and
/// the servers under test need it to answer.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
