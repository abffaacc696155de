/// One WebSocket frame as seen on the wire (RFC 6455 section 5.2), unmasked.
public struct ObservedFrame: Sendable, Hashable {
    /// The opcode: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    public var opcode: UInt8
    /// Whether this is the final fragment.
    public var fin: Bool
    /// The unmasked payload.
    public var payload: [UInt8]
}

/// A streaming WebSocket frame parser for a tap: bytes in, whole frames out, in any chunking.
/// It never allocates more than `maxPayload` for one frame; a bigger or malformed frame stops the
/// parser (a tap must not crash on what it watches).
public struct WebSocketFrameParser: Sendable {
    private var buffer: [UInt8] = []
    private let maxPayload: Int
    /// Set when the stream could not be parsed; the parser then ignores input.
    public private(set) var failure: String?

    /// Creates a parser that gives up on frames larger than `maxPayload` bytes.
    public init(maxPayload: Int = 16 << 20) {
        self.maxPayload = maxPayload
    }

    /// Adds bytes and returns every frame now complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ObservedFrame] {
        guard failure == nil else { return [] }
        buffer.append(contentsOf: bytes)
        var frames: [ObservedFrame] = []
        var offset = 0
        while true {
            let available = buffer.count - offset
            guard available >= 2 else { break }
            let b0 = buffer[offset], b1 = buffer[offset + 1]
            let masked = b1 & 0x80 != 0
            var length = Int(b1 & 0x7f)
            var header = 2
            if length == 126 {
                guard available >= 4 else { break }
                length = Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
                header = 4
            } else if length == 127 {
                guard available >= 10 else { break }
                var l: UInt64 = 0
                for i in 0..<8 { l = l << 8 | UInt64(buffer[offset + 2 + i]) }
                guard l <= UInt64(maxPayload) else {
                    failure = "frame of \(l) bytes exceeds the tap's limit"
                    return frames
                }
                length = Int(l)
                header = 10
            }
            guard length <= maxPayload else {
                failure = "frame of \(length) bytes exceeds the tap's limit"
                return frames
            }
            let maskLength = masked ? 4 : 0
            guard available >= header + maskLength + length else { break }
            let maskStart = offset + header
            let payloadStart = maskStart + maskLength
            var payload = Array(buffer[payloadStart..<(payloadStart + length)])
            if masked {
                for i in payload.indices { payload[i] ^= buffer[maskStart + i % 4] }
            }
            frames.append(ObservedFrame(opcode: b0 & 0x0f, fin: b0 & 0x80 != 0, payload: payload))
            offset = payloadStart + length
        }
        if offset > 0 { buffer.removeFirst(offset) }
        return frames
    }
}

/// Finds the end of an HTTP head ("\r\n\r\n") in a stream and returns the head's lines.
public struct HTTPHeadParser: Sendable {
    private var buffer: [UInt8] = []
    private let maxHead: Int

    /// Creates a parser that gives up on heads longer than `maxHead` bytes.
    public init(maxHead: Int = 64 << 10) {
        self.maxHead = maxHead
    }

    /// Adds bytes; when a whole head has arrived returns its lines and the bytes after it.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> (lines: [String], rest: [UInt8])? {
        buffer.append(contentsOf: bytes)
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            let head = String(decoding: buffer[..<i], as: UTF8.self)
            let rest = Array(buffer[(i + 4)...])
            buffer.removeAll()
            return (head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init), rest)
        }
        if buffer.count > maxHead { buffer.removeAll() }
        return nil
    }
}
