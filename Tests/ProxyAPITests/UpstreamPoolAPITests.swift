import FaultProxy
import LabCore
import Testing
@testable import ProxyAPI

/// Several upstreams behind one proxy through the control API (Flatline's extension, issue 11):
/// `upstreams` and `balance` on a proxy, `/proxies/{name}/upstreams` to list them and take one out
/// or put it back. A proxy with one upstream keeps Toxiproxy's JSON shape.
@Suite struct UpstreamPoolAPITests {
    @Test func aPoolIsCreatedListedAndChanged() async throws {
        try await APIFixture.with { f in
            let created = await f.call("POST", "/proxies",
                                       #"{"name":"lb","upstreams":["127.0.0.1:9001","127.0.0.1:9002"],"balance":"sid"}"#)
            #expect(created.status == 201, "\(String(decoding: created.response.body, as: UTF8.self))")
            #expect(created.json?["upstream"]?.string == "127.0.0.1:9001")
            #expect(created.json?["upstreams"] == .array([.string("127.0.0.1:9001"), .string("127.0.0.1:9002")]))
            #expect(created.json?["balance"]?.string == "sid")

            let listed = await f.call("GET", "/proxies/lb/upstreams")
            #expect(listed.json == .array([
                .object(["index": .integer(0), "address": .string("127.0.0.1:9001"), "enabled": .bool(true), "connections": .integer(0)]),
                .object(["index": .integer(1), "address": .string("127.0.0.1:9002"), "enabled": .bool(true), "connections": .integer(0)]),
            ]))
            let out = await f.call("POST", "/proxies/lb/upstreams/1", #"{"enabled": false, "drop": true}"#)
            #expect(out.status == 200 && out.json?["enabled"] == .bool(false))
            #expect(await f.call("GET", "/proxies/lb/upstreams/1").json?["enabled"] == .bool(false))
            #expect(await f.call("PATCH", "/proxies/lb/upstreams/1", #"{"enabled": true}"#).json?["enabled"] == .bool(true))

            // A balance alone keeps the upstreams.
            let patched = await f.call("PATCH", "/proxies/lb", #"{"balance":"least_connections"}"#)
            #expect(patched.json?["balance"]?.string == "least_connections")
            #expect(patched.json?["upstreams"] == created.json?["upstreams"])
            // An upstream alone replaces the pool; the balance stays.
            let one = await f.call("POST", "/proxies/lb", #"{"upstream":"127.0.0.1:9003"}"#)
            #expect(one.json?["upstream"]?.string == "127.0.0.1:9003" && one.json?["upstreams"] == .array([.string("127.0.0.1:9003")]))
            #expect(one.json?["balance"]?.string == "least_connections")
        }
    }

    @Test func aPlainProxyHasToxiproxysShape() async throws {
        try await APIFixture.with { f in
            let r = await f.createProxy("plain")
            guard case .object(let object)? = r.json else { throw APIFixtureFailure("no object") }
            #expect(Set(object.keys) == ["name", "listen", "upstream", "enabled", "toxics"])
        }
    }

    @Test func badPoolsAndUnknownUpstreamsAreRefusedWithTheirField() async throws {
        try await APIFixture.with { f in
            for (body, field) in [(#"{"name":"a","upstreams":[]}"#, "upstreams"),
                                  (#"{"name":"a","upstreams":["127.0.0.1:1", 5]}"#, "upstreams[1]"),
                                  (#"{"name":"a","upstreams":["127.0.0.1"]}"#, "upstreams[0]"),
                                  (#"{"name":"a","upstreams":["127.0.0.1:1"],"balance":"random"}"#, "balance"),
                                  (#"{"name":"a","upstream":"127.0.0.1:2","upstreams":["127.0.0.1:1"]}"#, "upstream")] {
                let r = await f.call("POST", "/proxies", body)
                #expect(r.status == 400 && r.error?.hasPrefix(field + ": ") == true, "\(body): \(r.status) \(r.error ?? "")")
            }
            let many = (1...65).map { "\"127.0.0.1:\(9000 + $0)\"" }.joined(separator: ",")
            let tooMany = await f.call("POST", "/proxies", #"{"name":"a","upstreams":["# + many + "]}")
            #expect(tooMany.status == 400 && tooMany.error?.contains("at most 64 upstreams") == true, "\(tooMany.error ?? "")")
            #expect(await f.call("GET", "/proxies").json == .object([:]), "nothing was created")
            await f.createProxy("a")
            #expect(await f.call("GET", "/proxies/a/upstreams/1").status == 404)
            #expect(await f.call("POST", "/proxies/a/upstreams/1", #"{"enabled": false}"#).status == 404)
            #expect(await f.call("POST", "/proxies/a/upstreams/0", #"{"enabled": "no"}"#).status == 400)
            #expect(await f.call("POST", "/proxies/a/upstreams/0", #"{"weight": 2}"#).status == 400)
            #expect(await f.call("GET", "/proxies/a/upstreams/01").status == 404, "an index is written plainly")
            #expect(await f.call("DELETE", "/proxies/a/upstreams/0").status == 405)
        }
    }

    @Test func populateTakesPools() async throws {
        try await APIFixture.with { f in
            let r = await f.call("POST", "/populate",
                                 #"[{"name":"lb","upstreams":["127.0.0.1:9001","127.0.0.1:9002","127.0.0.1:9003"],"balance":"source"}]"#)
            #expect(r.status == 201)
            let listed = await f.call("GET", "/proxies/lb/upstreams")
            guard case .array(let items)? = listed.json else { throw APIFixtureFailure("no list") }
            #expect(items.count == 3)
            #expect(await f.call("GET", "/proxies/lb").json?["balance"]?.string == "source")
        }
    }
}

/// A test precondition that did not hold.
struct APIFixtureFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
