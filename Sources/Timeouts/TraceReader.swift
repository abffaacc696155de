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
        try observe(path).traces
    }

    /// Everything `path` shows that the engine can learn from: its heartbeat traces, and where the
    /// source has them its RTT samples, lost probes and disconnects (see `Observations`).
    public static func observe(_ path: String) throws(TraceReadError) -> Observations {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TraceReadError(file: path, message: "no such file or folder")
        }
        if isDirectory.boolValue {
            let logs = eventLogs(under: path)
            if logs.isEmpty { throw TraceReadError(file: path, message: "a folder with no events*.jsonl in it") }
            var all = Observations()
            for log in logs { all.merge(try eventLog(bytes(log), file: log)) }
            return all
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
        if base.hasSuffix(".json") { return try sampleJSON(data, file: path, name: base) }
        return try text(data, file: path, name: base)
    }

    /// A text or CSV file of samples, one per line; blank lines and `#` comments are skipped. Without
    /// a header each line's first field is a heartbeat arrival time in seconds. A header line names
    /// the column read and its kind: `rtt_ms` or `rtt_s` (RTT samples), or `arrival_s` (arrivals).
    public static func text(_ data: [UInt8], file: String, name: String) throws(TraceReadError) -> Observations {
        guard let content = String(validating: data, as: UTF8.self) else {
            throw TraceReadError(file: file, message: "not UTF-8 text")
        }
        var arrivals: [Instant] = []
        var rtts: [Double] = []
        var column = 0
        var kind = SampleColumn.arrivalSeconds
        var sawHeader = false
        var sawData = false
        var previous: Double?
        for (index, raw) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if !sawHeader, !sawData, let first = fields.first, Double(first) == nil {
                sawHeader = true
                guard let found = fields.enumerated().first(where: { SampleColumn(rawValue: $0.element.lowercased()) != nil }) else {
                    throw TraceReadError(file: file, line: index + 1, message: "header \"\(line.prefix(60))\": no column named \(SampleColumn.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                column = found.offset
                kind = SampleColumn(rawValue: found.element.lowercased())!
                continue
            }
            sawData = true
            let field = column < fields.count ? fields[column] : ""
            let what = kind == .arrivalSeconds ? "arrival" : kind.rawValue
            guard let value = Double(field), value.isFinite, value >= 0, value < 9e9 else {
                throw TraceReadError(file: file, line: index + 1, message: "\(what) \"\(field.prefix(40))\": \(kind == .arrivalSeconds ? "expected a time in seconds (a number >= 0)" : "expected a number >= 0")")
            }
            if kind != .arrivalSeconds {
                rtts.append(kind == .rttMilliseconds ? value / 1000 : value)
                continue
            }
            let seconds = value
            if let previous, seconds < previous {
                throw TraceReadError(file: file, line: index + 1, message: "arrival \(field) is before the previous one (\(previous)); arrivals must be in time order")
            }
            previous = seconds
            arrivals.append(Instant(nanoseconds: Int64((seconds * 1e9).rounded())))
        }
        if arrivals.isEmpty && rtts.isEmpty { throw TraceReadError(file: file, message: "no \(kind == .arrivalSeconds ? "arrival times" : "samples") in it") }
        var observations = Observations()
        if !arrivals.isEmpty { observations.traces.append(ArrivalTrace(name: name, arrivals: arrivals)) }
        if !rtts.isEmpty { observations.rtts[name] = rtts }
        return observations
    }

    /// A JSON file of samples: an object with one or more of `rtt_ms`, `rtt_s` (RTT samples) and
    /// `arrival_s` (heartbeat arrival times, in order), each an array of numbers.
    public static func sampleJSON(_ data: [UInt8], file: String, name: String) throws(TraceReadError) -> Observations {
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch { throw TraceReadError(file: file, message: "JSON: \(error.description)") }
        guard case .object(let root) = value else { throw TraceReadError(file: file, message: "JSON: expected an object with \(SampleColumn.allCases.map(\.rawValue).joined(separator: ", "))") }
        var observations = Observations()
        var found = false
        for column in SampleColumn.allCases {
            guard let field = root[column.rawValue] else { continue }
            found = true
            guard case .array(let items) = field else { throw TraceReadError(file: file, message: "field \(column.rawValue): expected an array of numbers") }
            var numbers: [Double] = []
            for (i, item) in items.enumerated() {
                guard let x = item.doubleValue, x.isFinite, x >= 0, x < 9e9 else {
                    throw TraceReadError(file: file, message: "field \(column.rawValue)[\(i)]: expected a number >= 0")
                }
                if column == .arrivalSeconds, let last = numbers.last, x < last {
                    throw TraceReadError(file: file, message: "field \(column.rawValue)[\(i)]: \(x) is before the previous arrival \(last); arrivals must be in time order")
                }
                numbers.append(x)
            }
            switch column {
            case .arrivalSeconds:
                if !numbers.isEmpty {
                    observations.traces.append(ArrivalTrace(name: name, arrivals: numbers.map { Instant(nanoseconds: Int64(($0 * 1e9).rounded())) }))
                }
            case .rttMilliseconds: observations.rtts[name, default: []] += numbers.map { $0 / 1000 }
            case .rttSeconds: observations.rtts[name, default: []] += numbers
            }
        }
        if !found { throw TraceReadError(file: file, message: "JSON: no field named \(SampleColumn.allCases.map(\.rawValue).joined(separator: ", "))") }
        return observations
    }

    /// The ping series of a Flent capture: each probe sent at `x_values[i]` and answered after its
    /// RTT is an arrival at x + RTT; `null` (a lost probe) is no arrival. None when the capture has
    /// no latency series (a throughput-only test): the caller says so.
    /// The probes' RTTs are RTT samples, and nulls count as lost probes.
    public static func flent(_ data: [UInt8], file: String, name: String) throws(TraceReadError) -> Observations {
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch { throw TraceReadError(file: file, message: "Flent JSON: \(error.description)") }
        guard case .object(let root) = value else { throw TraceReadError(file: file, message: "Flent JSON: expected an object") }
        guard case .array(let xs)? = root["x_values"] else { throw TraceReadError(file: file, message: "Flent JSON: field x_values: expected an array") }
        guard case .object(let results)? = root["results"] else { throw TraceReadError(file: file, message: "Flent JSON: field results: expected an object") }
        var observations = Observations()
        for series in results.keys where isLatencySeries(series) {
            guard case .array(let values)? = results[series] else {
                throw TraceReadError(file: file, message: "Flent JSON: field results.\(series): expected an array")
            }
            var arrivals: [Instant] = []
            var rtts: [Double] = []
            var lost = 0
            for (i, v) in values.enumerated() where i < xs.count {
                guard let rtt = v.doubleValue else { lost += 1; continue }  // null: lost
                guard let x = xs[i].doubleValue, x.isFinite, rtt.isFinite, rtt >= 0, x >= 0 else {
                    throw TraceReadError(file: file, message: "Flent JSON: field results.\(series)[\(i)]: expected a finite RTT and time")
                }
                arrivals.append(Instant(nanoseconds: Int64(((x + rtt / 1000) * 1e9).rounded())))
                rtts.append(rtt / 1000)
            }
            let key = "\(name):\(series)"
            if arrivals.count >= 2 { observations.traces.append(ArrivalTrace(name: key, arrivals: arrivals)) }
            // One-way delays (VoIP) are not round trips.
            if !series.hasSuffix("::delay"), !rtts.isEmpty { observations.rtts[key] = rtts }
            observations.probes[key] = ProbeCount(sent: arrivals.count + lost, lost: lost)
        }
        return observations
    }

    /// Flent's latency series in milliseconds, one probe per step: the pings (not their average),
    /// HTTP fetch latency, VoIP one-way delay.
    static func isLatencySeries(_ name: String) -> Bool {
        (name.hasPrefix("Ping (ms)") && !name.hasSuffix(" avg")) || name == "HTTP latency" || (name.hasPrefix("VoIP") && name.hasSuffix("::delay"))
    }

    /// Per connection, the heartbeats its monitors saw in a Flatline event log: pings a client
    /// received ("conn/client pings") and pongs the server or the tap received ("conn/server pongs").
    /// Pongs' RTTs are RTT samples; disconnects are counted by side and reason over the
    /// connections' lives (first to last event), in connection-hours.
    public static func eventLog(_ data: [UInt8], file: String) throws(TraceReadError) -> Observations {
        var observations = Observations()
        var lives: [String: (first: TimeSpan, last: TimeSpan)] = [:]
        var segments: [String: Int] = [:]
        var rtts: [Double] = []
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
            // The runner's own events ("run": phases, faults) belong to no connection.
            if event.kind == .fault {
                continue
            }
            if let life = lives[event.connection] {
                lives[event.connection] = (min(life.first, event.time), max(life.last, event.time))
            } else {
                lives[event.connection] = (event.time, event.time)
            }
            if event.kind == .pong, let rtt = event.rtt { rtts.append(rtt.seconds) }
            if event.kind == .disconnect {
                observations.disconnects["\(event.side.rawValue): \(event.reason ?? "unknown")", default: 0] += 1
                // Heartbeats cannot cross a disconnect: the silence until a reconnection is not a
                // stall of the link, so each connected stretch is a trace of its own.
                segments[event.connection, default: 1] += 1
            }
            let segment = segments[event.connection].map { "#\($0)" } ?? ""
            let key: String
            switch (event.kind, event.side) {
            case (.ping, .client): key = "\(event.connection)\(segment)/client pings"
            case (.pong, .server), (.pong, .proxy): key = "\(event.connection)\(segment)/\(event.side.rawValue) pongs"
            default: continue
            }
            if series[key] == nil { order.append(key) }
            series[key, default: []].append(Instant(nanoseconds: event.time.nanoseconds))
        }
        observations.traces = order.compactMap { key in
            guard let arrivals = series[key], arrivals.count >= 2 else { return nil }
            return ArrivalTrace(name: "\(name):\(key)", arrivals: arrivals)
        }
        if !rtts.isEmpty { observations.rtts[name] = rtts }
        observations.connectionHours = lives.values.reduce(0) { $0 + ($1.last - $1.first).seconds } / 3600
        observations.connections = lives.count
        return observations
    }

    /// The sample columns a CSV header or a JSON sample file may name.
    enum SampleColumn: String, CaseIterable {
        case rttMilliseconds = "rtt_ms"
        case rttSeconds = "rtt_s"
        case arrivalSeconds = "arrival_s"
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
