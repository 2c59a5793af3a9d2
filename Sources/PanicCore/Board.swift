/// What an input line is for. The role, not the pin, decides what a change on the line means.
public enum InputRole: String, CaseIterable, Sendable, Codable {
    /// A panic button: raises an emergency that only the control room can clear.
    case emergency
    /// A non-emergency assistance button (a separate alert kind from `emergency`).
    case help
    /// The enclosure switch: opening the box is a tamper event.
    case tamper
    /// Main-power sense: the line says whether the vehicle or booth supply is present.
    case power
    /// Ignition sense: the line says whether the vehicle's ignition is on.
    case ignition

    /// How long the contact must stay in its new state before the change counts, when the board file is silent.
    ///
    /// Buttons: 250 ms. Contact bounce and jolts on a moving bus are over within the 20 ms debounce window; a
    /// brush of a sleeve against the cap is a touch of tens of milliseconds, while even a hurried deliberate press
    /// holds the cap down for a few hundred. A quarter of a second filters the first without making a frightened
    /// person wait: the "stored" indication follows the press within that time. Sense lines (power, ignition,
    /// enclosure) ride through a cranking engine's brown-out and a door slam with one to two seconds.
    public var defaultHold: Duration {
        switch self {
        case .emergency, .help: .milliseconds(250)
        case .tamper: .seconds(1)
        case .power, .ignition: .seconds(2)
        }
    }

    /// Whether the role is a button a person presses (as opposed to a sense line).
    public var isButton: Bool { self == .emergency || self == .help }
}

/// What an output line drives.
public enum OutputRole: String, CaseIterable, Sendable, Codable {
    /// The status LED that shows the alert lifecycle (stored, sent, help on the way, cleared, fault).
    case statusLED = "status-led"
    /// The buzzer that confirms a press audibly.
    case buzzer
}

/// Whether the contact conducts at rest.
public enum ContactType: String, CaseIterable, Sendable, Codable {
    /// Open at rest; pressing closes it.
    case normallyOpen = "normally-open"
    /// Closed at rest (a current loop); pressing, or cutting the wire, opens it.
    case normallyClosed = "normally-closed"
}

/// An electrical level on a line.
public enum Level: String, CaseIterable, Sendable, Codable {
    case low
    case high
}

/// The line's internal bias resistor, as libgpiod's request flags name them.
public enum Bias: String, CaseIterable, Sendable, Codable {
    /// Leave the bias as the firmware or device tree set it.
    case asIs = "as-is"
    /// No bias: the wiring provides its own pull resistor.
    case disabled
    case pullUp = "pull-up"
    case pullDown = "pull-down"
}

/// A GPIO line inside a chip: by the name the device tree gives it, or by offset.
public enum LineReference: Hashable, Sendable, CustomStringConvertible {
    case name(String)
    case offset(Int)

    public var description: String {
        switch self {
        case .name(let name): name
        case .offset(let offset): "offset \(offset)"
        }
    }
}

/// Which hardware backend drives the board's lines.
public enum BoardBackend: String, CaseIterable, Sendable, Codable {
    /// Linux GPIO character devices through libgpiod.
    case gpiod
    /// The simulated board: scripted lines, no hardware.
    case simulated
}

/// One input wired to the board: a button, a tamper loop or a sense line.
public struct InputLineSpec: Sendable, Equatable {
    public var name: String
    public var role: InputRole
    /// The label of the GPIO chip the line belongs to (as `gpiodetect` prints it), never its number; or
    /// ``BoardDefaults/anyChip`` (`*`) to find the line by its name on whichever chip has it.
    public var chip: String
    public var line: LineReference
    public var contact: ContactType
    /// The level the line reads while the contact is closed (conducting). A switch to ground with a pull-up
    /// reads `low` when closed.
    public var closedLevel: Level
    public var bias: Bias
    /// Edges closer together than this are contact bounce.
    public var debounce: Duration
    /// How long a new state must last before it counts.
    public var hold: Duration
    /// Normally-closed loops: how long the loop may stay open before it is also reported as a cut wire.
    public var wireCutAfter: Duration
    /// Normally-open buttons: how long a press may last before the button is reported as stuck.
    public var stuckAfter: Duration

    public init(
        name: String, role: InputRole, chip: String, line: LineReference, contact: ContactType,
        closedLevel: Level, bias: Bias, debounce: Duration = BoardDefaults.debounce, hold: Duration? = nil,
        wireCutAfter: Duration = BoardDefaults.wireCutAfter, stuckAfter: Duration = BoardDefaults.stuckAfter
    ) {
        self.name = name
        self.role = role
        self.chip = chip
        self.line = line
        self.contact = contact
        self.closedLevel = closedLevel
        self.bias = bias
        self.debounce = debounce
        self.hold = hold ?? role.defaultHold
        self.wireCutAfter = wireCutAfter
        self.stuckAfter = stuckAfter
    }
}

/// One output wired to the board: the status LED or the buzzer.
public struct OutputLineSpec: Sendable, Equatable {
    public var name: String
    public var role: OutputRole
    public var chip: String
    public var line: LineReference
    /// The level that turns the LED or buzzer on.
    public var activeLevel: Level
    /// A kernel LED-class LED (`/sys/class/leds/NAME`, e.g. a GPIO made an LED by the `gpio-leds` driver) instead
    /// of a GPIO line: it blinks periodic patterns by itself through its trigger. `chip` and `line` are unused.
    public var led: String?

    public init(name: String, role: OutputRole, chip: String, line: LineReference, activeLevel: Level) {
        self.name = name
        self.role = role
        self.chip = chip
        self.line = line
        self.activeLevel = activeLevel
    }

    /// An output that is the kernel LED-class LED `led`.
    public init(name: String, role: OutputRole, led: String) {
        self.init(name: name, role: role, chip: "", line: .name(""), activeLevel: .high)
        self.led = led
    }
}

/// Where the GNSS receiver's NMEA stream comes from.
public struct GNSSPortSpec: Sendable, Equatable {
    /// The serial device, normally the udev symlink `/dev/panic-gnss`; `simulated` on the simulated board.
    public var port: String
    public var baud: Int
    /// `host:port` of a gpsd that already owns the receiver; when set the daemon reads from gpsd instead.
    public var gpsd: String?

    public init(port: String, baud: Int = BoardDefaults.baud, gpsd: String? = nil) {
        self.port = port
        self.baud = baud
        self.gpsd = gpsd
    }
}

/// A single-board computer's wiring: which line is which button, sense input and indicator.
public struct BoardDefinition: Sendable, Equatable {
    /// Short identifier, e.g. `raspberry-pi-4b`.
    public var id: String
    /// The board's marketing name, e.g. "Raspberry Pi 4 Model B".
    public var model: String
    public var backend: BoardBackend
    public var inputs: [InputLineSpec]
    public var outputs: [OutputLineSpec]
    public var gnss: GNSSPortSpec
    /// Free-text wiring notes for the installer.
    public var notes: String
    /// Where the chip labels and line names came from.
    public var sources: [String]
    /// Where the supply voltages are measured (`supply:`); nil when the board has no supply monitor.
    public var supply: SupplySpec?

    public init(
        id: String, model: String, backend: BoardBackend, inputs: [InputLineSpec], outputs: [OutputLineSpec],
        gnss: GNSSPortSpec, notes: String = "", sources: [String] = [], supply: SupplySpec? = nil
    ) {
        self.supply = supply
        self.id = id
        self.model = model
        self.backend = backend
        self.inputs = inputs
        self.outputs = outputs
        self.gnss = gnss
        self.notes = notes
        self.sources = sources
    }
}

/// The values a board file may leave out.
public enum BoardDefaults {
    public static let debounce: Duration = .milliseconds(20)
    public static let wireCutAfter: Duration = .seconds(10)
    public static let stuckAfter: Duration = .seconds(120)
    public static let baud = 9600
    public static let gnssPort = "/dev/panic-gnss"
    /// The chip "label" that means "search every chip for the line by name" (`gpiod_line_find`): for boards
    /// such as the BeagleBone Black whose chip labels follow registration order, not the hardware bank.
    public static let anyChip = "*"
    /// Debounce windows outside this range cannot be right: shorter is below the kernel's event resolution on
    /// a loaded board, longer would swallow a deliberate press.
    public static let debounceRange: ClosedRange<Duration> = .milliseconds(1) ... .milliseconds(1000)
    public static let holdRange: ClosedRange<Duration> = .zero ... .seconds(60)
    /// Baud rates a GNSS receiver's UART actually uses.
    public static let baudRates: Set<Int> = [4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600]
}
