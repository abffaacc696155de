import Foundation

extension Scenario {
    /// What would stop an external program from starting, found without starting it: a program
    /// that is not on PATH (or, with a slash, not at its path) or not executable, and a working
    /// directory that does not exist; each named at its place in the file. Programs whose name is
    /// a template are left to the run. `source` is the scenario file (relative paths resolve
    /// against its folder, as the run's do).
    public func programProblems(source: String) -> [ScenarioError] {
        let folder = URL(fileURLWithPath: source).deletingLastPathComponent()
        var problems: [ScenarioError] = []
        func check(_ component: ExternalComponent, _ field: String) {
            guard let root = try? MappingReader(anyKeys: document, "", what: "a mapping"), let node = root[field],
                  let r = try? MappingReader(anyKeys: node, field, what: "a mapping"),
                  let commandNode = r["command"], let items = try? ScenarioRead.sequence(commandNode, "\(field).command", expected: "a list"),
                  let first = items.first else { return }
            let directory = component.directory(relativeTo: folder)
            if component.workingDirectory != nil {
                var isDirectory: ObjCBool = false
                if !FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) || !isDirectory.boolValue {
                    problems.append(ScenarioRead.error(r["cwd"] ?? node, "\(field).cwd", "the working directory \(directory.standardizedFileURL.path) does not exist"))
                    return
                }
            }
            let program = component.command[0]
            guard !program.contains("{") else { return }
            let path = "\(field).command[0]"
            if program.contains("/") {
                let url = program.hasPrefix("/") ? URL(fileURLWithPath: program) : directory.appendingPathComponent(program)
                let file = url.standardizedFileURL.path
                if !FileManager.default.fileExists(atPath: file) {
                    problems.append(ScenarioRead.error(first, path, "'\(program)' does not exist (looked for \(file))"))
                } else if !FileManager.default.isExecutableFile(atPath: file) {
                    problems.append(ScenarioRead.error(first, path, "'\(program)' is not executable (\(file)); chmod +x it, or name its interpreter first"))
                }
                return
            }
            // As posix_spawnp looks it up: on this process's PATH.
            let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            let found = searchPath.split(separator: ":").contains { dir in
                FileManager.default.isExecutableFile(atPath: URL(fileURLWithPath: String(dir)).appendingPathComponent(program).path)
            }
            if !found {
                problems.append(ScenarioRead.error(first, path, "'\(program)' is not an executable program on PATH"))
            }
        }
        if case .external(let component) = server { check(component, "server") }
        if case .external(let component) = clients.component { check(component, "clients") }
        return problems
    }
}
