import Foundation

/// Finds the last stack trace a program printed (Python's "Traceback (most recent call last):",
/// a JavaScript error with its "    at …" frames, Go's "panic:", Swift's "Fatal error:"), so a run's
/// summary can show why a server failed a request without the user opening its log.
public enum StackTrace {
    /// The last trace in `text` and what follows it, at most `maxBytes` from its start (cut at a
    /// line end); nil when `text` holds none.
    public static func last(in text: String, maxBytes: Int = 2000) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var start: Int?
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("Traceback (most recent call last):") || line.hasPrefix("panic: ")
                || line.contains("Fatal error: ") {
                start = i
            } else if line.hasPrefix("    at "), i > 0, !lines[i - 1].hasPrefix("    at ") {
                // A JavaScript stack: the error line is the one before its first frame.
                start = i - 1
            }
        }
        guard let start else { return nil }
        var out = ""
        for line in lines[start...] {
            if out.utf8.count + line.utf8.count + 1 > maxBytes { break }
            out += line + "\n"
        }
        let trimmed = out.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The last trace in the file at `url` (its last 64 KiB are read); nil when there is none.
    public static func last(inFile url: URL, maxBytes: Int = 2000) -> String? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return last(in: String(decoding: data.suffix(65_536), as: UTF8.self), maxBytes: maxBytes)
    }
}
