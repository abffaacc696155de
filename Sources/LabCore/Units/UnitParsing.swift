/// Why a piece of text could not be read as a duration, size or rate; the message quotes the text
/// and says what was expected, so an API or scenario error can pass it on unchanged.
public struct UnitParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The human-readable reason, quoting the offending text.
    public let message: String

    /// Creates an error with the given message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Splits "1.5s" into (1.5, "s"); shared by durations, sizes and rates.
enum UnitText {
    /// Texts at or above this many base units (2^63) do not fit an `Int64`.
    static let int64Limit = 0x1p63

    static func split(_ text: String, what: String, expected: String) throws(UnitParseError) -> (Double, String) {
        let (value, unit, _) = try splitKeepingNumber(text, what: what, expected: expected)
        return (value, unit)
    }

    /// As `split`, also returning the number's text so that whole numbers can be read exactly.
    static func splitKeepingNumber(_ text: String, what: String, expected: String) throws(UnitParseError)
        -> (Double, String, String) {
        let trimmed = text.trimmingSpaces()
        guard !trimmed.isEmpty else { throw UnitParseError("empty \(what); expected \(expected)") }
        var numberEnd = trimmed.startIndex
        for index in trimmed.indices {
            let c = trimmed[index]
            if c.isASCII, c.isNumber || c == "." || ((c == "-" || c == "+") && index == trimmed.startIndex) {
                numberEnd = trimmed.index(after: index)
            } else {
                break
            }
        }
        let numberText = String(trimmed[..<numberEnd])
        let unit = String(trimmed[numberEnd...]).trimmingSpaces()
        guard !numberText.isEmpty, let value = Double(numberText), value.isFinite else {
            throw UnitParseError("'\(text)' is not a \(what): it must start with a number; expected \(expected)")
        }
        return (value, unit, numberText)
    }

    /// `number` × `scale` as an exact `Int64` when `number` is a whole number (no fraction), so that
    /// values beyond 2^53, where a `Double` loses digits, are read exactly; nil for fractions. Throws
    /// `tooLarge` when the product does not fit an `Int64`.
    static func exactProduct(_ number: String, _ scale: Int64, tooLarge: UnitParseError) throws(UnitParseError) -> Int64? {
        guard !number.contains(".") else { return nil }
        guard let whole = Int64(number) else { throw tooLarge }  // all digits, but past Int64.max
        let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw tooLarge }
        return product
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs (the unit parsers' and the scenario
    /// reader's notion of blank), shared within the package.
    package func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

extension TimeSpan {
    /// The unit names `init(parsing:)` accepts, for error messages and docs.
    public static let unitNames = "ns, us, ms, s, m, h"

    /// Reads a duration such as "250ms", "1.5s", "2m", "1h" or "300us", or a compound one such as
    /// "9m30s" or "1h30m" (units from the largest to the smallest, each once). A bare number is
    /// rejected because a missing unit is the most common way to ask for 1000 times the wanted delay.
    public init(parsing text: String) throws(UnitParseError) {
        let parts = Self.compoundParts(text.trimmingSpaces())
        guard parts.count > 1 else {
            self = try Self.single(text)
            return
        }
        var total: Int64 = 0
        var previousScale = Int64.max
        for part in parts {
            let span: TimeSpan
            do {
                span = try Self.single(part, within: text)
            } catch {
                // Not a compound after all ("1e3ms"): the whole text's own error says more.
                _ = try Self.single(text)
                throw error
            }
            let scale = Self.scale(ofUnitIn: part)
            guard scale < previousScale else {
                throw UnitParseError("'\(text)' mixes units out of order; write them from the largest to the smallest, each once, e.g. \"1h30m\" or \"9m30s\"")
            }
            previousScale = scale
            let (sum, overflow) = total.addingReportingOverflow(span.nanoseconds)
            guard !overflow else { throw UnitParseError("'\(text)' is too long; at most about 292 years") }
            total = sum
        }
        self.init(nanoseconds: total)
    }

    /// "9m30s" as ["9m", "30s"]: a new part starts at each digit that follows a unit letter.
    private static func compoundParts(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var sawUnit = false
        for c in text {
            let numeric = c.isASCII && (c.isNumber || c == ".")
            if numeric && sawUnit {
                parts.append(current)
                current = ""
                sawUnit = false
            }
            if !numeric && c != " " && c != "-" && c != "+" { sawUnit = true }
            current.append(c)
        }
        parts.append(current)
        return parts
    }

    /// The nanoseconds per unit of a part that `single` accepted.
    private static func scale(ofUnitIn part: String) -> Int64 {
        let unit = String(part.drop { $0.isASCII && ($0.isNumber || $0 == "." || $0 == " ") }).trimmingSpaces()
        switch unit {
        case "ns": return 1
        case "us", "µs": return 1_000
        case "ms": return 1_000_000
        case "s": return 1_000_000_000
        case "m", "min": return 60_000_000_000
        default: return 3_600_000_000_000
        }
    }

    /// One number and its unit; errors quote `within`, the whole text, when it is a compound's part.
    private static func single(_ text: String, within whole: String? = nil) throws(UnitParseError) -> TimeSpan {
        let expected = "a number with a unit (\(TimeSpan.unitNames)), e.g. \"250ms\""
        let quoted = whole ?? text
        let (value, unit, number): (Double, String, String)
        do {
            (value, unit, number) = try UnitText.splitKeepingNumber(text, what: "duration", expected: expected)
        } catch {
            guard whole != nil else { throw error }
            throw UnitParseError("'\(quoted)' is not a duration; expected \(expected), or a compound such as \"9m30s\"")
        }
        let text = quoted
        let scale: Int64
        switch unit {
        case "ns": scale = 1
        case "us", "µs": scale = 1_000
        case "ms": scale = 1_000_000
        case "s": scale = 1_000_000_000
        case "m", "min": scale = 60_000_000_000
        case "h": scale = 3_600_000_000_000
        case "":
            throw UnitParseError("'\(text)' has no unit; expected \(expected)")
        default:
            throw UnitParseError("'\(text)' has an unknown unit '\(unit)'; expected \(expected)")
        }
        guard value >= 0 else { throw UnitParseError("'\(text)' is negative; a duration must be >= 0") }
        let tooLong = UnitParseError("'\(text)' is too long; at most about 292 years")
        // Whole numbers exactly (so every `description` reads back as the same span), fractions via Double.
        if let exact = try UnitText.exactProduct(number, scale, tooLarge: tooLong) {
            return TimeSpan(nanoseconds: exact)
        }
        let ns = (value * Double(scale)).rounded()
        guard ns < UnitText.int64Limit else { throw tooLong }
        return TimeSpan(nanoseconds: Int64(ns))
    }
}

/// A number of bytes, read from text such as "512B", "64KiB" or "10MB".
public struct ByteCount: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The size in bytes.
    public var bytes: Int64

    /// Creates a size of `bytes` bytes.
    public init(bytes: Int64) {
        self.bytes = bytes
    }

    /// The unit names `init(parsing:)` accepts.
    public static let unitNames = "B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024)"

    static func scale(of unit: String) -> Double? {
        switch unit {
        case "B", "b", "bytes": return 1
        case "KB", "kB", "K", "k": return 1e3
        case "MB", "M": return 1e6
        case "GB", "G": return 1e9
        case "KiB": return 1024
        case "MiB": return 1024 * 1024
        case "GiB": return 1024 * 1024 * 1024
        default: return nil
        }
    }

    /// Reads a size such as "512B", "1.5KB" or "64KiB"; the result is rounded to whole bytes.
    public init(parsing text: String) throws(UnitParseError) {
        let expected = "a number with a unit (\(ByteCount.unitNames)), e.g. \"512B\""
        let (value, unit, number) = try UnitText.splitKeepingNumber(text, what: "size", expected: expected)
        guard !unit.isEmpty else { throw UnitParseError("'\(text)' has no unit; expected \(expected)") }
        guard let scale = ByteCount.scale(of: unit) else {
            throw UnitParseError("'\(text)' has an unknown unit '\(unit)'; expected \(expected)")
        }
        guard value >= 0 else { throw UnitParseError("'\(text)' is negative; a size must be >= 0") }
        let tooLarge = UnitParseError("'\(text)' is too large")
        // The scales are whole numbers; whole sizes are read exactly, fractions via Double.
        if let exact = try UnitText.exactProduct(number, Int64(scale), tooLarge: tooLarge) {
            self.init(bytes: exact)
            return
        }
        let bytes = (value * scale).rounded()
        guard bytes < UnitText.int64Limit else { throw tooLarge }
        self.init(bytes: Int64(bytes))
    }

    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }
    public var description: String { "\(bytes)B" }
}

/// A transfer rate in bytes per second, read from text such as "10MB/s", "512KiB/s" or "8Mbit/s".
public struct ByteRate: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Bytes per second; zero means nothing passes, infinity no limit.
    public var bytesPerSecond: Double

    /// Creates a rate of `bytesPerSecond`.
    public init(bytesPerSecond: Double) {
        self.bytesPerSecond = bytesPerSecond
    }

    /// No limit (a scenario's `unlimited`); Toxiproxy's `bandwidth` toxic at rate 0 holds data instead.
    public static let unlimited = ByteRate(bytesPerSecond: .infinity)

    /// Whether this rate limits nothing.
    public var isUnlimited: Bool { bytesPerSecond == .infinity }

    /// Reads "10MB/s", "512KiB/s", "100kbit/s" or "8Mbit/s" (bits are divided by eight).
    public init(parsing text: String) throws(UnitParseError) {
        let expected = "a size per second such as \"10MB/s\", \"512KiB/s\" or \"8Mbit/s\""
        let (value, unit) = try UnitText.split(text, what: "rate", expected: expected)
        guard unit.hasSuffix("/s") else {
            throw UnitParseError("'\(text)' is not a rate: it must end in /s; expected \(expected)")
        }
        let sizeUnit = String(unit.dropLast(2))
        let scale: Double
        switch sizeUnit {
        case "bit": scale = 1.0 / 8
        case "kbit", "Kbit": scale = 1e3 / 8
        case "Mbit": scale = 1e6 / 8
        case "Gbit": scale = 1e9 / 8
        default:
            guard let s = ByteCount.scale(of: sizeUnit) else {
                throw UnitParseError("'\(text)' has an unknown unit '\(sizeUnit)/s'; expected \(expected)")
            }
            scale = s
        }
        guard value >= 0 else { throw UnitParseError("'\(text)' is negative; a rate must be >= 0") }
        let bytesPerSecond = value * scale
        guard bytesPerSecond.isFinite else { throw UnitParseError("'\(text)' is too large") }
        self.init(bytesPerSecond: bytesPerSecond)
    }

    /// The time it takes to send `bytes` at this rate; `nil` when the rate is zero (nothing passes).
    public func transmissionTime(of bytes: Int) -> TimeSpan? {
        guard bytesPerSecond > 0 else { return nil }
        return .seconds(Double(bytes) / bytesPerSecond)
    }

    public static func < (lhs: ByteRate, rhs: ByteRate) -> Bool { lhs.bytesPerSecond < rhs.bytesPerSecond }
    public var description: String { "\(bytesPerSecond)B/s" }
}

/// A rate of events, read from text such as "2/s", "30/m" or "0.5/s".
public struct EventRate: Hashable, Sendable, CustomStringConvertible {
    /// Events per second; zero means none.
    public var perSecond: Double

    /// Creates a rate of `perSecond` events per second.
    public init(perSecond: Double) {
        self.perSecond = perSecond
    }

    /// Reads "2/s", "30/m", "100/h" (a count, a slash, a unit of time).
    public init(parsing text: String) throws(UnitParseError) {
        let expected = "a count per unit of time such as \"2/s\", \"30/m\" or \"100/h\""
        let (value, unit) = try UnitText.split(text, what: "rate", expected: expected)
        let seconds: Double
        switch unit {
        case "/s": seconds = 1
        case "/m", "/min": seconds = 60
        case "/h": seconds = 3600
        default: throw UnitParseError("'\(text)' has an unknown unit '\(unit)'; expected \(expected)")
        }
        guard value >= 0 else { throw UnitParseError("'\(text)' is negative; a rate must be >= 0") }
        self.init(perSecond: value / seconds)
    }

    /// The time between events, or nil for a zero rate.
    public var interval: TimeSpan? { perSecond > 0 ? .seconds(1 / perSecond) : nil }

    public var description: String { "\(perSecond)/s" }
}
