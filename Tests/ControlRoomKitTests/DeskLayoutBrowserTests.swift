import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import Testing

/// The desk on the two screens control rooms have (1366×768 laptops, 1920×1080 monitors): part of the browser
/// suite, so `make test` runs it with the others (`--filter OperatorPageBrowserTests`).
extension OperatorPageBrowserTests {
    /// A monitor size.
    struct Screen: Sendable, CustomTestStringConvertible {
        var width: Int
        var height: Int
        var testDescription: String { "\(width)×\(height)" }
    }

    @Test(
        "at 1366×768 and 1920×1080 no sideways scrolling: every action of the selected alert and the responder column on screen, each clicked where it is (accept, dispatch, on scene, clear), the State column following; keyboard shortcuts work but never while typing",
        arguments: [Screen(width: 1366, height: 768), Screen(width: 1920, height: 1080)])
    func layout(_ screen: Screen) async throws {
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1))) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534 Kashmere Gate", registration: "DL 1PC 4521")
            let booth = DeskDevice()
            try await server.register(booth, name: "Booth Rajiv Chowk 3")
            let van = DeskDevice()
            try await server.register(van, name: "PCR van 12", responder: true)
            try await server.send(van, [try van.next(.position, latitude: 28.6600, longitude: 77.2200).envelope])

            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage("about:blank")
            try await page.setViewport(width: screen.width, height: screen.height)
            try await page.call("Page.navigate", ["url": server.base + "/login"])
            try await page.waitFor("location.pathname === '/login' && document.getElementById('submit')")
            try await page.type("#name", "asha")
            try await page.type("#password", "correct horse asha")
            try await page.clickInViewport("#submit")
            try await page.waitFor("location.pathname === '/' && window.desk && desk.pushes > 0")
            #expect(try await page.evaluate("[innerWidth, innerHeight]") == "[\(screen.width),\(screen.height)]")

            // An emergency arrives; a help call after it.
            let press = try bus.next(.emergency(input: "panic"), latitude: 28.6670, longitude: 77.2280)
            try await server.send(bus, [press.envelope])
            let help = try booth.next(.help(input: "help"), latitude: 28.6300, longitude: 77.2100)
            try await server.send(booth, [help.envelope])
            let row = Self.row(press.id)
            try await page.waitFor(
                "document.querySelectorAll('#alerts tr').length === 2 && desk.markerPosition('\(press.id)')")
            let widths = try await page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
            #expect(
                try await page.evaluate("document.scrollingElement.scrollWidth <= innerWidth") == "true",
                "the page scrolls sideways: \(widths)")
            try await Self.screenshot(page, "desk-\(screen.width)x\(screen.height).png")

            // The row's own buttons and the responder column are on screen, not behind a scrollbar.
            for selector in ["\(row) button.accept", "\(row) button.clear", "\(row) td.responders", "#map"] {
                let at = try await page.placement(selector)
                #expect(at.inside && at.onTop, "\(selector) at \(screen.testDescription): \(at)")
            }
            // Every action of the selected alert is on screen and shows its shortcut.
            let actions = [
                "#actAccept": "A", "#actDispatch": "D", "#actOnScene": "O", "#actClear": "C", "#actStandDown": "S",
            ]
            for (selector, key) in actions {
                let at = try await page.placement(selector)
                #expect(at.inside && at.onTop, "\(selector) at \(screen.testDescription): \(at)")
                let shown = try await page.evaluate("document.querySelector('\(selector) kbd')?.textContent")
                #expect(shown == "\"\(key)\"", "\(selector) shows its shortcut")
            }

            // Select the emergency and work it with the mouse, each button clicked where it is.
            try await page.clickInViewport("\(row) td.kind")
            try await page.waitFor("desk.selected && desk.selected.endsWith('/\(press.id)')")
            try await page.clickInViewport("#actAccept")
            try await page.waitFor("document.querySelector('\(row)').cells[5].textContent === 'help on the way'")
            #expect(try await server.room.openAlerts().first { $0.id == press.id }?.state == .acknowledged)
            _ = try await page.evaluate(
                "(document.getElementById('actResponder').value = '\(van.id)', document.getElementById('actResponder').dispatchEvent(new Event('change')), true)"
            )
            try await page.clickInViewport("#actDispatch")
            try await page.waitFor("document.querySelector('\(row)').cells[5].textContent === 'dispatched'")
            try await page.clickInViewport("#actOnScene")
            try await page.waitFor("document.querySelector('\(row)').cells[5].textContent === 'on scene'")
            let stages = try await server.desk.openAlerts().first { $0.alert.id == press.id }?.responders.map(\.stage)
            #expect(stages == [.onScene])
            try await page.clickInViewport("#actClear")
            try await page.waitFor("document.getElementById('clearDialog').open")
            _ = try await page.evaluate("document.getElementById('clearReason').value = 'resolved on scene'")
            try await page.clickInViewport("#clearConfirm")
            try await page.waitFor("!document.getElementById('clearDialog').open")
            #expect(try await server.room.openAlerts().first { $0.id == press.id }?.state == .cleared)
            let steps = try await server.room.audit(device: bus.id, alert: press.id).map {
                $0.reason.isEmpty ? $0.action.rawValue : $0.action.rawValue + " " + $0.reason
            }
            #expect(
                steps == [
                    "accept", "dispatch \(van.id) dispatched", "dispatch \(van.id) on-scene",
                    "clear resolved on scene",
                ], "\(steps)")

            // The help call with the keyboard: a letter typed in the note field is text, not an action.
            try await page.clickInViewport("\(Self.row(help.id)) td.kind")
            try await page.waitFor("desk.selected && desk.selected.endsWith('/\(help.id)')")
            _ = try await page.evaluate("document.getElementById('noteText').focus()")
            for letter in "acdos" { try await page.press(letter: letter) }
            #expect(try await page.evaluate("document.getElementById('noteText').value") == #""acdos""#)
            #expect(try await page.evaluate("document.getElementById('clearDialog').open") == "false")
            #expect(try await server.room.openAlerts().first { $0.id == help.id }?.state == .open)
            _ = try await page.evaluate("(document.activeElement.blur(), true)")
            try await page.press(letter: "a")
            try await page.waitFor(
                "document.querySelector('\(Self.row(help.id))').cells[5].textContent === 'help on the way'")
            #expect(try await server.room.openAlerts().first { $0.id == help.id }?.state == .acknowledged)
            _ = try await page.evaluate(
                "(document.getElementById('actResponder').value = '\(van.id)', document.getElementById('actResponder').dispatchEvent(new Event('change')), true)"
            )
            try await page.press(letter: "d")
            try await page.waitFor(
                "document.querySelector('\(Self.row(help.id))').cells[5].textContent === 'dispatched'")
            try await page.press(letter: "s")
            try await page.waitFor(
                "document.querySelector('\(Self.row(help.id))').cells[5].textContent === 'stood down'")
            try await page.press(letter: "c")
            try await page.waitFor("document.getElementById('clearDialog').open")
            // With the dialog open, letters are the dialog's: no second action fires behind it.
            try await page.press(letter: "a")
            #expect(
                try await server.room.audit(device: booth.id, alert: help.id).map(\.action) == [
                    .accept, .dispatch, .dispatch,
                ])
            #expect(try await page.evaluate("document.scrollingElement.scrollWidth <= innerWidth") == "true")
        }
    }

    @Test(
        "the Devices table has a Faults column: a box's commands-refused, backend-failing and outbox-lost faults, a faulty input and dropped records show on its row"
    )
    func faultsColumn() async throws {
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1))) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let report = HealthReport(
                inputFaults: ["driver-emergency"], droppedRecords: 7,
                faults: ["commands-refused:control-room", "backend-failing:state-ercss", "outbox-lost"])
            try await server.send(bus, [try bus.next(.health(report)).envelope])
            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage(server.base + "/login")
            try await page.logIn("asha", "correct horse asha")
            try await page.waitFor("location.pathname === '/' && document.getElementById('health').rows.length === 1")
            let column = try await page.evaluate(
                "[...document.querySelectorAll('#health')[0].closest('table').tHead.rows[0].cells].findIndex((c) => c.textContent === 'Faults')"
            )
            let index = try #require(Int(column))
            #expect(index >= 0)
            let cell = try await page.evaluate("document.getElementById('health').rows[0].cells[\(index)].textContent")
            #expect(
                cell
                    == #""commands-refused:control-room, backend-failing:state-ercss, outbox-lost, input driver-emergency faulty, 7 records dropped""#,
                "\(cell)")
        }
    }

    @Test(
        "the sound choice survives a reload (localStorage); the siren repeats while an emergency is unaccepted"
    )
    func sirenRepeats() async throws {
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1))) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage(server.base + "/login")
            try await page.logIn("asha", "correct horse asha")
            try await page.waitFor("location.pathname === '/' && window.desk && desk.pushes > 0")
            #expect(try await page.evaluate("desk.soundOn") == "false")
            try await page.clickInViewport("#sound")
            try await page.waitFor("desk.soundOn && localStorage.getItem('panicbridge.desk.sound') === 'on'")
            try await page.call("Page.reload")
            try await page.waitFor(
                "window.desk && desk.pushes > 0 && desk.soundOn === true && document.getElementById('sound').textContent.startsWith('Sound on')"
            )
            // An emergency: the siren on arrival, and again (every 5 s) while nobody accepts it.
            let press = try bus.next(.emergency(input: "panic"))
            try await server.send(bus, [press.envelope])
            try await page.waitFor("desk.sirens >= 2", seconds: 12)
            // Muted: the choice is kept off across a reload too.
            try await page.clickInViewport("#sound")
            try await page.waitFor("desk.soundOn === false")
            try await page.call("Page.reload")
            try await page.waitFor("window.desk && desk.pushes > 0 && desk.soundOn === false")
        }
    }
}
