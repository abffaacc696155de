/// Why some text or bytes are not an Engine.IO v4 packet, payload or handshake. Decoding never
/// crashes: every malformed input becomes one of these, with the reason and, inside a polling
/// payload, the index of the record that failed.
public struct EngineIOParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public enum Reason: Sendable, Hashable {
        /// An empty packet: no type character at all.
        case empty
        /// The first character is not a v4 packet type ("0"..."6", or "b" for base64 binary).
        case unknownType(String)
        /// The open packet's JSON is not a handshake; the text says which field or what syntax.
        case badHandshake(String)
        /// The text after "b" is not padded standard base64.
        case badBase64
    }

    /// What was wrong.
    public var reason: Reason
    /// The index of the failing packet inside a polling payload; nil for a single packet.
    public var recordIndex: Int?

    /// Creates an error for this reason, optionally at a payload record.
    public init(_ reason: Reason, recordIndex: Int? = nil) {
        self.reason = reason
        self.recordIndex = recordIndex
    }

    /// The reason in one line, prefixed with the payload record when there is one.
    public var description: String {
        let what: String
        switch reason {
        case .empty: what = "empty packet"
        case .unknownType(let type): what = "unknown packet type \(type.debugDescription)"
        case .badHandshake(let detail): what = "bad handshake JSON: \(detail)"
        case .badBase64: what = "bad base64 in binary packet"
        }
        if let recordIndex { return "payload record \(recordIndex): \(what)" }
        return what
    }
}
