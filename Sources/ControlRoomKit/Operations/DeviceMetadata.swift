import Foundation

/// What the desk shows for a device instead of its raw id.
public struct DeviceMetadata: Sendable, Hashable, Codable {
    /// A name operators know it by ("DL 1PC 4521 – route 534" or "Booth, Rajiv Chowk gate 3").
    public var name: String
    /// The vehicle's registration number (empty for a booth).
    public var registration: String
    /// The route or the booth's location.
    public var route: String
    /// The vehicle operator's (or booth keeper's) phone.
    public var phone: String
    /// Whether this device rides with a responder (a police vehicle) that can be dispatched.
    public var responder: Bool
    /// The box's maker, model, and serial number or IMEI (empty when not registered): Part A of the §63
    /// certificate names them.
    public var make: String
    public var model: String
    public var serial: String

    public init(
        name: String = "", registration: String = "", route: String = "", phone: String = "", responder: Bool = false,
        make: String = "", model: String = "", serial: String = ""
    ) {
        self.name = name
        self.registration = registration
        self.route = route
        self.phone = phone
        self.responder = responder
        self.make = make
        self.model = model
        self.serial = serial
    }
}

/// A partial edit of a device's metadata: nil fields stay as they are.
public struct DeviceMetadataEdit: Sendable, Hashable, Codable {
    public var name: String?
    public var registration: String?
    public var route: String?
    public var phone: String?
    public var responder: Bool?
    public var make: String?
    public var model: String?
    public var serial: String?

    public init(
        name: String? = nil, registration: String? = nil, route: String? = nil, phone: String? = nil,
        responder: Bool? = nil, make: String? = nil, model: String? = nil, serial: String? = nil
    ) {
        self.name = name
        self.registration = registration
        self.route = route
        self.phone = phone
        self.responder = responder
        self.make = make
        self.model = model
        self.serial = serial
    }

    /// The edit applied to `metadata`; refuses over-long fields, control characters, a phone with other
    /// characters, and a serial / IMEI of more than 64 characters or other than letters, digits and `- / .`.
    public func applied(to metadata: DeviceMetadata) throws(DeskError) -> DeviceMetadata {
        var result = metadata
        for (label, value) in [
            ("name", name), ("registration", registration), ("route", route), ("phone", phone), ("make", make),
            ("model", model), ("serial", serial),
        ] {
            if let value, value.count > 200 { throw .badRequest("\(label) is longer than 200 characters") }
            // NUL cannot be stored in PostgreSQL text (it was a 500); a newline or escape in a name is never meant.
            if let value, value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw .badRequest("\(label) may not contain control characters (NUL, newline, escape)")
            }
        }
        if let phone, !phone.allSatisfy({ $0.isNumber || " +-()".contains($0) }) {
            throw .badRequest("phone '\(phone.prefix(40))' may hold only digits, spaces and + - ( )")
        }
        if let serial,
            serial.count > 64
                || !serial.unicodeScalars.allSatisfy({
                    $0.isASCII
                        && ($0.properties.isAlphabetic || $0.properties.numericType != nil
                            || "-/.".unicodeScalars.contains($0))
                })
        {
            throw .badRequest("serial '\(serial.prefix(40))' may hold at most 64 letters, digits and - / .")
        }
        result.name = name ?? result.name
        result.registration = registration ?? result.registration
        result.route = route ?? result.route
        result.phone = phone ?? result.phone
        result.responder = responder ?? result.responder
        result.make = make ?? result.make
        result.model = model ?? result.model
        result.serial = serial ?? result.serial
        return result
    }
}

extension ControlRoom {
    /// Edits a registered device's metadata (fields left nil stay as they are) and returns the result. The audit
    /// log gets a `device-rename` line when the name changed and a `metadata` line when anything else did.
    @discardableResult
    public func editDevice(
        id: String, _ edit: DeviceMetadataEdit, by actor: AuditActor = .console
    ) async throws -> DeviceMetadata {
        guard try await store.registry().byDevice[id] != nil else { throw ControlRoomError.unknownDevice(id) }
        let before = try await store.metadata(device: id) ?? DeviceMetadata()
        let after = try await store.editMetadata(device: id, edit)
        if before.name != after.name {
            try await auditSecurity(
                .deviceRename, by: actor, subject: id,
                detail: "\(SafeText.quoted(before.name)) → \(SafeText.quoted(after.name))")
        }
        let changed: [(String, String, String)] = [
            ("registration", before.registration, after.registration), ("route", before.route, after.route),
            ("phone", before.phone, after.phone), ("responder", "\(before.responder)", "\(after.responder)"),
            ("make", before.make, after.make), ("model", before.model, after.model),
            ("serial", before.serial, after.serial),
        ].filter { $0.1 != $0.2 }
        if !changed.isEmpty {
            try await auditSecurity(
                .metadataEdit, by: actor, subject: id,
                detail: changed.map { "\($0.0) \(SafeText.quoted($0.1)) → \(SafeText.quoted($0.2))" }.joined(
                    separator: ", "))
        }
        changes.publish(ControlRoomChange([.metadata, .audit]))
        return after
    }

    /// A device's metadata (nil when none was ever set).
    public func metadata(device: String) async throws -> DeviceMetadata? { try await store.metadata(device: device) }
}
