import LabCore
import Testing
@testable import ProxyAPI

/// The router's path matching and the metrics text escaping, without sockets.
@Suite struct RouteTests {
    @Test func routes() throws {
        #expect(try Route.match("/proxies") == .proxies)
        #expect(try Route.match("/proxies/") == .proxies)
        #expect(try Route.match("/proxies/a%2Fb/toxics/t%20x") == .toxic(proxy: "a/b", toxic: "t x"))
        #expect(try Route.match("/proxies/a/connections?x=1") == .connections(proxy: "a"))
        #expect(try Route.match("http://localhost:8474/reset") == .reset)
        #expect(throws: Route.Failure.self) { try Route.match("/proxies/a/b") }
        #expect(throws: Route.Failure.self) { try Route.match("*") }
        #expect(throws: Route.Failure.self) { try Route.match("/proxies/%GG") }
    }

    @Test func prometheusLabelEscaping() {
        #expect(PrometheusText.escape("a\"b\\c\nd") == #"a\"b\\c\nd"#)
    }
}
