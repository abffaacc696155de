// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Flatline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flatline", targets: ["flatline"]),
        .library(name: "LabCore", targets: ["LabCore"]),
        .library(name: "Scenario", targets: ["Scenario"]),
        .library(name: "Metrics", targets: ["Metrics"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "FaultProxy", targets: ["FaultProxy"]),
        .library(name: "Heartbeat", targets: ["Heartbeat"]),
        .library(name: "Simulator", targets: ["Simulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Pure Swift: time, sizes, randomness, distributions, conditions and the link schedule.
        .target(
            name: "LabCore",
            dependencies: [
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // The scenario model, its YAML loader with validation, and `--set` overrides and sweeps.
        .target(
            name: "Scenario",
            dependencies: [
                "LabCore",
                "Heartbeat",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // Metrics of a run's event log: ground truth from the scenario's timeline, disconnect
        // classification, uptime, delivery, RTT percentiles, stability, verdicts, Monte Carlo intervals.
        .target(name: "Metrics", dependencies: ["LabCore", "Scenario"], swiftSettings: strict),
        // Sans-IO heartbeat logic: Engine.IO, Socket.IO, WebSocket keepalive, application health
        // checks and failure detectors as state machines (input + now -> actions). No NIO.
        .target(name: "Heartbeat", dependencies: ["LabCore"], swiftSettings: strict),
        // The system zlib, for gzip'd trace files (Debian: zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The adaptive-timeout engine: heartbeat traces (files, generators), the detector bench
        // (Chen-Toueg-Aguilera QoS), learning and recommendation. Pure Swift, no NIO.
        .target(name: "Timeouts", dependencies: ["LabCore", "Heartbeat", "Scenario", "CZlib"], swiftSettings: strict),
        // Discrete-event simulation: the Heartbeat machines over simulated links driven by the
        // same LabCore link schedule as the live proxy, on a virtual clock. No NIO.
        .target(
            name: "Simulator",
            dependencies: [
                "LabCore", "Heartbeat",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // What a run writes for people and CI: report.html (page, charts, styles), junit.xml and the
        // summary.json type, with one escaping function for HTML and XML.
        .target(name: "Reports", dependencies: ["LabCore", "Scenario", "Metrics"], swiftSettings: strict),
        // Scenario runs: scenario -> simulated (or live) run -> event log, metrics, verdicts, results.
        .target(
            name: "Runner",
            dependencies: [
                "LabCore", "Scenario", "Metrics", "Reports", "Heartbeat", "Simulator", "FaultProxy", "LiveComponents",
                "LiveProcesses", "ProtocolTap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // LabCore time on SwiftNIO event loops: the `Scheduler` adapter (the loop's clock and
        // timers) for every live driver, so they run on testing loops in virtual time too.
        .target(
            name: "EventLoopTime",
            dependencies: [
                "LabCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The SwiftNIO fault proxy: listeners, links driven by the LabCore pump and schedule.
        .target(
            name: "FaultProxy",
            dependencies: [
                "LabCore", "EventLoopTime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // The Toxiproxy-compatible control API on NIOHTTP1.
        .target(
            name: "ProxyAPI",
            dependencies: [
                "LabCore", "FaultProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "flatline",
            dependencies: [
                "LabCore", "Scenario", "Metrics", "Heartbeat", "FaultProxy", "ProxyAPI", "LiveComponents",
                "LiveProcesses", "ProtocolTap", "Runner", "Timeouts", "Reports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Issue 4's simulator speed benchmark for `make bench`: one JSON line per run.
        .executableTarget(name: "SimulatorBench", dependencies: ["LabCore", "Heartbeat", "Simulator"], swiftSettings: strict),
        // Load generator for `make bench`: plain blocking sockets, so the client adds no framework overhead.
        .executableTarget(
            name: "FlatlineBench",
            dependencies: [],
            swiftSettings: strict
        ),
        // NIO drivers for the Heartbeat machines: Engine.IO/Socket.IO server and client, WebSocket keepalive.
        .target(
            name: "LiveComponents",
            dependencies: [
                "LabCore", "Heartbeat", "EventLoopTime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // External programs of a live run (a command line with ports templated in, its output
        // captured, stopped with its process group) and the readiness probe that waits for a server.
        .target(
            name: "LiveProcesses",
            dependencies: [
                "LabCore", "Scenario",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Protocol taps: follow HTTP upgrades, WebSocket frames and Engine.IO packets on proxied
        // connections and write events for components Flatline did not write.
        .target(
            name: "ProtocolTap",
            dependencies: [
                "LabCore", "FaultProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Loopback echo servers, a blocking client socket and helpers for tests only (never linked
        // into the shipped binary; the demo has its own echo server).
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "LabCoreTests", dependencies: ["LabCore"], swiftSettings: strict),
        .testTarget(name: "ScenarioTests", dependencies: ["Scenario", "LabCore"], swiftSettings: strict),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "Scenario", "LabCore"], swiftSettings: strict),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Metrics", "Scenario", "LabCore"], swiftSettings: strict),
        .testTarget(name: "HeartbeatTests", dependencies: ["Heartbeat", "LabCore"], swiftSettings: strict),
        .testTarget(name: "TimeoutsTests", dependencies: ["Timeouts", "Heartbeat", "LabCore"], swiftSettings: strict),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Heartbeat", "Metrics", "LabCore"], swiftSettings: strict),
        .testTarget(
            name: "LiveComponentsTests",
            dependencies: [
                "LiveComponents", "Heartbeat", "LabCore", "TestSupport", "FaultProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RunnerTests",
            dependencies: ["Runner", "Scenario", "Metrics", "Simulator", "Heartbeat", "LabCore", "LiveProcesses"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FaultProxyTests",
            dependencies: [
                "LabCore", "FaultProxy", "EventLoopTime", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ProxyAPITests",
            dependencies: [
                "LabCore", "FaultProxy", "ProxyAPI", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ProtocolTapTests",
            dependencies: [
                "LabCore", "ProtocolTap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "FlatlineCLITests", dependencies: ["flatline"], swiftSettings: strict),
    ]
)
