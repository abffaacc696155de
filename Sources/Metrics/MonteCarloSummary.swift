import LabCore

/// The mean of one scalar metric over Monte Carlo runs with its 95% confidence interval.
///
/// The interval is Student's t: mean ± t(0.975, n−1) · s / √n, with s the sample standard
/// deviation (n − 1 in the denominator). It assumes the runs are independent (they are: each has
/// its own derived seed) and is reasonable for the means of bounded metrics from a handful of runs
/// on. With one run the interval is the single value (width unknown, reported as zero width).
public struct MetricInterval: Sendable, Hashable {
    /// The metric's name, as in `RunMetrics.scalars`.
    public var name: String
    /// How many runs had a value (a detection time needs at least one detection).
    public var count: Int
    /// The sample mean.
    public var mean: Double
    /// The sample standard deviation; 0 for one run.
    public var standardDeviation: Double
    /// Lower end of the 95% interval.
    public var lower: Double
    /// Upper end of the 95% interval.
    public var upper: Double

    /// Creates an interval.
    public init(name: String, count: Int, mean: Double, standardDeviation: Double, lower: Double, upper: Double) {
        self.name = name
        self.count = count
        self.mean = mean
        self.standardDeviation = standardDeviation
        self.lower = lower
        self.upper = upper
    }

    /// The mean and 95% t interval of `values`; nil when there are none.
    public init?(name: String, values: [Double]) {
        guard !values.isEmpty else { return nil }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        var sd = 0.0
        var half = 0.0
        if values.count > 1 {
            let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            sd = (squares / (n - 1)).squareRoot()
            half = StudentT.quantile975(degreesOfFreedom: values.count - 1) * sd / n.squareRoot()
        }
        self.init(name: name, count: values.count, mean: mean, standardDeviation: sd, lower: mean - half, upper: mean + half)
    }

    /// Half the interval's width.
    public var halfWidth: Double { (upper - lower) / 2 }
}

/// Student's t distribution, as far as 95% intervals need it.
public enum StudentT {
    /// t(0.975, df) for df 1…30, from the standard tables.
    static let table: [Double] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ]

    /// The two-sided 95% critical value t(0.975, df): tabled up to 30 degrees of freedom, beyond
    /// that the Cornish–Fisher expansion around z = 1.959964 (error below 1e-4).
    public static func quantile975(degreesOfFreedom df: Int) -> Double {
        precondition(df >= 1, "degrees of freedom must be at least 1")
        if df <= table.count { return table[df - 1] }
        let z = 1.959963984540054
        let v = Double(df)
        let z3 = z * z * z
        let z5 = z3 * z * z
        let z7 = z5 * z * z
        return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v)
    }
}

extension RunMetrics {
    /// The run's scalar metrics by name, in a fixed order, each from `overall`; nil where the run
    /// has no value (no detections, no pongs, no judged messages).
    ///
    /// Names: uptime, availableUptime, disconnects, falseDisconnects, falseDisconnectsPerHour,
    /// detections, missedDetections, detectionTimeMeanSeconds, detectionTimeMaxSeconds,
    /// reconnectTimeMeanSeconds, recoveredReconnects, rttP50Ms, rttP90Ms, rttP99Ms, rttMaxMs, delivery, stability, and
    /// with a broadcast stream broadcastProduced, broadcastProducedWhileDead, broadcastDelivery, missedEvents,
    /// missedEventsWhileDisconnected, duplicatedEvents, outOfOrderEvents, lateEvents, recoveredEvents.
    public var scalars: [(name: String, value: Double?)] {
        let o = overall
        return [
            ("uptime", o.uptime),
            ("availableUptime", o.availableUptime),
            ("disconnects", Double(o.disconnects)),
            ("falseDisconnects", Double(o.falseDisconnects)),
            ("falseDisconnectsPerHour", o.falseDisconnectsPerHour),
            ("detections", Double(o.detections)),
            ("missedDetections", Double(o.missedDetections)),
            ("detectionTimeMeanSeconds", o.detectionTimes?.mean.seconds),
            ("detectionTimeMaxSeconds", o.detectionTimes?.max.seconds),
            ("reconnectTimeMeanSeconds", o.reconnectTimes?.mean.seconds),
            ("recoveredReconnects", Double(o.recoveredReconnects)),
            ("rttP50Ms", o.rtt?.p50.milliseconds),
            ("rttP90Ms", o.rtt?.p90.milliseconds),
            ("rttP99Ms", o.rtt?.p99.milliseconds),
            ("rttMaxMs", o.rtt?.max.milliseconds),
            ("delivery", o.delivery.ratio),
            ("stability", o.stability),
            ("broadcastProduced", o.broadcast.map { Double($0.produced) }),
            ("broadcastProducedWhileDead", o.broadcast.map { Double($0.producedWhileDead) }),
            ("broadcastDelivery", o.broadcast?.ratio),
            ("missedEvents", o.broadcast.map { Double($0.missed) }),
            ("missedEventsWhileDisconnected", o.broadcast.map { Double($0.missedWhileDisconnected) }),
            ("duplicatedEvents", o.broadcast.map { Double($0.duplicated) }),
            ("outOfOrderEvents", o.broadcast.map { Double($0.outOfOrder) }),
            ("lateEvents", o.broadcast.map { Double($0.late) }),
            ("recoveredEvents", o.broadcast.map { Double($0.recovered) }),
        ]
    }

    /// Mean and 95% interval of every scalar metric over Monte Carlo runs, in `scalars` order;
    /// a metric no run has a value for is left out.
    public static func aggregate(_ runs: [RunMetrics]) -> [MetricInterval] {
        guard let first = runs.first else { return [] }
        let names = first.scalars.map(\.name)
        let columns = runs.map { $0.scalars.map(\.value) }
        return names.indices.compactMap { i in
            MetricInterval(name: names[i], values: columns.compactMap { $0[i] })
        }
    }
}
