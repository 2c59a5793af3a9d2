/// Who the box is to receivers that do not know PanicBridge's device keys: AIS-140 servers log a box in by its
/// IMEI and vehicle registration, Traccar knows it by a unique id.
public struct BoxIdentity: Sendable, Hashable {
    /// The modem's IMEI: 15 digits, the last a Luhn check digit.
    public var imei: String
    /// The vehicle's registration (e.g. `RJ14PB1234`); nil for a pink booth, which has none (the IMEI is sent in
    /// its place, see docs/uplink.md).
    public var vehicleRegistration: String?
    /// The vendor id the state backend assigned to the device maker.
    public var vendorID: String
    /// The firmware version reported in the login, tracking and health packets.
    public var firmwareVersion: String

    public init(
        imei: String, vehicleRegistration: String? = nil, vendorID: String = BoxIdentity.defaultVendorID,
        firmwareVersion: String = PanicBridgeVersion.current
    ) {
        self.imei = imei
        self.vehicleRegistration = vehicleRegistration
        self.vendorID = vendorID
        self.firmwareVersion = firmwareVersion
    }

    /// The vendor id sent when the configuration names none.
    public static let defaultVendorID = "PANICBRIDGE"

    /// What stands in the vehicle-registration field: the registration, or the IMEI for a booth.
    public var registrationField: String { vehicleRegistration ?? imei }

    /// Whether `text` is 15 decimal digits whose last digit is the Luhn check digit of the first 14.
    public static func isValidIMEI(_ text: String) -> Bool {
        let digits = text.utf8.map { Int($0) - 48 }
        guard digits.count == 15, digits.allSatisfy({ (0...9).contains($0) }) else { return false }
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            if index % 2 == 1 {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            } else {
                sum += digit
            }
        }
        return sum % 10 == 0
    }

    /// Whether `text` may stand in a comma-separated AIS-140 field: 1 to 32 of `A-Z a-z 0-9 . _ -`.
    public static func isFieldSafe(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 32
            && text.utf8.allSatisfy { byte in
                (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 45
                    || byte == 46 || byte == 95
            }
    }
}
