import LabCore

/// Typed reads of scenario document nodes: every failure becomes a `ScenarioError` naming the
/// node's place and the field path.
enum ScenarioRead {
    /// `parent.key`, or `key` at the root.
    static func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    /// `parent[index]`.
    static func child(_ path: String, index: Int) -> String { "\(path)[\(index)]" }

    static func error(_ node: ScenarioNode, _ path: String, _ message: String) -> ScenarioError {
        ScenarioError(file: node.place.file, line: node.place.line, column: node.place.column, path: path, message: message)
    }

    static func scalar(_ node: ScenarioNode, _ path: String, expected: String) throws(ScenarioError) -> String {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            throw error(node, path, "expected \(expected), got \(node.kindDescription)")
        }
        return text
    }

    static func duration(_ node: ScenarioNode, _ path: String, positive: Bool = false) throws(ScenarioError) -> TimeSpan {
        let text = try scalar(node, path, expected: "a duration such as \"250ms\" or \"25s\"")
        let span: TimeSpan
        do { span = try TimeSpan(parsing: text) } catch { throw self.error(node, path, error.message) }
        if positive, span <= .zero { throw error(node, path, "must be greater than 0s, got \(text)") }
        guard span <= ScenarioBounds.longestDuration else {
            throw error(node, path, "must be at most \(ScenarioBounds.longestDuration), got \(text)")
        }
        return span
    }

    static func size(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> ByteCount {
        let text = try scalar(node, path, expected: "a size such as \"512B\" or \"64KiB\"")
        do { return try ByteCount(parsing: text) } catch { throw self.error(node, path, error.message) }
    }

    static func eventRate(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> EventRate {
        let text = try scalar(node, path, expected: "an event rate such as \"2/s\" or \"30/m\"")
        let rate: EventRate
        do { rate = try EventRate(parsing: text) } catch { throw self.error(node, path, error.message) }
        guard rate.perSecond <= ScenarioBounds.highestEventRate else {
            throw self.error(node, path, "must be at most \(Int(ScenarioBounds.highestEventRate))/s per connection, got \(text)")
        }
        return rate
    }

    static func byteRate(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> ByteRate {
        let text = try scalar(node, path, expected: "a transfer rate such as \"1MB/s\" or \"8Mbit/s\"")
        do { return try ByteRate(parsing: text) } catch { throw self.error(node, path, error.message) }
    }

    /// A plain number (no unit); `range` bounds it inclusively, `upperOpen` makes the top exclusive.
    static func number(_ node: ScenarioNode, _ path: String, min lower: Double? = nil, max upper: Double? = nil,
                       upperOpen: Bool = false, lowerOpen: Bool = false) throws(ScenarioError) -> Double {
        let text = try scalar(node, path, expected: "a number")
        guard let value = Double(text.trimmingSpaces()), value.isFinite else {
            throw error(node, path, "expected a number, got '\(text)'")
        }
        try check(value, node, path, text: text, min: lower, max: upper, lowerOpen: lowerOpen, upperOpen: upperOpen)
        return value
    }

    /// A fraction written as a number ("0.02") or a percentage ("2%"), within [0, 1] unless narrowed.
    static func probability(_ node: ScenarioNode, _ path: String, upperOpen: Bool = false) throws(ScenarioError) -> Double {
        let text = try scalar(node, path, expected: "a probability such as 0.02 or \"2%\"")
        let trimmed = text.trimmingSpaces()
        let value: Double?
        if trimmed.hasSuffix("%") {
            // "99.9e-2" reads as the nearest double to 0.999, where 99.9 / 100 would not.
            let number = String(trimmed.dropLast()).trimmingSpaces()
            value = number.contains(where: { $0 == "e" || $0 == "E" }) ? Double(number).map { $0 / 100 } : Double(number + "e-2")
        } else {
            value = Double(trimmed)
        }
        guard let value, value.isFinite else {
            throw error(node, path, "expected a probability such as 0.02 or \"2%\", got '\(text)'")
        }
        guard value >= 0, upperOpen ? value < 1 : value <= 1 else {
            throw error(node, path, "must be in [0, 1\(upperOpen ? ")" : "]") (0% to 100%\(upperOpen ? ", exclusive" : "")), got \(text)")
        }
        return value
    }

    static func integer(_ node: ScenarioNode, _ path: String, min lower: Int, max upper: Int) throws(ScenarioError) -> Int {
        let text = try scalar(node, path, expected: "a whole number")
        guard let value = Int(text.trimmingSpaces().replacing("_", with: "")) else {
            throw error(node, path, "expected a whole number, got '\(text)'")
        }
        guard value >= lower, value <= upper else {
            throw error(node, path, "must be between \(lower) and \(upper), got \(value)")
        }
        return value
    }

    static func seed(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> UInt64 {
        let text = try scalar(node, path, expected: "a whole number from 0 to 2^64-1")
        let trimmed = text.trimmingSpaces().replacing("_", with: "")
        let value = trimmed.hasPrefix("0x") ? UInt64(trimmed.dropFirst(2), radix: 16) : UInt64(trimmed)
        guard let value else { throw error(node, path, "expected a whole number from 0 to 2^64-1, got '\(text)'") }
        return value
    }

    static func bool(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> Bool {
        let text = try scalar(node, path, expected: "true or false")
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error(node, path, "expected true or false, got '\(text)'")
        }
    }

    static func string(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> String {
        let text = try scalar(node, path, expected: "a text")
        guard !text.isEmpty else { throw error(node, path, "must not be empty") }
        return text
    }

    static func sequence(_ node: ScenarioNode, _ path: String, expected: String) throws(ScenarioError) -> [ScenarioNode] {
        guard case .sequence(let items) = node.content else {
            throw error(node, path, "expected \(expected), got \(node.kindDescription)")
        }
        return items
    }

    private static func check(_ value: Double, _ node: ScenarioNode, _ path: String, text: String, min lower: Double?,
                              max upper: Double?, lowerOpen: Bool, upperOpen: Bool) throws(ScenarioError) {
        let lowOK = lower.map { lowerOpen ? value > $0 : value >= $0 } ?? true
        let highOK = upper.map { upperOpen ? value < $0 : value <= $0 } ?? true
        guard lowOK, highOK else {
            let low = lower.map { "\(lowerOpen ? "(" : "[")\(formatParameter($0))" } ?? "(-inf"
            let high = upper.map { "\(formatParameter($0))\(upperOpen ? ")" : "]")" } ?? "inf)"
            throw error(node, path, "must be in \(low), \(high), got \(text)")
        }
    }
}

/// A mapping node read field by field: checks up front that every key is known (naming the known
/// ones, with a suggestion for near misses) and that each appears once.
struct MappingReader {
    let node: ScenarioNode
    let path: String
    private(set) var order: [String] = []
    private var entries: [String: ScenarioNode.Entry] = [:]

    /// Reads `node` as a mapping of `what` whose keys must be among `known`.
    init(_ node: ScenarioNode, _ path: String, known: [String], what: String = "a mapping") throws(ScenarioError) {
        self.node = node
        self.path = path
        guard case .mapping(let list) = node.content else {
            throw ScenarioRead.error(node, path, "expected \(what), got \(node.kindDescription)")
        }
        for entry in list {
            guard case .scalar(let key, _) = entry.key.content else {
                throw ScenarioRead.error(entry.key, path, "a field name must be a plain word, got \(entry.key.kindDescription)")
            }
            if entries[key] != nil {
                throw ScenarioRead.error(entry.key, path, "field '\(key)' appears twice")
            }
            if !known.contains(key) {
                throw ScenarioRead.error(entry.key, path, MappingReader.unknownMessage(key, known: known, noun: "field"))
            }
            entries[key] = entry
            order.append(key)
        }
    }

    /// Reads `node` as a mapping with any keys (checked by the caller).
    init(anyKeys node: ScenarioNode, _ path: String, what: String) throws(ScenarioError) {
        self.node = node
        self.path = path
        guard case .mapping(let list) = node.content else {
            throw ScenarioRead.error(node, path, "expected \(what), got \(node.kindDescription)")
        }
        for entry in list {
            guard case .scalar(let key, _) = entry.key.content else {
                throw ScenarioRead.error(entry.key, path, "a field name must be a plain word, got \(entry.key.kindDescription)")
            }
            if entries[key] != nil { throw ScenarioRead.error(entry.key, path, "field '\(key)' appears twice") }
            entries[key] = entry
            order.append(key)
        }
    }

    static func unknownMessage(_ key: String, known: [String], noun: String) -> String {
        var message = "unknown \(noun) '\(key)'"
        if let suggestion = suggestion(for: key, among: known) { message += " (did you mean '\(suggestion)'?)" }
        return message + "; expected one of \(known.joined(separator: ", "))"
    }

    /// The known name closest to `key` when it is a plausible typo (case or two edits away).
    static func suggestion(for key: String, among known: [String]) -> String? {
        if let same = known.first(where: { $0.lowercased() == key.lowercased() }) { return same }
        let scored = known.map { ($0, editDistance(Array(key.lowercased()), Array($0.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < key.count else { return nil }
        return best.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// The value of `key`, or nil when absent.
    subscript(_ key: String) -> ScenarioNode? { entries[key]?.value }

    /// The key node of `key` (for errors about the key itself).
    func keyNode(_ key: String) -> ScenarioNode? { entries[key]?.key }

    /// Whether `key` is present.
    func has(_ key: String) -> Bool { entries[key] != nil }

    /// The path of `key` under this mapping.
    func path(_ key: String) -> String { ScenarioRead.child(path, key) }

    /// The value of `key`, or an error at the mapping saying it is missing.
    func required(_ key: String, hint: String = "") throws(ScenarioError) -> ScenarioNode {
        guard let value = entries[key]?.value else {
            throw ScenarioRead.error(node, path, "missing required field '\(key)'\(hint)")
        }
        return value
    }

    /// Reads `key` with `read` when present.
    func optional<T>(_ key: String, _ read: (ScenarioNode, String) throws(ScenarioError) -> T) throws(ScenarioError) -> T? {
        guard let value = entries[key]?.value else { return nil }
        return try read(value, path(key))
    }
}
