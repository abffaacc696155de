import LabCore
import Metrics

/// A run's `junit.xml`: one test suite named after the scenario, one test case per expectation,
/// failures with the measured value beside the bound, so that a CI system shows a failing
/// expectation like a failing test. Every text is escaped with `Markup.escape`, so any scenario or
/// phase name gives well-formed XML.
public enum JUnitReport {
    /// The document; an interrupted run (`interruption` set) says so in the suite's properties and
    /// output.
    public static func xml(scenario: String, outcomes: [Verdict], duration: TimeSpan, interruption: String? = nil) -> String {
        let escape = Markup.escape
        let failures = outcomes.filter { !$0.passed }.count
        let skipped = outcomes.filter { $0.passed && !$0.judged }.count
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        xml += #"<testsuites tests="\#(outcomes.count)" failures="\#(failures)" skipped="\#(skipped)">"# + "\n"
        xml += #"  <testsuite name="\#(escape(scenario))" tests="\#(outcomes.count)" failures="\#(failures)" skipped="\#(skipped)" time="\#(duration.seconds)">"# + "\n"
        if let interruption {
            xml += "    <properties>\n"
            xml += #"      <property name="partial" value="true"/>"# + "\n"
            xml += #"      <property name="interrupted" value="\#(escape(interruption))"/>"# + "\n"
            xml += "    </properties>\n"
        }
        for o in outcomes {
            xml += #"    <testcase classname="\#(escape(scenario))" name="\#(escape(o.name))">"#
            if !o.passed {
                xml += "\n" + #"      <failure message="\#(escape(o.name)): measured \#(escape(o.measured)), expected \#(escape(o.bound))"/>"# + "\n    "
            } else if !o.judged {
                // An optional expectation the run had nothing for: shown as skipped, with the reason.
                xml += "\n" + #"      <skipped message="\#(escape(o.name)): \#(escape(o.measured))"/>"# + "\n    "
            }
            xml += "</testcase>\n"
        }
        if let interruption {
            xml += "    <system-out>\(escape(interruption))</system-out>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }
}
