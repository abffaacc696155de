import LabCore
import Testing

/// The choice of server instance for each new connection behind a proxy with several upstreams.
@Suite struct UpstreamBalancerTests {
    @Test func inTurnSkippingTheInstancesTakenOut() {
        var b = UpstreamBalancer(count: 3, policy: .roundRobin)
        #expect((0..<4).map { _ in b.choose(clientHost: "127.0.0.1") } == [0, 1, 2, 0])
        b.setEnabled(false, upstream: 1)
        #expect((0..<4).map { _ in b.choose(clientHost: "127.0.0.1") } == [2, 0, 2, 0])
        #expect(b.upstreams.map(\.active) == [4, 1, 3])
        b.setEnabled(false, upstream: 0)
        b.setEnabled(false, upstream: 2)
        #expect(b.choose(clientHost: "127.0.0.1") == nil, "every instance out")
    }

    @Test func theFewestOpenConnectionsWin() {
        var b = UpstreamBalancer(count: 3, policy: .leastConnections)
        #expect((0..<3).map { _ in b.choose(clientHost: "h") } == [0, 1, 2])
        b.closed(1)
        b.closed(1)  // a stray close never goes below zero
        #expect(b.upstreams.map(\.active) == [1, 0, 1])
        #expect(b.choose(clientHost: "h") == 1)
        #expect(b.choose(clientHost: "h") == 2, "a tie goes in turn")
    }

    @Test func stickyByAddressKeepsEachClientAndMovesOnlyThoseOfAnInstanceTakenOut() {
        var b = UpstreamBalancer(count: 3, policy: .source)
        let hosts = (2...60).map { "127.0.0.\($0)" }
        let first = hosts.map { b.choose(clientHost: $0)! }
        #expect(hosts.map { b.choose(clientHost: $0)! } == first, "the same address, the same instance")
        #expect(Set(first) == [0, 1, 2], "addresses spread over every instance: \(first)")
        b.setEnabled(false, upstream: 1)
        let after = hosts.map { b.choose(clientHost: $0)! }
        for (before, now) in zip(first, after) {
            #expect(now != 1 && (before == 1 || now == before), "only the taken-out instance's clients move")
        }
        // The same choice in every process (no per-process hash seed).
        var again = UpstreamBalancer(count: 3, policy: .source)
        #expect(hosts.map { again.choose(clientHost: $0)! } == first)
    }

    @Test func stickyBySessionFollowsWhereEachSessionWasOpened() {
        var b = UpstreamBalancer(count: 2, policy: .sid)
        let handshake = b.choose(clientHost: "h", sid: nil)!
        b.learn(sid: "A", upstream: handshake)
        for _ in 0..<5 { #expect(b.choose(clientHost: "h", sid: "A") == handshake) }
        #expect(b.choose(clientHost: "h", sid: nil) == 1 - handshake, "a new handshake goes in turn")
        #expect(b.choose(clientHost: "h", sid: "unknown") != nil, "an unknown session is balanced")
        b.setEnabled(false, upstream: handshake)
        #expect(b.choose(clientHost: "h", sid: "A") == 1 - handshake, "its instance is out: it goes to one that is in")
        #expect(b.upstream(ofSession: "A") == handshake)
    }

    @Test func theSessionMemoryIsBounded() {
        var b = UpstreamBalancer(count: 2, policy: .sid)
        let n = UpstreamBalancer.sessionCapacity + 10
        for i in 0..<n { b.learn(sid: "s\(i)", upstream: i % 2) }
        #expect(b.upstream(ofSession: "s0") == nil && b.upstream(ofSession: "s9") == nil)
        #expect(b.upstream(ofSession: "s10") == 0 && b.upstream(ofSession: "s\(n - 1)") == (n - 1) % 2)
    }

    @Test func theSessionOfARequestIsItsSidQueryParameter() {
        func sid(_ text: String) -> String? { UpstreamBalancer.sessionID(inRequest: Array(text.utf8)) }
        #expect(sid("GET /socket.io/?EIO=4&transport=polling&sid=abc_D-1 HTTP/1.1\r\nHost: x\r\n") == "abc_D-1")
        #expect(sid("POST /socket.io/?sid=xyz&EIO=4 HTTP/1.1\r\n") == "xyz")
        #expect(sid("GET /socket.io/?EIO=4&transport=websocket&sid=w HTTP/1.1\r\n") == "w")
        #expect(sid("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n") == nil, "a handshake")
        #expect(sid("GET /socket.io/?EIO=4&sid=abc") == nil, "not a whole line yet")
        #expect(sid("GET /socket.io/?EIO=4&xsid=abc HTTP/1.1\r\n") == nil)
        #expect(sid("GET /socket.io/?sid= HTTP/1.1\r\n") == nil)
        #expect(sid("\u{16}\u{03}\u{01}binary\r\n") == nil)
    }

    @Test func theSessionAnAnswerOpensIsItsOpenPacketsSid() {
        func sid(_ text: String) -> String? { UpstreamBalancer.sessionID(inOpenPacket: Array(text.utf8)) }
        #expect(sid("HTTP/1.1 200 OK\r\nContent-Length: 97\r\n\r\n0{\"sid\":\"tAgMNPek\",\"upgrades\":[\"websocket\"]}") == "tAgMNPek")
        #expect(sid("\u{81}\u{60}0{\"sid\":\"ws1\",\"pingInterval\":25000}") == "ws1", "in a WebSocket frame")
        #expect(sid("HTTP/1.1 200 OK\r\n\r\n0{\"sid\":\"cut") == nil)
        #expect(sid("HTTP/1.1 400 BAD REQUEST\r\n\r\n\"Invalid session\"") == nil)
    }
}
