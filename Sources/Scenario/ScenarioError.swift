import LabCore

/// A scenario file (or a `--set` override) that could not be read, with the place and the field:
/// printed as `file:line:column: path: message`, e.g.
/// `dashboard.yaml:14:9: phases[2].both.latency: unknown distribution 'gauss'; expected one of …`.
public struct ScenarioError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file as it was named to the loader, `--set` for an override, or the `source` passed to `parse`.
    public var file: String
    /// The 1-based line, or 0 when the error is about the whole file (e.g. it cannot be read).
    public var line: Int
    /// The 1-based column (counted in Unicode scalars), or 0 with `line`.
    public var column: Int
    /// The field path, e.g. `phases[2].both.latency`; empty for the document itself.
    public var path: String
    /// Why the value is not acceptable, and what was expected.
    public var message: String

    /// Creates an error at `file:line:column` about the field at `path`.
    public init(file: String, line: Int, column: Int, path: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    /// `file:line:column: path: message`, leaving out the place when it is unknown and the path when empty.
    public var description: String {
        var text = file
        if line > 0 { text += ":\(line):\(column)" }
        text += ": "
        if !path.isEmpty { text += "\(path): " }
        return text + message
    }
}
