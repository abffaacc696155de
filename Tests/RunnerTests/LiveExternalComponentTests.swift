import Foundation
import LabCore
import Runner
import Scenario
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Live runs with external programs: templates reach the real processes, readiness failures are
/// clear errors, output lands in the results folder, and nothing is left running. Serialized and
/// short: each test starts real processes for a second or two.
@Suite(.serialized) struct LiveExternalComponentTests {
    /// A fresh folder for one test (scenario file, results, what the scripts write).
    static func workspace() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("flatline-external-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: url.appendingPathComponent("sub"), withIntermediateDirectories: true)
        return url
    }

    /// Writes `yaml` as `<folder>/scenario.yaml`, loads it from there (so `cwd` resolves against
    /// that folder) and returns it with its path.
    static func scenario(_ yaml: String, in folder: URL) throws -> (Scenario, String) {
        let path = folder.appendingPathComponent("scenario.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return (try Scenario.load(path: path), path)
    }

    static func read(_ url: URL) -> String {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether no process has this id any more (a zombie still counts as there).
    static func isGone(_ pid: Int32) -> Bool {
        kill(pid, 0) == -1 && errno == ESRCH
    }

    /// Issue 10, time scaling external programs: the scale is written once. `{timeScale}`, the
    /// scenario's durations, any `{scaled:…}` / `{scaledMs:…}` duration and the built-in server's
    /// settings reach the program's command and environment, scaled for the run.
    @Test func scaleTemplatesReachTheProgramsScaled() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-scaled
        duration: 20s
        toleratedStall: 5s
        server: { builtin: socketio, pingInterval: 25s, pingTimeout: 20s }
        clients:
          count: 1
          command: [/bin/sh, -c, 'echo "$1 $2 $3 $4 $5 $FLT" > scaled; exec sleep 30', sh, "{timeScale}", "{scaled:25s}", "{scaledMs:1m}", "{server.pingInterval}", "{duration}"]
          env: { FLT: "{toleratedStall}/{server.pingTimeout}" }
        """, in: dir)
        _ = try await ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
            .live(scenario, source: path, timeScale: 0.05, seed: nil)
        #expect(Self.read(dir.appendingPathComponent("scaled")) == "0.05 1.25 3000 1.25 1 0.25/1")
    }

    @Test func scaleTemplatesAreCheckedWithTheirPlace() throws {
        func message(_ command: String, server: String = "{ builtin: socketio }") -> String {
            do {
                _ = try Scenario.parse(yaml: "name: t\nduration: 1m\nserver: \(server)\nclients: { command: \(command) }\n", source: "t.yaml")
                return ""
            } catch { return "\(error)" }
        }
        #expect(message(#"[prog, "{scaled:25s}", "{scaledMs:2m}", "{timeScale}", "{server.pingTimeout}"]"#) == "")
        #expect(message(#"[prog, "{scaled:soon}"]"#).hasPrefix("t.yaml:4:"), "\(message(#"[prog, "{scaled:soon}"]"#))")
        #expect(message(#"[prog, "{scaled:soon}"]"#).contains("'soon' is not a duration"))
        #expect(message(#"[prog, "{nope}"]"#).contains("unknown placeholder '{nope}'; expected {host}, {port}, {index}, {timeScale}"))
        let external = message(#"[prog, "{server.pingInterval}"]"#, server: #"{ command: [srv, "{port}"] }"#)
        #expect(external.contains("names a built-in server's setting, and this scenario's server is external"), "\(external)")
    }

    @Test func clientTemplatesEnvironmentAndFolderReachTheStartedPrograms() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-clients
        duration: 1500ms
        server: { builtin: socketio, pingInterval: 500ms, pingTimeout: 500ms }
        clients:
          count: 2
          command: [/bin/sh, -c, 'printf "%s|%s|%s|%s|%s\\n" "$1" "$2" "$3" "$FLX" "$(pwd)" > args-{index}; echo "out of {index}"; echo "err of {index}" >&2; exec sleep 30', sh, "{host}", "{port}", "{index}"]
          env: { FLX: "x-{index}-{port}" }
          cwd: sub
        """, in: dir)
        let runner = ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
        let result = try await runner.live(scenario, source: path, timeScale: 1, seed: nil)

        #expect(result.programs.map(\.name) == ["client-1", "client-2"])
        let sub = dir.appendingPathComponent("sub").resolvingSymlinksInPath().path
        for index in 1...2 {
            let fields = Self.read(dir.appendingPathComponent("sub/args-\(index)")).split(separator: "|").map(String.init)
            #expect(fields.count == 5, "\(fields)")
            guard fields.count == 5 else { continue }
            #expect(fields[0] == "127.0.0.1")
            #expect(Int(fields[1]) != nil)
            #expect(fields[2] == "\(index)")
            #expect(fields[3] == "x-\(index)-\(fields[1])")
            #expect(URL(fileURLWithPath: fields[4]).resolvingSymlinksInPath().path == sub)
        }
        // The port is the proxy's, the same for every client.
        #expect(Self.read(dir.appendingPathComponent("sub/args-1")).split(separator: "|")[1]
                == Self.read(dir.appendingPathComponent("sub/args-2")).split(separator: "|")[1])

        let folder = try #require(result.folder)
        let logs = folder.appendingPathComponent("logs")
        let names = try FileManager.default.contentsOfDirectory(atPath: logs.path).sorted()
        #expect(names == ["client-1.stderr", "client-1.stdout", "client-2.stderr", "client-2.stdout"])
        #expect(Self.read(logs.appendingPathComponent("client-2.stdout")) == "out of 2")
        #expect(Self.read(logs.appendingPathComponent("client-1.stderr")) == "err of 1")
        let summary = Self.read(folder.appendingPathComponent("summary.json"))
        #expect(summary.contains(#""stdout":"logs/client-1.stdout""#))
        #expect(summary.contains(#""partial":false"#))
        // No staging folder for the logs is left behind.
        let scenarioFolder = dir.appendingPathComponent("results/ext-clients")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scenarioFolder.path).filter { $0.hasPrefix(".") }.isEmpty)

        // `sleep 30` ignores nothing: SIGTERM ended both, and both were reaped.
        for program in result.programs {
            #expect(Self.isGone(program.pid), "\(program.name) (pid \(program.pid)) still exists")
            #expect(program.exit == "killed by signal 15")
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func serverTemplatesAndHTTPReadinessReachTheStartedServer() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-server
        duration: 1s
        server:
          command: [/bin/sh, -c, 'echo "$1 $2 $FLX" > server.args; echo $$ > server.pid; exec /usr/bin/python3 -m http.server --bind "$1" "$2"', sh, "{host}", "{port}"]
          env: { FLX: "at {host}:{port}" }
          readiness: { http: /, timeout: 10s }
        clients: { count: 1, builtin: socketio }
        """, in: dir)
        let runner = ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
        let result = try await runner.live(scenario, source: path, timeScale: 1, seed: nil)

        let args = Self.read(dir.appendingPathComponent("server.args")).split(separator: " ").map(String.init)
        let port = args.count > 1 ? args[1] : ""
        #expect(Int(port) != nil)
        #expect(args == ["127.0.0.1", port, "at", "127.0.0.1:\(port)"])
        let pid = try #require(Int32(Self.read(dir.appendingPathComponent("server.pid"))))
        #expect(result.programs.map(\.pid) == [pid])
        #expect(Self.isGone(pid))
        let logs = try #require(result.folder).appendingPathComponent("logs")
        // http.server logs each request on stderr: the readiness probe's GET is there.
        #expect(Self.read(logs.appendingPathComponent("server.stderr")).contains("\"GET / HTTP/1.1\" 200"))
        #expect(FileManager.default.fileExists(atPath: logs.appendingPathComponent("server.stdout").path))
    }

    @Test func aServerThatExitsBeforeItIsReadyFailsTheRunWithItsStderr() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-exits
        duration: 5s
        server:
          command: [/bin/sh, -c, 'echo $$ > server.pid; echo "starting on port {port}"; echo "fatal: cannot bind port {port}" >&2; exit 3']
          readiness: { tcp: true, timeout: 10s }
        clients: { builtin: socketio }
        """, in: dir)
        let runner = ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
        let started = Date()
        let error = await #expect(throws: RunnerError.self) {
            _ = try await runner.live(scenario, source: path, timeScale: 1, seed: nil)
        }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(error?.scenario == path)
        let message = error?.message ?? ""
        #expect(message.contains("server: the program exited (exit status 3) before it was ready"), "\(message)")
        #expect(message.contains("fatal: cannot bind port"), "\(message)")
        let pid = try #require(Int32(Self.read(dir.appendingPathComponent("server.pid"))))
        #expect(Self.isGone(pid))
        // Nothing was written: no results, no staging or log folders, not even the scenario's folder.
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("results/ext-exits").path))
    }

    @Test func aServerNeverReadyFailsAfterTheProbeTimeoutAndIsStopped() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-timeout
        duration: 5s
        server:
          command: [/bin/sh, -c, 'echo $$ > server.pid; echo "warming up, not listening on {port}" >&2; exec sleep 30']
          readiness: { tcp: true, timeout: 1s }
        clients: { builtin: socketio }
        """, in: dir)
        let runner = ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
        let started = Date()
        let error = await #expect(throws: RunnerError.self) {
            _ = try await runner.live(scenario, source: path, timeScale: 1, seed: nil)
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 1 && elapsed < 6, "\(elapsed)")
        let message = error?.message ?? ""
        #expect(error?.scenario == path)
        #expect(message.contains("server: not ready within 1s (tcp connect to 127.0.0.1:"), "\(message)")
        #expect(message.contains("warming up, not listening on"), "\(message)")
        let pid = try #require(Int32(Self.read(dir.appendingPathComponent("server.pid"))))
        #expect(Self.isGone(pid))
    }

    @Test func aProgramThatCannotBeStartedIsAnErrorNamingTheField() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-missing
        duration: 1s
        server: { builtin: socketio }
        clients: { count: 1, command: [./no-such-program, "{port}"] }
        """, in: dir)
        let runner = ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
        await #expect(throws: RunnerError(scenario: path, message: "clients.command: cannot start './no-such-program': No such file or directory")) {
            _ = try await runner.live(scenario, source: path, timeScale: 1, seed: nil)
        }
    }

    @Test func aClientThatExitsDuringTheRunIsNotedWithItsStatus() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-client-exits
        duration: 1s
        server: { builtin: socketio }
        clients: { count: 2, command: [/bin/sh, -c, 'if [ {index} = 2 ]; then echo "client {index} gives up" >&2; exit 4; fi; exec sleep 30'] }
        """, in: dir)
        let runner = ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
        let result = try await runner.live(scenario, source: path, timeScale: 1, seed: nil)
        #expect(result.programs.map(\.exitedOnItsOwn) == [false, true])
        #expect(result.programs.map(\.exit) == ["killed by signal 15", "exit status 4"])
        #expect(result.limitations.contains("client-2 exited during the run (exit status 4); see logs/client-2.stderr"), "\(result.limitations)")
        let logs = try #require(result.folder).appendingPathComponent("logs")
        #expect(Self.read(logs.appendingPathComponent("client-2.stderr")) == "client 2 gives up")
    }

    @Test func aCancelledRunStopsItsProgramsAndWritesPartialResults() async throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scenario, path) = try Self.scenario("""
        name: ext-cancel
        duration: 30s
        server: { builtin: socketio, pingInterval: 500ms, pingTimeout: 500ms }
        clients:
          count: 2
          command: [/bin/sh, -c, 'trap "" TERM; echo $$ > client-{index}.pid; while true; do sleep 0.1; done']
        phases:
          - { at: 20s, until: end, both: blackhole, note: outage }
        expect: { falseDisconnects: 0, detectionWithin: 5s }
        """, in: dir)
        let runner = ScenarioRunner(resultsRoot: dir.appendingPathComponent("results"), version: "test")
        let task = Task { try await runner.live(scenario, source: path, timeScale: 1, seed: nil) }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let cancelled = Date()
        task.cancel()
        let result = try await task.value
        // The clients ignore SIGTERM: they are killed after the grace period.
        #expect(Date().timeIntervalSince(cancelled) < 5)
        #expect(result.partial)
        let ranFor = try #require(result.ranFor)
        #expect(ranFor >= .seconds(1) && ranFor < .seconds(5), "\(ranFor)")
        #expect(result.verdicts.map(\.name) == ["falseDisconnects", "detectionWithin"])
        for program in result.programs {
            #expect(Self.isGone(program.pid), "\(program.name) (pid \(program.pid)) still exists")
            #expect(program.exit == "killed by signal 9")
        }
        let folder = try #require(result.folder)
        let summary = Self.read(folder.appendingPathComponent("summary.json"))
        #expect(summary.contains(#""partial":true"#))
        #expect(summary.contains(#""ranFor":"\#(ranFor)""#))
        #expect(summary.contains(#""duration":"30s""#))
        let junit = Self.read(folder.appendingPathComponent("junit.xml"))
        #expect(junit.contains(#"<property name="partial" value="true"/>"#))
        #expect(junit.contains("interrupted after \(ranFor) of 30s"))
        #expect(Self.read(folder.appendingPathComponent("report.html")).contains("This run was interrupted"))
    }
}
