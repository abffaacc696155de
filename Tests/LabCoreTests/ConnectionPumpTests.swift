import Testing
import LabCore

/// A message payload: delivered whole, like the simulator's packets.
private struct Message: LinkPayload, Equatable, CustomStringConvertible {
    var name: String
    static var arrivesInPieces: Bool { false }
    func split(first count: Int) -> Message { preconditionFailure("messages arrive whole") }
    var description: String { name }
}

/// A byte-stream payload: one character a byte, cut into pieces like the proxy's buffers.
private struct Chunk: LinkPayload, Equatable, CustomStringConvertible {
    var text: String
    static var arrivesInPieces: Bool { true }
    mutating func split(first count: Int) -> Chunk {
        let head = String(text.prefix(count))
        text = String(text.dropFirst(count))
        return Chunk(text: head)
    }
    var description: String { text }
}

private enum PumpFixture {
    static func ms(_ value: Int64) -> Instant { Instant(nanoseconds: value * 1_000_000) }
    static func s(_ value: Int64) -> Instant { ms(value * 1000) }

    static func active(_ name: String, _ condition: Condition, since: Instant = .zero) -> ActiveCondition {
        ActiveCondition(name: name, condition: condition, since: since)
    }

    static let stall = active("stall", .stall(StallCondition()))
    static func latency(_ ms: Int64) -> ActiveCondition {
        active("lat", .latency(LatencyCondition(latency: .milliseconds(ms))))
    }

    static func pump<P: LinkPayload>(_ type: P.Type = P.self, upstream: [ActiveCondition] = [],
                                     downstream: [ActiveCondition] = []) -> ConnectionPump<P> {
        var pump = ConnectionPump<P>(openedAt: .zero, random: SeededGenerator(seed: 3))
        pump.setConditions(upstream: upstream, downstream: downstream, at: .zero) { _ in }
        return pump
    }
}

private typealias F = PumpFixture

/// Runs one pump operation and returns the actions it reported, in order.
private func actions<P>(_ pump: inout ConnectionPump<P>,
                        _ body: (inout ConnectionPump<P>, (ConnectionPump<P>.Action) -> Void) -> Void)
    -> [ConnectionPump<P>.Action] {
    var out: [ConnectionPump<P>.Action] = []
    body(&pump) { out.append($0) }
    return out
}

@Suite("Connection pump")
struct ConnectionPumpTests {
    @Test("a passthrough link delivers at once; a latency at now + latency; a FIN after the data")
    func deliversAtTheScheduleInstants() {
        var pump = F.pump(Message.self, upstream: [F.latency(50)])
        let down = actions(&pump) { $0.write(Message(name: "a"), bytes: 10, on: .downstream, at: F.ms(100), $1) }
        #expect(down == [.deliver(Message(name: "a"), .downstream, at: F.ms(100))])
        let up = actions(&pump) { p, perform in
            p.write(Message(name: "b"), bytes: 10, on: .upstream, at: F.ms(100), perform)
            p.writeFIN(on: .upstream, at: F.ms(120), perform)
        }
        #expect(up == [.deliver(Message(name: "b"), .upstream, at: F.ms(150)), .deliverFIN(.upstream, at: F.ms(170))])
        #expect(pump.schedule.lastActivity == F.ms(100))
    }

    @Test("a stall holds data and the FIN behind it; lifting it releases them in order, at the new conditions' instants")
    func holdThenReleaseInOrder() {
        var pump = F.pump(Message.self, upstream: [F.stall])
        let held = actions(&pump) { p, perform in
            p.write(Message(name: "a"), bytes: 10, on: .upstream, at: F.s(1), perform)
            p.write(Message(name: "b"), bytes: 20, on: .upstream, at: F.s(2), perform)
            p.writeFIN(on: .upstream, at: F.s(3), perform)
        }
        #expect(held.isEmpty)
        #expect(pump.heldCount(.upstream) == 3)
        #expect(pump.heldBytes(.upstream) == 30)
        #expect(pump.isHolding(.upstream) && !pump.isHolding(.downstream))
        // Another condition that still holds: nothing moves, and the order is kept.
        let still = actions(&pump) {
            $0.setConditions(upstream: [F.active("zero", .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 0))))],
                             downstream: [], at: F.s(4), $1)
        }
        #expect(still == [.cancelActionTimer])
        #expect(pump.heldCount(.upstream) == 3)
        let lifted = actions(&pump) { $0.setConditions(upstream: [F.latency(50)], downstream: [], at: F.s(5), $1) }
        #expect(lifted == [
            .deliver(Message(name: "a"), .upstream, at: F.ms(5050)),
            .deliver(Message(name: "b"), .upstream, at: F.ms(5050)),
            .deliverFIN(.upstream, at: F.ms(5050)),
            .cancelActionTimer,
        ])
        #expect(pump.heldCount(.upstream) == 0 && pump.heldBytes(.upstream) == 0)
    }

    @Test("a FIN written while data is held waits behind it even on a link that would pass it")
    func finBehindHeldData() {
        var pump = F.pump(Message.self)
        pump.awaitFarEnd(of: .upstream)
        let early = actions(&pump) { p, perform in
            p.write(Message(name: "hello"), bytes: 5, on: .upstream, at: F.ms(1), perform)
            p.writeFIN(on: .upstream, at: F.ms(2), perform)
            // Conditions change before the far end is there: still held.
            p.setConditions(upstream: [F.latency(10)], downstream: [], at: F.ms(3), perform)
        }
        #expect(early == [.cancelActionTimer])
        let connected = actions(&pump) { $0.farEndConnected(of: .upstream, at: F.ms(7), $1) }
        #expect(connected == [.deliver(Message(name: "hello"), .upstream, at: F.ms(17)), .deliverFIN(.upstream, at: F.ms(17))])
    }

    @Test("a blackhole drops held data and swallows the held FIN when it replaces a stall")
    func blackholeDropsWhatWasHeld() {
        var pump = F.pump(Message.self, downstream: [F.stall])
        _ = actions(&pump) { p, perform in
            p.write(Message(name: "x"), bytes: 3, on: .downstream, at: F.s(1), perform)
            p.writeFIN(on: .downstream, at: F.s(2), perform)
        }
        let holed = actions(&pump) {
            $0.setConditions(upstream: [], downstream: [F.active("hole", .blackhole(BlackholeCondition(closeAfter: .seconds(30))),
                                                                   since: F.s(3))], at: F.s(3), $1)
        }
        #expect(holed == [.drop(Message(name: "x"), .downstream), .armActionTimer(at: F.s(33))])
        #expect(pump.heldCount(.downstream) == 0)
        // Traffic does not move a blackhole's deadline.
        let later = actions(&pump) { $0.write(Message(name: "y"), bytes: 3, on: .upstream, at: F.s(10), $1) }
        #expect(later == [.deliver(Message(name: "y"), .upstream, at: F.s(10))])
        #expect(actions(&pump) { $0.actionTimerFired(at: F.s(33), $1) } == [.close(cause: "hole")])
    }

    @Test("an idle timeout that traffic postponed re-arms at its new deadline, then closes; a reset resets")
    func idleTimeoutAndReset() {
        var pump = ConnectionPump<Message>(openedAt: .zero, random: SeededGenerator(seed: 3))
        let planned = actions(&pump) {
            $0.setConditions(upstream: [F.active("idle", .idleTimeout(IdleTimeoutCondition(after: .seconds(10))))],
                             downstream: [F.active("rst", .reset(ResetCondition(after: .seconds(60))))], at: .zero, $1)
        }
        #expect(planned == [.armActionTimer(at: F.s(10))])
        _ = actions(&pump) { $0.write(Message(name: "ping"), bytes: 4, on: .downstream, at: F.s(4), $1) }
        #expect(actions(&pump) { $0.actionTimerFired(at: F.s(10), $1) } == [.armActionTimer(at: F.s(14))])
        #expect(actions(&pump) { $0.actionTimerFired(at: F.s(14), $1) } == [.close(cause: "idle")])
        pump.close()
        #expect(pump.nextAction == nil)
        #expect(actions(&pump) { $0.write(Message(name: "late"), bytes: 4, on: .upstream, at: F.s(15), $1) }.isEmpty)
        #expect(actions(&pump) { $0.actionTimerFired(at: F.s(60), $1) }.isEmpty)

        var resetting = F.pump(Message.self, downstream: [F.active("rst", .reset(ResetCondition(after: .seconds(5))), since: F.s(1))])
        #expect(resetting.nextAction == DueAction(at: F.s(6), action: .reset, cause: "rst"))
        #expect(actions(&resetting) { $0.actionTimerFired(at: F.s(6), $1) } == [.reset(cause: "rst")])
    }

    @Test("a middlebox's eviction drops what is held, then everything, FINs included, and the reset after it still comes")
    func evictionThenReset() {
        var pump = ConnectionPump<Message>(openedAt: .zero, random: SeededGenerator(seed: 3))
        let planned = actions(&pump) {
            $0.setConditions(upstream: [F.active("nat", .idleTimeout(IdleTimeoutCondition(after: .seconds(5), action: .blackhole)))],
                             downstream: [F.stall, F.active("rst", .reset(ResetCondition(after: .seconds(20))))], at: .zero, $1)
        }
        #expect(planned == [.armActionTimer(at: F.s(5))])
        _ = actions(&pump) { $0.write(Message(name: "x"), bytes: 1, on: .downstream, at: F.s(1), $1) }
        #expect(actions(&pump) { $0.actionTimerFired(at: F.s(5), $1) } == [.armActionTimer(at: F.s(6))])
        let evicted = actions(&pump) { $0.actionTimerFired(at: F.s(6), $1) }
        #expect(evicted == [.drop(Message(name: "x"), .downstream), .armActionTimer(at: F.s(20))])
        #expect(pump.isEvicted)
        let after = actions(&pump) { p, perform in
            p.write(Message(name: "y"), bytes: 1, on: .upstream, at: F.s(7), perform)
            p.writeFIN(on: .upstream, at: F.s(8), perform)
        }
        #expect(after == [.drop(Message(name: "y"), .upstream)])
        // Conditions changing again do not undo the eviction.
        let changed = actions(&pump) { $0.setConditions(upstream: [], downstream: [F.active("rst", .reset(ResetCondition(after: .seconds(20))))], at: F.s(9), $1) }
        #expect(changed == [.armActionTimer(at: F.s(20))])
        #expect(actions(&pump) { $0.actionTimerFired(at: F.s(20), $1) } == [.reset(cause: "rst")])
    }

    @Test("a byte stream is cut into pieces at their instants; a data limit closes after the last piece")
    func byteStreamPieces() {
        var sliced = F.pump(Chunk.self, upstream: [F.active("slice", .slicer(SlicerCondition(averageSize: 4, delay: .milliseconds(10))))])
        let pieces = actions(&sliced) { $0.write(Chunk(text: "abcdefghij"), bytes: 10, on: .upstream, at: F.ms(100), $1) }
        #expect(pieces == [
            .deliver(Chunk(text: "abcd"), .upstream, at: F.ms(100)),
            .deliver(Chunk(text: "efgh"), .upstream, at: F.ms(110)),
            .deliver(Chunk(text: "ij"), .upstream, at: F.ms(120)),
        ])

        let limit = F.active("limit", .limitData(LimitDataCondition(bytes: 10)))
        var stream = F.pump(Chunk.self, downstream: [limit])
        let cut = actions(&stream) { $0.write(Chunk(text: "0123456789abcdef"), bytes: 16, on: .downstream, at: F.ms(5), $1) }
        #expect(cut == [.deliver(Chunk(text: "0123456789"), .downstream, at: F.ms(5)), .closeAfterData(.downstream, at: F.ms(5))])

        // A message cut short is of no use: only the close follows.
        var messages = F.pump(Message.self, downstream: [limit])
        let whole = actions(&messages) { $0.write(Message(name: "big"), bytes: 16, on: .downstream, at: F.ms(5), $1) }
        #expect(whole == [.closeAfterData(.downstream, at: F.ms(5))])
    }
}
