import LabCore

/// A field path as `--set` and `sweeps:` write it: `server.pingTimeout`, `phases[2].for`.
struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    var segments: [Segment]

    /// Parses `text`; nil when it is not a path.
    init?(_ text: String) {
        var segments: [Segment] = []
        var chars = Array(text)[...]
        func isNameChar(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }
        while !chars.isEmpty {
            let name = chars.prefix(while: isNameChar)
            guard !name.isEmpty else { return nil }
            segments.append(.key(String(name)))
            chars = chars.dropFirst(name.count)
            while chars.first == "[" {
                chars = chars.dropFirst()
                let digits = chars.prefix(while: { $0.isASCII && $0.isNumber })
                guard !digits.isEmpty, digits.count < 10, let index = Int(String(digits)) else { return nil }
                chars = chars.dropFirst(digits.count)
                guard chars.first == "]" else { return nil }
                chars = chars.dropFirst()
                segments.append(.index(index))
            }
            if chars.first == "." {
                chars = chars.dropFirst()
                guard !chars.isEmpty else { return nil }
            } else if !chars.isEmpty {
                return nil
            }
        }
        guard !segments.isEmpty else { return nil }
        self.segments = segments
    }

    var description: String {
        var text = ""
        for segment in segments {
            switch segment {
            case .key(let name): text += text.isEmpty ? name : ".\(name)"
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }
}

extension ScenarioNode {
    /// A copy with `value` at `path`, creating missing mapping fields (their keys placed at `keyPlace`).
    func setting(_ path: ArraySlice<FieldPath.Segment>, to value: ScenarioNode, keyPlace: SourcePlace,
                 walked: String) throws(ScenarioError) -> ScenarioNode {
        guard let first = path.first else { return value }
        let rest = path.dropFirst()
        var copy = self
        switch first {
        case .key(let name):
            let here = ScenarioRead.child(walked, name)
            var entries: [Entry]
            switch content {
            case .mapping(let list): entries = list
            case .scalar where isNull: entries = []
            default:
                throw ScenarioError(file: keyPlace.file, line: keyPlace.line, column: keyPlace.column, path: walked,
                                    message: "cannot set '\(name)' inside \(kindDescription) (\(place)); replace \(walked.isEmpty ? "it" : walked) as a whole")
            }
            if let index = entries.firstIndex(where: { $0.key.scalarText == name }) {
                entries[index].value = try entries[index].value.setting(rest, to: value, keyPlace: keyPlace, walked: here)
            } else {
                let empty = ScenarioNode(content: .scalar("", plain: true), place: keyPlace)
                entries.append(Entry(key: ScenarioNode(content: .scalar(name, plain: true), place: keyPlace),
                                     value: try empty.setting(rest, to: value, keyPlace: keyPlace, walked: here)))
            }
            copy.content = .mapping(entries)
        case .index(let index):
            let here = ScenarioRead.child(walked, index: index)
            guard case .sequence(var items) = content else {
                throw ScenarioError(file: keyPlace.file, line: keyPlace.line, column: keyPlace.column, path: walked,
                                    message: "cannot index \(kindDescription) (\(place)); [\(index)] needs a list")
            }
            guard index < items.count else {
                throw ScenarioError(file: keyPlace.file, line: keyPlace.line, column: keyPlace.column, path: walked,
                                    message: "index \(index) is out of range: the list has \(items.count) entr\(items.count == 1 ? "y" : "ies")")
            }
            items[index] = try items[index].setting(rest, to: value, keyPlace: keyPlace, walked: here)
            copy.content = .sequence(items)
        }
        return copy
    }

    /// A copy of a mapping without `key`.
    func removing(_ key: String) -> ScenarioNode {
        guard case .mapping(let entries) = content else { return self }
        var copy = self
        copy.content = .mapping(entries.filter { $0.key.scalarText != key })
        return copy
    }

    /// Compact YAML flow text for the node (sweep values in names and `Sweep.values`).
    var flowText: String {
        switch content {
        case .scalar(let text, let plain):
            let safe = plain && !text.isEmpty && !text.contains(where: { ",[]{}:#\"'\n".contains($0) })
            return safe ? text : "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
        case .sequence(let items):
            return "[" + items.map(\.flowText).joined(separator: ", ") + "]"
        case .mapping(let entries):
            return "{" + entries.map { "\($0.key.flowText): \($0.value.flowText)" }.joined(separator: ", ") + "}"
        }
    }
}

extension Scenario {
    /// Fields that cannot be swept (they define the sweep or the results folder).
    static let unsweepable = ["name", "sweeps", "repetitions"]

    /// A copy with `path=value` overrides applied in order (as `flatline run --set` does), validated
    /// like the file itself. The value is YAML (`60s`, `[10s, 20s]`, `{median: 40ms, p99: 200ms}`);
    /// errors about it name the file `--set`, line 1 and the column within the override text.
    public func applying(overrides: [String]) throws(ScenarioError) -> Scenario {
        var document = document
        for override in overrides {
            let chars = Array(override)
            guard let equals = chars.firstIndex(of: "=") else {
                throw ScenarioError(file: "--set", line: 1, column: 1, path: "",
                                    message: "expected path=value such as server.pingTimeout=60s, got '\(override)'")
            }
            let pathText = String(chars[..<equals]).trimmingSpaces()
            guard let path = FieldPath(pathText) else {
                throw ScenarioError(file: "--set", line: 1, column: 1, path: "",
                                    message: "'\(pathText)' is not a field path; expected names joined by dots, e.g. server.pingTimeout or phases[0].for")
            }
            let valueText = String(chars[(equals + 1)...])
            let columnOffset = override.unicodeScalars.count - valueText.unicodeScalars.count
            let value: ScenarioNode
            do {
                value = try ScenarioNode.parse(yaml: valueText, file: "--set", columnOffset: columnOffset)
            } catch {
                // libyaml reports an unfinished value at the start of a line after it: point past the text.
                var error = error
                if error.line > 1 { (error.line, error.column) = (1, override.unicodeScalars.count + 1) }
                throw error
            }
            document = try document.setting(path.segments[...], to: value,
                                            keyPlace: SourcePlace(file: "--set", line: 1, column: 1), walked: "")
        }
        return try Scenario(document: document, validateSweeps: true)
    }

    /// One scenario per combination of sweep values (the first sweep varies slowest), each with the
    /// values substituted, no sweeps left, and its name suffixed `+path=value` per sweep, e.g.
    /// `dashboard-after+server.pingTimeout=60s`. Without sweeps, `[self]`.
    public func expandSweeps() -> [Scenario] {
        sweepPoints.isEmpty ? [self] : sweepPoints
    }

    /// Reads `sweeps:` and builds every combination (which validates each).
    static func sweeps(_ node: ScenarioNode, document: ScenarioNode, validate: Bool) throws(ScenarioError) -> ([Sweep], [Scenario]) {
        let r = try MappingReader(anyKeys: node, "sweeps", what: "a mapping from field paths to lists of values, e.g. server.pingTimeout: [10s, 20s, 60s]")
        var axes: [(path: FieldPath, key: ScenarioNode, values: [ScenarioNode])] = []
        var total = 1
        for key in r.order {
            let keyNode = r.keyNode(key)!
            guard let path = FieldPath(key) else {
                throw ScenarioRead.error(keyNode, "sweeps", "'\(key)' is not a field path; expected names joined by dots, e.g. server.pingTimeout")
            }
            if case .key(let head) = path.segments[0], unsweepable.contains(head) {
                throw ScenarioRead.error(keyNode, "sweeps", "'\(key)' cannot be swept")
            }
            let values = try ScenarioRead.sequence(r[key]!, r.path(key), expected: "a list of values, e.g. [10s, 20s, 60s]")
            guard !values.isEmpty else { throw ScenarioRead.error(r[key]!, r.path(key), "needs at least one value") }
            total *= values.count
            guard total <= maxSweepPoints else {
                throw ScenarioRead.error(r[key]!, r.path(key), "the sweeps make more than \(maxSweepPoints) combinations")
            }
            axes.append((path, keyNode, values))
        }
        let sweeps = axes.map { Sweep(path: $0.path.description, values: $0.values.map(\.flowText)) }
        guard validate, !axes.isEmpty else { return (sweeps, []) }
        let base = document.removing("sweeps")
        let baseName = (try? MappingReader(anyKeys: document, "", what: ""))?["name"]?.scalarText ?? ""
        var points: [Scenario] = []
        var choice = Array(repeating: 0, count: axes.count)
        while true {
            var point = base
            var suffix = ""
            for (axis, index) in zip(axes, choice) {
                let value = axis.values[index]
                point = try point.setting(axis.path.segments[...], to: value, keyPlace: axis.key.place, walked: "")
                suffix += "+\(axis.path)=\(value.flowText)"
            }
            var scenario = try Scenario(document: point, validateSweeps: false)
            scenario.name = baseName + suffix
            points.append(scenario)
            // Next combination, last axis fastest.
            var position = axes.count - 1
            while position >= 0 {
                choice[position] += 1
                if choice[position] < axes[position].values.count { break }
                choice[position] = 0
                position -= 1
            }
            if position < 0 { break }
        }
        return (sweeps, points)
    }
}
