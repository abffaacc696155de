import Foundation
import LabCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A program a live run started (an external server or client): spawned in a process group of its
/// own with its stdout and stderr going to files, so the run can keep its output and stop it and
/// everything it started (SIGTERM to the group, SIGKILL after a grace period) without orphans.
public final class ExternalProcess: @unchecked Sendable {
    /// The component's name in the results ("server", "client-3"); names its log files.
    public let name: String
    /// The process id, also the id of its process group.
    public let pid: pid_t
    /// Where its standard output goes.
    public let stdoutURL: URL
    /// Where its standard error goes.
    public let stderrURL: URL
    /// When it was started (CLOCK_MONOTONIC): the origin of the times in its own event log.
    public let startedAt: Instant

    private let lock = NSLock()
    private var waitStatus: Int32?
    private var stopRequested = false
    private var exitedBeforeStop = false

    /// The ids of every process started here and not reaped yet, for `killAllNow()`.
    private static let running = RunningSet()

    private init(name: String, pid: pid_t, stdoutURL: URL, stderrURL: URL, startedAt: Instant) {
        self.name = name
        self.pid = pid
        self.stdoutURL = stdoutURL
        self.stderrURL = stderrURL
        self.startedAt = startedAt
    }

    /// Starts `arguments` (the program, looked up on PATH unless it has a slash, then its arguments)
    /// in `workingDirectory` with `environment` merged over this process's own, writing its output
    /// to `<logDirectory>/<name>.stdout` and `.stderr`. Standard input is /dev/null.
    public static func start(name: String, arguments: [String], environment: [String: String],
                             workingDirectory: URL, logDirectory: URL) throws(ExternalProcessError) -> ExternalProcess {
        guard let program = arguments.first, !program.isEmpty else {
            throw ExternalProcessError(message: "the command is empty")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: workingDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ExternalProcessError(message: "the working directory \(workingDirectory.path) does not exist")
        }
        do {
            try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        } catch {
            throw ExternalProcessError(message: "cannot create the log folder \(logDirectory.path): \(error)")
        }
        let stdoutURL = logDirectory.appendingPathComponent("\(name).stdout")
        let stderrURL = logDirectory.appendingPathComponent("\(name).stderr")

        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let environmentLines = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }

        var argv = arguments
        let chdirAction = SpawnExtensions.addChdir
        if chdirAction == nil {
            // No posix_spawn chdir action on this libc: let a shell change directory, then exec.
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory.path] + arguments
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let closeFrom = SpawnExtensions.addCloseFrom { _ = closeFrom(&actions, 3) }
        if let chdirAction {
            let rc = workingDirectory.path.withCString { chdirAction(&actions, $0) }
            guard rc == 0 else { throw ExternalProcessError(message: "cannot set the working directory: \(String(cString: strerror(rc)))") }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (so the group can be signalled as a whole), default signal
        // dispositions (a parent that ignores SIGINT must not pass that on) and no blocked signals.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGPIPE, SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noMask = sigset_t()
        sigemptyset(&noMask)
        posix_spawnattr_setsigmask(&attributes, &noMask)

        var pid: pid_t = 0
        let startedAt = Instant.monotonicNow()
        let rc = withCStrings(argv) { argvPointer in
            withCStrings(environmentLines) { envPointer in
                posix_spawnp(&pid, argv[0], &actions, &attributes, argvPointer, envPointer)
            }
        }
        guard rc == 0 else {
            throw ExternalProcessError(message: "cannot start '\(program)': \(String(cString: strerror(rc)))")
        }
        let process = ExternalProcess(name: name, pid: pid, stdoutURL: stdoutURL, stderrURL: stderrURL, startedAt: startedAt)
        running.insert(pid)
        return process
    }

    /// Whether the program has exited (it is not reaped here, so its process group stays reserved
    /// until `stop` has swept it).
    public var hasExited: Bool {
        if lock.withLock({ waitStatus != nil }) { return true }
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_signo == SIGCHLD
    }

    /// How the program ended ("exit status 3", "killed by signal 15"), once `stop` has reaped it.
    public var exitDescription: String? {
        guard let status = lock.withLock({ waitStatus }) else { return nil }
        let signal = status & 0x7f
        if signal == 0 { return "exit status \((status >> 8) & 0xff)" }
        return "killed by signal \(signal)"
    }

    /// Stops the program and everything in its process group: SIGTERM, then SIGKILL when it has
    /// not exited within `grace`, then reaps it. Safe to call more than once; unaffected by the
    /// calling task's cancellation (an interrupted run must still clean up).
    public func stop(grace: TimeSpan = .seconds(2)) async {
        await Task { await self.stopUncancelled(grace: grace) }.value
    }

    /// Kills the program's whole process group at once (SIGKILL, no SIGTERM first), as a crash
    /// does (a scenario's `server: { down: [k] }`), then reaps it. It does not count as having
    /// exited on its own.
    public func crash() async {
        await Task { await self.stopUncancelled(grace: nil) }.value
    }

    /// Whether the program had already exited when it was first asked to stop (it died during the
    /// run, or never got going).
    public var exitedOnItsOwn: Bool { lock.withLock { exitedBeforeStop } }

    /// Freezes the program's whole process group (SIGSTOP), as a `server: pause` phase asks: the
    /// kernel still accepts and acknowledges data for it, the program runs nothing.
    public func suspend() {
        if !hasExited { kill(-pid, SIGSTOP) }
    }

    /// Lets a frozen program go on (SIGCONT).
    public func resume() {
        kill(-pid, SIGCONT)
    }

    /// `grace` nil: no SIGTERM first (a crash).
    private func stopUncancelled(grace: TimeSpan?) async {
        let exited = hasExited
        lock.withLock {
            if !stopRequested { exitedBeforeStop = exited }
            stopRequested = true
        }
        if lock.withLock({ waitStatus != nil }) { return }
        if !exited, let grace {
            kill(-pid, SIGCONT)  // a program frozen by a pause must be able to handle SIGTERM
            kill(-pid, SIGTERM)
            let deadline = Instant.monotonicNow() + grace
            while !hasExited, Instant.monotonicNow() < deadline {
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        // Sweep the group (stragglers a shell left behind, or the program itself after the grace):
        // the unreaped leader keeps the group's id from being reused meanwhile.
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        let deadline = Instant.monotonicNow() + .seconds(5)
        while Instant.monotonicNow() < deadline {
            if reap(options: WNOHANG) { return }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    /// Reaps the program if it has exited; true once it has been reaped.
    @discardableResult
    private func reap(options: Int32) -> Bool {
        lock.withLock {
            if waitStatus != nil { return true }
            var status: Int32 = 0
            let r = waitpid(pid, &status, options)
            if r == pid {
                waitStatus = status
                Self.running.remove(pid)
                return true
            }
            if r < 0 && errno == ECHILD {
                waitStatus = 0
                Self.running.remove(pid)
                return true
            }
            return false
        }
    }

    /// The last `maxBytes` of what the program wrote to standard error, trimmed; empty if nothing.
    public func stderrTail(maxBytes: Int = 2000) -> String {
        Self.tail(of: stderrURL, maxBytes: maxBytes)
    }

    static func tail(of url: URL, maxBytes: Int) -> String {
        guard let data = try? Data(contentsOf: url) else { return "" }
        let text = String(decoding: data.suffix(maxBytes), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Kills every program started here that is still running, with SIGKILL to its whole group, and
    /// reaps them (bounded to about a second): for a process about to exit at once, e.g. on a
    /// second SIGINT, so it leaves no orphans behind.
    public static func killAllNow() {
        let pids = running.all()
        for pid in pids {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        let deadline = Instant.monotonicNow() + .seconds(1)
        var left = Set(pids)
        while !left.isEmpty, Instant.monotonicNow() < deadline {
            for pid in left {
                var status: Int32 = 0
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid || (r < 0 && errno == ECHILD) { left.remove(pid) }
            }
            if !left.isEmpty { usleep(10_000) }
        }
    }
}

/// Why a program could not be started.
public struct ExternalProcessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(message: String) {
        self.message = message
    }

    /// The message itself.
    public var description: String { message }
}

/// The pids of started programs not yet reaped.
private final class RunningSet: @unchecked Sendable {
    private let lock = NSLock()
    private var pids: Set<pid_t> = []

    func insert(_ pid: pid_t) { lock.withLock { _ = pids.insert(pid) } }
    func remove(_ pid: pid_t) { lock.withLock { _ = pids.remove(pid) } }
    func all() -> [pid_t] { lock.withLock { Array(pids) } }
}

/// glibc's posix_spawn extensions that Swift's Glibc module does not import (found at run time).
private enum SpawnExtensions {
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static var addChdir: AddChdir? {
        symbol("posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
    }

    static var addCloseFrom: AddCloseFrom? {
        symbol("posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddCloseFrom.self) }
    }

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        #if canImport(Glibc)
        return dlsym(UnsafeMutableRawPointer(bitPattern: 0), name)
        #else
        return nil
        #endif
    }
}

/// Calls `body` with a NULL-terminated C array of copies of `strings`.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
