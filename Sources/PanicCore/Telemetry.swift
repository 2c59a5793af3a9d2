/// What the box measured about its radio, its supply, the vehicle's ignition and its own state (main power, enclosure,
/// an open emergency) when a record was made.
///
/// Every field is optional: nil means "not known" (no modem, no supply monitor, no ignition input, or the reading
/// failed), never a zero. Frames that must carry a value where none is known use their protocol's own "unknown"
/// (docs/uplink.md → *AIS-140*, *Unknown values*). A record carries the readings of the moment it was made, so a
/// record sent from the backlog hours later still tells the signal and supply of its own time.
public struct Telemetry: Hashable, Sendable, Codable {
    /// One GSM/LTE cell as the modem reports it.
    public struct Cell: Hashable, Sendable, Codable {
        /// Location (or tracking) area code.
        public var lac: Int
        /// Cell identity.
        public var cellID: Int
        /// Signal of this cell on the 0–31 scale of 3GPP TS 27.007 `+CSQ`, when the modem gave one.
        public var signal: Int?

        public init(lac: Int, cellID: Int, signal: Int? = nil) {
            self.lac = lac
            self.cellID = cellID
            self.signal = signal
        }

        enum CodingKeys: String, CodingKey {
            case lac
            case cellID = "cid"
            case signal
        }
    }

    /// The modem's view of the mobile network.
    public struct Radio: Hashable, Sendable, Codable {
        /// Received signal on the 0–31 scale of 3GPP TS 27.007 `+CSQ` (31 = −51 dBm or better); nil when the modem
        /// answered 99 (not known) or was not read.
        public var signal: Int?
        /// The registered network's name (`+COPS?`), when registered.
        public var operatorName: String?
        /// Mobile country code and network code of the registered network.
        public var mcc: Int?
        public var mnc: Int?
        /// The serving cell (`+CREG?`/`+CEREG?` with location information), when known.
        public var serving: Cell?
        /// Neighbouring cells, when the modem lists them (at most four are sent in AIS-140 frames).
        public var neighbours: [Cell]

        public init(
            signal: Int? = nil, operatorName: String? = nil, mcc: Int? = nil, mnc: Int? = nil, serving: Cell? = nil,
            neighbours: [Cell] = []
        ) {
            self.signal = signal
            self.operatorName = operatorName
            self.mcc = mcc
            self.mnc = mnc
            self.serving = serving
            self.neighbours = neighbours
        }

        enum CodingKeys: String, CodingKey {
            case signal
            case operatorName = "operator"
            case mcc, mnc, serving, neighbours
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            signal = try container.decodeIfPresent(Int.self, forKey: .signal)
            operatorName = try container.decodeIfPresent(String.self, forKey: .operatorName)
            mcc = try container.decodeIfPresent(Int.self, forKey: .mcc)
            mnc = try container.decodeIfPresent(Int.self, forKey: .mnc)
            serving = try container.decodeIfPresent(Cell.self, forKey: .serving)
            neighbours = try container.decodeIfPresent([Cell].self, forKey: .neighbours) ?? []
        }
    }

    /// The box's supply: the vehicle's main supply and its own backup battery.
    public struct Supply: Hashable, Sendable, Codable {
        /// Main (vehicle) supply voltage in volts.
        public var mainVolts: Double?
        /// Backup battery voltage in volts.
        public var backupVolts: Double?
        /// Backup battery charge in percent (0–100), when the board's fuel gauge or table gives one.
        public var batteryPercent: Int?

        public init(mainVolts: Double? = nil, backupVolts: Double? = nil, batteryPercent: Int? = nil) {
            self.mainVolts = mainVolts
            self.backupVolts = backupVolts
            self.batteryPercent = batteryPercent
        }
    }

    public var radio: Radio?
    public var supply: Supply?
    /// The vehicle's ignition (the board's `ignition` input), nil when the board has none.
    public var ignition: Bool?
    /// Main power present (the board's `power` sense input), nil when the board has none.
    public var mainPower: Bool?
    /// The enclosure open (the board's `tamper` input), nil when the board has none.
    public var enclosureOpen: Bool?
    /// An emergency open on the box (pressed and not yet cleared) when the record was made.
    public var emergencyOpen: Bool?

    public init(
        radio: Radio? = nil, supply: Supply? = nil, ignition: Bool? = nil, mainPower: Bool? = nil,
        enclosureOpen: Bool? = nil, emergencyOpen: Bool? = nil
    ) {
        self.radio = radio
        self.supply = supply
        self.ignition = ignition
        self.mainPower = mainPower
        self.enclosureOpen = enclosureOpen
        self.emergencyOpen = emergencyOpen
    }

    /// Whether nothing at all is known (such a value is not written into a record).
    public var isEmpty: Bool {
        radio == nil && supply == nil && ignition == nil && mainPower == nil && enclosureOpen == nil
            && emergencyOpen == nil
    }
}
