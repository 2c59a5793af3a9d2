import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

/// The map with no internet, in chromium: part of the browser suite (`--filter OperatorPageBrowserTests`).
extension OperatorPageBrowserTests {
    @Test(
        "the map with no internet: every tile an <img> from the control room's /tiles, showing the tileset's own picture for its z/x/y; the map goes to a new alert, follows the selected vehicle, draws its trail since the press, and drops a responder's marker once its alert is closed"
    )
    func offlineMap() async throws {
        let bus = (latitude: 28.6670, longitude: 77.2280)
        let far = (latitude: 28.7040, longitude: 77.1025)
        let set = try TestTileset(
            tiles: TestTileset.around(latitude: bus.latitude, longitude: bus.longitude, z: 15, size: 9)
                + TestTileset.around(latitude: far.latitude, longitude: far.longitude, z: 15, size: 9),
            metadata: ["attribution": "test tileset"])
        defer { set.remove() }
        var configuration = DeskConfiguration(heartbeat: .seconds(1))
        configuration.tiles = try MBTiles(path: set.path)
        try await DeskServer.with(configuration) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let vehicle = DeskDevice()
            try await server.register(vehicle, name: "Bus 534")
            let booth = DeskDevice()
            try await server.register(booth, name: "Booth Civil Lines")
            let van = DeskDevice()
            try await server.register(van, name: "PCR van 12", responder: true)
            try await server.send(van, [try van.next(.position, latitude: 28.7000, longitude: 77.1000).envelope])

            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage(server.base + "/login")
            try await page.setViewport(width: 1366, height: 768)
            try await page.logIn("asha", "correct horse asha")
            try await page.waitFor("location.pathname === '/' && window.desk && desk.pushes > 0")

            // An emergency: the map goes to it, and the tiles around it come from the tileset.
            let press = try vehicle.next(.emergency(input: "panic"), latitude: bus.latitude, longitude: bus.longitude)
            try await server.send(vehicle, [press.envelope])
            try await page.waitFor("desk.markerPosition('\(press.id)')")
            try await page.waitFor("desk.mapCentre()[0] === 28.667 && desk.mapCentre()[1] === 77.228")
            try await page.waitFor("document.querySelectorAll('#map img.leaflet-tile-loaded').length >= 6")
            let tiles = try await page.evaluate(
                """
                [...document.querySelectorAll('#map img.leaflet-tile-loaded')].map((img) => {
                  const c = document.createElement('canvas'); c.width = 8; c.height = 8;
                  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                  const d = g.getImageData(4, 4, 1, 1).data;
                  return img.src + ' ' + d[0] + ' ' + d[1] + ' ' + d[2];
                })
                """)
            let loaded = try JSONDecoder().decode([String].self, from: Data(tiles.utf8))
            #expect(loaded.count >= 6)
            for line in loaded {
                let parts = line.split(separator: " ")
                let prefix = server.base + "/tiles/"
                #expect(parts[0].hasPrefix(prefix), "a tile from elsewhere: \(line)")
                let address = parts[0].dropFirst(prefix.count).split(separator: "/")
                #expect(address.count == 3, "\(line)")
                guard address.count == 3, let z = Int(address[0]), let x = Int(address[1]),
                    let y = Int(address[2].dropLast(4))
                else { continue }
                let colour = TestTileset.colour(TileAddress(z: z, x: x, y: y)).map { String($0) }
                #expect(
                    parts.dropFirst().map(String.init) == colour, "tile \(z)/\(x)/\(y) shows another picture: \(line)")
            }
            #expect(
                try await page.evaluate(
                    "document.querySelector('.leaflet-control-attribution').textContent.includes('test tileset')")
                    == "true")
            try await Self.screenshot(page, "desk-offline-map.png")

            // The selected vehicle moves twice: the map follows it; its trail holds every position since the press.
            try await page.waitFor("desk.selected && desk.selected.endsWith('/\(press.id)')")
            try await server.send(
                vehicle, [try vehicle.next(.position, latitude: 28.6690, longitude: 77.2301).envelope])
            try await page.waitFor("desk.mapCentre()[0] === 28.669 && desk.mapCentre()[1] === 77.2301")
            try await server.send(
                vehicle, [try vehicle.next(.position, latitude: 28.6702, longitude: 77.2322).envelope])
            try await page.waitFor("desk.mapCentre()[0] === 28.6702 && desk.mapCentre()[1] === 77.2322")
            try await page.waitFor("desk.trailLength('\(press.id)') === 3")
            // Seventy more in one batch: the trail comes in pieces of 64 sequence numbers (`DeskTrackChunk`), and
            // the page joins them in order into one line.
            try await server.send(
                vehicle,
                try (0..<70).map {
                    try vehicle.next(.position, latitude: 28.6702 + Double($0) * 0.0001, longitude: 77.2322).envelope
                })
            try await page.waitFor("desk.trailLength('\(press.id)') === 73")
            #expect(
                try await page.evaluate(
                    "desk.alerts.get(desk.selected).track.every((p, i, all) => i === 0 || all[i - 1].sequence < p.sequence)"
                ) == "true")

            // A new alert elsewhere: the map goes there, the selection stays the operator's.
            let help = try booth.next(.help(input: "help"), latitude: far.latitude, longitude: far.longitude)
            try await server.send(booth, [help.envelope])
            try await page.waitFor("desk.mapCentre()[0] === 28.704 && desk.mapCentre()[1] === 77.1025")
            #expect(try await page.evaluate("desk.selected.endsWith('/\(press.id)')") == "true")

            // A van dispatched to the booth shows on the map; once the booth's alert is closed its marker goes.
            let asha = try await server.login("asha", "correct horse asha")
            let dispatched = try await server.call(
                "POST", "/v1/alerts/\(booth.id)/\(help.id)/dispatch", headers: DeskServer.change(asha),
                body: #"{"responder":"\#(van.id)"}"#)
            #expect(dispatched.status == 200, "\(dispatched.body)")
            try await page.waitFor("desk.responderMarkers.size === 1")
            let cleared = try await server.call(
                "POST", "/v1/alerts/\(booth.id)/\(help.id)/clear", headers: DeskServer.change(asha),
                body: #"{"reason":"test"}"#)
            #expect(cleared.status == 200, "\(cleared.body)")
            try await server.send(booth, [try booth.next(.cleared(alert: help.id, by: "operator")).envelope])
            try await page.waitFor("!document.querySelector('tr[data-alert=\"\(help.id)\"]')")
            try await page.waitFor("desk.responderMarkers.size === 0")
            #expect(try await page.evaluate("document.querySelectorAll('#map .responder-marker').length") == "0")
        }
    }
}

extension OperatorPageBrowserTests {
    @Test(
        "a box whose pinned key is wrong refuses the accept clicked on the desk: the State column reads 'box refused accept: forged', never 'help on the way', and the detail says so"
    )
    func boxRefusalOnTheDesk() async throws {
        try await SkewedBox.with(.sqlite, roomAhead: .zero, pinned: DeviceKey.generate(), desk: true) { box in
            try await box.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let alert = try box.press()
            try await box.drive { box.uplink.alerts.state(of: alert) == .sent }

            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage(box.url + "/login")
            try await page.setViewport(width: 1366, height: 768)
            try await page.logIn("asha", "correct horse asha")
            try await page.waitFor("location.pathname === '/' && window.desk && desk.pushes > 0")
            let row = Self.row(alert)
            let state = "document.querySelector('\(row) td.state').textContent"
            try await page.waitFor("document.querySelector('\(row)') && \(state) === 'OPEN'")
            try await page.clickInViewport("\(row) button.accept")
            try await page.waitFor("\(state) === 'help on the way'")
            try await box.drive { try await box.room.audit().contains { $0.action == .boxRefused } }
            // The next request after the refusal is the one that pushes it; the page then shows it.
            var polls = 0
            try await box.drive {
                polls += 1
                return try await page.evaluate("\(state)").contains("box refused") || polls > 40
            }
            try await page.waitFor("\(state) === 'box refused accept: forged'")
            try await page.waitFor(
                "document.getElementById('receipts').textContent.includes('accept: box refused: forged')")
            #expect(try await page.evaluate("\(state).includes('help on the way')") == "false")
            try await Self.screenshot(page, "desk-box-refused.png")
        }
    }
}
