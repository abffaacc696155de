import LabCore
import FaultProxy
import NIOCore
import NIOPosix
@testable import ProxyAPI

/// A registry and the control API over it, without HTTP; every proxy is removed afterwards.
struct APIFixture {
    let registry: ProxyRegistry
    let api: ControlAPI

    init() {
        registry = ProxyRegistry(group: MultiThreadedEventLoopGroup.singleton, seed: 7)
        api = ControlAPI(registry: registry)
    }

    /// Answers `method path` with an optional JSON body text.
    func call(_ method: String, _ path: String, _ body: String? = nil) async -> Reply {
        let response = await api.handle(APIRequest(method: method, path: path, body: Array((body ?? "").utf8)))
        return Reply(response: response)
    }

    /// Creates a proxy to `upstream` and returns its listen port.
    @discardableResult
    func createProxy(_ name: String, upstream: String = "127.0.0.1:9", enabled: Bool = true) async -> Reply {
        await call("POST", "/proxies", #"{"name": "\#(name)", "upstream": "\#(upstream)", "enabled": \#(enabled)}"#)
    }

    /// Runs `body` with a fresh fixture and tears it down, also when `body` throws.
    static func with<T>(_ body: (APIFixture) async throws -> T) async throws -> T {
        let fixture = APIFixture()
        do {
            let result = try await body(fixture)
            await fixture.registry.removeAll()
            return result
        } catch {
            await fixture.registry.removeAll()
            throw error
        }
    }
}

/// A response with its body parsed as JSON.
struct Reply {
    let response: APIResponse
    var status: Int { response.status }
    var json: JSONValue? { try? JSONValue.parse(response.body) }
    /// The "error" member of an error body.
    var error: String? { json?["error"]?.string }
}

extension JSONValue {
    /// The listen port of a proxy JSON object.
    var listenPort: Int? {
        guard let listen = self["listen"]?.string, let colon = listen.lastIndex(of: ":") else { return nil }
        return Int(listen[listen.index(after: colon)...])
    }
}
