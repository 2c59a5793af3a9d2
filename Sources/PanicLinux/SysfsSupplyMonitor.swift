import Foundation
import PanicCore
import PanicHardware

/// The supply monitor of a board file's `supply:` section: Linux `power_supply` class files (`voltage_now` in µV,
/// `capacity` in %) or IIO ADC channels (`in_voltageN_raw` × `in_voltageN_scale` mV × the divider). Reads a few
/// small sysfs files per reading, on the daemon's telemetry schedule.
public struct SysfsSupplyMonitor: SupplyMonitor {
    public let spec: SupplySpec
    /// The sysfs mount (`/sys`; a temporary directory in tests).
    public let root: String

    public init(spec: SupplySpec, root: String = "/sys") {
        self.spec = spec
        self.root = root
    }

    public func readSupply() async throws(TelemetryReadError) -> Telemetry.Supply {
        var supply = Telemetry.Supply()
        var problems: [String] = []
        if let main = spec.main {
            do { supply.mainVolts = try volts(main) } catch { problems.append("main: \(error.reason)") }
        }
        if let backup = spec.backup {
            do { supply.backupVolts = try volts(backup) } catch { problems.append("backup: \(error.reason)") }
            if case .powerSupply(let name) = backup, let text = read(powerSupply(name, "capacity")),
                let percent = Int(text), (0...100).contains(percent)
            {
                supply.batteryPercent = percent
            }
        }
        if supply.mainVolts == nil, supply.backupVolts == nil, !problems.isEmpty {
            throw TelemetryReadError("supply: " + problems.joined(separator: "; "))
        }
        return supply
    }

    /// The voltage of `source` in volts.
    func volts(_ source: SupplySpec.Source) throws(TelemetryReadError) -> Double {
        switch source {
        case .powerSupply(let name):
            let path = powerSupply(name, "voltage_now")
            guard let text = read(path) else { throw TelemetryReadError("cannot read \(path)") }
            guard let microvolts = Double(text), microvolts.isFinite, microvolts >= 0 else {
                throw TelemetryReadError("\(path) holds \(LogText.quoted(text, limit: 20)), not microvolts")
            }
            return microvolts / 1_000_000
        case .iio(let device, let channel, let divider):
            let base = "\(root)/bus/iio/devices/\(device)/in_voltage\(channel)"
            guard let rawText = read(base + "_raw") else { throw TelemetryReadError("cannot read \(base)_raw") }
            guard let raw = Double(rawText), raw.isFinite, raw >= 0 else {
                throw TelemetryReadError("\(base)_raw holds \(LogText.quoted(rawText, limit: 20)), not a count")
            }
            // A channel without its own scale uses the device's shared one.
            let shared = "\(root)/bus/iio/devices/\(device)/in_voltage_scale"
            guard let scaleText = read(base + "_scale") ?? read(shared) else {
                throw TelemetryReadError("cannot read \(base)_scale")
            }
            guard let millivolts = Double(scaleText), millivolts.isFinite, millivolts > 0 else {
                throw TelemetryReadError("\(base)_scale holds \(LogText.quoted(scaleText, limit: 20)), not mV")
            }
            return raw * millivolts * divider / 1000
        }
    }

    private func powerSupply(_ name: String, _ file: String) -> String {
        "\(root)/class/power_supply/\(name)/\(file)"
    }

    /// The file's first line, trimmed; nil when it cannot be read.
    private func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data.prefix(64), as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).first.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }
}
