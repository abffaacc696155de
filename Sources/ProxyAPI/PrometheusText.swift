import FaultProxy

/// The /metrics body in Prometheus' text exposition format (version 0.0.4): per proxy,
/// connections accepted and active, bytes per direction, resets and installed toxics.
enum PrometheusText {
    /// The content type Prometheus expects for this format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Renders the counters of `proxies`.
    static func render(_ proxies: [Proxy]) -> String {
        let rows = proxies.map { ($0.name, $0.counters, $0.snapshot.toxics.count) }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Int64)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += "\(name){\(s.labels)} \(s.value)\n" }
        }
        func proxyLabel(_ name: String) -> String { "proxy=\"\(escape(name))\"" }
        family("flatline_proxy_connections_accepted_total", "counter", "Connections accepted by the proxy.",
               rows.map { (proxyLabel($0.0), $0.1.connectionsAccepted) })
        family("flatline_proxy_connections_active", "gauge", "Connections currently open through the proxy.",
               rows.map { (proxyLabel($0.0), $0.1.connectionsActive) })
        family("flatline_proxy_bytes_total", "counter", "Bytes read by the proxy, by direction (upstream = client to server).",
               rows.flatMap { r in [
                   ("\(proxyLabel(r.0)),direction=\"upstream\"", r.1.bytesUpstream),
                   ("\(proxyLabel(r.0)),direction=\"downstream\"", r.1.bytesDownstream),
               ] })
        family("flatline_proxy_resets_total", "counter", "Connections that ended with a reset.",
               rows.map { (proxyLabel($0.0), $0.1.resets) })
        family("flatline_proxy_toxics", "gauge", "Toxics installed on the proxy.",
               rows.map { (proxyLabel($0.0), Int64($0.2)) })
        return out
    }

    /// Escapes a label value as the exposition format asks (backslash, double quote, newline),
    /// walking Unicode scalars, not Characters: "\r\n" or a quote followed by a combining mark is one
    /// Character, and matching those as a whole let a name forge a metric line. Other control
    /// characters have no escape in the format and become U+FFFD, so nothing can end a line.
    static func escape(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\"": out.append(contentsOf: "\\\"".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case _ where scalar.properties.generalCategory == .control
                || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar == "\u{85}":
                out.append("\u{FFFD}")
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
