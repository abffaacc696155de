import Foundation
import LabCore
import Metrics
import Reports
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// junit.xml: one test case per expectation, an interrupted run marked, and well-formed XML
/// whatever a scenario's name holds.
@Suite struct JUnitReportTests {
    @Test func junitMarksAnInterruptedRun() {
        let xml = JUnitReport.xml(scenario: "s", outcomes: [Verdict(name: "falseDisconnects", bound: "<= 0", measured: "0", passed: true)],
                                  duration: .milliseconds(4200), interruption: "interrupted after 4200ms of 1m: partial results")
        #expect(xml.contains(#"<property name="interrupted" value="interrupted after 4200ms of 1m: partial results"/>"#))
        #expect(xml.contains("<system-out>interrupted after 4200ms of 1m: partial results</system-out>"))
        #expect(!JUnitReport.xml(scenario: "s", outcomes: [], duration: .seconds(1)).contains("partial"))
    }

    @Test func failuresCarryTheMeasuredValueBesideTheBound() {
        let xml = JUnitReport.xml(scenario: "s", outcomes: [
            Verdict(name: "falseDisconnects", bound: "<= 0", measured: "2", passed: false),
            Verdict(name: "detectionWithin", bound: "<= 45s", measured: "max 12s over 1 detection, 0 missed", passed: true),
        ], duration: .seconds(3))
        #expect(xml == """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites tests="2" failures="1" skipped="0">
              <testsuite name="s" tests="2" failures="1" skipped="0" time="3.0">
                <testcase classname="s" name="falseDisconnects">
                  <failure message="falseDisconnects: measured 2, expected &lt;= 0"/>
                </testcase>
                <testcase classname="s" name="detectionWithin"></testcase>
              </testsuite>
            </testsuites>

            """)
    }

    /// XML 1.0 forbids control characters even as character references: a scenario name with one
    /// (before, written as it was) made the whole file unreadable to a CI system's parser.
    @Test("a control character and markup in a scenario's name still give well-formed XML")
    func controlCharactersAndMarkupGiveWellFormedXML() throws {
        let name = "dash\u{1}board <b>\"fast\" & 'loose'</b>\u{7F}\u{85}\r"
        let xml = JUnitReport.xml(scenario: name, outcomes: [
            Verdict(name: "falseDisconnects", bound: "<= 0", measured: "2\u{0}\u{1B}[31m", passed: false),
        ], duration: .seconds(1), interruption: "stopped\u{8} <now>")
        #expect(!xml.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })

        let document = try #require(xml.data(using: .utf8))
        let parser = XMLParser(data: document)
        let collector = JUnitCollector()
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")\n\(xml)")
        let expectedName = "dash\u{FFFD}board <b>\"fast\" & 'loose'</b>\u{FFFD}\u{FFFD}\u{FFFD}"
        #expect(collector.attributes["testsuite"]?["name"] == expectedName)
        #expect(collector.attributes["testcase"]?["classname"] == expectedName)
        #expect(collector.attributes["failure"]?["message"] == "falseDisconnects: measured 2\u{FFFD}\u{FFFD}[31m, expected <= 0")
        #expect(collector.attributes["property"]?["value"] == "stopped\u{FFFD} <now>")
        #expect(collector.text["system-out"] == "stopped\u{FFFD} <now>")
    }
}

/// Keeps the last attributes and text seen for each element name.
private final class JUnitCollector: NSObject, XMLParserDelegate {
    var attributes: [String: [String: String]] = [:]
    var text: [String: String] = [:]
    private var current: String?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        attributes[elementName] = attributeDict
        current = elementName
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let current { text[current, default: ""] += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        current = nil
    }

    @Test func anOptionalExpectationWithNothingToJudgeIsSkippedWithTheReason() {
        let xml = JUnitReport.xml(scenario: "s", outcomes: [
            Verdict(name: "deliveryAtLeast", bound: ">= 99%", measured: "nothing to judge: no message was sent (optional)",
                    passed: true, judged: false),
            Verdict(name: "detectionWithin", bound: "<= 45s", measured: "nothing to judge: the link never went dead",
                    passed: false, judged: false),
        ], duration: .seconds(1))
        #expect(xml.contains(#"<testsuites tests="2" failures="1" skipped="1">"#))
        #expect(xml.contains(#"<skipped message="deliveryAtLeast: nothing to judge: no message was sent (optional)"/>"#))
        #expect(xml.contains(#"<failure message="detectionWithin: measured nothing to judge: the link never went dead, expected &lt;= 45s"/>"#))
    }
}
