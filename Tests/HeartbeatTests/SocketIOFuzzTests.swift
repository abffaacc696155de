import Heartbeat
import LabCore
import Testing

@Suite("Socket.IO codec under random input")
struct SocketIOFuzzTests {
    /// Characters that matter to the grammar, plus a few that do not.
    private static let alphabet: [Character] = Array(#"0123456789-/,[]{}":_placeholdertruenumabc \\é"#)

    private static func randomText(_ generator: inout SeededGenerator, maxLength: Int) -> String {
        let length = Int(generator.next() % UInt64(maxLength + 1))
        return String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    @Test func randomTextNeverTrapsAndAlwaysGivesATypedAnswer() {
        var generator = SeededGenerator(seed: 0x51_0F)
        var decoded = 0
        for _ in 0..<20_000 {
            let text = Self.randomText(&generator, maxLength: 24)
            do {
                let packet = try SocketIOPacket(decoding: text)
                decoded += 1
                // Whatever decodes re-encodes to something that decodes to the same packet.
                #expect(try SocketIOPacket(decoding: packet.encoded) == packet, "\(text)")
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(decoded > 100)
    }

    @Test func mutatedValidPacketsNeverTrap() {
        let seeds = [
            #"2/admin,13["ev",1]"#, #"51-["upload",{"_placeholder":true,"num":0}]"#, #"0{"sid":"abc"}"#,
            #"4{"message":"no","data":{"code":7}}"#, #"62-/admin,15[{"_placeholder":true,"num":1},{}]"#, "1/chat,",
        ]
        var generator = SeededGenerator(seed: 77)
        for _ in 0..<10_000 {
            var bytes = Array(seeds[Int(generator.next() % UInt64(seeds.count))].utf8)
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                guard !bytes.isEmpty else { break }
                let index = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 4 {
                case 0: bytes.remove(at: index)
                case 1: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: index)
                case 2: bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                default: bytes = Array(bytes[..<index])
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            _ = try? SocketIOPacket(decoding: text)
        }
    }

    @Test func randomFrameSequencesNeverTrapTheAssemblerOrTheSessions() {
        var generator = SeededGenerator(seed: 2024)
        var assembler = SocketIOMessageAssembler()
        var client = SocketIOClientSession()
        _ = client.transportOpened(at: .zero)
        var server = SocketIOServerSession(sid: "s")
        _ = server.start(at: .zero)
        for step in 0..<5_000 {
            let frame: SocketIOFrame = generator.next() % 5 == 0
                ? .binary([UInt8(truncatingIfNeeded: generator.next())])
                : .text(Self.randomText(&generator, maxLength: 16))
            _ = try? assembler.receive(frame)
            let now = Instant.zero + .milliseconds(Int64(step))
            _ = client.receive(frame, at: now)
            _ = server.receive(frame, at: now)
            if client.isClosed { client = SocketIOClientSession(); _ = client.transportOpened(at: now) }
            if server.isClosed { server = SocketIOServerSession(sid: "s"); _ = server.start(at: now) }
        }
    }

    @Test func randomValidPacketsRoundTrip() throws {
        var generator = SeededGenerator(seed: 9)
        func value(_ depth: Int) -> JSONValue {
            switch generator.next() % (depth > 2 ? 4 : 6) {
            case 0: return .null
            case 1: return .bool(generator.next() % 2 == 0)
            case 2: return .integer(Int64(bitPattern: generator.next()) >> 20)
            case 3: return .string(Self.randomText(&generator, maxLength: 8))
            case 4: return .array((0..<Int(generator.next() % 4)).map { _ in value(depth + 1) })
            default:
                var object = JSONObject()
                for _ in 0..<Int(generator.next() % 4) { object[Self.randomText(&generator, maxLength: 5)] = value(depth + 1) }
                return .object(object)
            }
        }
        for _ in 0..<2_000 {
            let namespace = generator.next() % 2 == 0 ? "/" : "/ns\(generator.next() % 100)"
            let ackID: Int64? = generator.next() % 2 == 0 ? nil : Int64(generator.next() >> 2)
            let arguments = (0..<Int(generator.next() % 3)).map { _ in value(0) }
            let packet: SocketIOPacket = switch generator.next() % 4 {
            case 0: .event("e\(generator.next() % 10)", arguments, namespace: namespace, ackID: ackID)
            case 1: .ack(id: ackID ?? 0, arguments, namespace: namespace)
            case 2: .connect(namespace: namespace, auth: ["a": value(1)])
            default: .connectError(namespace: namespace, message: Self.randomText(&generator, maxLength: 6))
            }
            #expect(try SocketIOPacket(decoding: packet.encoded) == packet, "\(packet.encoded)")
        }
    }
}
