import Heartbeat
import LabCore
import Testing

@Suite("Socket.IO v5 packet codec")
struct SocketIOPacketTests {
    // MARK: Encoding, as socket.io-parser writes packets

    @Test func encodesEveryPacketType() {
        #expect(SocketIOPacket.connect().encoded == "0")
        #expect(SocketIOPacket.connect(namespace: "/admin", auth: ["token": .string("t")]).encoded
            == #"0/admin,{"token":"t"}"#)
        #expect(SocketIOPacket.connected(sid: "abc").encoded == #"0{"sid":"abc"}"#)
        #expect(SocketIOPacket.disconnect().encoded == "1")
        #expect(SocketIOPacket.disconnect(namespace: "/admin").encoded == "1/admin,")
        #expect(SocketIOPacket.event("ev", [.integer(1)], namespace: "/admin", ackID: 13).encoded
            == #"2/admin,13["ev",1]"#)
        #expect(SocketIOPacket.event("hello", [.string("world")]).encoded == #"2["hello","world"]"#)
        #expect(SocketIOPacket.ack(id: 13, [.string("ok")], namespace: "/admin").encoded == #"3/admin,13["ok"]"#)
        #expect(SocketIOPacket.ack(id: 0).encoded == "30[]")
        #expect(SocketIOPacket.connectError(message: "Not authorized").encoded == #"4{"message":"Not authorized"}"#)
        #expect(SocketIOPacket.connectError(message: "no", data: .object(["code": .integer(7)])).encoded
            == #"4{"message":"no","data":{"code":7}}"#)
        #expect(SocketIOPacket.event("upload", [SocketIOPacket.placeholder(0)], attachmentCount: 1).encoded
            == #"51-["upload",{"_placeholder":true,"num":0}]"#)
        #expect(SocketIOPacket.ack(id: 15, [SocketIOPacket.placeholder(0), SocketIOPacket.placeholder(1)],
                                   namespace: "/admin", attachmentCount: 2).encoded
            == #"62-/admin,15[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
    }

    @Test func typeNumbersAndNamesMatchTheProtocol() {
        #expect(SocketIOPacket.PacketType.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6])
        #expect(SocketIOPacket.PacketType.allCases.map(\.name)
            == ["CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"])
        #expect(SocketIOPacket.PacketType.allCases.filter(\.isBinary) == [.binaryEvent, .binaryAck])
    }

    // MARK: Decoding

    @Test func decodesNamespaceAckIDAndData() throws {
        let packet = try SocketIOPacket(decoding: #"2/admin,13["ev",1]"#)
        #expect(packet.type == .event)
        #expect(packet.namespace == "/admin")
        #expect(packet.ackID == 13)
        #expect(packet.eventName == "ev")
        #expect(packet.arguments == [.integer(1)])
        #expect(packet.attachmentCount == 0)
    }

    @Test func decodesDefaultsAndBarePackets() throws {
        let connect = try SocketIOPacket(decoding: "0")
        #expect(connect == SocketIOPacket.connect())
        let answer = try SocketIOPacket(decoding: #"0/admin,{"sid":"xyz"}"#)
        #expect(answer == SocketIOPacket.connected(namespace: "/admin", sid: "xyz"))
        // A namespace that ends the packet needs no comma.
        #expect(try SocketIOPacket(decoding: "1/admin") == SocketIOPacket.disconnect(namespace: "/admin"))
        // "/" written out is the default namespace.
        #expect(try SocketIOPacket(decoding: #"2/,["a"]"#).namespace == "/")
        // socket.io-parser accepts an EVENT with no payload; so does Flatline (sessions ignore it).
        let bare = try SocketIOPacket(decoding: "2")
        #expect(bare.type == .event && bare.data == nil && bare.eventName == nil)
        // A numeric event name is allowed by socket.io.
        #expect(try SocketIOPacket(decoding: "2[7,1]").eventName == "7")
    }

    @Test func decodesBinaryPackets() throws {
        let packet = try SocketIOPacket(decoding: #"51-["upload",{"_placeholder":true,"num":0}]"#)
        #expect(packet.type == .binaryEvent)
        #expect(packet.attachmentCount == 1)
        #expect(packet.arguments == [SocketIOPacket.placeholder(0)])
        let ack = try SocketIOPacket(decoding: #"62-/admin,15[{"_placeholder":true,"num":1},{"x":[{"_placeholder":true,"num":0}]}]"#)
        #expect(ack.type == .binaryAck && ack.namespace == "/admin" && ack.ackID == 15 && ack.attachmentCount == 2)
        // A binary type with zero attachments is legal.
        #expect(try SocketIOPacket(decoding: #"50-["e"]"#).attachmentCount == 0)
    }

    @Test func roundTripsEveryConstructor() throws {
        let packets: [SocketIOPacket] = [
            .connect(), .connect(namespace: "/a", auth: ["k": .array([.null, .bool(true)])]),
            .connected(sid: "s"), .connected(namespace: "/chat", sid: "s2"),
            .disconnect(), .disconnect(namespace: "/a/b"),
            .event("e"), .event("e", [.string("x"), .integer(-4), .number(2.5)], namespace: "/n", ackID: 0),
            .ack(id: 99, [.object(["a": .string("b")])]),
            .connectError(message: "m"), .connectError(namespace: "/n", message: "m", data: .string("d")),
            .event("bin", [SocketIOPacket.placeholder(0), SocketIOPacket.placeholder(1)], ackID: 3, attachmentCount: 2),
            .ack(id: 1, [SocketIOPacket.placeholder(0)], namespace: "/n", attachmentCount: 1),
            .event("ünïcødé ✓", [.string("line\nbreak \"quoted\" \\ tab\t")]),
        ]
        for packet in packets {
            #expect(try SocketIOPacket(decoding: packet.encoded) == packet, "\(packet.encoded)")
        }
    }

    // MARK: Typed errors

    @Test func rejectsMalformedPacketsWithReasons() {
        func reason(_ text: String) -> SocketIOParseError.Reason? {
            do {
                _ = try SocketIOPacket(decoding: text)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(reason("") == .empty)
        #expect(reason("7") == .unknownType("7"))
        #expect(reason("x2[]") == .unknownType("x"))
        #expect(reason(" 2") == .unknownType(" "))
        #expect(reason("5-[\"e\"]") == .illegalAttachments("missing count"))
        #expect(reason("5a-[\"e\"]") == .illegalAttachments("expected digits then \"-\""))
        #expect(reason("51[\"e\"]") == .illegalAttachments("expected digits then \"-\""))
        #expect(reason("51") == .illegalAttachments("missing \"-\""))
        #expect(reason("512345678901-[\"e\"]") == .illegalAttachments("count too long"))
        #expect(reason(#"51-["e",{"_placeholder":true,"num":1}]"#) == .illegalAttachments("placeholder outside 0..<1"))
        #expect(reason(#"51-["e",{"_placeholder":true,"num":"0"}]"#) == .illegalAttachments("placeholder outside 0..<1"))
        #expect(reason("29999999999999999999[\"e\"]") == .ackIDOutOfRange)
        #expect(reason(#"2["connect"]"#) == .reservedEventName("connect"))
        #expect(reason(#"2/admin,["disconnecting",1]"#) == .reservedEventName("disconnecting"))
        #expect(reason("2{}") == .invalidPayload("EVENT carries a non-empty array"))
        #expect(reason("2[]") == .invalidPayload("EVENT carries a non-empty array"))
        #expect(reason("2[null]") == .invalidPayload("event name must be a string or a number, got null"))
        #expect(reason("0[]") == .invalidPayload("CONNECT carries an object, got array"))
        #expect(reason("1{}") == .invalidPayload("DISCONNECT carries no payload"))
        #expect(reason("3{}") == .invalidPayload("ACK carries an array, got object"))
        #expect(reason("4[1]") == .invalidPayload("CONNECT_ERROR carries a string or an object, got array"))
        // Digits right after the type are an ack id, as in socket.io-parser: "41" is CONNECT_ERROR id 1.
        #expect(reason("41") == nil)
        if case .invalidJSON? = reason("2[\"e\"") {} else { Issue.record("truncated JSON must be invalidJSON") }
        if case .invalidJSON? = reason("2[\"e\"]junk") {} else { Issue.record("trailing junk must be invalidJSON") }
    }

    @Test func errorsCarryTheOffsetAndReadWell() {
        do {
            _ = try SocketIOPacket(decoding: "2/admin,13{}")
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 10)
            #expect(error.description == "Socket.IO packet, byte 10: invalid payload: EVENT carries a non-empty array")
        }
    }

    // MARK: Messages and attachments

    @Test func messageFramesPutAttachmentsAfterTheText() {
        let message = SocketIOMessage(.event("up", [SocketIOPacket.placeholder(0), SocketIOPacket.placeholder(1)]),
                                      attachments: [[1, 2], [3]])
        #expect(message.packet.type == .binaryEvent)
        #expect(message.frames == [
            .text(#"52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#),
            .binary([1, 2]), .binary([3]),
        ])
    }

    @Test func assemblerWaitsForEveryAttachment() throws {
        var assembler = SocketIOMessageAssembler()
        #expect(try assembler.receive(.text(#"52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)) == nil)
        #expect(assembler.isAwaitingAttachments)
        #expect(try assembler.receive(.binary([9])) == nil)
        let message = try #require(try assembler.receive(.binary([8, 7])))
        #expect(message.attachments == [[9], [8, 7]])
        #expect(message.packet.eventName == "up")
        #expect(!assembler.isAwaitingAttachments)
        // Plain packets come straight through; a binary type with no attachments too.
        #expect(try assembler.receive(.text(#"2["a"]"#))?.packet == .event("a"))
        #expect(try assembler.receive(.text(#"50-["a"]"#))?.packet.type == .binaryEvent)
    }

    @Test func assemblerRejectsOutOfPlaceFrames() throws {
        var assembler = SocketIOMessageAssembler()
        #expect(throws: SocketIOParseError(.unexpectedBinary)) { try assembler.receive(.binary([1])) }
        _ = try assembler.receive(.text(#"51-["up",{"_placeholder":true,"num":0}]"#))
        #expect(throws: SocketIOParseError(.unexpectedText)) { try assembler.receive(.text(#"2["a"]"#)) }
        // The error reset it: a new packet decodes normally.
        #expect(try assembler.receive(.text(#"2["a"]"#))?.packet == .event("a"))
    }
}
