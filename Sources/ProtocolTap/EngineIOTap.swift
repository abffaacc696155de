import Foundation
import FaultProxy
import LabCore
import NIOConcurrencyHelpers
import NIOCore

/// A protocol tap for components Flatline did not write: it watches a proxied connection's
/// bytes, follows the HTTP upgrade to WebSocket, parses the frames and the Engine.IO packets in
/// them, and writes connect, ping, pong (with the RTT the proxy observed) and disconnect events.
/// The RTT is measured at the proxy: from the server's ping passing downstream to the client's
/// pong passing upstream, so it covers the client side of the path and the client's reaction.
public final class EngineIOTap: ChunkObserver {
    /// Per-connection parsing state.
    struct Stream {
        var upgraded = false
        var requestHead = HTTPHeadParser()
        var responseHead = HTTPHeadParser()
        var upstream = WebSocketFrameParser()
        var downstream = WebSocketFrameParser()
        var lastPing: Instant?
        var pendingUpstream: [UInt8] = []
        var closedRecorded = false
        var isEngineIO = false
        /// The open packet's advertised heartbeat, kept for the namespace connect's event.
        var advertised: String?
        /// The server instance (1-based) the connection went to, when the proxy balances several.
        var instance: Int?
    }

    private let events: any EventSink
    private let startedAt: Instant
    private let streams = NIOLockedValueBox<[UInt64: Stream]>([:])
    /// The Engine.IO sid each tapped connection's open packet handed out, by the tap's connection name.
    private let sids = NIOLockedValueBox<[String: String]>([:])

    /// Each tapped connection's Engine.IO sid, by the name its events carry ("p3"): a driver that
    /// knows which client was given which sid can put the tap's events under the client's name.
    public var sessionIDs: [String: String] { sids.withLockedValue { $0 } }

    public func connectionRouted(id: UInt64, upstream: Int, of count: Int) {
        guard count > 1 else { return }
        streams.withLockedValue { $0[id]?.instance = upstream + 1 }
    }

    /// Creates a tap writing to `events`, with times measured from `startedAt`.
    public init(events: any EventSink, startedAt: Instant = LiveClock.now()) {
        self.events = events
        self.startedAt = startedAt
    }

    public func connectionOpened(id: UInt64, proxy: String, at: Instant) {
        streams.withLockedValue { $0[id] = Stream() }
    }

    public func chunk(id: UInt64, direction: LinkDirection, bytes: ByteBuffer, at: Instant) {
        let produced: [LabEvent] = streams.withLockedValue { all in
            guard var stream = all[id] else { return [] }
            defer { all[id] = stream }
            return process(&stream, id: id, direction: direction, bytes: Array(bytes.readableBytesView), at: at)
        }
        for event in produced { events.record(event) }
    }

    public func connectionClosed(id: UInt64, reason: String, at: Instant) {
        let stream = streams.withLockedValue { $0.removeValue(forKey: id) }
        guard let stream, stream.isEngineIO, !stream.closedRecorded else { return }
        events.record(event(id, .disconnect, side: .proxy, at: at, reason: "transport close", detail: reason))
    }

    private func event(_ id: UInt64, _ kind: EventKind, side: EventSide, at: Instant, reason: String? = nil,
                       rtt: TimeSpan? = nil, detail: String? = nil) -> LabEvent {
        LabEvent(time: at - startedAt, connection: "p\(id)", side: side, kind: kind, reason: reason, rtt: rtt, detail: detail)
    }

    private func process(_ s: inout Stream, id: UInt64, direction: LinkDirection, bytes: [UInt8], at: Instant) -> [LabEvent] {
        var out: [LabEvent] = []
        if !s.upgraded {
            switch direction {
            case .upstream:
                // Hold request bytes until the response says whether this became a WebSocket.
                if let (lines, rest) = s.requestHead.feed(bytes) {
                    let target = lines.first ?? ""
                    s.isEngineIO = target.contains("EIO=") && target.contains("transport=websocket")
                    s.pendingUpstream = rest
                }
                return out
            case .downstream:
                guard let (lines, rest) = s.responseHead.feed(bytes) else { return out }
                guard s.isEngineIO, let status = lines.first, status.contains(" 101") else { return out }
                s.upgraded = true
                out += frames(&s, id: id, direction: .upstream, bytes: s.pendingUpstream, at: at)
                s.pendingUpstream = []
                out += frames(&s, id: id, direction: .downstream, bytes: rest, at: at)
                return out
            }
        }
        return frames(&s, id: id, direction: direction, bytes: bytes, at: at)
    }

    private func frames(_ s: inout Stream, id: UInt64, direction: LinkDirection, bytes: [UInt8], at: Instant) -> [LabEvent] {
        let frames = direction == .upstream ? s.upstream.feed(bytes) : s.downstream.feed(bytes)
        var out: [LabEvent] = []
        for frame in frames {
            switch frame.opcode {
            case 1:  // text: an Engine.IO packet
                guard let type = frame.payload.first else { continue }
                switch (type, direction) {
                case (UInt8(ascii: "0"), .downstream):
                    // The transport is open; the connection counts as connected only once the
                    // server acknowledges the Socket.IO namespace CONNECT (below).
                    s.advertised = Self.openDetail(frame.payload.dropFirst())
                    if let sid = UpstreamBalancer.sessionID(inOpenPacket: Array(frame.payload)) {
                        sids.withLockedValue { $0["p\(id)"] = sid }
                    }
                case (UInt8(ascii: "4"), .downstream) where frame.payload.count >= 2:
                    let body = frame.payload.dropFirst(2)
                    switch frame.payload[frame.payload.startIndex + 1] {
                    case UInt8(ascii: "0"):
                        out.append(event(id, .connect, side: .server, at: at,
                                         detail: "socket.io /" + (s.advertised.map { " (\($0))" } ?? "")
                                            + (s.instance.map(InstanceDetail.suffix) ?? "")))
                    case UInt8(ascii: "4"):
                        out.append(event(id, .connectError, side: .server, at: at, reason: "refused by server",
                                         detail: Self.connectErrorMessage(body)))
                    case UInt8(ascii: "1"):
                        s.closedRecorded = true
                        out.append(event(id, .disconnect, side: .server, at: at, reason: "io server disconnect"))
                    default:
                        continue
                    }
                case (UInt8(ascii: "2"), .downstream):
                    s.lastPing = at
                    out.append(event(id, .ping, side: .server, at: at))
                case (UInt8(ascii: "3"), .upstream):
                    if let ping = s.lastPing {
                        out.append(event(id, .pong, side: .client, at: at, rtt: at - ping))
                        s.lastPing = nil
                    }
                case (UInt8(ascii: "1"), _):
                    s.closedRecorded = true
                    out.append(event(id, .disconnect, side: direction == .upstream ? .client : .server, at: at,
                                     reason: "transport close", detail: "engine.io close packet"))
                default:
                    continue
                }
            case 8:  // close frame
                if !s.closedRecorded {
                    s.closedRecorded = true
                    let code = frame.payload.count >= 2 ? Int(frame.payload[0]) << 8 | Int(frame.payload[1]) : 1005
                    out.append(event(id, .disconnect, side: direction == .upstream ? .client : .server, at: at,
                                     reason: "transport close", detail: "websocket close \(code)"))
                }
            default:
                continue
            }
        }
        return out
    }

    /// The open packet's advertised heartbeat, as the connect event's detail:
    /// "engine.io open pingInterval=25000ms pingTimeout=20000ms"; nil when it names neither.
    static func openDetail(_ json: ArraySlice<UInt8>) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        var parts: [String] = []
        for key in ["pingInterval", "pingTimeout"] {
            if let value = object[key] as? NSNumber { parts.append("\(key)=\(value.int64Value)ms") }
        }
        return parts.isEmpty ? nil : "engine.io open " + parts.joined(separator: " ")
    }

    /// The advertised ping interval of a connect event the tap wrote, in milliseconds.
    public static func advertisedPingInterval(_ detail: String?) -> Int64? {
        guard let detail, detail.contains("engine.io open "),
              let part = detail.split(separator: " ").first(where: { $0.hasPrefix("pingInterval=") }) else { return nil }
        return Int64(part.dropFirst("pingInterval=".count).prefix { $0.isNumber })
    }

    /// A CONNECT_ERROR's message (`44{"message":"not allowed"}`, or a namespace before a comma).
    static func connectErrorMessage(_ body: ArraySlice<UInt8>) -> String? {
        var json = body
        if let comma = json.firstIndex(of: UInt8(ascii: ",")), json.first == UInt8(ascii: "/") { json = json[(comma + 1)...] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        return object["message"] as? String
    }
}
