import Foundation
import PanicCore
import Testing

@testable import ControlRoomKit

@Suite("The desk's fleet layer: every vehicle's newest position, then only what moved", .timeLimit(.minutes(3)))
struct DeskVehiclesTests {
    /// One `GET /v1/desk/vehicles` answer: the cursor, whether more follow, each vehicle's row.
    struct Page {
        var cursor: Int64
        var more: Bool
        var vehicles: [String: (latitude: Double, longitude: Double, timeMs: Int64)]
        var order: [String]
    }

    static func page(_ server: DeskServer, _ query: String, cookie: String) async throws -> Page {
        let answer = try await server.call("GET", "/v1/desk/vehicles" + query, headers: ["Cookie": cookie])
        #expect(answer.status == 200, "\(answer.body)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        let rows = try #require(object["vehicles"] as? [[Any]])
        var page = Page(
            cursor: try #require((object["cursor"] as? NSNumber)?.int64Value),
            more: try #require(object["more"] as? Bool),
            vehicles: [:], order: [])
        for row in rows {
            let device = try #require(row[0] as? String)
            page.order.append(device)
            page.vehicles[device] = (
                try #require((row[1] as? NSNumber)?.doubleValue), try #require((row[2] as? NSNumber)?.doubleValue),
                try #require((row[3] as? NSNumber)?.int64Value)
            )
        }
        return page
    }

    @Test("the newest fix per vehicle is the highest sequence number, whatever order a batch holds them in")
    func newestBySequence() {
        let positions = [
            VehiclePosition(device: "b", sequence: 7, timeMs: 1, latitude: 1, longitude: 1),
            VehiclePosition(device: "a", sequence: 9, timeMs: 3, latitude: 3, longitude: 3),
            VehiclePosition(device: "a", sequence: 8, timeMs: 2, latitude: 2, longitude: 2),
            VehiclePosition(device: "b", sequence: 6, timeMs: 0, latitude: 0, longitude: 0),
        ]
        let newest = VehiclePosition.newest(positions)
        #expect(newest.map(\.device) == ["a", "b"])
        #expect(newest.map(\.sequence) == [9, 7])
        #expect(newest.map(\.latitude) == [3, 1])
    }

    @Test(
        "a page of all vehicles, then only those that moved; a late backlog record never moves a vehicle back; paging by limit; no credential or a bad cursor refused",
        arguments: StoreKind.all)
    func vehicles(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            _ = try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            let (bus, taxi, booth) = (DeskDevice(), DeskDevice(), DeskDevice())
            try await server.register(bus, name: "Bus")
            try await server.register(taxi, name: "Taxi")
            try await server.register(booth, name: "Booth")

            // Nothing reported yet: an empty fleet, cursor 0.
            let empty = try await Self.page(server, "", cookie: asha.cookie)
            #expect(empty.vehicles.isEmpty && empty.cursor == 0 && !empty.more)

            // One batch of two positions: the vehicle stands at the later one. A heartbeat's fix counts too.
            try await server.send(
                bus,
                [
                    try bus.next(.position, latitude: 28.6, longitude: 77.2).envelope,
                    try bus.next(.position, latitude: 28.7, longitude: 77.3).envelope,
                ])
            try await server.send(taxi, [try taxi.next(.position, latitude: 19.07, longitude: 72.87).envelope])
            let first = try await Self.page(server, "?after=0", cookie: asha.cookie)
            #expect(Set(first.order) == [bus.id, taxi.id])
            #expect(first.vehicles[bus.id]?.latitude == 28.7 && first.vehicles[bus.id]?.longitude == 77.3)
            #expect(first.vehicles[taxi.id]?.latitude == 19.07)
            #expect(first.cursor > 0 && !first.more)

            // The bus's fourth record arrives before its third (a backlog): the fourth moves it, the third does not.
            let third = try bus.next(.position, latitude: 28.75, longitude: 77.35)
            let fourth = try bus.next(.position, latitude: 28.8, longitude: 77.4)
            try await server.send(bus, [fourth.envelope])
            let moved = try await Self.page(server, "?after=\(first.cursor)", cookie: asha.cookie)
            #expect(moved.order == [bus.id])
            #expect(moved.vehicles[bus.id]?.latitude == 28.8)
            try await server.send(bus, [third.envelope])
            let late = try await Self.page(server, "?after=\(moved.cursor)", cookie: asha.cookie)
            #expect(late.order.isEmpty && late.cursor == moved.cursor)
            let all = try await Self.page(server, "", cookie: asha.cookie)
            #expect(all.vehicles[bus.id]?.latitude == 28.8)

            // Pages of one: the three vehicles, each once, in change order, `more` until the last.
            try await server.send(booth, [try booth.next(.position, latitude: 26.9, longitude: 75.8).envelope])
            var seen: [String] = []
            var cursor: Int64 = 0
            var more = true
            while more && seen.count < 10 {
                let page = try await Self.page(server, "?after=\(cursor)&limit=1", cookie: asha.cookie)
                seen += page.order
                cursor = page.cursor
                more = page.more
            }
            #expect(seen == [taxi.id, bus.id, booth.id])

            // Who may read where the vehicles are: a logged-in operator, nobody else.
            let anonymous = try await server.call("GET", "/v1/desk/vehicles")
            #expect(anonymous.status == 401)
            #expect(!anonymous.body.contains(bus.id))
            for bad in ["after=-1", "after=x", "limit=0", "limit=5001"] {
                let answer = try await server.call("GET", "/v1/desk/vehicles?" + bad, headers: ["Cookie": asha.cookie])
                #expect(answer.status == 400, "\(bad): \(answer.body)")
                let name = String(bad.prefix { $0 != "=" })
                #expect(answer.body.contains("\(name) must be a whole number"), "\(answer.body)")
            }
        }
    }
}
