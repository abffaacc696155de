import Foundation
import LabCore

/// The control API's resources, matched from path segments; which methods each accepts is
/// `allowedMethods`, so an unknown path is a 404 and a known path with the wrong method a 405.
enum Route: Sendable, Hashable {
    case version
    case metrics
    case reset
    case populate
    case proxies
    case proxy(String)
    case toxics(proxy: String)
    case toxic(proxy: String, toxic: String)
    case connections(proxy: String)
    /// `/proxies/{name}/upstreams`: the server instances behind a proxy.
    case upstreams(proxy: String)
    /// `/proxies/{name}/upstreams/{index}`: one of them, to take out or put back.
    case upstream(proxy: String, index: Int)

    /// The methods the resource accepts (Toxiproxy 2.x's, plus PATCH wherever it takes POST updates).
    var allowedMethods: [String] {
        switch self {
        case .version, .metrics, .connections, .upstreams: ["GET"]
        case .upstream: ["GET", "POST", "PATCH"]
        case .reset, .populate: ["POST"]
        case .proxies, .toxics: ["GET", "POST"]
        case .proxy, .toxic: ["GET", "POST", "PATCH", "DELETE"]
        }
    }

    /// Why a request target could not be routed.
    enum Failure: Error, Sendable {
        case notFound
        case badEncoding
    }

    /// Matches a request target ("/proxies/redis/toxics?x=1"); the query and fragment are ignored
    /// and each segment is percent-decoded, so names with spaces or slashes can be addressed.
    static func match(_ target: String) throws(Failure) -> Route {
        var path = Substring(target)
        // An absolute-form target ("http://host:8474/proxies") addresses the same resource.
        for scheme in ["http://", "https://"] where path.lowercased().hasPrefix(scheme) {
            path = path.dropFirst(scheme.count)
            path = path.firstIndex(of: "/").map { path[$0...] } ?? "/"
        }
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
        guard path.hasPrefix("/") else { throw .notFound }
        var segments: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = Self.percentDecoded(raw) else { throw .badEncoding }
            segments.append(decoded)
        }
        switch segments.count {
        case 1:
            switch segments[0] {
            case "version": return .version
            case "metrics": return .metrics
            case "reset": return .reset
            case "populate": return .populate
            case "proxies": return .proxies
            default: throw .notFound
            }
        case 2 where segments[0] == "proxies":
            return .proxy(segments[1])
        case 3 where segments[0] == "proxies":
            switch segments[2] {
            case "toxics": return .toxics(proxy: segments[1])
            case "connections": return .connections(proxy: segments[1])
            case "upstreams": return .upstreams(proxy: segments[1])
            default: throw .notFound
            }
        case 4 where segments[0] == "proxies" && segments[2] == "upstreams":
            guard let index = Int(segments[3]), index >= 0, String(index) == segments[3] else { throw .notFound }
            return .upstream(proxy: segments[1], index: index)
        case 4 where segments[0] == "proxies" && segments[2] == "toxics":
            return .toxic(proxy: segments[1], toxic: segments[3])
        default:
            throw .notFound
        }
    }
}

/// The rule for proxy and toxic names: a name is accepted only if it can be addressed again, so a
/// proxy is never created (and left listening) that GET and DELETE cannot reach.
extension Route {
    /// A path segment with its %XX escapes decoded to bytes, read as UTF-8 exactly as written
    /// (Foundation's decoding drops a leading U+FEFF, so /proxies/%EF%BB%BFbom addressed "bom");
    /// nil for a bad escape or bytes that are not UTF-8.
    static func percentDecoded(_ segment: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = segment.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = utf8.next().flatMap(Self.hexValue), let low = utf8.next().flatMap(Self.hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

enum ResourceName {
    /// The longest name, in UTF-8 bytes: its percent-encoded path stays far below any request-line limit.
    static let maximumBytes = 256

    /// Checks `name` for `field`: at most `maximumBytes`, no control characters, and it must come
    /// back unchanged from the router's percent-decoding (which keeps every byte, U+FEFF included).
    static func validate(_ name: String, field: String) throws(APIError) {
        guard name.utf8.count <= maximumBytes else {
            throw APIError.badRequest("too long: \(name.utf8.count) bytes, at most \(maximumBytes)", field: field)
        }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw APIError.badRequest("must not contain control characters", field: field)
        }
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        guard case .proxy(let decoded)? = try? Route.match("/proxies/" + encoded), decoded.hasSameBytes(as: name) else {
            throw APIError.badRequest("cannot be addressed in a request path once percent-decoded", field: field)
        }
    }
}
