import Foundation
import PanicCore
import PanicHardware
import PanicLinux
import Testing

/// The supply monitor reads real files laid out as Linux's sysfs does, in a temporary directory.
@Suite("Sysfs supply monitor", .timeLimit(.minutes(1)))
struct SysfsSupplyMonitorTests {
    func sysfs(_ files: [String: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sysfs-\(UUID())").path
        for (path, text) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test("power_supply voltage_now in µV and capacity in %; IIO raw × scale mV × divider")
    func reads() async throws {
        let root = try sysfs([
            "class/power_supply/battery/voltage_now": "4071000\n",
            "class/power_supply/battery/capacity": "83\n",
            "bus/iio/devices/iio:device0/in_voltage3_raw": "2150\n",
            "bus/iio/devices/iio:device0/in_voltage3_scale": "0.537109375\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = SupplySpec(
            main: .iio(device: "iio:device0", channel: 3, divider: 11), backup: .powerSupply(name: "battery"))
        let supply = try await SysfsSupplyMonitor(spec: spec, root: root).readSupply()
        #expect(abs((supply.mainVolts ?? 0) - 2150 * 0.537109375 * 11 / 1000) < 1e-9)
        #expect(supply.backupVolts == 4.071)
        #expect(supply.batteryPercent == 83)
    }

    @Test("an IIO channel without its own scale uses the device's shared in_voltage_scale")
    func sharedScale() async throws {
        let root = try sysfs([
            "bus/iio/devices/iio:device1/in_voltage0_raw": "1000",
            "bus/iio/devices/iio:device1/in_voltage_scale": "1.5",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let supply = try await SysfsSupplyMonitor(
            spec: .init(main: .iio(device: "iio:device1", channel: 0, divider: 8)), root: root
        ).readSupply()
        #expect(supply.mainVolts == 12)
        #expect(supply.backupVolts == nil && supply.batteryPercent == nil)
    }

    @Test("missing or garbage files leave values unknown; nothing readable is an error naming the file")
    func failures() async throws {
        let root = try sysfs([
            "class/power_supply/battery/voltage_now": "garbage",
            "class/power_supply/battery/capacity": "250",
            "class/power_supply/ac/voltage_now": "12400000",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let partial = try await SysfsSupplyMonitor(
            spec: .init(main: .powerSupply(name: "ac"), backup: .powerSupply(name: "battery")), root: root
        ).readSupply()
        #expect(partial == Telemetry.Supply(mainVolts: 12.4))
        await #expect {
            try await SysfsSupplyMonitor(
                spec: .init(
                    main: .iio(device: "iio:device9", channel: 0, divider: 1), backup: .powerSupply(name: "battery")),
                root: root
            ).readSupply()
        } throws: { error in
            "\(error)".contains("iio:device9/in_voltage0_raw") && "\(error)".contains("not microvolts")
        }
    }
}
