import LabCore

/// The client-side timing of the motivating case (DESIGN.md): a Socket.IO dashboard whose health
/// check, custom ping and connect timeout fought Engine.IO's heartbeat. `before` reproduces the
/// flapping settings, `after` the hand-picked fix; Engine.IO's own ping interval and timeout belong
/// to the Engine.IO machines and are not part of this value.
public struct DashboardSettings: Sendable, Hashable {
    /// The application health check.
    public var healthCheck: HealthCheck.Options
    /// The custom ping.
    public var customPing: CustomPing.Options
    /// socket.io-client's connect `timeout`.
    public var connectTimeout: TimeSpan
    /// socket.io-client's reconnection settings (its defaults in both presets).
    public var reconnection: ReconnectionOptions

    /// Creates a settings value.
    public init(healthCheck: HealthCheck.Options, customPing: CustomPing.Options, connectTimeout: TimeSpan,
                reconnection: ReconnectionOptions = ReconnectionOptions()) {
        self.healthCheck = healthCheck
        self.customPing = customPing
        self.connectTimeout = connectTimeout
        self.reconnection = reconnection
    }

    /// The settings that flapped: health check 30 s, custom ping 45 s / 20 s, connect timeout 5 s.
    public static let before = DashboardSettings(
        healthCheck: HealthCheck.Options(staleAfter: .seconds(30)),
        customPing: CustomPing.Options(interval: .seconds(45), timeout: .seconds(20)),
        connectTimeout: .seconds(5))

    /// The fixed settings: health check 90 s, custom ping 45 s / 20 s, connect timeout 20 s.
    public static let after = DashboardSettings(
        healthCheck: HealthCheck.Options(staleAfter: .seconds(90)),
        customPing: CustomPing.Options(interval: .seconds(45), timeout: .seconds(20)),
        connectTimeout: .seconds(20))

    /// Client session options with this connect timeout, for `namespace`.
    public func sessionOptions(namespace: String = SocketIOPacket.defaultNamespace,
                               auth: JSONObject? = nil) -> SocketIOClientSession.Options {
        SocketIOClientSession.Options(namespace: namespace, auth: auth, connectTimeout: connectTimeout)
    }
}
