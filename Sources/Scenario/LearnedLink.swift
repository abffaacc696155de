import Foundation
import LabCore

/// What a learned model (`flatline learn`'s model.json) says about a link, as scenario fields: the
/// round trip as the downstream latency (a lognormal through the learned median and p99; the
/// upstream is instant, so each ping's round trip is one draw, as measured) and the stall process as
/// `faults.stalls` (the learned rate, the learned lengths as empirical samples). One mapping serves
/// both `link: { learned: model.json }` in a scenario and the scenario file `flatline learn` writes.
public struct LearnedLink: Sendable, Hashable {
    /// The learned round trip's median and 99th percentile, in seconds (nil when not learned).
    public var rttMedian: Double?
    public var rttP99: Double?
    /// Stall episodes seen, over how many connection-hours, and their lengths in seconds.
    public var stallEpisodes: Int
    public var exposureHours: Double
    public var stallDurations: [Double]

    /// A learned link from its figures.
    public init(rttMedian: Double?, rttP99: Double?, stallEpisodes: Int, exposureHours: Double, stallDurations: [Double]) {
        self.rttMedian = rttMedian
        self.rttP99 = rttP99
        self.stallEpisodes = stallEpisodes
        self.exposureHours = exposureHours
        self.stallDurations = stallDurations
    }

    /// The `link` mapping as YAML flow text, or nil when no round trip was learned.
    public var linkYAML: String? {
        guard let median = rttMedian else { return nil }
        let latency: String
        if let p99 = rttP99, p99 > median, Self.duration(p99) != Self.duration(median) {
            latency = "{ lognormal: { median: \(Self.duration(median)), p99: \(Self.duration(p99)) } }"
        } else {
            latency = Self.duration(median)
        }
        return "{ downstream: { latency: \(latency) } }"
    }

    /// The `faults.stalls` mapping as YAML flow text, or nil when no stall was seen.
    public var stallsYAML: String? {
        guard stallEpisodes > 0, exposureHours > 0, !stallDurations.isEmpty else { return nil }
        let rate = String(format: "%.6g", Double(stallEpisodes) / exposureHours)
        return "{ rate: \(rate)/h, duration: { empirical: [\(stallDurations.map(Self.duration).joined(separator: ", "))] } }"
    }

    /// Seconds as a scenario duration: whole milliseconds, or microseconds below one.
    public static func duration(_ seconds: Double) -> String {
        let ms = (seconds * 1000).rounded()
        return ms >= 1 ? "\(Int(ms))ms" : "\(max(1, Int((seconds * 1e6).rounded())))us"
    }

    /// Reads the link figures of a model.json (format `flatline-model`, version 1; docs/learn.md);
    /// errors name `file` and the field.
    public static func parse(modelJSON bytes: [UInt8], file: String) throws(ScenarioError) -> LearnedLink {
        func fail(_ path: String, _ message: String) -> ScenarioError {
            ScenarioError(file: file, line: 0, column: 0, path: path, message: message)
        }
        let root: JSONObject
        do {
            guard case .object(let object) = try JSONValue.parse(bytes) else { throw fail("", "a model is a JSON object") }
            root = object
        } catch let error as ScenarioError {
            throw error
        } catch {
            throw fail("", "not a model.json: \(error)")
        }
        guard root["format"] == .string("flatline-model") else { throw fail("format", "expected \"flatline-model\" (a file written by flatline learn)") }
        guard root["version"] == .integer(1) else { throw fail("version", "this Flatline reads version 1") }
        func quantile(_ level: Double) throws(ScenarioError) -> Double? {
            guard case .object(let rtt)? = root["rtt_s"] else { return nil }
            guard case .array(let items)? = rtt["quantiles"] else { throw fail("rtt_s.quantiles", "expected a list of quantiles") }
            for item in items {
                guard case .object(let q) = item, q["level"]?.doubleValue == level else { continue }
                guard let value = q["value"]?.doubleValue, value.isFinite, value > 0 else {
                    throw fail("rtt_s.quantiles", "the p\(level * 100) value must be a positive number of seconds")
                }
                return value
            }
            return nil
        }
        var link = LearnedLink(rttMedian: try quantile(0.5), rttP99: try quantile(0.99), stallEpisodes: 0, exposureHours: 0, stallDurations: [])
        if case .object(let stalls)? = root["stalls"] {
            guard case .integer(let episodes)? = stalls["episodes"], episodes >= 0 else { throw fail("stalls.episodes", "expected a count") }
            guard let hours = stalls["exposure_hours"]?.doubleValue, hours.isFinite, hours >= 0 else {
                throw fail("stalls.exposure_hours", "expected a non-negative number of connection-hours")
            }
            guard case .array(let lengths)? = stalls["durations_s"] else { throw fail("stalls.durations_s", "expected a list of seconds") }
            var durations: [Double] = []
            for (i, length) in lengths.enumerated() {
                guard let seconds = length.doubleValue, seconds.isFinite, seconds > 0 else {
                    throw fail("stalls.durations_s[\(i)]", "expected a positive number of seconds")
                }
                durations.append(seconds)
            }
            link.stallEpisodes = Int(episodes)
            link.exposureHours = hours
            link.stallDurations = durations
        }
        return link
    }
}

extension ScenarioNode {
    /// The document with `link: { learned: PATH }` replaced by the model's link, and the model's
    /// stalls as `faults.stalls` unless the document sets faults itself. PATH is relative to the
    /// scenario file's folder (`base`). Errors name the field, and the model file for its contents.
    func expandingLearnedLink(base: URL?) throws(ScenarioError) -> ScenarioNode {
        guard case .mapping(let entries) = content,
              let link = entries.first(where: { $0.key.scalarText == "link" })?.value,
              case .mapping(let linkEntries) = link.content,
              let learned = linkEntries.first(where: { $0.key.scalarText == "learned" }) else { return self }
        guard linkEntries.count == 1 else {
            throw ScenarioRead.error(link, "link", "a learned link takes its latency from the model: remove the other fields, or drop learned")
        }
        guard let path = learned.value.scalarText, !path.isEmpty, !learned.value.isNull else {
            throw ScenarioRead.error(learned.value, "link.learned", "expected the path of a model.json written by flatline learn")
        }
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: path, relativeTo: base ?? URL(fileURLWithPath: "."))
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= ScenarioDocumentLimits.maxBytes * 16, let data = FileManager.default.contents(atPath: url.path) else {
            throw ScenarioRead.error(learned.value, "link.learned", size > 0 ? "\(path) is too large to be a model (\(size) bytes)" : "cannot read \(path) (looked in \(url.path))")
        }
        let model = try LearnedLink.parse(modelJSON: [UInt8](data), file: path)
        guard let linkText = model.linkYAML else {
            throw ScenarioRead.error(learned.value, "link.learned", "\(path) has no learned round trip (rtt_s is null): nothing to build a link from")
        }
        let place = learned.value.place
        var document = try setting([.key("link")], to: try ScenarioNode.parse(yaml: linkText, file: path), keyPlace: place, walked: "")
        if let stalls = model.stallsYAML, !entries.contains(where: { $0.key.scalarText == "faults" }) {
            document = try document.setting([.key("faults"), .key("stalls")], to: try ScenarioNode.parse(yaml: stalls, file: path),
                                            keyPlace: place, walked: "")
        }
        return document
    }
}
