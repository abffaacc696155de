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

    /// Escapes a label value: backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
