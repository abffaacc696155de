import LabCore
import Foundation
import NIOCore
import NIOPosix
import TestSupport
@testable import ProxyAPI

#if canImport(Glibc)
import Glibc
#endif


/// An errno from a test socket call.
struct TestHTTPResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON (fails the caller's expectations with nil when it is not).
    var json: JSONValue? { try? JSONValue.parse(body) }
}

/// A tiny HTTP/1.1 client over one keep-alive connection: writes requests (well-formed or not)
/// and parses responses by Content-Length.
final class TestHTTPClient: @unchecked Sendable {
    let socket: BlockingSocket
    private var buffer: [UInt8] = []

    init(port: Int) throws { socket = try BlockingSocket(port: port) }

    /// Sends a request with an optional body and reads the response.
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:],
                 timeout: Double = 10) throws -> TestHTTPResponse {
        try sendRequest(method, path, body: body.map { Array($0.utf8) }, headers: headers)
        return try readResponse(timeout: timeout)
    }

    /// Writes a request without reading the response (for pipelining).
    func sendRequest(_ method: String, _ path: String, body: [UInt8]?, headers: [String: String] = [:]) throws {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        var headers = headers
        if headers["User-Agent"] == nil { headers["User-Agent"] = "flatline-tests" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        text += "\r\n"
        try socket.send(Array(text.utf8) + (body ?? []))
    }

    /// Reads one response (skipping 1xx interim ones).
    func readResponse(timeout: Double = 10) throws -> TestHTTPResponse {
        while true {
            let response = try readOne(timeout: timeout)
            if response.status >= 200 { return response }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func fill(timeout: Double) throws {
        switch socket.read(timeout: timeout) {
        case .data(let d): buffer += d
        case let other: throw Failure(description: "connection ended while reading a response: \(other)")
        }
    }

    private func readOne(timeout: Double) throws -> TestHTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            if buffer.count >= 4 {
                headEnd = (0...(buffer.count - 4)).first { Array(buffer[$0..<$0 + 4]) == separator }
            }
            if headEnd == nil { try fill(timeout: timeout) }
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw Failure(description: "bad status line in \(headText)")
        }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = TestHTTPResponse(status: status, headers: headers, body: [])
        if status < 200 || status == 204 || status == 304 { return response }
        if let length = response.header("content-length").flatMap(Int.init) {
            while buffer.count < length { try fill(timeout: timeout) }
            response.body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        } else {
            while case .data(let d) = socket.read(timeout: timeout) { buffer += d }
            response.body = buffer
            buffer = []
        }
        return response
    }
}


/// Helpers to look into JSON responses.
extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}
