/// Where a board measures its supply (the board file's optional `supply:` section, boards/README.md): the vehicle's
/// main voltage and the backup battery, each from a Linux `power_supply` device or an IIO ADC channel.
public struct SupplySpec: Sendable, Equatable {
    /// One measured voltage.
    public enum Source: Sendable, Equatable {
        /// `/sys/class/power_supply/NAME/voltage_now` (µV); for the backup also `capacity` (%) when present.
        case powerSupply(name: String)
        /// `/sys/bus/iio/devices/DEVICE/in_voltageCHANNEL_raw` × `in_voltageCHANNEL_scale` (mV) × `divider` (the
        /// resistor divider's ratio between the supply and the ADC pin).
        case iio(device: String, channel: Int, divider: Double)
    }

    public var main: Source?
    public var backup: Source?

    public init(main: Source? = nil, backup: Source? = nil) {
        self.main = main
        self.backup = backup
    }

    /// Whether `name` is a single sysfs entry name (no path separator, not `.` or `..`, not empty).
    public static func isEntryName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }
}
