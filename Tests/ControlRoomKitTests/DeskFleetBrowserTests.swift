import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import Testing

/// The fleet layer in chromium: part of the browser suite (`--filter OperatorPageBrowserTests`).
extension OperatorPageBrowserTests {
    /// Vehicles the fleet test registers; `DESK_FLEET_VEHICLES=10000` replays a state's fleet by hand.
    static var fleetSize: Int {
        ProcessInfo.processInfo.environment["DESK_FLEET_VEHICLES"].flatMap(Int.init) ?? 2000
    }

    @Test(
        "the map draws every vehicle of a fleet on one canvas under the alerts, each at its newest position, and moves one that reports again"
    )
    func fleetLayer() async throws {
        var configuration = DeskConfiguration(heartbeat: .seconds(1))
        configuration.vehicleRefresh = .milliseconds(500)
        try await DeskServer.with(configuration) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            // A fleet spread over Delhi, each vehicle with one position report.
            let count = Self.fleetSize
            let seeded = ContinuousClock.now
            let vehicles = (0..<count).map { _ in DeskDevice() }
            func place(_ index: Int) -> (latitude: Double, longitude: Double) {
                (28.40 + Double(index % 100) * 0.005, 76.90 + Double(index / 100) * 0.005)
            }
            for vehicle in vehicles {
                try await server.room.addDevice(id: vehicle.id, publicKey: vehicle.key.identity.jwk)
            }
            try await server.room.editDevice(id: vehicles[7].id, DeviceMetadataEdit(name: "Bus 534"))
            print("fleet layer: \(count) vehicles registered in \(ContinuousClock.now - seeded)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for index in stride(from: worker, to: count, by: 8) {
                            let at = place(index)
                            try await server.send(
                                vehicles[index],
                                [
                                    try vehicles[index].next(.position, latitude: at.latitude, longitude: at.longitude)
                                        .envelope
                                ])
                        }
                    }
                }
                try await group.waitForAll()
            }

            print("fleet layer: \(count) vehicles reporting in \(ContinuousClock.now - seeded)")
            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage(server.base + "/login")
            try await page.setViewport(width: 1366, height: 768)
            try await page.logIn("asha", "correct horse asha")
            try await page.waitFor(
                "location.pathname === '/' && window.desk && desk.vehicleCount() === \(count)", seconds: 60)
            let loadedMs = try await page.evaluate("Math.round(desk.fleetLoadedMs)")
            print("fleet layer: \(count) vehicles drawn \(loadedMs) ms after the desk's navigation started")

            // Each vehicle where it reported; all of them on one canvas in the fleet pane (no element per vehicle).
            for index in [0, count / 2, count - 1] {
                let at = place(index)
                let drawn = try await page.evaluate("desk.vehicleAt('\(vehicles[index].id)')")
                let point = try JSONDecoder().decode([Double].self, from: Data(drawn.utf8))
                #expect(point.count == 2, "vehicle \(index): \(drawn)")
                // The server sends six decimals (0.1 m).
                #expect(
                    abs(point[0] - at.latitude) < 1e-6 && abs(point[1] - at.longitude) < 1e-6,
                    "vehicle \(index): \(drawn)")
            }
            #expect(try await page.evaluate("document.querySelectorAll('.leaflet-fleet-pane canvas').length") == "1")
            #expect(try await page.evaluate("document.querySelectorAll('.leaflet-fleet-pane path').length") == "0")

            // One vehicle reports again: its dot moves, and only the moved vehicle is asked for.
            let cursor = try await page.evaluate("desk.vehicleCursor")
            try await server.send(
                vehicles[7], [try vehicles[7].next(.position, latitude: 28.9, longitude: 77.5).envelope])
            try await page.waitFor("JSON.stringify(desk.vehicleAt('\(vehicles[7].id)')) === '[28.9,77.5]'")
            #expect(try await page.evaluate("desk.vehicleCursor > \(cursor)") == "true")
            #expect(try await page.evaluate("desk.vehicleCount()") == "\(count)")
            #expect(try await page.evaluate("desk.vehicleNames.get('\(vehicles[7].id)')") == #""Bus 534""#)
            // Fresh dots are drawn full; once the page's clock is 16 minutes on, a vehicle that sent nothing since fades
            // at the next refresh, with no new row for it.
            let quiet = vehicles[3].id
            #expect(try await page.evaluate("desk.vehicles.get('\(quiet)').options.opacity") == "0.9")
            _ = try await page.evaluate("desk.offsetMs += 16 * 60 * 1000")
            try await page.waitFor("desk.vehicles.get('\(quiet)').options.opacity === 0.35")
            #expect(try await page.evaluate("desk.fadedVehicles.size") == "\(count)")
            try await Self.screenshot(page, "desk-fleet.png")
        }
    }
}
