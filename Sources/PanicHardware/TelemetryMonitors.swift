import PanicCore

/// Reads the modem's view of the mobile network: signal, operator, registration and cells. `ATRadioMonitor` (in
/// PanicLinux) asks a modem on its AT port; the simulator's twin answers from a scenario.
public protocol RadioMonitor: Sendable {
    /// One reading. Parts the modem did not give (not registered, no neighbour list) are nil or empty.
    /// - Throws: `TelemetryReadError` when the modem could not be asked or answered nothing usable.
    func readRadio() async throws(TelemetryReadError) -> Telemetry.Radio
}

/// Reads the box's supply: the vehicle's main voltage and the backup battery. `SysfsSupplyMonitor` (in PanicLinux)
/// reads Linux `power_supply` or IIO files named by the board file; the simulator's twin follows the scenario.
public protocol SupplyMonitor: Sendable {
    /// One reading; a value the board does not measure is nil.
    /// - Throws: `TelemetryReadError` when nothing could be read.
    func readSupply() async throws(TelemetryReadError) -> Telemetry.Supply
}

/// Why a reading failed; the values stay unknown.
public struct TelemetryReadError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
