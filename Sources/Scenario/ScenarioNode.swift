import LabCore
import Yams

/// Where a node of a scenario document came from: a file (or `--set`) and a 1-based line and column.
public struct SourcePlace: Sendable, Hashable, CustomStringConvertible {
    /// The file name as given, or `--set` for an override.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column in Unicode scalars.
    public var column: Int

    /// Creates a place.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// A YAML document reduced to what a scenario needs (scalars as text, mappings in document order,
/// sequences), every node keeping its place, so that overrides and sweeps can edit the document and
/// errors still point into the file. Aliases are expanded and merge keys (`<<`) applied.
struct ScenarioNode: Sendable, Hashable {
    /// One key/value pair of a mapping.
    struct Entry: Sendable, Hashable {
        var key: ScenarioNode
        var value: ScenarioNode
    }

    enum Content: Sendable, Hashable {
        /// A scalar's text; `plain` is false for quoted and block scalars (so "null" in quotes is text).
        case scalar(String, plain: Bool)
        case mapping([Entry])
        case sequence([ScenarioNode])
    }

    var content: Content
    var place: SourcePlace

    /// Whether `node` is a sequence.
    static func isSequence(_ node: ScenarioNode) -> Bool {
        if case .sequence = node.content { return true }
        return false
    }

    /// A plain scalar that YAML reads as null (`~`, `null`, or nothing at all).
    var isNull: Bool {
        if case .scalar(let text, true) = content { return ["", "~", "null", "Null", "NULL"].contains(text) }
        return false
    }

    /// The scalar's text, or nil for mappings and sequences.
    var scalarText: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    /// How the node is named in "expected X, got Y" messages.
    var kindDescription: String {
        switch content {
        case .scalar(let text, _): isNull ? "nothing (null)" : "'\(text)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}

/// Limits that keep hostile documents (alias bombs, deep nesting) from exhausting time or stack.
enum ScenarioDocumentLimits {
    /// Nodes after alias expansion.
    static let maxNodes = 200_000
    /// The largest scenario document, in bytes (the pack's files are a few KB).
    static let maxBytes = 1 << 20
    /// Nesting of flow collections, checked before libyaml sees the text.
    static let maxFlowDepth = 64
    /// Nesting of nodes.
    static let maxDepth = 64
}

extension ScenarioNode {
    /// Parses `yaml` (the first and only document), naming `file` in every place and error.
    static func parse(yaml: String, file: String, lineOffset: Int = 0, columnOffset: Int = 0) throws(ScenarioError) -> ScenarioNode {
        try checkText(yaml, file: file, lineOffset: lineOffset, columnOffset: columnOffset)
        try checkFlowDepth(yaml, file: file, lineOffset: lineOffset, columnOffset: columnOffset)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw convert(error, file: file, lineOffset: lineOffset, columnOffset: columnOffset, end: endMark(of: yaml))
        } catch {
            throw ScenarioError(file: file, line: 0, column: 0, path: "", message: "not valid YAML: \(error)")
        }
        guard let root else {
            return ScenarioNode(content: .scalar("", plain: true),
                                place: SourcePlace(file: file, line: 1 + lineOffset, column: 1 + columnOffset))
        }
        var budget = ScenarioDocumentLimits.maxNodes
        return try convert(root, file: file, lineOffset: lineOffset, columnOffset: columnOffset, depth: 0, budget: &budget)
    }

    /// Bounds the text before any parsing (a 50 MB phase list took 30 s and 1.3 GB before libyaml
    /// said "document too large"), and finds the control characters YAML forbids, with their line,
    /// column and byte offset (libyaml reports them with no place).
    private static func checkText(_ yaml: String, file: String, lineOffset: Int, columnOffset: Int) throws(ScenarioError) {
        let size = yaml.utf8.count
        guard size <= ScenarioDocumentLimits.maxBytes else {
            throw ScenarioError(file: file, line: 1 + lineOffset, column: 1 + columnOffset, path: "",
                                message: "document too large: \(size) bytes, at most \(ScenarioDocumentLimits.maxBytes)")
        }
        var line = 1, column = 1, offset = 0
        for scalar in yaml.unicodeScalars {
            let v = scalar.value
            if v == 0x0A {
                line += 1
                column = 1
            } else {
                let allowed = v == 0x09 || v == 0x0D || (v >= 0x20 && v != 0x7F && !(0x80...0x9F).contains(v) && v != 0xFFFE && v != 0xFFFF)
                guard allowed else {
                    throw ScenarioError(file: file, line: line + lineOffset, column: (line == 1 ? columnOffset : 0) + column, path: "",
                                        message: "control character U+\(String(v, radix: 16, uppercase: true).leftPadded(to: 4)) at byte \(offset) is not allowed in YAML")
                }
                column += 1
            }
            offset += String(scalar).utf8.count
        }
    }

    /// Bounds the nesting of flow collections before libyaml sees the text. Brackets in comments
    /// and in quoted scalars are text, not nesting: a comment starts at a `#` at a line's start or
    /// after a space, and a quote starts a scalar where YAML starts one (after `:`, `-`, `[`, `{`,
    /// `,` and spaces, or at a line's start). A quote is taken to end at its line's end at the
    /// latest, so what follows is counted again: the check may count too much, never too little.
    private static func checkFlowDepth(_ yaml: String, file: String, lineOffset: Int, columnOffset: Int) throws(ScenarioError) {
        var depth = 0
        var line = 1
        var column = 0
        var quote: Unicode.Scalar?
        var inComment = false
        var previous: Unicode.Scalar = "\n"      // the last scalar read
        var lastSignificant: Unicode.Scalar = "\n"  // the last one that is not a space or tab
        var escaped = false
        for scalar in yaml.unicodeScalars {
            column += 1
            defer {
                previous = scalar
                if scalar != " " && scalar != "\t" { lastSignificant = scalar }
            }
            if scalar == "\n" {
                line += 1
                column = 0
                inComment = false
                quote = nil
                escaped = false
                continue
            }
            if inComment { continue }
            if let open = quote {
                if open == "\"" && escaped { escaped = false; continue }
                if open == "\"" && scalar == "\\" { escaped = true; continue }
                if scalar == open { quote = nil }
                continue
            }
            if scalar == "#" && (previous == " " || previous == "\t" || previous == "\n") {
                inComment = true
                continue
            }
            if (scalar == "'" || scalar == "\"") && ":-[{,\n".unicodeScalars.contains(lastSignificant) {
                quote = scalar
                continue
            }
            switch scalar {
            case "[", "{":
                depth += 1
                if depth > ScenarioDocumentLimits.maxFlowDepth {
                    throw ScenarioError(file: file, line: line + lineOffset, column: column + (line == 1 ? columnOffset : 0), path: "",
                                        message: "nesting deeper than \(ScenarioDocumentLimits.maxFlowDepth) levels")
                }
            case "]", "}": depth = max(0, depth - 1)
            default: break
            }
        }
    }

    /// The line and column just past the text's last character, where the parser says "end of input".
    private static func endMark(of yaml: String) -> (line: Int, column: Int) {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        if yaml.hasSuffix("\n") { return (lines.count, 1) }
        return (lines.count, (lines.last?.unicodeScalars.count ?? 0) + 1)
    }

    private static func convert(_ error: YamlError, file: String, lineOffset: Int, columnOffset: Int,
                                end: (line: Int, column: Int)) -> ScenarioError {
        func place(_ mark: Mark) -> (Int, Int) {
            // The parser reports the end of input past a text without a final newline (a `--set`
            // value) as the next line's start: that is the text's own end.
            let (line, column) = mark.line > end.line || (mark.line == end.line && mark.column > end.column)
                ? end : (mark.line, mark.column)
            return (line + lineOffset, column + (line == 1 ? columnOffset : 0))
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let (line, column) = place(mark)
            let where_ = context.map { context -> String in
                let (contextLine, contextColumn) = place(context.mark)
                return " (\(context.text) at \(contextLine):\(contextColumn))"
            } ?? ""
            return ScenarioError(file: file, line: line, column: column, path: "", message: "not valid YAML: \(problem)\(where_)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let (line, column) = place(context.mark)
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return ScenarioError(file: file, line: line, column: column, path: "",
                                 message: "duplicate key \(keys): each field may appear only once in a mapping")
        case .reader(let problem, _, _, _):
            return ScenarioError(file: file, line: 0, column: 0, path: "", message: "not valid YAML text: \(problem)")
        default:
            return ScenarioError(file: file, line: 0, column: 0, path: "", message: "not valid YAML: \(error)")
        }
    }

    private static func convert(_ node: Node, file: String, lineOffset: Int, columnOffset: Int, depth: Int,
                                budget: inout Int) throws(ScenarioError) -> ScenarioNode {
        let mark = node.mark
        let line = (mark?.line ?? 1) + lineOffset
        let column = (mark?.column ?? 1) + ((mark?.line ?? 1) == 1 ? columnOffset : 0)
        let place = SourcePlace(file: file, line: line, column: column)
        budget -= 1
        guard budget >= 0 else {
            throw ScenarioError(file: file, line: line, column: column, path: "",
                                message: "document too large: more than \(ScenarioDocumentLimits.maxNodes) nodes once aliases are expanded")
        }
        guard depth <= ScenarioDocumentLimits.maxDepth else {
            throw ScenarioError(file: file, line: line, column: column, path: "",
                                message: "nesting deeper than \(ScenarioDocumentLimits.maxDepth) levels")
        }
        switch node {
        case .scalar(let scalar):
            return ScenarioNode(content: .scalar(scalar.string, plain: scalar.style == .plain), place: place)
        case .sequence(let sequence):
            var items: [ScenarioNode] = []
            for item in sequence {
                items.append(try convert(item, file: file, lineOffset: lineOffset, columnOffset: columnOffset, depth: depth + 1, budget: &budget))
            }
            return ScenarioNode(content: .sequence(items), place: place)
        case .mapping(let mapping):
            var entries: [Entry] = []
            var merged: [Entry] = []
            for (key, value) in mapping {
                let convertedValue = try convert(value, file: file, lineOffset: lineOffset, columnOffset: columnOffset,
                                                 depth: depth + 1, budget: &budget)
                if case .scalar(let keyScalar) = key, keyScalar.string == "<<", keyScalar.style == .plain {
                    // A merge key: its mapping (or list of mappings) supplies keys the mapping lacks.
                    let sources: [ScenarioNode]
                    switch convertedValue.content {
                    case .mapping: sources = [convertedValue]
                    case .sequence(let items): sources = items
                    case .scalar:
                        throw ScenarioError(file: file, line: convertedValue.place.line, column: convertedValue.place.column,
                                            path: "", message: "a merge key (<<) needs a mapping or a list of mappings")
                    }
                    for source in sources {
                        guard case .mapping(let sourceEntries) = source.content else {
                            throw ScenarioError(file: file, line: source.place.line, column: source.place.column,
                                                path: "", message: "a merge key (<<) needs a mapping or a list of mappings")
                        }
                        merged.append(contentsOf: sourceEntries)
                    }
                    continue
                }
                let convertedKey = try convert(key, file: file, lineOffset: lineOffset, columnOffset: columnOffset,
                                               depth: depth + 1, budget: &budget)
                entries.append(Entry(key: convertedKey, value: convertedValue))
            }
            for entry in merged where !entries.contains(where: { $0.key.scalarText == entry.key.scalarText }) {
                entries.append(entry)
            }
            return ScenarioNode(content: .mapping(entries), place: place)
        case .alias(let alias):
            // Yams expands aliases while composing; an alias node left over means an undefined anchor.
            throw ScenarioError(file: file, line: line, column: column, path: "",
                                message: "alias '*\(alias.anchor)' refers to no anchor")
        }
    }
}

private extension String {
    /// The string with leading zeros up to `width` characters.
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
