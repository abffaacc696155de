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

    /// "\r\n" is one Character, and so is a quote followed by a combining mark: escaping by
    /// Character let them through whole (issue 12, finding 5).
    @Test func prometheusEscapingWorksOnScalarsSoNoNameCanEndALine() {
        let forged = "evil\r\nflatline_injected_total 1337\r\n#"
        let escaped = PrometheusText.escape(forged)
        #expect(!escaped.unicodeScalars.contains("\n"))
        #expect(!escaped.unicodeScalars.contains("\r"))
        #expect(escaped == "evil\u{FFFD}\\nflatline_injected_total 1337\u{FFFD}\\n#")
        // A quote with a combining acute accent: the quote is still escaped, the accent kept.
        #expect(PrometheusText.escape("a\"\u{301}b") == "a\\\"\u{301}b")
        #expect(PrometheusText.escape("x\u{2028}y\u{0}z") == "x\u{FFFD}y\u{FFFD}z")
    }
}
