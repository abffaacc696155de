// Hand-written argv parsing: `--name value` pairs after a subcommand.

struct Options {
    private var values: [String: String] = [:]
    private var used: Set<String> = []

    init(_ args: ArraySlice<String>, allowed: Set<String>) throws {
        var i = args.startIndex
        while i < args.endIndex {
            let arg = args[i]
            guard arg.hasPrefix("--") else { throw BenchError("unexpected argument '\(arg)'") }
            var name = String(arg.dropFirst(2))
            var value: String
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            } else {
                guard i + 1 < args.endIndex else { throw BenchError("option --\(name) needs a value") }
                i += 1
                value = args[i]
            }
            guard allowed.contains(name) else {
                throw BenchError("unknown option --\(name) (allowed: \(allowed.sorted().map { "--" + $0 }.joined(separator: ", ")))")
            }
            values[name] = value
            i += 1
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func required(_ name: String) throws -> String {
        guard let v = values[name] else { throw BenchError("missing required option --\(name)") }
        return v
    }

    func endpoint(_ name: String) throws -> Endpoint { try Endpoint.parse(required(name)) }

    func int(_ name: String, default def: Int) throws -> Int {
        guard let text = values[name] else { return def }
        guard let v = Int(text), v >= 0 else { throw BenchError("--\(name) must be a non-negative integer, got '\(text)'") }
        return v
    }

    func double(_ name: String, default def: Double) throws -> Double {
        guard let text = values[name] else { return def }
        guard let v = Double(text), v >= 0, v.isFinite else { throw BenchError("--\(name) must be a non-negative number, got '\(text)'") }
        return v
    }

    func bool(_ name: String, default def: Bool) throws -> Bool {
        guard let text = values[name] else { return def }
        switch text.lowercased() {
        case "1", "yes", "true": return true
        case "0", "no", "false": return false
        default: throw BenchError("--\(name) must be yes or no, got '\(text)'")
        }
    }

    func bytes(_ name: String, default def: Int) throws -> Int {
        guard let text = values[name] else { return def }
        guard let v = parseByteSize(text) else {
            throw BenchError("--\(name): cannot read '\(text)' as a size (e.g. 1073741824, 1GiB, 256KiB, 64k)")
        }
        return v
    }

    func port(_ name: String) throws -> UInt16 {
        let text = try required(name)
        guard let p = UInt16(text), p > 0 else { throw BenchError("--\(name) must be a port number, got '\(text)'") }
        return p
    }
}

/// Parses "1073741824", "1GiB", "1G", "256KiB", "64k", "10MB" (decimal for KB/MB/GB, binary otherwise).
func parseByteSize(_ text: String) -> Int? {
    let s = text.trimmingSpaces()
    var digits = ""
    var rest = Substring(s)
    while let c = rest.first, c.isNumber || c == "." {
        digits.append(c)
        rest = rest.dropFirst()
    }
    guard let number = Double(digits), number >= 0 else { return nil }
    let unit = rest.lowercased()
    let multiplier: Double
    switch unit {
    case "", "b": multiplier = 1
    case "k", "kib": multiplier = 1024
    case "kb": multiplier = 1000
    case "m", "mib": multiplier = 1024 * 1024
    case "mb": multiplier = 1_000_000
    case "g", "gib": multiplier = 1024 * 1024 * 1024
    case "gb": multiplier = 1_000_000_000
    default: return nil
    }
    let value = number * multiplier
    guard value < Double(Int.max / 2) else { return nil }
    return Int(value)
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// A tiny JSON object writer: keys in insertion order, numbers printed plainly.
struct JSONObject {
    private var parts: [String] = []

    mutating func set(_ key: String, _ value: String) { parts.append("\(quote(key)):\(quote(value))") }
    mutating func set(_ key: String, _ value: Int) { parts.append("\(quote(key)):\(value)") }
    mutating func set(_ key: String, _ value: UInt64) { parts.append("\(quote(key)):\(value)") }
    mutating func set(_ key: String, _ value: Bool) { parts.append("\(quote(key)):\(value ? "true" : "false")") }
    mutating func set(_ key: String, _ value: Double, digits: Int = 3) {
        parts.append("\(quote(key)):\(formatNumber(value, digits: digits))")
    }
    mutating func set(_ key: String, numbers: [Double], digits: Int = 1) {
        parts.append("\(quote(key)):[\(numbers.map { formatNumber($0, digits: digits) }.joined(separator: ","))]")
    }
    mutating func setRaw(_ key: String, _ json: String) { parts.append("\(quote(key)):\(json)") }

    var text: String { "{" + parts.joined(separator: ",") + "}" }
}

func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

/// Formats a finite number with at most `digits` decimals (no exponent), JSON-safe.
func formatNumber(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "null" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if rounded == rounded.rounded(.towardZero), abs(rounded) < 1e15 {
        return String(Int64(rounded))
    }
    var text = String(rounded)
    // Swift prints small/large values with an exponent; fall back to fixed formatting.
    if text.contains("e") {
        let negative = rounded < 0
        let magnitude = abs(rounded)
        let whole = magnitude.rounded(.down)
        var frac = Int64(((magnitude - whole) * scale).rounded())
        var wholeInt = Int64(whole)
        if Double(frac) >= scale { frac = 0; wholeInt += 1 }
        var fracText = String(frac)
        fracText = String(repeating: "0", count: max(0, digits - fracText.count)) + fracText
        while fracText.hasSuffix("0") { fracText.removeLast() }
        text = (negative ? "-" : "") + String(wholeInt) + (fracText.isEmpty ? "" : "." + fracText)
    }
    return text
}
