/// Why a distribution, loss model or sampler was rejected, as one human-readable sentence that names
/// the parameter and the reason, e.g. "standardDeviation must be >= 0, got -1".
///
/// Scenario loaders prefix it with the place in the file; it is never a crash.
public struct DistributionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The sentence naming the offending parameter and why it is invalid.
    public let message: String

    /// Creates an error carrying `message` verbatim.
    public init(_ message: String) {
        self.message = message
    }

    /// The message itself, so string interpolation and `print` show the reason directly.
    public var description: String { message }
}

/// Formats a parameter value for an error message: integral values without a trailing ".0"
/// ("-1", not "-1.0"), everything else (including nan and inf) as Swift prints it. Shared within
/// the package so that scenario errors print numbers the same way.
package func formatParameter(_ value: Double) -> String {
    if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
        return String(Int64(value))
    }
    return "\(value)"
}

/// Checks that `value` is a finite number, naming `parameter` otherwise.
func requireFinite(_ value: Double, _ parameter: String) throws(DistributionError) {
    guard value.isFinite else {
        throw DistributionError("\(parameter) must be a finite number, got \(formatParameter(value))")
    }
}
