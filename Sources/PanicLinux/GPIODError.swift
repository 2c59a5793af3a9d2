import PanicCore
import SystemPackage

/// A libgpiod call failed: which call, the errno it left, and the line and chip it was about; or libgpiod could not
/// be loaded at all (``problem``).
public struct GPIODError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libgpiod (or system) function that failed, e.g. `gpiod_line_request_both_edges_events_flags`.
    public var call: String
    /// `errno` as read right after the call.
    public var errno: Errno
    /// The line, by the board file's reference (a name or an offset), when the call was about one.
    public var line: String?
    /// The chip label, when the call was about one.
    public var chip: String?
    /// Whether the request asked for a bias (which kernels before 5.5 reject).
    public var askedForBias: Bool
    /// What went wrong in words, when it is not a GPIO call's errno: libgpiod itself cannot be loaded
    /// (``GPIODLibrary``).
    public var problem: String?

    public init(
        call: String, errno: Errno, line: String? = nil, chip: String? = nil, askedForBias: Bool = false,
        problem: String? = nil
    ) {
        self.call = call
        self.errno = errno
        self.line = line
        self.chip = chip
        self.askedForBias = askedForBias
        self.problem = problem
    }

    /// What happened, in the installer's words, then the call and errno for whoever debugs it.
    public var description: String {
        if let problem { return "\(problem) [\(call)]" }
        let place: String =
            switch (line, chip) {
            case (let line?, let chip?): "line \(line) on chip \(chip)"
            case (let line?, nil): "line \(line)"
            case (nil, let chip?): "chip \(chip)"
            case (nil, nil): "GPIO"
            }
        let what: String =
            switch errno {
            case .resourceBusy:
                "\(place) is held by another consumer (`gpioinfo` shows who; on BeagleBone images, cape-universal "
                    + "claims header lines)"
            // libgpiod 2 has no open-by-label: that backend reads each chip's label and names this call when
            // none matched.
            case .noSuchFileOrDirectory where call == "gpiod_chip_open_by_label" || call == "gpiod_chip_info_get_label":
                "no GPIO chip is labelled \(chip ?? "?") (`gpiodetect` lists the labels)"
            case .noSuchFileOrDirectory:
                "\(place) was not found (`gpioinfo` lists the line names)"
            case .permissionDenied, .notPermitted:
                "no permission for \(place): the daemon's user needs read-write access to /dev/gpiochip* "
                    + "(the gpio group)"
            case .invalidArgument where askedForBias:
                "\(place) was refused: the kernel may not support bias flags (they need Linux 5.5 or later); "
                    + "set `bias: as-is` and wire an external resistor"
            case .invalidArgument:
                "\(place) was refused as invalid (an offset past the chip's last line?)"
            default:
                "\(place) failed"
            }
        return "\(what) [\(call): \(errno)]"
    }
}
