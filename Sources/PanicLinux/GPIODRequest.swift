import CGPIOD
import PanicCore

/// The request settings a board file's line asks for: libgpiod 1.6 flags, or libgpiod 2 line settings.
///
/// Inputs ask for active-low when the contact reads `low` while closed, so the logical value (and the edge
/// direction the kernel reports) is "1 / rising = contact closed" on every board. Outputs ask for active-low
/// when the LED or buzzer is on at `low`, so "1 = on".
public enum GPIODRequest {
    /// The consumer name the lines are requested under (what `gpioinfo` shows).
    public static let consumer = "panicd"

    /// `GPIOD_LINE_REQUEST_FLAG_*` for an input line.
    public static func flags(for spec: InputLineSpec) -> Int32 {
        var flags: Int32 = spec.closedLevel == .low ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        switch spec.bias {
        case .asIs: break
        case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        }
        return flags
    }

    /// `GPIOD_LINE_REQUEST_FLAG_*` for an output line.
    public static func flags(for spec: OutputLineSpec) -> Int32 {
        spec.activeLevel == .low ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
    }

    /// Chip "labels" that mean "find the line by its name on whichever chip has it" (`gpiod_line_find`), for
    /// boards such as the BeagleBone Black whose chip labels follow probe order, not the hardware bank.
    public static let anyChip: Set<String> = ["*", "auto"]
}
