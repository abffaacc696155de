import Testing
import Heartbeat
import LabCore

/// The Engine.IO v4 codec: packets as text and WebSocket frames, polling payloads, the handshake
/// JSON, typed parse errors, and a seeded fuzz run that must never crash.
@Suite("Engine.IO codec")
struct EngineIOCodecTests {
    static let handshake = EngineIOHandshake(sid: "lv_VI97HAXpY6yYWAAAC", upgrades: ["websocket"],
                                             pingInterval: .milliseconds(25_000), pingTimeout: .milliseconds(20_000),
                                             maxPayload: 1_000_000)

    /// (packet, its text form) — the wire strings from the protocol description.
    static let table: [(EngineIOPacket, String)] = [
        (.open(handshake),
         #"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#),
        (.close, "1"),
        (.plainPing, "2"),
        (.ping("probe"), "2probe"),
        (.plainPong, "3"),
        (.pong("probe"), "3probe"),
        (.message("hello"), "4hello"),
        (.message(""), "4"),
        (.message("héllo ✓ 🎉"), "4héllo ✓ 🎉"),
        (.upgrade, "5"),
        (.noop, "6"),
        (.binary([1, 2, 3, 4]), "bAQIDBA=="),
        (.binary([]), "b"),
    ]

    @Test("every packet type encodes to its wire text and back")
    func packetTable() throws {
        for (packet, text) in Self.table {
            #expect(packet.encodedText == text)
            #expect(try EngineIOPacket(text: text) == packet)
        }
    }

    @Test("base64 of binary packets matches the RFC 4648 vectors")
    func base64Vectors() throws {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                       ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            let packet = EngineIOPacket.binary(Array(plain.utf8))
            #expect(packet.encodedText == "b" + encoded)
            #expect(try EngineIOPacket(text: "b" + encoded) == packet)
        }
        let all = (0...255).map(UInt8.init)
        #expect(try EngineIOPacket(text: EngineIOPacket.binary(all).encodedText) == .binary(all))
    }

    @Test("data after the type is split by Unicode scalar, so a leading combining mark survives")
    func combiningMark() throws {
        #expect(try EngineIOPacket(text: "4\u{301}x") == .message("\u{301}x"))
        #expect(try EngineIOPacket(text: "2\u{301}") == .ping("\u{301}"))
    }

    @Test("data after close, upgrade and noop is ignored, as the references ignore it")
    func ignoredData() throws {
        #expect(try EngineIOPacket(text: "1bye") == .close)
        #expect(try EngineIOPacket(text: "5x") == .upgrade)
        #expect(try EngineIOPacket(text: "6probe") == .noop)
    }

    @Test("WebSocket frames: binary messages are binary frames, everything else text")
    func frames() throws {
        #expect(EngineIOPacket.binary([0xFF, 0]).frame == .binary([0xFF, 0]))
        #expect(EngineIOPacket.message("hi").frame == .text("4hi"))
        #expect(EngineIOPacket.ping("probe").frame == .text("2probe"))
        #expect(try EngineIOPacket(frame: .binary([9, 8])) == .binary([9, 8]))
        #expect(try EngineIOPacket(frame: .binary([])) == .binary([]))
        // A text frame starting with "b" is base64 on WebSocket too, as both reference parsers read it.
        #expect(try EngineIOPacket(frame: .text("bCQg=")) == .binary([9, 8]))
        #expect(try EngineIOPacket(frame: .text("3probe")) == .pong("probe"))
    }

    @Test("bad input is a typed error with its reason", arguments: [
        ("", EngineIOParseError.Reason.empty),
        ("7", .unknownType("7")),
        ("x4", .unknownType("x")),
        ("-1", .unknownType("-")),
        ("\u{1E}", .unknownType("\u{1E}")),
        ("b!!!!", .badBase64),         // outside the alphabet
        ("bAQI", .badBase64),          // 3 characters: not a multiple of 4
        ("bAQ=", .badBase64),          // 3 characters with padding
        ("bAQ==AAAA", .badBase64),     // padding before the last group
        ("bAR=A", .badBase64),         // data after padding
        ("b====", .badBase64),         // padding in the first places
        ("bAR==", .badBase64),         // unused bits set: not the canonical text of its byte
        ("bAR9=", .badBase64),
        ("b QID", .badBase64),         // whitespace is not skipped
    ])
    func errors(text: String, reason: EngineIOParseError.Reason) {
        #expect(throws: EngineIOParseError(reason)) { try EngineIOPacket(text: text) }
    }

    @Test("a bad handshake names the field or the JSON problem")
    func badHandshakes() {
        let cases: [(String, String)] = [
            ("0", "empty"),
            ("0{", ""),
            ("0[]", "expected an object, got array"),
            ("0{}", "missing sid"),
            (#"0{"sid":1,"upgrades":[],"pingInterval":1,"pingTimeout":1}"#, "sid must be a string, got number"),
            (#"0{"sid":"a","pingInterval":1,"pingTimeout":1}"#, "missing upgrades"),
            (#"0{"sid":"a","upgrades":[1],"pingInterval":1,"pingTimeout":1}"#, "upgrades must be an array of strings"),
            (#"0{"sid":"a","upgrades":[],"pingTimeout":1}"#, "missing pingInterval"),
            (#"0{"sid":"a","upgrades":[],"pingInterval":-1,"pingTimeout":1}"#, "pingInterval must be non-negative milliseconds"),
            (#"0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":"20"}"#, "pingTimeout must be non-negative milliseconds, got string"),
            (#"0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1.5}"#, "maxPayload must be a non-negative integer"),
        ]
        for (text, fragment) in cases {
            do {
                _ = try EngineIOPacket(text: text)
                Issue.record("\(text) decoded")
            } catch {
                guard case .badHandshake(let detail) = error.reason else {
                    Issue.record("\(text): \(error)")
                    continue
                }
                #expect(detail.contains(fragment), "\(text): \(detail)")
                #expect(error.description.hasPrefix("bad handshake JSON: "))
            }
        }
    }

    @Test("handshake JSON: round trip, unknown keys ignored, maxPayload optional, fractional milliseconds kept")
    func handshakeJSON() throws {
        let h = Self.handshake
        #expect(try EngineIOHandshake(json: h.json) == h)
        #expect(try EngineIOHandshake(text: h.text) == h)

        let minimal = try EngineIOHandshake(text: #"{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":200,"extra":true}"#)
        #expect(minimal == EngineIOHandshake(sid: "s", upgrades: [], pingInterval: .milliseconds(300),
                                             pingTimeout: .milliseconds(200), maxPayload: nil))
        #expect(minimal.text == #"{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":200}"#)

        let fractional = try EngineIOHandshake(text: #"{"sid":"s","upgrades":[],"pingInterval":2.5,"pingTimeout":2e4,"maxPayload":1e6}"#)
        #expect(fractional.pingInterval == .microseconds(2_500))
        #expect(fractional.pingTimeout == .milliseconds(20_000))
        #expect(fractional.maxPayload == 1_000_000)
        #expect(try EngineIOHandshake(json: fractional.json) == fractional)

        // Absurd values saturate instead of trapping.
        let huge = try EngineIOHandshake(text: #"{"sid":"s","upgrades":[],"pingInterval":9000000000000000000,"pingTimeout":1e300}"#)
        #expect(huge.pingInterval == TimeSpan(nanoseconds: .max))
        #expect(huge.pingTimeout == TimeSpan(nanoseconds: .max))
    }

    @Test("payload: packets joined by U+001E, binary as base64, round trip")
    func payload() throws {
        let packets: [EngineIOPacket] = [.message("hello"), .plainPing, .binary([1, 2, 3, 4]), .message("€"), .noop]
        let text = "4hello\u{1E}2\u{1E}bAQIDBA==\u{1E}4€\u{1E}6"
        #expect(EngineIOPayload(packets: packets).encodedText == text)
        #expect(try EngineIOPayload(text: text).packets == packets)
        #expect(try EngineIOPayload(text: "").packets == [])
        #expect(EngineIOPayload(packets: []).encodedText == "")
        #expect(try EngineIOPayload(text: "6").packets == [.noop])
        // The open packet's JSON travels in a payload unharmed.
        let open = EngineIOPayload(packets: [.open(Self.handshake), .message("welcome")])
        #expect(try EngineIOPayload(text: open.encodedText) == open)
    }

    @Test("a bad payload record is reported with its index")
    func payloadErrors() {
        #expect(throws: EngineIOParseError(.empty, recordIndex: 1)) { try EngineIOPayload(text: "4a\u{1E}\u{1E}4b") }
        #expect(throws: EngineIOParseError(.empty, recordIndex: 1)) { try EngineIOPayload(text: "4a\u{1E}") }
        #expect(throws: EngineIOParseError(.unknownType("9"), recordIndex: 2)) { try EngineIOPayload(text: "2\u{1E}3\u{1E}9") }
        #expect(throws: EngineIOParseError(.badBase64, recordIndex: 0)) { try EngineIOPayload(text: "b===") }
        #expect(EngineIOParseError(.badBase64, recordIndex: 0).description == "payload record 0: bad base64 in binary packet")
    }

    // MARK: - Fuzz

    /// Characters that reach every branch of the decoder: type digits, "b", base64 and padding,
    /// JSON punctuation, the separator, and multi-byte and combining scalars.
    static let alphabet: [Unicode.Scalar] = Array("0123456789bAQIDZm9v+/=={}[]\":,.-etrunfalsid ".unicodeScalars)
        + ["\u{1E}", "\u{0}", "\u{301}", "é", "€", "🎉", "\n", "\\"]

    static func randomText(_ rng: inout SeededGenerator) -> String {
        var scalars = String.UnicodeScalarView()
        let length = Int.random(in: 0...24, using: &rng)
        for _ in 0..<length { scalars.append(alphabet.randomElement(using: &rng)!) }
        return String(scalars)
    }

    @Test("5,000 random strings: decoding never crashes, and what decodes re-encodes to the same packets")
    func fuzzDecode() throws {
        var rng = SeededGenerator(seed: 0xE10)
        var decoded = 0
        for _ in 0..<5_000 {
            var text = Self.randomText(&rng)
            // Bias some inputs towards valid shapes so the success paths are exercised too.
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: text = "b" + text
            case 1: text = #"0{"sid":""# + text + #"","upgrades":[],"pingInterval":1,"pingTimeout":2}"#
            default: break
            }
            if let packet = try? EngineIOPacket(text: text) {
                decoded += 1
                #expect(try EngineIOPacket(text: packet.encodedText) == packet, Comment(rawValue: text.debugDescription))
                #expect(try EngineIOPacket(frame: packet.frame) == packet)
            }
            if let payload = try? EngineIOPayload(text: text) {
                #expect(try EngineIOPayload(text: payload.encodedText) == payload, Comment(rawValue: text.debugDescription))
            }
        }
        #expect(decoded > 500)
    }

    @Test("2,000 random packets and payloads survive encode -> decode")
    func fuzzRoundTrip() throws {
        var rng = SeededGenerator(seed: 42)
        func randomPacket() -> EngineIOPacket {
            let text = String(String.UnicodeScalarView(Self.randomText(&rng).unicodeScalars.filter { $0 != "\u{1E}" }))
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return .open(EngineIOHandshake(sid: text, upgrades: Bool.random(using: &rng) ? ["websocket"] : [],
                                                   pingInterval: .milliseconds(Int64.random(in: 0...100_000, using: &rng)),
                                                   pingTimeout: .milliseconds(Int64.random(in: 0...100_000, using: &rng)),
                                                   maxPayload: Bool.random(using: &rng) ? nil : Int64.random(in: 0...1 << 40, using: &rng)))
            case 1: return .close
            case 2: return .ping(text)
            case 3: return .pong(text)
            case 4: return .message(text)
            case 5: return .binary((0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            case 6: return .upgrade
            default: return .noop
            }
        }
        for _ in 0..<2_000 {
            let packets = (0..<Int.random(in: 1...6, using: &rng)).map { _ in randomPacket() }
            for packet in packets {
                #expect(try EngineIOPacket(text: packet.encodedText) == packet)
                #expect(try EngineIOPacket(frame: packet.frame) == packet)
            }
            let payload = EngineIOPayload(packets: packets)
            #expect(try EngineIOPayload(text: payload.encodedText) == payload)
        }
    }
}
