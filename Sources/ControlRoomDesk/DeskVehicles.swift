import ControlRoomKit
import Foundation
import Hummingbird
import NIOCore

/// The fleet layer of the desk's map: every vehicle's newest position, a 10,000-vehicle state in a few pages, then
/// only what moved. `GET /v1/desk/vehicles?after=CURSOR&limit=N` (operator role) answers
/// `{"cursor": C, "more": bool, "vehicles": [[device, latitude, longitude, timeMs, name], ...]}` — rows, not objects, so
/// 10,000 vehicles are about 600 KB — with the positions written after `CURSOR` (0 or none: all); the page asks
/// again from `C` (at once while `more`, else on its next refresh).
struct VehiclesMessage: Encodable, Sendable {
    var cursor: Int64
    var more: Bool
    var vehicles: [VehiclePosition]

    enum CodingKeys: String, CodingKey { case cursor, more, vehicles }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cursor, forKey: .cursor)
        try container.encode(more, forKey: .more)
        var rows = container.nestedUnkeyedContainer(forKey: .vehicles)
        for vehicle in vehicles {
            var row = rows.nestedUnkeyedContainer()
            try row.encode(vehicle.device)
            // Six decimals: 0.1 m, more than any receiver's accuracy.
            try row.encode((vehicle.latitude * 1e6).rounded() / 1e6)
            try row.encode((vehicle.longitude * 1e6).rounded() / 1e6)
            try row.encode(vehicle.timeMs)
            try row.encode(vehicle.name)
        }
    }
}

extension Desk {
    func installVehicles(on routes: DeskRouteGroups) {
        routes.operators.get("/v1/desk/vehicles") { [self] request, _ -> Response in
            let query = request.uri.queryParameters
            let cursor = try Self.integer(query.get("after"), name: "after", default: 0, in: 0...Int64.max)
            let limit = try Self.integer(
                query.get("limit"), name: "limit", default: Int64(VehiclePositionPage.maximumLimit),
                in: 1...Int64(VehiclePositionPage.maximumLimit))
            let page = try await store.vehiclePositions(after: cursor, limit: Int(limit))
            return try await ControlRoomServer.json(
                offLoop: VehiclesMessage(cursor: page.cursor(after: cursor), more: page.more, vehicles: page.positions))
        }
    }

    /// A query parameter that must be a whole number in `range`; a 400 naming it otherwise.
    static func integer(
        _ text: String?, name: String, default value: Int64, in range: ClosedRange<Int64>
    ) throws
        -> Int64
    {
        guard let text else { return value }
        guard let number = Int64(text), range.contains(number) else {
            throw HTTPError(
                .badRequest, message: "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
