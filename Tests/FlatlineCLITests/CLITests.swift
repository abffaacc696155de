import Foundation
import Testing

/// End-to-end tests of the built `flatline` binary: what a user or a script sees.
@Suite(.serialized)
struct CLITests {
    /// The binary next to this test bundle (same build directory), or $FLATLINE_BIN.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["FLATLINE_BIN"] { return URL(fileURLWithPath: path) }
        let bundle = Bundle.main.bundleURL
        var dir = bundle
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("flatline")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/flatline")
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with `arguments`; `environment` is merged over this process's own.
    static func run(_ arguments: [String], timeout: Double = 60, environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return Run(status: process.terminationStatus,
                   stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                   stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A one-shot HTTP/1.1 GET over a plain socket; nil when nothing answers.
    static func httpGet(port: Int, path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { return nil }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    @Test func versionFlagPrintsTheVersion() throws {
        let r = try Self.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout == "0.1.0\n")
    }

    @Test func helpListsTheSubcommands() throws {
        let r = try Self.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE: flatline <subcommand>"))
        #expect(r.stdout.contains("proxy"))
        #expect(r.stdout.contains("demo"))
    }

    @Test func proxyServesTheAPIWithToxiproxyStyleFlagsAndStopsOnSIGTERM() throws {
        let port = try Self.freePort()
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["proxy", "-host", "127.0.0.1", "-port", "\(port)", "-seed=3"]
        process.standardError = Pipe()
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var response: String?
        for _ in 0..<100 {
            response = Self.httpGet(port: port, path: "/version")
            if response != nil { break }
            usleep(50_000)
        }
        let body = try #require(response)
        #expect(body.hasPrefix("HTTP/1.1 200"))
        #expect(body.contains("\"version\""))
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
    }

    @Test func invalidPortIsAUsageError() throws {
        let r = try Self.run(["proxy", "--port", "70000"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--port must be 0-65535, got 70000"))
    }

    @Test func badConfigFileNamesTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-bad-\(getpid()).json")
        try Data("[{\"name\": \"x\", \"listen\": \"127.0.0.1:0\"}]".utf8).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let r = try Self.run(["proxy", "--port", "\(try Self.freePort())", "--config", path.path], timeout: 20)
        #expect(r.status != 0)
        #expect(r.stderr.contains(path.path))
        #expect(r.stderr.contains("upstream"))
    }

    @Test func demoShowsLatencyStallAndReset() throws {
        let r = try Self.run(["demo", "--count", "5"], timeout: 60)
        #expect(r.status == 0)
        let row = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("latency 50ms ± 5ms (downstream)") })
        let numbers = row.split(separator: " ").compactMap { Double($0) }
        #expect(numbers.count == 4)
        let p50 = try #require(numbers.first)
        #expect(p50 >= 45 && p50 < 100)  // 50 ms ± 5 ms of jitter, plus loopback
        #expect(r.stdout.contains("arrived intact"))
        #expect(r.stdout.contains("ECONNRESET (a real RST)"))
    }

    @Test func connectRejectsABadURLAndTransport() throws {
        let noPort = try Self.run(["connect", "socketio", "http://127.0.0.1/socket.io/"])
        #expect(noPort.status == 64)
        #expect(noPort.stderr.contains("'http://127.0.0.1/socket.io/' has no port"))
        let transport = try Self.run(["connect", "socketio", "http://127.0.0.1:5000", "--transports", "carrier-pigeon"])
        #expect(transport.status == 64)
        #expect(transport.stderr.contains("unknown transport 'carrier-pigeon'"))
    }

    @Test func serveRejectsADurationWithoutUnit() throws {
        let r = try Self.run(["serve", "socketio", "--port", "0", "--ping-interval", "25"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("'25' has no unit"))
    }

    @Test func connectReportsConnectErrorsAndGivesUpWithoutReconnection() throws {
        let port = try Self.freePort()  // nothing listens there
        let r = try Self.run(["connect", "socketio", "http://127.0.0.1:\(port)", "--reconnection", "off", "--duration", "1s"],
                             timeout: 20)
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains(#""type":"connect_error""#) && $0.contains(#""reason":"transport error""#) })
        #expect(!lines.contains { $0.contains(#""type":"reconnect_attempt""#) })
    }

    @Test func checkValidatesScenarioFilesWithPositionedErrors() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let pack = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("scenarios").path)
            .filter { $0.hasSuffix(".yaml") }.map { root.appendingPathComponent("scenarios/\($0)").path }
        #expect(!pack.isEmpty)
        let ok = try Self.run(["check"] + pack)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.split(separator: "\n").count == pack.count)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-bad-\(getpid()).yaml")
        try Data("""
        name: typo
        seed: 1
        duration: 10m
        server: { builtin: socketio, pingIntervall: 25s }
        """.utf8).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let bad = try Self.run(["check", path.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.hasPrefix("\(path.path):4:"))
        #expect(bad.stderr.contains("pingIntervall"))
    }

    @Test func runExitsZeroOneOrTwoAndWritesResults() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func scenario(_ name: String, pingTimeout: String, stall: String) throws -> String {
            let path = dir.appendingPathComponent("\(name).yaml").path
            try Data("""
            name: \(name)
            seed: 3
            duration: 3m
            server: { builtin: socketio, pingInterval: 25s, pingTimeout: \(pingTimeout) }
            clients: { count: 2, builtin: socketio }
            link: { both: { latency: 20ms } }
            toleratedStall: 60s
            phases:
              - { at: 60s, for: \(stall), both: stall, note: roaming }
            expect: { falseDisconnects: 0 }
            """.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        let out = dir.appendingPathComponent("results").path
        // A 50 s stall (60-110 s) with pingTimeout 20 s: the ping of 75 s goes unanswered, the server
        // closes at 95 s, 35 s into a stall tolerated up to 60 s: false. With pingTimeout 60 s it is survived.
        let tight = try Self.run(["run", try scenario("tight", pingTimeout: "20s", stall: "50s"), "--out", out], timeout: 120)
        #expect(tight.status == 1, "\(tight.stdout)\(tight.stderr)")
        #expect(tight.stdout.contains("FAIL falseDisconnects"))
        let relaxed = try Self.run(["run", try scenario("relaxed", pingTimeout: "60s", stall: "50s"), "--out", out], timeout: 120)
        #expect(relaxed.status == 0, "\(relaxed.stdout)\(relaxed.stderr)")
        let written = try FileManager.default.contentsOfDirectory(atPath: "\(out)/relaxed")
        #expect(written.count == 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(out)/relaxed/\(written[0])").sorted()
        #expect(files == ["events.jsonl", "junit.xml", "report.html", "summary.json"])
        let invalid = try Self.run(["run", dir.appendingPathComponent("missing.yaml").path, "--out", out])
        #expect(invalid.status == 2)
    }

    /// Issue 12, finding 13: a scenario that cannot run simulated prints its error and no empty
    /// table header before it.
    @Test func anInvalidSimulatedRunPrintsOnlyItsError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-runerr-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ext.yaml").path
        try Data("""
        name: ext
        duration: 1m
        server: { command: [python3, server.py, "{port}"] }
        clients: { builtin: socketio }
        """.utf8).write(to: URL(fileURLWithPath: path))
        let r = try Self.run(["run", path, "--out", dir.appendingPathComponent("results").path])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.isEmpty, "\(r.stdout)")
        #expect(!r.stderr.isEmpty)
    }

    /// What an interrupted `flatline run` left: its results folder, whether it got under way,
    /// how it exited, and its stderr.
    struct InterruptedRun {
        var out: URL
        var started: Bool
        var stopped: Bool
        var status: Int32
        var stderr: String
    }

    /// Runs the scenario `yaml` in `dir` (simulated, `runs` runs), waits until `underWay` says so
    /// of the results folder (polled: the process tells nothing else), sends `signal`, and waits up
    /// to 60 s for the process to end.
    static func interruptedRun(_ yaml: String, in dir: URL, runs: Int, signal: Int32,
                               underWay: (URL) -> Bool) throws -> InterruptedRun {
        let path = dir.appendingPathComponent("scenario.yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        let out = dir.appendingPathComponent("results")
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["run", path, "--runs", String(runs), "--out", out.path]
        process.standardOutput = Pipe()
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var started = false
        for _ in 0..<1200 where !started {
            usleep(50_000)
            started = underWay(out)
        }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        let stopped = !process.isRunning
        let stderr = stopped ? String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        return InterruptedRun(out: out, started: started, stopped: stopped, status: stopped ? process.terminationStatus : -1, stderr: stderr)
    }

    /// The names in `folder`, or none when it does not exist (yet).
    static func entries(_ folder: URL) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    }

    /// Issue 12, finding 12: SIGINT (or SIGTERM) during a simulated series stops it after the run
    /// in progress, writes the runs done marked partial, leaves no staging folder and exits 130.
    @Test(arguments: [SIGINT, SIGTERM])
    func anInterruptedSimulatedSeriesWritesPartialResults(_ signal: Int32) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-simint-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Under way once its staging folder holds a finished run.
        let run = try Self.interruptedRun("""
        name: series
        duration: 2h
        server: { builtin: socketio }
        clients: { count: 50, builtin: socketio }
        link: { both: { latency: 20ms } }
        """, in: dir, runs: 1000, signal: signal) { out in
            Self.entries(out.appendingPathComponent("series")).contains { $0.hasPrefix(".sim-events") }
        }
        #expect(run.started)
        #expect(run.stopped)
        #expect(run.status == 130)
        let scenarioFolder = run.out.appendingPathComponent("series")
        let entries = try FileManager.default.contentsOfDirectory(atPath: scenarioFolder.path)
        #expect(entries.count == 1 && !entries[0].hasPrefix("."), "\(entries)")
        let folder = scenarioFolder.appendingPathComponent(entries.first ?? "")
        let junit = try String(contentsOf: folder.appendingPathComponent("junit.xml"), encoding: .utf8)
        // Between runs ("after N of 1000 runs") or within one ("at T of 2h in run N of 1000").
        #expect(junit.contains(" of 1000 runs: partial results") || junit.contains(" of 1000: partial results"), "\(junit)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("summary.json"))) as? [String: Any]
        let runs = summary?["runs"] as? Int ?? 0
        #expect(runs >= 1 && runs < 1000, "\(runs) runs written")
    }

    /// Issue 10: `check` says when an external program could not start (not on PATH, not there,
    /// not executable, a working directory that does not exist), at its place in the file.
    @Test func checkFindsProgramsThatCannotStart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-progcheck-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("print('hi')\n".utf8).write(to: dir.appendingPathComponent("server.py"))  // not executable
        func check(_ server: String) throws -> (Int32, String) {
            let file = dir.appendingPathComponent("s.yaml")
            try Data("name: s\nduration: 1m\nserver: \(server)\nclients: { builtin: socketio }\n".utf8).write(to: file)
            let r = try Self.run(["check", file.path])
            return (r.status, r.stderr)
        }
        let file = dir.appendingPathComponent("s.yaml").path
        let missing = try check(#"{ command: [no-such-program-flatline, "{port}"] }"#)
        #expect(missing.0 == 2 && missing.1.contains("\(file):3:21: server.command[0]: 'no-such-program-flatline' is not an executable program on PATH"), "\(missing.1)")
        let plain = try check(#"{ command: [./server.py, "{port}"] }"#)
        #expect(plain.0 == 2 && plain.1.contains("server.command[0]: './server.py' is not executable"), "\(plain.1)")
        let gone = try check(#"{ command: [./gone.py, "{port}"] }"#)
        #expect(gone.0 == 2 && gone.1.contains("'./gone.py' does not exist"), "\(gone.1)")
        let noDir = try check(#"{ command: [python3, server.py, "{port}"], cwd: nowhere }"#)
        #expect(noDir.0 == 2 && noDir.1.contains("server.cwd: the working directory") && noDir.1.contains("does not exist"), "\(noDir.1)")
        let fine = try check(#"{ command: [/bin/sh, -c, "exec sleep 1", "{port}"] }"#)
        #expect(fine.0 == 0, "\(fine.1)")
    }

    /// Issue 12: SIGTERM in the middle of one long simulated run stops it where it is (it used to
    /// run to its end): the run is written, judged over the virtual time that ran, marked partial.
    @Test func anInterruptStopsASimulatedRunInProgress() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-simrunint-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // About 10 million events: minutes of work, so the signal lands while the run is under way.
        let began = Date()
        let run = try Self.interruptedRun("""
        name: long
        duration: 24h
        server: { builtin: socketio }
        clients: { count: 1000, builtin: socketio }
        """, in: dir, runs: 1, signal: SIGTERM) { _ in Date().timeIntervalSince(began) > 2 }
        #expect(run.stopped)
        #expect(run.status == 130)
        #expect(Date().timeIntervalSince(began) < 30, "the run was not stopped where it was")
        let scenarioFolder = run.out.appendingPathComponent("long")
        let entries = try FileManager.default.contentsOfDirectory(atPath: scenarioFolder.path)
        #expect(entries.count == 1 && !entries[0].hasPrefix("."), "\(entries)")
        let folder = scenarioFolder.appendingPathComponent(entries.first ?? "")
        let junit = try String(contentsOf: folder.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains("of 24h in run 1 of 1: partial results"), "\(junit)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("summary.json"))) as? [String: Any]
        #expect(summary?["partial"] as? Bool == true, "\(summary ?? [:])")
        let ranFor = summary?["ranFor"] as? String ?? ""
        #expect(!ranFor.isEmpty && ranFor != "24h", "ran for \(ranFor)")
        let events = try String(contentsOf: folder.appendingPathComponent("events.jsonl"), encoding: .utf8)
        #expect(events.contains("\"connect\""), "the events of the time that ran are kept")
    }

    /// Issue 12, finding 12: an interrupt between sweep points marks every point already written
    /// (summary.json, junit.xml, report.html) as part of a sweep cut short, naming the points not
    /// run, and says so on stderr.
    @Test func anInterruptedSweepMarksThePointsItWrote() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-sweepint-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Under way once the first point is written and the second (60 clients, 400 runs) has begun.
        let run = try Self.interruptedRun("""
        name: sweep
        duration: 10m
        server: { builtin: socketio }
        clients: { count: 1, builtin: socketio }
        link: { both: { latency: 20ms } }
        sweeps: { clients.count: [1, 60, 2] }
        """, in: dir, runs: 400, signal: SIGINT) { out in
            Self.entries(out.appendingPathComponent("sweep+clients.count=1")).contains { !$0.hasPrefix(".") }
                && Self.entries(out.appendingPathComponent("sweep+clients.count=60")).contains { $0.hasPrefix(".sim-events") }
        }
        #expect(run.started, "the sweep's second point never got under way")
        #expect(run.stopped)
        #expect(run.status == 130)
        #expect(run.stderr.contains("2 of 3 sweep points ran; not run: sweep+clients.count=2"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run.out.appendingPathComponent("sweep+clients.count=2").path))
        for point in ["sweep+clients.count=1", "sweep+clients.count=60"].map(run.out.appendingPathComponent) {
            let entries = try FileManager.default.contentsOfDirectory(atPath: point.path)
            #expect(entries.count == 1 && !entries[0].hasPrefix("."), "\(point.lastPathComponent): \(entries)")
            let folder = point.appendingPathComponent(entries.first ?? "")
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("summary.json"))) as? [String: Any]
            let sweep = summary?["sweep"] as? [String: Any]
            #expect(sweep?["complete"] as? Bool == false, "\(point.lastPathComponent): \(summary ?? [:])")
            #expect(sweep?["pointsRun"] as? Int == 2 && sweep?["points"] as? Int == 3)
            #expect(sweep?["notRun"] as? [String] == ["sweep+clients.count=2"])
            let junit = try String(contentsOf: folder.appendingPathComponent("junit.xml"), encoding: .utf8)
            #expect(junit.contains(#"<property name="sweep-cut-short" value="sweep cut short by an interrupt: 2 of 3 points ran"#), "\(junit)")
            let report = try String(contentsOf: folder.appendingPathComponent("report.html"), encoding: .utf8)
            #expect(report.contains("sweep cut short by an interrupt"))
            let stray = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
            #expect(stray.isEmpty, "\(stray)")
        }
    }

    /// Issue 8: a live run stops through its service group with every client mid-reconnect (the
    /// network dead to the end) and phase timers, whether it runs to its end or is interrupted;
    /// nothing is scheduled on an event loop after it shut down (SWIFTNIO_STRICT turns that into
    /// a crash), and the exit status says how the run ended.
    @Test(arguments: [false, true])
    func aLiveRunStopsCleanlyWithClientsMidReconnect(interrupt: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-livestop-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("outage.yaml").path
        try Data("""
        name: outage
        seed: 5
        duration: 60s
        server: { builtin: socketio, pingInterval: 2s, pingTimeout: 2s }
        clients: { count: 6, builtin: socketio, connectTimeout: 2s, reconnection: { delay: 500ms, delayMax: 1s } }
        link: { both: { latency: 5ms } }
        phases:
          - { at: 5s, for: 1s, both: stall, note: blip }
          - { at: 10s, until: end, both: blackhole, note: outage }
        """.utf8).write(to: URL(fileURLWithPath: path))
        let out = dir.appendingPathComponent("results")
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["run", path, "--mode", "live", "--time-scale", "0.1", "--out", out.path]
        process.environment = ProcessInfo.processInfo.environment.merging(["SWIFTNIO_STRICT": "1"]) { $1 }
        let stderr = Pipe()
        process.standardOutput = Pipe()
        process.standardError = stderr
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        if interrupt {
            // Well into the outage (1.5 s of run time from 10 s on, at a tenth of the time).
            usleep(3_000_000)
            kill(process.processIdentifier, SIGINT)
        }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!process.isRunning)
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!errors.contains("Cannot schedule"), "\(errors)")
        #expect(process.terminationReason == .exit, "\(errors)")
        #expect(interrupt ? process.terminationStatus == 130 : [0, 1].contains(process.terminationStatus), "\(process.terminationStatus) \(errors)")
    }

    /// The detector bench from the command line: a text trace and a generated one give the
    /// documented curves.csv, a chart per trace and the read-out table; a bad trace file is exit 2
    /// naming its line, with nothing written.
    @Test func detectorsWritesCurvesChartsAndReadOuts() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-det-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // 1 s heartbeats for 10 minutes with a 4 s pause at 300 s.
        let arrivals = (0..<600).filter { $0 < 300 || $0 > 303 }.map { "\(Double($0) + 0.05 * Double($0 % 3))" }
        let trace = dir.appendingPathComponent("beats.txt")
        try Data(("# arrivals, seconds\n" + arrivals.joined(separator: "\n") + "\n").utf8).write(to: trace)
        let out = dir.appendingPathComponent("bench").path
        let r = try Self.run(["detectors", trace.path, "--generate", "stalls", "--generated-duration", "20m", "--out", out], timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == ["curves-beats.txt.svg", "curves-generated%3Astalls.svg", "curves.csv", "summary.md"], "\(files)")
        let csv = try String(contentsOfFile: "\(out)/curves.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv[0] == "trace,detector,knob,td_mean_s,td_p99_s,td_max_s,mistakes_per_hour,mistake_duration_s,query_accuracy")
        #expect(csv.contains { $0.hasPrefix("beats.txt,fixed,") } && csv.contains { $0.hasPrefix("generated:stalls,chen,") })
        #expect(r.stdout.contains("## beats.txt") && r.stdout.contains("| fixed | "), "\(r.stdout)")
        let svg = try String(contentsOfFile: "\(out)/curves-beats.txt.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains("mistakes per hour"))

        let bad = dir.appendingPathComponent("bad.txt")
        try Data("1\n2\nthree\n".utf8).write(to: bad)
        let badOut = dir.appendingPathComponent("bad-out").path
        let failed = try Self.run(["detectors", bad.path, "--out", badOut])
        #expect(failed.status == 2)
        #expect(failed.stderr.contains("\(bad.path):3: arrival \"three\""), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: badOut))
        let unknown = try Self.run(["detectors", "--generate", "sunspots"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown condition"), "\(unknown.stderr)")
    }
}
