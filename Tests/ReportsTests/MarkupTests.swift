import Reports
import Testing

/// The one escaping function of report.html and junit.xml.
@Suite struct MarkupTests {
    @Test func markupCharactersBecomeEntities() {
        #expect(Markup.escape(#"<a href="x">Tom & 'Jerry'</a>"#) == "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;")
        #expect(Markup.escape("&amp;") == "&amp;amp;")
    }

    @Test func textWithoutMarkupIsUnchanged() {
        let text = "plain text, tabs\tand\nnewlines, \u{2014} \u{1F4A5} caf\u{E9}"
        #expect(Markup.escape(text) == text)
    }

    @Test("characters XML 1.0 forbids or HTML rejects become U+FFFD")
    func forbiddenCharactersAreReplaced() {
        #expect(Markup.escape("a\u{0}b\u{1}c\u{8}d\u{B}e\u{C}f\u{1B}g\u{1F}h") == "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\u{FFFD}g\u{FFFD}h")
        #expect(Markup.escape("cr\rdel\u{7F}nel\u{85}c1\u{9F}") == "cr\u{FFFD}del\u{FFFD}nel\u{FFFD}c1\u{FFFD}")
        var noncharacters = String.UnicodeScalarView()
        for value: UInt32 in [0xFFFE, 0xFFFF, 0xFDD0, 0xFDEF, 0x1FFFE, 0x10FFFF] { noncharacters.append(Unicode.Scalar(value)!) }
        #expect(Markup.escape(String(noncharacters)) == String(repeating: "\u{FFFD}", count: 6))
        #expect(Markup.escape("\u{A0}\u{FDCF}\u{FDF0}\u{FFFD}\u{10000}") == "\u{A0}\u{FDCF}\u{FDF0}\u{FFFD}\u{10000}")
    }
}
