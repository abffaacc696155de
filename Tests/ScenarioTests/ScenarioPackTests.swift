import Heartbeat
import Scenario
import Testing
import Foundation
import LabCore

/// Every file in scenarios/ loads and validates, with its sweeps, and has a header comment.
@Suite struct ScenarioPackTests {
    /// The repository's scenarios/ folder, found from this file's place (Tests/ScenarioTests/).
    static var folder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scenarios")
    }

    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func thePackIsThere() {
        // Issue 4's list: the dashboard pair, Wi-Fi roaming, mobile handover, bufferbloat, bursty loss,
        // the idle-timeout middlebox, a half-open peer, a server event-loop stall, a throttled tab.
        #expect(Self.files.count >= 10)
        for name in ["dashboard-before.yaml", "dashboard-after.yaml", "half-open-peer.yaml", "idle-timeout-middlebox.yaml",
                     "wifi-roaming.yaml", "mobile-handover.yaml", "bufferbloat.yaml", "bursty-loss.yaml",
                     "server-event-loop-stall.yaml", "throttled-background-tab.yaml"] {
            #expect(Self.files.contains(name), "missing scenarios/\(name)")
        }
    }

    @Test(arguments: files)
    func scenarioFileValidates(_ name: String) throws {
        let path = Self.folder.appendingPathComponent(name).path
        let scenario = try Scenario.load(path: path)
        #expect(scenario.name + ".yaml" == name, "the name should match the file name")
        #expect(!scenario.expandSweeps().isEmpty)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("# "), "each scenario starts with a header comment")
        #expect(text.contains("What it demonstrates"))
    }

    @Test func theRecoveryPairDiffersOnlyInConnectionStateRecovery() throws {
        let missing = try Scenario.load(path: Self.folder.appendingPathComponent("dashboard-missed-events.yaml").path)
        var recovering = try Scenario.load(path: Self.folder.appendingPathComponent("dashboard-recovery.yaml").path)
        guard case .socketIO(var server) = recovering.server else { throw ScenarioTestFailure("a built-in server expected") }
        #expect(server.connectionStateRecovery == SocketIORecoveryOptions(maxDisconnectionDuration: .seconds(120)))
        server.connectionStateRecovery = nil
        recovering.server = .socketIO(server)
        recovering.name = missing.name
        #expect(recovering == missing)
    }

    @Test func dashboardPairDiffersInTheFixedSettings() throws {
        let before = try Scenario.load(path: Self.folder.appendingPathComponent("dashboard-before.yaml").path)
        let after = try Scenario.load(path: Self.folder.appendingPathComponent("dashboard-after.yaml").path)
        #expect(before.server == .socketIO(SocketIOServerSettings(pingInterval: .seconds(25), pingTimeout: .seconds(20))))
        #expect(after.server == .socketIO(SocketIOServerSettings(pingInterval: .seconds(25), pingTimeout: .seconds(60))))
        guard case .socketIO(let b) = before.clients.component, case .socketIO(let a) = after.clients.component else {
            throw ScenarioTestFailure("built-in clients expected")
        }
        #expect(b.connectTimeout == .seconds(5))
        #expect(a.connectTimeout == .seconds(20))
        #expect(b.application.healthCheck?.staleAfter == .seconds(30))
        #expect(a.application.healthCheck?.staleAfter == .seconds(90))
        #expect(b.application.customPing == CustomPingSettings(interval: .seconds(45), timeout: .seconds(20)))
        #expect(before.link == after.link)
        #expect(after.phases.last?.end == .scenarioEnd)
        #expect(after.phases.last?.conditions.upstream == [.blackhole(BlackholeCondition())])
        #expect(after.expectations.detectionWithin != nil)
        // The Wi-Fi pauses repeat: 1m, 5m, 9m, … within 30 minutes.
        #expect(before.phases[0].occurrences(within: before.duration).count == 8)
    }
}
