import Foundation
import UnixSignals

/// Waits for SIGINT or SIGTERM (or, when given, for `timeout` to pass), so a command can close
/// its listeners and connections cleanly. Signals come from swift-service-lifecycle's
/// `UnixSignalsSequence`, the same source a `ServiceGroup` uses.
enum ShutdownSignal {
    /// The signal's name ("SIGINT", "SIGTERM"), or "timeout".
    static func wait(timeout: Double? = nil) async -> String {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let once = OnceBox()
        return await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            once.set(continuation)
            let listener = Task {
                for await signal in signals {
                    once.resume("\(signal)".uppercased())
                    return
                }
            }
            if let timeout {
                Task {
                    try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
                    once.resume("timeout")
                    listener.cancel()
                }
            }
        }
    }

    /// Resumes a continuation at most once.
    final class OnceBox: @unchecked Sendable {
        private var continuation: CheckedContinuation<String, Never>?
        private var early: String?
        private let lock = NSLock()

        /// A box whose continuation comes later (`set`).
        init() {}

        /// A box for `continuation`.
        init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }

        /// Sets the continuation; a value that came first resumes it at once.
        func set(_ continuation: CheckedContinuation<String, Never>) {
            let value: String? = lock.withLock {
                if let early { return early }
                self.continuation = continuation
                return nil
            }
            if let value { continuation.resume(returning: value) }
        }

        /// Resumes with `value` if nothing did before.
        func resume(_ value: String) {
            let c: CheckedContinuation<String, Never>? = lock.withLock {
                guard early == nil else { return nil }
                early = value
                defer { continuation = nil }
                return continuation
            }
            c?.resume(returning: value)
        }
    }
}
