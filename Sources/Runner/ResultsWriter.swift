import Foundation
import LabCore
import Metrics
import Reports

/// Writes a run's results directory atomically and never over an existing one:
/// `<out>/<scenario>/<run-id>/` with events.jsonl (one file per run when there are several),
/// summary.json, junit.xml, report.html (when given) and logs/ (a live run's program output, when
/// given). Files are written into a hidden sibling directory first and the
/// directory is renamed into place, so a reader never sees half a result.
public struct ResultsWriter: Sendable {
    /// The results root (`results/` by default).
    public var root: URL

    /// Creates a writer under `root`.
    public init(root: URL) {
        self.root = root
    }

    /// A run id from the time, seed and mode. `write` publishes under the first of id, id-2, id-3…
    /// that is free at that moment, atomically, so concurrent runs never collide.
    public func newRunID(scenario: String, seed: UInt64, mode: String, now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "\(formatter.string(from: now))-\(mode)-seed\(seed)"
    }

    /// The folder of a scenario's results: its name made safe as one path component (see
    /// `safeComponent`), checked to lie inside the results root.
    public func folder(for scenario: String) throws -> URL {
        let folder = root.appendingPathComponent(Self.safeComponent(scenario), isDirectory: true)
        let rootPath = root.standardizedFileURL.path
        let path = folder.standardizedFileURL.path
        guard path.hasPrefix(rootPath.hasSuffix("/") ? rootPath : rootPath + "/") else {
            throw RunnerError(scenario: scenario, message: "results folder \(path) would lie outside \(rootPath)")
        }
        return folder
    }

    /// The longest folder name written, in UTF-8 bytes (file systems allow 255).
    public static let maximumComponentBytes = 200

    /// `name` as one safe path component: letters, digits and `-_.+=,` stay; every other byte
    /// (a `/`, a space, a control character) is written `%XX`; a leading `.` too, so no name is
    /// hidden or `..`; a name longer than `maximumComponentBytes` keeps its start and ends in a
    /// hash of the whole, so different long names stay apart and the same name gets the same folder.
    public static func safeComponent(_ name: String) -> String {
        var out = ""
        for (i, byte) in name.utf8.enumerated() {
            let c = Character(Unicode.Scalar(byte))
            let plain = byte < 0x80 && (c.isLetter || c.isNumber || "-_+=,".contains(c) || (c == "." && i > 0))
            out += plain ? String(c) : String(format: "%%%02X", byte)
        }
        if out.isEmpty { out = "%00" }
        guard out.utf8.count > maximumComponentBytes else { return out }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, stable across runs and machines
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let kept = String(out.utf8.prefix(maximumComponentBytes - 17))!
        return kept + "-" + String(format: "%016llx", hash)
    }

    /// Staging folders of this process are told apart by a counter, so runs in parallel threads
    /// never share one.
    private static let stagingCounter = StagingCounter()

    /// Writes the files and moves the directory into place; returns its path. The runs' event logs
    /// are `eventLogs`, or files already written (`eventFiles`, moved in); `logs`, a folder, is
    /// moved in as `logs/`; `interruption`, when set, marks junit.xml as a partial run.
    public func write(scenario: String, runID: String, eventLogs: [String], eventFiles: [URL] = [], summary: JSONValue,
                      outcomes: [Verdict], duration: TimeSpan, report: String? = nil,
                      logs: URL? = nil, interruption: String? = nil) throws -> URL {
        let folder = try folder(for: scenario)
        let staging = folder.appendingPathComponent(".\(runID).\(getpid()).\(Self.stagingCounter.next()).partial")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            try fill(staging, scenario: scenario, eventLogs: eventLogs, eventFiles: eventFiles, summary: summary,
                     outcomes: outcomes, duration: duration, report: report, logs: logs, interruption: interruption)
            return try publish(staging, in: folder, runID: runID, scenario: scenario)
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
    }

    private func fill(_ staging: URL, scenario: String, eventLogs: [String], eventFiles: [URL], summary: JSONValue,
                      outcomes: [Verdict], duration: TimeSpan, report: String?, logs: URL?, interruption: String?) throws {
        let runs = eventFiles.isEmpty ? eventLogs.count : eventFiles.count
        func eventsFile(_ i: Int) -> URL {
            staging.appendingPathComponent(runs == 1 ? "events.jsonl" : "events-\(i).jsonl")
        }
        if eventFiles.isEmpty {
            for (i, log) in eventLogs.enumerated() { try Data(log.utf8).write(to: eventsFile(i)) }
        } else {
            for (i, file) in eventFiles.enumerated() { try FileManager.default.moveItem(at: file, to: eventsFile(i)) }
        }
        try Data(summary.serialized + [0x0A]).write(to: staging.appendingPathComponent("summary.json"))
        try Data(JUnitReport.xml(scenario: scenario, outcomes: outcomes, duration: duration, interruption: interruption).utf8)
            .write(to: staging.appendingPathComponent("junit.xml"))
        if let report {
            try Data(report.utf8).write(to: staging.appendingPathComponent("report.html"))
        }
        if let logs, FileManager.default.fileExists(atPath: logs.path) {
            try FileManager.default.moveItem(at: logs, to: staging.appendingPathComponent("logs"))
        }
    }

    /// Renames the finished staging folder to the first free name of runID, runID-2, … in one
    /// step that never replaces anything (renameat2 with RENAME_NOREPLACE): a reader sees either
    /// nothing or the whole result, and two runs never take the same folder.
    private func publish(_ staging: URL, in folder: URL, runID: String, scenario: String) throws -> URL {
        for n in 1...10_000 {
            let final = folder.appendingPathComponent(n == 1 ? runID : "\(runID)-\(n)")
            switch AtomicRename.withoutReplacing(staging.path, final.path) {
            case .done: return final
            case .exists: continue
            case .failed(let code):
                throw RunnerError(scenario: scenario, message: "cannot publish results at \(final.path): \(String(cString: strerror(code)))")
            }
        }
        throw RunnerError(scenario: scenario, message: "no free results folder for run \(runID) in \(folder.path)")
    }
}

extension ResultsWriter {
    /// Marks a published sweep point as one of a sweep that an interrupt cut short, so a reader of
    /// this point alone learns that the points it would be compared with are missing:
    /// summary.json gains `"sweep": {"complete": false, "pointsRun", "points", "notRun"}`,
    /// junit.xml a `sweep-cut-short` property and report.html a warning. Each file is replaced
    /// whole (written beside, renamed over), so a reader never sees half of one.
    public static func markCutShortSweep(_ folder: URL, pointsRun: Int, points: Int, notRun: [String]) throws {
        let text = "sweep cut short by an interrupt: \(pointsRun) of \(points) points ran; not run: \(notRun.joined(separator: ", "))"
        func replace(_ name: String, _ edit: (String) throws -> String) throws {
            let file = folder.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file.path) else { return }
            let edited = try edit(String(decoding: data, as: UTF8.self))
            let temporary = folder.appendingPathComponent(".\(name).\(getpid()).sweep")
            try Data(edited.utf8).write(to: temporary)
            guard rename(temporary.path, file.path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: temporary)
                throw RunnerError(scenario: folder.lastPathComponent, message: "cannot mark \(file.path) as part of a cut-short sweep: \(reason)")
            }
        }
        try replace("summary.json") { text in
            guard case .object(var summary) = try JSONValue.parse(Array(text.utf8)) else { return text }
            summary["sweep"] = .object(["complete": .bool(false), "pointsRun": .integer(Int64(pointsRun)),
                                        "points": .integer(Int64(points)), "notRun": .array(notRun.map { .string($0) })])
            return String(decoding: JSONValue.object(summary).serialized + [0x0A], as: UTF8.self)
        }
        try replace("junit.xml") { xml in
            let property = #"      <property name="sweep-cut-short" value="\#(Markup.escape(text))"/>"# + "\n"
            if let properties = xml.range(of: "    <properties>\n") {
                return xml.replacingCharacters(in: properties.upperBound..<properties.upperBound, with: property)
            }
            guard let suite = xml.range(of: "<testsuite "), let end = xml[suite.upperBound...].range(of: ">\n") else { return xml }
            return xml.replacingCharacters(in: end.upperBound..<end.upperBound, with: "    <properties>\n" + property + "    </properties>\n")
        }
        try replace("report.html") { html in
            guard let facts = html.range(of: "</dl>\n") else { return html }
            return html.replacingCharacters(in: facts.upperBound..<facts.upperBound, with: "<p class=\"warn\">\(Markup.escape(text)).</p>\n")
        }
    }
}

/// A counter shared by the threads of one process.
private final class StagingCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    /// The next number, from 1.
    func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}

/// A rename that fails instead of replacing its target: Linux's renameat2(RENAME_NOREPLACE),
/// looked up at run time (glibc declares it only under _GNU_SOURCE, which Swift's Glibc module
/// does not set).
enum AtomicRename {
    /// How a rename went.
    enum Outcome: Equatable {
        case done
        case exists
        case failed(Int32)
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    private static let renameat2: RenameAt2? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2")
        .map { unsafeBitCast($0, to: RenameAt2.self) }

    /// Renames `source` to `target` unless `target` exists.
    static func withoutReplacing(_ source: String, _ target: String) -> Outcome {
        if let renameat2 {
            if renameat2(AT_FDCWD, source, AT_FDCWD, target, 1 /* RENAME_NOREPLACE */) == 0 { return .done }
            let code = errno
            if code == EEXIST || code == ENOTEMPTY { return .exists }
            guard code == EINVAL || code == ENOSYS else { return .failed(code) }
        }
        // No renameat2 (or a file system without the flag): reserve the name with mkdir, which
        // only one caller wins, then rename over that empty folder (rename may replace an empty one).
        if mkdir(target, 0o755) != 0 { return errno == EEXIST ? .exists : .failed(errno) }
        return rename(source, target) == 0 ? .done : .failed(errno)
    }
}
