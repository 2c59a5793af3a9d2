import Foundation
import PanicSQLite

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

    public init(
        name: String = "", registration: String = "", route: String = "", phone: String = "", responder: Bool = false
    ) {
        self.name = name
        self.registration = registration
        self.route = route
        self.phone = phone
        self.responder = responder
    }
}

/// A partial edit of a device's metadata: nil fields stay as they are.
public struct DeviceMetadataEdit: Sendable, Hashable, Codable {
    public var name: String?
    public var registration: String?
    public var route: String?
    public var phone: String?
    public var responder: Bool?

    public init(
        name: String? = nil, registration: String? = nil, route: String? = nil, phone: String? = nil,
        responder: Bool? = nil
    ) {
        self.name = name
        self.registration = registration
        self.route = route
        self.phone = phone
        self.responder = responder
    }

    func applied(to metadata: DeviceMetadata) throws(DeskError) -> DeviceMetadata {
        var result = metadata
        for (label, value) in [("name", name), ("registration", registration), ("route", route), ("phone", phone)] {
            if let value, value.count > 200 { throw .badRequest("\(label) is longer than 200 characters") }
        }
        if let phone, !phone.allSatisfy({ $0.isNumber || " +-()".contains($0) }) {
            throw .badRequest("phone '\(phone.prefix(40))' may hold only digits, spaces and + - ( )")
        }
        result.name = name ?? result.name
        result.registration = registration ?? result.registration
        result.route = route ?? result.route
        result.phone = phone ?? result.phone
        result.responder = responder ?? result.responder
        return result
    }
}

extension ControlRoom {
    /// Edits a registered device's metadata (fields left nil stay as they are) and returns the result.
    @discardableResult
    public func editDevice(id: String, _ edit: DeviceMetadataEdit) throws -> DeviceMetadata {
        let known = try registry.current().byKeyID.values.contains { $0.device == id }
        return try state.withLock { state in
            guard known else {
                throw ControlRoomError.unknownDevice(id)
            }
            let metadata = try edit.applied(to: try metadata(device: id, state) ?? DeviceMetadata())
            try state.statement(
                """
                INSERT INTO device_meta(device, name, registration, route, phone, responder)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT(device) DO UPDATE SET name = ?2, registration = ?3, route = ?4, phone = ?5, responder = ?6
                """
            ).bind([
                .text(id), .text(metadata.name), .text(metadata.registration), .text(metadata.route),
                .text(metadata.phone), .integer(metadata.responder ? 1 : 0),
            ]).run()
            return metadata
        }
    }

    /// A device's metadata (nil when none was ever set).
    public func metadata(device: String) throws -> DeviceMetadata? {
        try state.withLock { state in try metadata(device: device, state) }
    }

    func metadata(device: String, _ state: State) throws -> DeviceMetadata? {
        let query = try state.statement(
            "SELECT name, registration, route, phone, responder FROM device_meta WHERE device = ?1")
        try query.bind([.text(device)])
        defer { query.reset() }
        guard try query.step() else { return nil }
        return DeviceMetadata(
            name: query.text(0), registration: query.text(1), route: query.text(2), phone: query.text(3),
            responder: query.integer(4) != 0)
    }

    /// Every device's metadata, by device id.
    func allMetadata(_ state: State) throws -> [String: DeviceMetadata] {
        let query = try state.statement("SELECT device, name, registration, route, phone, responder FROM device_meta")
        try query.bind([])
        var result: [String: DeviceMetadata] = [:]
        while try query.step() {
            result[query.text(0)] = DeviceMetadata(
                name: query.text(1), registration: query.text(2), route: query.text(3), phone: query.text(4),
                responder: query.integer(5) != 0)
        }
        query.reset()
        return result
    }
}
