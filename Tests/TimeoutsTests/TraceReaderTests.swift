import Foundation
import LabCore
import Testing
import Timeouts

@Suite struct TraceReaderTests {
    private func temporary(_ name: String, _ contents: [UInt8]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-traces-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try Data(contents).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func textTracesSkipCommentsAndNameTheBadLine() throws {
        let good = try temporary("arrivals.txt", Array("# seconds\n0\n1.0\n\n2.5, extra\n".utf8))
        let traces = try TraceReader.read(good)
        #expect(traces.count == 1)
        #expect(traces[0].arrivals == [.zero, .zero + .seconds(1), .zero + .seconds(2.5)])
        let bad = try temporary("bad.txt", Array("0\n1\nabc\n".utf8))
        #expect(throws: TraceReadError(file: bad, line: 3, message: "arrival \"abc\": expected a time in seconds (a number >= 0)")) {
            try TraceReader.read(bad)
        }
        let unordered = try temporary("unordered.txt", Array("0\n2\n1\n".utf8))
        do {
            _ = try TraceReader.read(unordered)
            Issue.record("accepted arrivals out of order")
        } catch {
            #expect(error.line == 3)
            #expect(error.description.hasPrefix("\(unordered):3: "))
        }
        let empty = try temporary("empty.txt", Array("# nothing\n".utf8))
        #expect(throws: TraceReadError(file: empty, message: "no arrival times in it")) { try TraceReader.read(empty) }
        #expect(throws: TraceReadError.self) { try TraceReader.read(empty + ".missing") }
    }

    /// A Flent capture compressed by the real gzip: the ping series become arrivals at x + RTT,
    /// lost probes (null) none, the average series is left out.
    @Test func flentCapturesCompressedByGzipAreRead() throws {
        let json = #"{"x_values":[0,0.2,0.4,0.6],"results":{"Ping (ms) ICMP":[10,null,30,40],"VoIP::delay":[5,5,5,5],"Ping (ms) avg":[1,2,3,4],"TCP upload":[1,2,3,4]},"metadata":{"STEP_SIZE":0.2}}"#
        let plain = try temporary("capture.flent", Array(json.utf8))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", plain]
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)
        let traces = try TraceReader.read(plain + ".gz")
        #expect(traces.map(\.name) == ["capture.flent.gz:Ping (ms) ICMP", "capture.flent.gz:VoIP::delay"])
        #expect(traces[0].arrivals.map(\.nanoseconds) == [10_000_000, 430_000_000, 640_000_000])
        #expect(try TraceReader.read(plain) .map(\.arrivals) == traces.map(\.arrivals))
        // Corrupt gzip: named, not a crash.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: plain + ".gz")))
        for i in 12..<min(bytes.count, 30) { bytes[i] ^= 0x5a }
        let corrupt = try temporary("corrupt.flent.gz", bytes)
        do {
            _ = try TraceReader.read(corrupt)
            Issue.record("read corrupt gzip")
        } catch {
            #expect(error.description.hasPrefix("\(corrupt): gzip: "), "\(error)")
        }
        let noPing = try temporary("none.flent", Array(#"{"x_values":[0],"results":{"TCP upload":[1]}}"#.utf8))
        #expect(try TraceReader.read(noPing).isEmpty)
    }

    @Test func eventLogsGiveEachMonitorsHeartbeatsAndNameABadLine() throws {
        var log = ""
        for i in 0..<5 {
            LabEvent(time: .seconds(Double(i) * 25), connection: "c1", side: .client, kind: .ping).appendJSONLine(to: &log)
            log += "\n"
            LabEvent(time: .seconds(Double(i) * 25 + 0.05), connection: "c1", side: .server, kind: .pong, rtt: .milliseconds(50)).appendJSONLine(to: &log)
            log += "\n"
            LabEvent(time: .seconds(Double(i) * 25), connection: "c1", side: .server, kind: .ping).appendJSONLine(to: &log)
            log += "\n"
        }
        let path = try temporary("events.jsonl", Array(log.utf8))
        let traces = try TraceReader.read(path)
        #expect(traces.map(\.name) == ["events.jsonl:c1/client pings", "events.jsonl:c1/server pongs"])
        #expect(traces.allSatisfy { $0.arrivals.count == 5 })
        // A results folder holding it reads the same.
        let folder = (path as NSString).deletingLastPathComponent
        #expect(try TraceReader.read(folder).map(\.arrivals) == traces.map(\.arrivals))
        let bad = try temporary("events-bad.jsonl", Array((log + "{\"t\": \"x\"}\n").utf8))
        do {
            _ = try TraceReader.read(bad)
            Issue.record("accepted a bad event line")
        } catch {
            #expect(error.line == 16, "\(error)")
        }
    }
}
