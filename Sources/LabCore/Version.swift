/// Flatline's version: what `flatline --version` prints, what summaries record and what the control
/// API's `GET /version` reports in Toxiproxy's `{"version": ...}` shape (plain semver, since some
/// Toxiproxy clients parse it).
public let flatlineVersion = "0.1.0"
