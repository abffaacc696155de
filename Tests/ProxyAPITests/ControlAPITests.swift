import FaultProxy
import LabCore
import NIOPosix
import Testing
import TestSupport
@testable import ProxyAPI

/// Every endpoint and status code of the control API, called without HTTP.
@Suite struct ControlAPITests {
    @Test func version() async throws {
        try await APIFixture.with { f in
            let r = await f.call("GET", "/version")
            #expect(r.status == 200)
            #expect(r.response.contentType == "application/json")
            #expect(r.json?["version"]?.string == flatlineVersion)
        }
    }

    @Test func unknownRoutesAre404AndWrongMethods405() async throws {
        try await APIFixture.with { f in
            for path in ["/", "/nope", "/proxies/a/b", "/proxies/a/toxics/b/c", "/version/x"] {
                let r = await f.call("GET", path)
                #expect(r.status == 404, "\(path)")
                #expect(r.json?["status"] == .integer(404))
            }
            let cases: [(String, String, String)] = [
                ("DELETE", "/version", "GET"), ("PUT", "/proxies", "GET, POST"), ("GET", "/reset", "POST"),
                ("GET", "/populate", "POST"), ("PUT", "/proxies/x", "GET, POST, PATCH, DELETE"),
                ("DELETE", "/proxies/x/toxics", "GET, POST"), ("POST", "/metrics", "GET"), ("POST", "/proxies/x/connections", "GET"),
            ]
            for (method, path, allow) in cases {
                let r = await f.call(method, path)
                #expect(r.status == 405, "\(method) \(path)")
                #expect(r.response.headers["Allow"] == allow)
                #expect(r.json?["status"] == .integer(405))
            }
            #expect(await f.call("GET", "/proxies/%zz").status == 400)
        }
    }

    @Test func createListShowAndDeleteProxies() async throws {
        try await APIFixture.with { f in
            #expect(await f.call("GET", "/proxies").json == .object([:]))
            let created = await f.call("POST", "/proxies", #"{"name": "redis", "upstream": "127.0.0.1:6379", "listen": "127.0.0.1:0"}"#)
            #expect(created.status == 201)
            let proxy = try #require(created.json)
            #expect(proxy["name"]?.string == "redis")
            #expect(proxy["upstream"]?.string == "127.0.0.1:6379")
            #expect(proxy["enabled"]?.bool == true)
            #expect(proxy["toxics"] == .array([]))
            #expect((proxy.listenPort ?? 0) > 0)
            #expect(created.response.text.hasPrefix(#"{"name":"redis","listen":"127.0.0.1:"#))
            #expect(created.response.text.hasSuffix(#","upstream":"127.0.0.1:6379","enabled":true,"toxics":[]}"# + "\n"))

            let list = try #require(await f.call("GET", "/proxies").json)
            #expect(list["redis"] == proxy)
            let shown = await f.call("GET", "/proxies/redis")
            #expect(shown.status == 200)
            #expect(shown.json == proxy)

            #expect(await f.call("DELETE", "/proxies/redis").status == 204)
            let gone = await f.call("GET", "/proxies/redis")
            #expect(gone.status == 404)
            #expect(gone.json == .object(["error": .string("proxy not found"), "status": .integer(404)]))
            #expect(await f.call("DELETE", "/proxies/redis").status == 404)
        }
    }

    @Test func createProxyErrors() async throws {
        try await APIFixture.with { f in
            await f.createProxy("a")
            let dup = await f.createProxy("a")
            #expect(dup.status == 409)
            #expect(dup.error == "proxy already exists")
            let cases: [(String, Int, String)] = [
                (#"{"upstream": "127.0.0.1:1"}"#, 400, "missing required field: name"),
                (#"{"name": "", "upstream": "127.0.0.1:1"}"#, 400, "missing required field: name"),
                (#"{"name": "b"}"#, 400, "missing required field: upstream"),
                (#"{"name": 5, "upstream": "127.0.0.1:1"}"#, 400, "name: expected a string, got number"),
                (#"{"name": "b", "upstream": "127.0.0.1:1", "enabled": "yes"}"#, 400, "enabled: expected a boolean, got string"),
                (#"{"name": "b", "upstream": "nowhere"}"#, 400, "upstream: 'nowhere' must be host:port"),
                (#"{"name": "b", "upstream": "127.0.0.1:0"}"#, 400, "upstream: '127.0.0.1:0' needs a port in 1-65535"),
                (#"{"name": "b", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:99999"}"#, 400, "listen: '127.0.0.1:99999' has no valid port (0-65535)"),
                (#"[]"#, 400, "bad request body: expected a JSON object, got array"),
            ]
            for (body, status, message) in cases {
                let r = await f.call("POST", "/proxies", body)
                #expect(r.status == status, "\(body)")
                #expect(r.error == message, "\(body)")
            }
            let bad = await f.call("POST", "/proxies", #"{"name": "b", "#)
            #expect(bad.status == 400)
            #expect(bad.error?.hasPrefix("bad request body: ") == true)
            #expect(await f.call("POST", "/proxies", "").error == "bad request body: empty body, expected a JSON document")
            // A listen address in use cannot be bound: Toxiproxy answers 500.
            let port = try #require(await f.call("GET", "/proxies/a").json?.listenPort)
            let clash = await f.call("POST", "/proxies", #"{"name": "c", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:\#(port)"}"#)
            #expect(clash.status == 500)
            #expect(clash.error == "listen 127.0.0.1:\(port): bind: address already in use", "Go's wording, not NIO's call site")
            #expect(await f.call("GET", "/proxies/c").status == 404)
        }
    }

    @Test func updateProxyWithPatchAndPost() async throws {
        try await APIFixture.with { f in
            let created = try #require(await f.createProxy("a").json)
            let patched = await f.call("PATCH", "/proxies/a", #"{"upstream": "127.0.0.1:2"}"#)
            #expect(patched.status == 200)
            #expect(patched.json?["upstream"]?.string == "127.0.0.1:2")
            #expect(patched.json?["listen"] == created["listen"])
            let disabled = await f.call("POST", "/proxies/a", #"{"enabled": false}"#)
            #expect(disabled.status == 200)
            #expect(disabled.json?["enabled"]?.bool == false)
            let enabled = await f.call("PATCH", "/proxies/a", #"{"enabled": true}"#)
            #expect(enabled.json?["enabled"]?.bool == true)
            let moved = await f.call("PATCH", "/proxies/a", #"{"listen": "127.0.0.1:0"}"#)
            #expect(moved.status == 200)
            #expect(moved.json?.listenPort != created.listenPort)
            #expect(await f.call("PATCH", "/proxies/zz", #"{"enabled": false}"#).status == 404)
            #expect(await f.call("PATCH", "/proxies/a", #"{"listen": "x"}"#).error == "listen: 'x' must be host:port")
            #expect(await f.call("PATCH", "/proxies/a", #"{"enabled": 1}"#).error == "enabled: expected a boolean, got number")
            #expect(await f.call("PATCH", "/proxies/a", "{").status == 400)
        }
    }

    @Test func toxicLifecycle() async throws {
        try await APIFixture.with { f in
            await f.createProxy("a")
            #expect(await f.call("GET", "/proxies/a/toxics").json == .array([]))
            let created = await f.call("POST", "/proxies/a/toxics", #"{"type": "latency", "attributes": {"latency": 100}}"#)
            #expect(created.status == 200)
            let toxic = try #require(created.json)
            #expect(toxic == .object([
                "name": .string("latency_downstream"), "type": .string("latency"), "stream": .string("downstream"),
                "toxicity": .integer(1), "attributes": .object(["latency": .integer(100), "jitter": .integer(0)]),
            ]))
            let dup = await f.call("POST", "/proxies/a/toxics", #"{"type": "latency"}"#)
            #expect(dup.status == 409)
            #expect(dup.error == "toxic already exists")

            #expect(await f.call("GET", "/proxies/a/toxics").json == .array([toxic]))
            #expect(await f.call("GET", "/proxies/a/toxics/latency_downstream").json == toxic)
            #expect(await f.call("GET", "/proxies/a").json?["toxics"] == .array([toxic]))

            let patched = await f.call("PATCH", "/proxies/a/toxics/latency_downstream", #"{"attributes": {"jitter": 15}}"#)
            #expect(patched.status == 200)
            #expect(patched.json?["attributes"] == .object(["latency": .integer(100), "jitter": .integer(15)]))
            let posted = await f.call("POST", "/proxies/a/toxics/latency_downstream", #"{"toxicity": 0.5}"#)
            #expect(posted.status == 200)
            #expect(posted.json?["toxicity"] == .number(0.5))
            #expect(posted.json?["attributes"] == .object(["latency": .integer(100), "jitter": .integer(15)]))
            let installed = try f.registry.proxy(named: "a").toxic(named: "latency_downstream")
            #expect(installed.condition == .latency(LatencyCondition(latency: .milliseconds(100), jitter: .milliseconds(15))))
            #expect(installed.toxicity == 0.5)

            let badPatch = await f.call("PATCH", "/proxies/a/toxics/latency_downstream", #"{"attributes": {"jitter": -1}}"#)
            #expect(badPatch.status == 400)
            #expect(badPatch.error == "attributes.jitter: must be >= 0, got -1")

            #expect(await f.call("DELETE", "/proxies/a/toxics/latency_downstream").status == 204)
            let missing = await f.call("DELETE", "/proxies/a/toxics/latency_downstream")
            #expect(missing.status == 404)
            #expect(missing.error == "toxic not found")
            #expect(await f.call("GET", "/proxies/a/toxics/latency_downstream").status == 404)
            #expect(await f.call("PATCH", "/proxies/a/toxics/latency_downstream", "{}").status == 404)
            #expect(await f.call("GET", "/proxies/b/toxics").error == "proxy not found")
            #expect(await f.call("POST", "/proxies/b/toxics", #"{"type": "latency"}"#).status == 404)
            #expect(await f.call("GET", "/proxies/b/toxics/x").status == 404)
        }
    }

    @Test func everyToxicTypeInstallsThroughTheAPI() async throws {
        try await APIFixture.with { f in
            await f.createProxy("a")
            let bodies = [
                #"{"type": "latency", "attributes": {"latency": 10, "jitter": 1}}"#,
                #"{"type": "bandwidth", "attributes": {"rate": 100}}"#,
                #"{"type": "slow_close", "attributes": {"delay": 10}}"#,
                #"{"type": "timeout", "stream": "upstream", "attributes": {"timeout": 10}}"#,
                #"{"type": "reset_peer", "attributes": {"timeout": 10}}"#,
                #"{"type": "slicer", "attributes": {"average_size": 10, "size_variation": 2, "delay": 5}}"#,
                #"{"type": "limit_data", "attributes": {"bytes": 10}}"#,
                #"{"type": "stall", "stream": "upstream", "attributes": {"duration": 10}}"#,
                #"{"type": "blackhole", "attributes": {"timeout": 10}}"#,
                #"{"type": "loss", "stream": "upstream", "attributes": {"probability": 0.1}}"#,
                #"{"type": "idle_timeout", "attributes": {"timeout": 60000, "action": "reset"}}"#,
                #"{"type": "slow_connect", "attributes": {"delay": 10}}"#,
            ]
            for body in bodies {
                let r = await f.call("POST", "/proxies/a/toxics", body)
                #expect(r.status == 200, "\(body): \(r.response.text)")
            }
            #expect(await f.call("GET", "/proxies/a/toxics").json?.array?.count == bodies.count)
            let invalid = await f.call("POST", "/proxies/a/toxics", #"{"type": "slicer", "name": "s2", "attributes": {"average_size": 0}}"#)
            #expect(invalid.status == 400)
            #expect(invalid.error == "attributes.average_size: must be > 0, got 0")
        }
    }

    @Test func connectionExtensionIsEchoed() async throws {
        try await APIFixture.with { f in
            await f.createProxy("a")
            let r = await f.call("POST", "/proxies/a/toxics", #"{"type": "stall", "connection": 12345}"#)
            #expect(r.json?["connection"] == .integer(12345))
            let installed = try f.registry.proxy(named: "a").toxic(named: "stall_downstream")
            #expect(installed.connection == 12345)
            let cleared = await f.call("PATCH", "/proxies/a/toxics/stall_downstream", #"{"connection": null}"#)
            #expect(cleared.json?["connection"] == nil)
        }
    }

    @Test func toxicsChangedOutsideTheAPIAreShownFromTheirCondition() async throws {
        try await APIFixture.with { f in
            await f.createProxy("a")
            _ = await f.call("POST", "/proxies/a/toxics", #"{"type": "latency", "attributes": {"latency": 100}}"#)
            let proxy = try f.registry.proxy(named: "a")
            var toxic = try proxy.toxic(named: "latency_downstream")
            toxic.condition = .latency(LatencyCondition(latency: .milliseconds(250)))
            try await proxy.updateToxic(toxic)
            let shown = await f.call("GET", "/proxies/a/toxics/latency_downstream")
            #expect(shown.json?["attributes"] == .object(["latency": .integer(250), "jitter": .integer(0)]))
        }
    }

    @Test func resetEnablesProxiesAndRemovesToxics() async throws {
        try await APIFixture.with { f in
            await f.createProxy("a")
            await f.createProxy("b", enabled: false)
            _ = await f.call("POST", "/proxies/a/toxics", #"{"type": "latency"}"#)
            let r = await f.call("POST", "/reset")
            #expect(r.status == 204)
            #expect(r.response.body.isEmpty)
            #expect(await f.call("GET", "/proxies/a/toxics").json == .array([]))
            #expect(await f.call("GET", "/proxies/b").json?["enabled"]?.bool == true)
        }
    }

    @Test func populateCreatesAndReplaces() async throws {
        try await APIFixture.with { f in
            let first = await f.call("POST", "/populate", #"[{"name": "a", "upstream": "127.0.0.1:1"}, {"name": "b", "upstream": "127.0.0.1:2", "enabled": false}]"#)
            #expect(first.status == 201)
            let proxies = try #require(first.json?["proxies"]?.array)
            #expect(proxies.map { $0["name"]?.string } == ["a", "b"])
            #expect(proxies.map { $0["enabled"]?.bool } == [true, false])
            // Same listen and upstream: kept (with its toxics); a different upstream: replaced.
            _ = await f.call("POST", "/proxies/a/toxics", #"{"type": "latency"}"#)
            let listenA = try #require(proxies[0]["listen"]?.string)
            let second = await f.call("POST", "/populate", #"{"proxies": [{"name": "a", "upstream": "127.0.0.1:1", "listen": "\#(listenA)"}, {"name": "b", "upstream": "127.0.0.1:3"}]}"#)
            #expect(second.status == 201)
            let again = try #require(second.json?["proxies"]?.array)
            #expect(again[0]["toxics"]?.array?.count == 1)
            #expect(again[1]["upstream"]?.string == "127.0.0.1:3")
            #expect(again[1]["enabled"]?.bool == true)
            // Flatline's extension: toxics in an entry replace the proxy's toxics.
            let third = await f.call("POST", "/populate", #"[{"name": "a", "upstream": "127.0.0.1:1", "listen": "\#(listenA)", "toxics": [{"type": "stall"}]}]"#)
            #expect(third.json?["proxies"]?[0]?["toxics"]?[0]?["name"]?.string == "stall_downstream")
            #expect(await f.call("GET", "/proxies/a/toxics").json?.array?.count == 1)
        }
    }

    @Test func populateErrors() async throws {
        try await APIFixture.with { f in
            let cases: [(String, Int, String)] = [
                (#"[{"upstream": "127.0.0.1:1"}]"#, 400, "missing required field: proxies[0].name"),
                (#"[{"name": "a", "upstream": "127.0.0.1:1"}, {"name": "b"}]"#, 400, "missing required field: proxies[1].upstream"),
                (#"[{"name": "a", "upstream": "127.0.0.1:1"}, {"name": "a", "upstream": "127.0.0.1:1"}]"#, 400, "proxies[1].name: proxy 'a' appears more than once"),
                (#"[{"name": "a", "upstream": "127.0.0.1:1", "toxics": [{"type": "gauss"}]}]"#, 400, "proxies[0].toxics[0].type: unknown toxic type 'gauss'; expected one of \(ToxicKind.names)"),
                (#"{"proxy": []}"#, 400, "missing required field: proxies"),
                (#""x""#, 400, #"bad request body: expected an array of proxies or {"proxies": [...]}, got string"#),
            ]
            for (body, status, message) in cases {
                let r = await f.call("POST", "/populate", body)
                #expect(r.status == status, "\(body)")
                #expect(r.error == message, "\(body)")
                #expect(r.json?["proxies"] == .array([]))
            }
            #expect(await f.call("GET", "/proxies").json == .object([:]), "nothing is created when an entry is invalid")
            #expect(await f.call("POST", "/populate", "[").error?.hasPrefix("bad request body:") == true)
        }
    }

    @Test func populateFromAConfigFileNamesTheFileAndEntry() async throws {
        try await APIFixture.with { f in
            let ok = try await f.api.populate(json: Array(#"[{"name": "a", "upstream": "127.0.0.1:1"}]"#.utf8), source: "lab.json")
            #expect(ok.map(\.name) == ["a"])
            do throws(PopulateError) {
                _ = try await f.api.populate(json: Array(#"{"proxies": [{"name": "b", "upstream": "127.0.0.1:1"}, {"name": "c", "upstream": "db"}]}"#.utf8),
                                             source: "lab.json")
                Issue.record("expected an error")
            } catch {
                #expect(error.description == "lab.json: proxies[1].upstream: 'db' must be host:port")
            }
            do throws(PopulateError) {
                _ = try await f.api.populate(json: Array("[{".utf8), source: "broken.json")
                Issue.record("expected an error")
            } catch {
                #expect(error.description.hasPrefix("broken.json: not valid JSON: "))
            }
        }
    }

    @Test func connectionsAndMetrics() async throws {
        let echo = try await LoopbackServer.echo(group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await echo.stop() } }
        try await APIFixture.with { f in
            let proxy = try #require(await f.createProxy(#"web \"1\""#, upstream: "127.0.0.1:\(echo.port)").json)
            let port = try #require(proxy.listenPort)
            _ = await f.call("POST", "/proxies/web%20%221%22/toxics", #"{"type": "latency", "attributes": {"latency": 1}}"#)
            let socket = try BlockingSocket(port: port)
            let echoed = try await onThread {
                try socket.send("hello")
                return socket.read(exactly: 5, timeout: 5).bytes
            }
            #expect(echoed == Array("hello".utf8))
            let list = await f.call("GET", "/proxies/web%20%221%22/connections")
            #expect(list.status == 200)
            let connection = try #require(list.json?[0])
            #expect(connection["client"]?.string?.contains("127.0.0.1") == true)
            #expect(connection["bytes_upstream"] == .integer(5))
            #expect(connection["bytes_downstream"] == .integer(5))
            #expect(connection["toxics"] == .array([.string("latency_downstream")]))
            if case .integer(let age)? = connection["age_ms"] { #expect(age >= 0) } else { Issue.record("age_ms") }
            if case .integer? = connection["id"] {} else { Issue.record("id") }
            #expect(await f.call("GET", "/proxies/none/connections").status == 404)

            let metrics = await f.call("GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.response.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = metrics.response.text
            #expect(text.contains("# TYPE flatline_proxy_connections_accepted_total counter"))
            #expect(text.contains(#"flatline_proxy_connections_accepted_total{proxy="web \"1\""} 1"#))
            #expect(text.contains(#"flatline_proxy_connections_active{proxy="web \"1\""} 1"#))
            #expect(text.contains(#"flatline_proxy_bytes_total{proxy="web \"1\"",direction="upstream"} 5"#))
            #expect(text.contains(#"flatline_proxy_bytes_total{proxy="web \"1\"",direction="downstream"} 5"#))
            #expect(text.contains(#"flatline_proxy_resets_total{proxy="web \"1\""} 0"#))
            #expect(text.contains(#"flatline_proxy_toxics{proxy="web \"1\""} 1"#))
        }
    }

    /// Issue 12, finding 5: no proxy name forges a metric line. A name with "\r\n" is refused
    /// (control characters cannot be addressed cleanly); a quote followed by a combining mark (one
    /// Swift Character) is accepted and still escaped in /metrics.
    @Test func aProxyNameCannotInjectMetricLines() async throws {
        try await APIFixture.with { f in
            let refused = await f.call("POST", "/proxies",
                                       #"{"name": "evil\r\nflatline_injected_total 1337\r\n#", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#)
            #expect(refused.status == 400)
            #expect(refused.json?["error"]?.string?.contains("control characters") == true, "\(refused.response.text)")
            let created = await f.call("POST", "/proxies",
                                       #"{"name": "q\"\u0301} 1\nflatline_injected_total 2", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#)
            #expect(created.status == 400, "a newline is a control character too")
            let combining = await f.call("POST", "/proxies", #"{"name": "q\"\u0301x", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#)
            #expect(combining.status == 201)
            let text = await f.call("GET", "/metrics").response.text
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(!lines.contains { $0.hasPrefix("flatline_injected_total") }, "\(text)")
            #expect(text.contains("flatline_proxy_toxics{proxy=\"q\\\"\u{301}x\"} 0"), "\(text)")
            for line in lines where !line.isEmpty {
                #expect(line.hasPrefix("# ") || line.hasPrefix("flatline_proxy_"), "\(line)")
            }
        }
    }

    /// Issue 12, finding 8: every name created can be addressed again, and only as itself. A
    /// leading U+FEFF (which Foundation's percent-decoding dropped, so /proxies/%EF%BB%BFp reached
    /// "p", as `make fuzz` found) is kept by the router's own decoding; names whose path would be
    /// too long are refused, for proxies and toxics.
    @Test func namesMustBeAddressableAgain() async throws {
        try await APIFixture.with { f in
            #expect(await f.call("POST", "/proxies", #"{"name": "p", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#).status == 201)
            #expect(await f.call("GET", "/proxies/%EF%BB%BFp").status == 404, "the BOM-led path must not address 'p'")
            let bom = await f.call("POST", "/proxies", #"{"name": "\ufeffp", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#)
            #expect(bom.status == 201, "\(bom.response.text)")
            #expect(await f.call("DELETE", "/proxies/%EF%BB%BFp").status == 204)
            #expect(await f.call("GET", "/proxies/p").status == 200, "deleting the BOM-led name left 'p' alone")
            #expect(await f.call("DELETE", "/proxies/p").status == 204)
            #expect(await f.call("GET", "/proxies/%E2%82").status == 400, "a segment that is not UTF-8")
            let long = String(repeating: "n", count: 257)
            #expect(await f.call("POST", "/proxies", #"{"name": "\#(long)", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#).status == 400)
            #expect(await f.call("GET", "/proxies").json == .object([:]), "nothing was created")
            let ok = String(repeating: "n", count: 256)
            #expect(await f.call("POST", "/proxies", #"{"name": "\#(ok)", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#).status == 201)
            #expect(await f.call("GET", "/proxies/\(ok)").status == 200)
            let toxic = await f.call("POST", "/proxies/\(ok)/toxics", #"{"name": "\ufefft", "type": "latency"}"#)
            #expect(toxic.status == 200, "\(toxic.response.text)")
            #expect(await f.call("GET", "/proxies/\(ok)/toxics/t").status == 404)
            #expect(await f.call("DELETE", "/proxies/\(ok)/toxics/%EF%BB%BFt").status == 204)
            let longToxic = String(repeating: "t", count: 257)
            #expect(await f.call("POST", "/proxies/\(ok)/toxics", #"{"name": "\#(longToxic)", "type": "latency"}"#).status == 400)
            #expect(await f.call("DELETE", "/proxies/\(ok)").status == 204)
        }
    }

    /// Names are their bytes, as in Toxiproxy (Go strings): "é" as U+00E9 and as "e" + U+0301 are
    /// two proxies and two toxics, each addressed by its own encoding, where Swift's String equality
    /// would make them one.
    @Test func canonicallyEquivalentNamesAreDistinct() async throws {
        try await APIFixture.with { f in
            let composed = "\u{E9}", decomposed = "e\u{301}"
            #expect(await f.call("POST", "/proxies", #"{"name": "\u00e9", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#).status == 201)
            let second = await f.call("POST", "/proxies", #"{"name": "e\u0301", "upstream": "127.0.0.1:2", "listen": "127.0.0.1:0"}"#)
            #expect(second.status == 201, "\(second.response.text)")
            let one = await f.call("GET", "/proxies/%C3%A9"), two = await f.call("GET", "/proxies/e%CC%81")
            #expect(one.json?["upstream"]?.string == "127.0.0.1:1")
            #expect(two.json?["upstream"]?.string == "127.0.0.1:2")
            #expect(one.json?["name"]?.string.map { Array($0.utf8) } == Array(composed.utf8))
            #expect(two.json?["name"]?.string.map { Array($0.utf8) } == Array(decomposed.utf8))
            // Read as bytes: Foundation's JSON parser would merge the two keys again.
            let list = await f.call("GET", "/proxies").response.body
            let keys = [decomposed, composed].map { Array("\"\($0)\":{\"name\":\"\($0)\"".utf8) }
            let at = keys.map { key in (0...(list.count - key.count)).first { Array(list[$0..<$0 + key.count]) == key } }
            #expect(at[0] != nil && at[1] != nil && at[0]! < at[1]!, "both listed, in byte order: \(String(decoding: list, as: UTF8.self))")

            #expect(await f.call("POST", "/proxies/%C3%A9/toxics", #"{"name": "\u00e9", "type": "latency", "attributes": {"latency": 5}}"#).status == 200)
            let toxic = await f.call("POST", "/proxies/%C3%A9/toxics", #"{"name": "e\u0301", "type": "latency", "attributes": {"latency": 7}}"#)
            #expect(toxic.status == 200, "\(toxic.response.text)")
            #expect(await f.call("GET", "/proxies/%C3%A9/toxics/e%CC%81").json?["attributes"]?["latency"] == .integer(7))
            #expect(await f.call("DELETE", "/proxies/%C3%A9/toxics/%C3%A9").status == 204)
            #expect(await f.call("GET", "/proxies/%C3%A9/toxics/e%CC%81").status == 200, "the other toxic stays")
            #expect(await f.call("GET", "/proxies/%C3%A9/toxics/%C3%A9").status == 404)

            #expect(await f.call("DELETE", "/proxies/e%CC%81").status == 204)
            #expect(await f.call("GET", "/proxies/%C3%A9").status == 200, "deleting one left the other")
            #expect(await f.call("GET", "/proxies/e%CC%81").status == 404)
        }
    }

    /// Issue 12, finding 13: a trailing comma is not JSON, and "+80" is not a port.
    @Test func strictJSONAndPorts() async throws {
        try await APIFixture.with { f in
            let created = await f.call("POST", "/proxies", #"{"name": "p", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}"#)
            #expect(created.status == 201)
            let comma = await f.call("POST", "/proxies/p/toxics", #"{"type":"latency",}"#)
            #expect(comma.status == 400)
            #expect(comma.error?.contains("byte 18") == true, "\(comma.response.text)")
            for listen in ["127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:", "127.0.0.1:080000"] {
                let r = await f.call("POST", "/proxies", #"{"name": "q", "upstream": "127.0.0.1:1", "listen": "\#(listen)"}"#)
                #expect(r.status == 400, "\(listen): \(r.response.text)")
            }
        }
    }

    /// Toxiproxy's bandwidth toxic at rate 0 holds what it gets until the toxic changes or goes,
    /// then passes it all on (toxics/bandwidth.go); suites use it as a stall.
    @Test func bandwidthRateZeroHoldsUntilRemovedAsInToxiproxy() async throws {
        let echo = try await LoopbackServer.echo(group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await echo.stop() } }
        try await APIFixture.with { f in
            let proxy = try #require(await f.createProxy("held", upstream: "127.0.0.1:\(echo.port)").json)
            let port = try #require(proxy.listenPort)
            #expect(await f.call("POST", "/proxies/held/toxics", #"{"name": "bw", "type": "bandwidth", "stream": "upstream", "attributes": {"rate": 0}}"#).status == 200)
            let socket = try BlockingSocket(port: port)
            let held = try await onThread {
                try socket.send("hello")
                return socket.read(exactly: 5, timeout: 0.5)
            }
            #expect(held.bytes.isEmpty)
            #expect(held.end == .timeout)
            #expect(await f.call("DELETE", "/proxies/held/toxics/bw").status == 204)
            let released = try await onThread { socket.read(exactly: 5, timeout: 5).bytes }
            #expect(released == Array("hello".utf8))
        }
    }

    @Test func concurrentPatchesOfOneToxicAllLand() async throws {
        try await APIFixture.with { f in
            await f.createProxy("a")
            for round in 1...20 {
                _ = await f.call("POST", "/proxies/a/toxics", #"{"type": "latency", "name": "l\#(round)"}"#)
                async let first = f.call("PATCH", "/proxies/a/toxics/l\(round)", #"{"attributes": {"latency": \#(round)}}"#)
                async let second = f.call("PATCH", "/proxies/a/toxics/l\(round)", #"{"attributes": {"jitter": \#(round)}}"#)
                async let third = f.call("PATCH", "/proxies/a/toxics/l\(round)", #"{"toxicity": 0.5}"#)
                _ = await (first, second, third)
                let shown = await f.call("GET", "/proxies/a/toxics/l\(round)")
                #expect(shown.json?["attributes"] == .object(["latency": .integer(Int64(round)), "jitter": .integer(Int64(round))]))
                #expect(shown.json?["toxicity"] == .number(0.5))
            }
        }
    }

    @Test func absoluteFormTargetsAndPercentEncodedNames() async throws {
        try await APIFixture.with { f in
            #expect(await f.call("GET", "http://127.0.0.1:8474/version").status == 200)
            await f.createProxy("my proxy/1")
            #expect(await f.call("GET", "/proxies/my%20proxy%2F1").json?["name"]?.string == "my proxy/1")
            #expect(await f.call("DELETE", "/proxies/my%20proxy%2F1").status == 204)
        }
    }
}
