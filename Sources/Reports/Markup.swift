/// Text made safe for HTML and XML alike: the one escaping function of every report Flatline
/// writes (report.html, junit.xml), for element content and for quoted attribute values.
public enum Markup {
    /// `text` with `&`, `<`, `>`, `"` and `'` escaped (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`)
    /// and every character that XML 1.0 forbids or HTML reports as a parse error replaced by
    /// U+FFFD: control characters other than tab and newline (carriage return included, DEL and
    /// C1 too) and the noncharacters (U+FDD0–U+FDEF, and U+FFFE and U+FFFF of every plane).
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if isForbidden(c) {
                    out.unicodeScalars.append("\u{FFFD}")
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out
    }

    /// Whether `c` may not appear in an XML 1.0 document or an HTML page, even escaped as a
    /// character reference.
    static func isForbidden(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x20 { return v != 0x09 && v != 0x0A }
        if (0x7F...0x9F).contains(v) { return true }
        if (0xFDD0...0xFDEF).contains(v) { return true }
        return v & 0xFFFE == 0xFFFE
    }
}
