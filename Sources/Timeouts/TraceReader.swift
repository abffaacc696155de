import Foundation
import LabCore

/// Reads heartbeat arrival traces from the files Flatline meets: plain text (one arrival per line,
/// in seconds), Flatline event logs (a run's `events.jsonl`, or a results folder holding them), and
/// Flent's `.flent.gz` / `.flent` captures (their ping series). One entry point, so later sources
/// (packet captures) plug in beside these.
public enum TraceReader {
    /// The largest trace file accepted before decompression: 256 MiB.
    public static let maximumFileSize = 256 << 20

    /// Every trace in `path`: one for a text file, one per Flent ping series, one per connection and
    /// monitor in an event log (the client's received pings, the server's or tap's pongs), and those
    /// of every event log under a folder.
    public static func read(_ path: String) throws(TraceReadError) -> [ArrivalTrace] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TraceReadError(file: path, message: "no such file or folder")
        }
        if isDirectory.boolValue {
            let logs = eventLogs(under: path)
            if logs.isEmpty { throw TraceReadError(file: path, message: "a folder with no events*.jsonl in it") }
            var traces: [ArrivalTrace] = []
            for log in logs { traces += try eventLog(bytes(log), file: log) }
            return traces
        }
        let data = try bytes(path)
        let base = (path as NSString).lastPathComponent
        if data.starts(with: [0x1f, 0x8b]) {
            let inflated: [UInt8]
            do { inflated = try Gunzip.decompress(data) } catch { throw TraceReadError(file: path, message: "gzip: \(error.message)") }
            return try flent(inflated, file: path, name: base)
        }
        if base.hasSuffix(".flent") { return try flent(data, file: path, name: base) }
        if base.hasSuffix(".jsonl") { return try eventLog(data, file: path) }
        return [try text(data, file: path, name: base)]
    }

    /// Arrival times in seconds, one per line; blank lines and `#` comments are skipped. A CSV line's
    /// first field is read, so a header line is allowed only as a comment.
    public static func text(_ data: [UInt8], file: String, name: String) throws(TraceReadError) -> ArrivalTrace {
        guard let content = String(validating: data, as: UTF8.self) else {
            throw TraceReadError(file: file, message: "not UTF-8 text")
        }
        var arrivals: [Instant] = []
        var previous: Double?
        for (index, raw) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let field = line.split(separator: ",", maxSplits: 1).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? line
            guard let seconds = Double(field), seconds.isFinite, seconds >= 0, seconds < 9e9 else {
                throw TraceReadError(file: file, line: index + 1, message: "arrival \"\(field.prefix(40))\": expected a time in seconds (a number >= 0)")
            }
            if let previous, seconds < previous {
                throw TraceReadError(file: file, line: index + 1, message: "arrival \(field) is before the previous one (\(previous)); arrivals must be in time order")
            }
            previous = seconds
            arrivals.append(Instant(nanoseconds: Int64((seconds * 1e9).rounded())))
        }
        if arrivals.isEmpty { throw TraceReadError(file: file, message: "no arrival times in it") }
        return ArrivalTrace(name: name, arrivals: arrivals)
    }

    /// The ping series of a Flent capture: each probe sent at `x_values[i]` and answered after its
    /// RTT is an arrival at x + RTT; `null` (a lost probe) is no arrival. None when the capture has
    /// no latency series (a throughput-only test): the caller says so.
    public static func flent(_ data: [UInt8], file: String, name: String) throws(TraceReadError) -> [ArrivalTrace] {
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch { throw TraceReadError(file: file, message: "Flent JSON: \(error.description)") }
        guard case .object(let root) = value else { throw TraceReadError(file: file, message: "Flent JSON: expected an object") }
        guard case .array(let xs)? = root["x_values"] else { throw TraceReadError(file: file, message: "Flent JSON: field x_values: expected an array") }
        guard case .object(let results)? = root["results"] else { throw TraceReadError(file: file, message: "Flent JSON: field results: expected an object") }
        var traces: [ArrivalTrace] = []
        for series in results.keys where isLatencySeries(series) {
            guard case .array(let values)? = results[series] else {
                throw TraceReadError(file: file, message: "Flent JSON: field results.\(series): expected an array")
            }
            var arrivals: [Instant] = []
            for (i, v) in values.enumerated() where i < xs.count {
                guard let rtt = v.doubleValue else { continue }  // null: lost
                guard let x = xs[i].doubleValue, x.isFinite, rtt.isFinite, rtt >= 0, x >= 0 else {
                    throw TraceReadError(file: file, message: "Flent JSON: field results.\(series)[\(i)]: expected a finite RTT and time")
                }
                arrivals.append(Instant(nanoseconds: Int64(((x + rtt / 1000) * 1e9).rounded())))
            }
            if arrivals.count >= 2 { traces.append(ArrivalTrace(name: "\(name):\(series)", arrivals: arrivals)) }
        }
        return traces
    }

    /// Flent's latency series in milliseconds, one probe per step: the pings (not their average),
    /// HTTP fetch latency, VoIP one-way delay.
    static func isLatencySeries(_ name: String) -> Bool {
        (name.hasPrefix("Ping (ms)") && !name.hasSuffix(" avg")) || name == "HTTP latency" || (name.hasPrefix("VoIP") && name.hasSuffix("::delay"))
    }

    /// Per connection, the heartbeats its monitors saw in a Flatline event log: pings a client
    /// received ("conn/client pings") and pongs the server or the tap received ("conn/server pongs").
    public static func eventLog(_ data: [UInt8], file: String) throws(TraceReadError) -> [ArrivalTrace] {
        var series: [String: [Instant]] = [:]
        var order: [String] = []
        var lineNumber = 0
        var start = 0
        let name = (file as NSString).lastPathComponent
        while start < data.count {
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.count
            lineNumber += 1
            defer { start = end + 1 }
            let slice = data[start..<end]
            if slice.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) { continue }
            guard let line = String(validating: slice, as: UTF8.self) else {
                throw TraceReadError(file: file, line: lineNumber, message: "not UTF-8 text")
            }
            let event: LabEvent
            do { event = try LabEvent(jsonLine: line) } catch {
                throw TraceReadError(file: file, line: lineNumber, message: "event: \(error)")
            }
            let key: String
            switch (event.kind, event.side) {
            case (.ping, .client): key = "\(event.connection)/client pings"
            case (.pong, .server), (.pong, .proxy): key = "\(event.connection)/\(event.side.rawValue) pongs"
            default: continue
            }
            if series[key] == nil { order.append(key) }
            series[key, default: []].append(Instant(nanoseconds: event.time.nanoseconds))
        }
        return order.compactMap { key in
            guard let arrivals = series[key], arrivals.count >= 2 else { return nil }
            return ArrivalTrace(name: "\(name):\(key)", arrivals: arrivals)
        }
    }

    private static func bytes(_ path: String) throws(TraceReadError) -> [UInt8] {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attributes?[.size] as? Int, size > maximumFileSize {
            throw TraceReadError(file: path, message: "larger than \(maximumFileSize >> 20) MiB")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TraceReadError(file: path, message: "cannot be read")
        }
        return [UInt8](data)
    }

    private static func eventLogs(under folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var found: [String] = []
        while let entry = walker.nextObject() as? String {
            let base = (entry as NSString).lastPathComponent
            if base.hasPrefix("events"), base.hasSuffix(".jsonl") { found.append((folder as NSString).appendingPathComponent(entry)) }
        }
        return found.sorted()
    }
}
