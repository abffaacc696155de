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

    /// A run id from the time, seed and mode; unique within the scenario's folder.
    public func newRunID(scenario: String, seed: UInt64, mode: String, now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let base = "\(formatter.string(from: now))-\(mode)-seed\(seed)"
        var id = base
        var n = 2
        while FileManager.default.fileExists(atPath: root.appendingPathComponent(scenario).appendingPathComponent(id).path) {
            id = "\(base)-\(n)"
            n += 1
        }
        return id
    }

    /// Writes the files and moves the directory into place; returns its path. The runs' event logs
    /// are `eventLogs`, or files already written (`eventFiles`, moved in); `logs`, a folder, is
    /// moved in as `logs/`; `interruption`, when set, marks junit.xml as a partial run.
    public func write(scenario: String, runID: String, eventLogs: [String], eventFiles: [URL] = [], summary: JSONValue,
                      outcomes: [Verdict], duration: TimeSpan, report: String? = nil,
                      logs: URL? = nil, interruption: String? = nil) throws -> URL {
        let folder = root.appendingPathComponent(scenario)
        let final = folder.appendingPathComponent(runID)
        guard !FileManager.default.fileExists(atPath: final.path) else {
            throw RunnerError(scenario: scenario, message: "results \(final.path) already exist; they are never overwritten")
        }
        let staging = folder.appendingPathComponent(".\(runID).partial")
        try? FileManager.default.removeItem(at: staging)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
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
        try FileManager.default.moveItem(at: staging, to: final)
        return final
    }
}
