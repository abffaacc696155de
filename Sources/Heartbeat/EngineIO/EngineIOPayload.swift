/// The body of an Engine.IO v4 long-polling request or response: packets as text, joined by the
/// record separator U+001E, binary messages as "b" + base64.
///
/// The separator is not escaped (neither reference parser escapes it), so a text message that
/// itself contains U+001E is split in two on the way through; use WebSocket for such data.
public struct EngineIOPayload: Sendable, Hashable {
    /// The record separator between packets.
    public static let separator: Unicode.Scalar = "\u{1E}"

    /// The packets, in order.
    public var packets: [EngineIOPacket]

    /// A payload of these packets.
    public init(packets: [EngineIOPacket]) {
        self.packets = packets
    }

    /// Decodes a payload. An empty body is zero packets (as python-engineio reads it); an empty
    /// record between separators is an error naming its index, like any other bad record.
    public init(text: String) throws(EngineIOParseError) {
        packets = []
        guard !text.isEmpty else { return }
        for (index, record) in text.unicodeScalars.split(separator: Self.separator, omittingEmptySubsequences: false).enumerated() {
            do {
                packets.append(try EngineIOPacket(text: String(String.UnicodeScalarView(record))))
            } catch {
                throw EngineIOParseError(error.reason, recordIndex: index)
            }
        }
    }

    /// The payload's text: each packet's `encodedText`, joined by the separator.
    public var encodedText: String {
        packets.map(\.encodedText).joined(separator: String(Self.separator))
    }
}
