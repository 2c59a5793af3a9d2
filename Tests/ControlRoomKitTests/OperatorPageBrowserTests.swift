import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import Testing

/// The desk in a real headless chromium, driven over the DevTools protocol: these run in `make test` (which
/// installs Debian's chromium) and are never skipped — a missing browser is a failure that says how to install it.
@Suite("The desk in a real headless browser", .serialized, .timeLimit(.minutes(4)))
struct OperatorPageBrowserTests {
    @Test(
        "log in; a pushed emergency appears without reload with its vehicle name and a map marker; the marker moves; 30 of 30 Accept clicks land; Clear asks for a reason; the audit names the operator"
    )
    func desk() async throws {
        // Escalation after 3 s, so the test sees it without waiting a minute.
        try await DeskServer.with(DeskConfiguration(escalateAfter: .seconds(3), heartbeat: .seconds(1))) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534 Kashmere Gate", registration: "DL 1PC 4521")
            let booth = DeskDevice()
            try await server.register(booth, name: "Booth Rajiv Chowk 3")
            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage(server.base + "/")

            // Not logged in: the page sends the browser to the login form. Log in by typing and clicking.
            try await page.waitFor("location.pathname === '/login' && document.getElementById('submit')")
            try await page.logIn("asha", "correct horse asha")
            try await page.waitFor("location.pathname === '/' && window.desk && desk.pushes > 0")
            #expect(try await page.evaluate("document.getElementById('who').textContent") == #""asha (operator)""#)

            // A pushed emergency appears in place, with the vehicle's name and a marker at the press position.
            let press = try bus.next(.emergency(input: "driver-emergency"), latitude: 28.6670, longitude: 77.2280)
            try await server.send(bus, [press.envelope])
            let row = "document.querySelector('tr[data-alert=\"\(press.id)\"]')"
            try await page.waitFor("\(row) && desk.markerPosition('\(press.id)')")
            let text = try await page.evaluate("\(row).textContent")
            #expect(text.contains("EMERGENCY"))
            #expect(text.contains("Bus 534 Kashmere Gate"))
            #expect(text.contains("DL 1PC 4521"))
            #expect(text.contains("28.66700, 77.22800"))
            #expect(try await page.evaluate("desk.markerPosition('\(press.id)')") == "[28.667,77.228]")
            #expect(try await page.evaluate("desk.pushes") != "0")

            // The bus moves on: the marker follows, the row shows the current position.
            try await server.send(bus, [try bus.next(.position, latitude: 28.6690, longitude: 77.2301).envelope])
            try await page.waitFor("desk.markerPosition('\(press.id)')[0] === 28.669")
            #expect(try await page.evaluate("\(row).cells[2].textContent") == #""28.66900, 77.23010""#)
            try await Self.screenshot(page, "desk-emergency.png")

            // The alarm: the title flashes while the emergency is unaccepted; after the configured time the row is
            // escalated and the banner says so.
            try await page.waitFor("document.title.includes('1 EMERGENCY')")
            try await page.waitFor(
                "\(row).classList.contains('escalated') && document.getElementById('escalation').textContent.includes('not accepted')"
            )
            // Where the table starts, to compare once the banner and the status line have changed: nothing above
            // the rows may move them (a shift between finding a button and pressing it loses the click).
            let tableTop = "document.getElementById('alerts').getBoundingClientRect().top"
            let topEscalated = try await page.evaluate(tableTop)

            // 30 more alerts from the booth; each Accept is pressed and held while positions keep arriving (every
            // one a push that updates the rows).
            var alerts: [String] = []
            for index in 0..<30 {
                let record = try booth.next(
                    index % 3 == 0 ? .help(input: "help") : .emergency(input: "panic"),
                    latitude: 28.63 + Double(index) / 10_000, longitude: 77.21)
                alerts.append(record.id)
                try await server.send(booth, [record.envelope])
            }
            try await page.waitFor("document.querySelectorAll('#alerts tr').length === 31")
            for (index, alert) in alerts.enumerated() {
                try await server.send(bus, [try bus.next(.position, latitude: 28.67 + Double(index) / 10_000).envelope])
                try await page.click(
                    "tr[data-alert=\"\(alert)\"] button.accept", hold: .milliseconds(index % 2 == 0 ? 150 : 300))
            }
            try await page.waitFor(
                "[...document.querySelectorAll('#alerts tr')].filter((r) => r.cells[5].textContent === 'help on the way').length === 30"
            )
            let accepted = try await server.room.openAlerts().filter {
                alerts.contains($0.id) && $0.state == .acknowledged
            }
            #expect(accepted.count == 30, "\(accepted.count) of 30 Accept clicks landed")
            let audited = try await server.room.audit().filter { $0.action == .accept && alerts.contains($0.alert) }
            #expect(audited.count == 30)
            // Emergencies sort above help calls.
            let kinds = try await page.evaluate(
                "[...document.querySelectorAll('#alerts tr')].map((r) => r.cells[0].textContent)")
            let order = try JSONDecoder().decode([String].self, from: Data(kinds.utf8))
            #expect(order == order.sorted { ($0 == "EMERGENCY" ? 0 : 1) < ($1 == "EMERGENCY" ? 0 : 1) }, "\(order)")

            // Clear asks for a reason first: confirming without one does nothing.
            try await page.click("\(Self.row(press.id)) button.accept")
            try await page.waitFor("\(row).cells[5].textContent === 'help on the way'")
            try await page.waitFor("document.getElementById('escalation').style.visibility === 'hidden'")
            #expect(try await page.evaluate(tableTop) == topEscalated, "the rows moved when the banner went")
            try await page.click("\(Self.row(press.id)) button.clear")
            try await page.waitFor("document.getElementById('clearDialog').open")
            try await page.click("#clearConfirm")
            try await page.waitFor("document.getElementById('clearError').textContent === 'choose a reason'")
            #expect(try await server.room.openAlerts().first { $0.id == press.id }?.state == .acknowledged)
            _ = try await page.evaluate("document.getElementById('clearReason').value = 'false alarm'")
            try await page.type("#clearText", "driver pressed it by mistake")
            try await page.click("#clearConfirm")
            try await page.waitFor("!document.getElementById('clearDialog').open")
            #expect(try await server.room.openAlerts().first { $0.id == press.id }?.state == .cleared)

            // The audit on the alert names the operator, with the reason.
            try await page.click("\(Self.row(press.id)) td.kind")
            try await page.waitFor("document.getElementById('audit').textContent.includes('clear')")
            let audit = try await page.evaluate("document.getElementById('audit').textContent")
            #expect(audit.contains("asha (operator) accept"))
            #expect(audit.contains("asha (operator) clear: false alarm: driver pressed it by mistake"))

            _ = try await page.evaluate("document.getElementById('audit').scrollIntoView({block: 'center'})")
            try await Self.screenshot(page, "desk-audit.png")
        }
    }

    @Test(
        "hostile device and responder names (an <img onerror> and a <script>, set through the metadata endpoint) show as literal text on the rows, the map's tooltips and the device list: nothing runs, no policy is even tested"
    )
    func hostileNames() async throws {
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1))) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let admin = try #require(
                try await server.room.addUser(
                    name: "mallory", role: .admin, password: "an admin gone rogue", token: true, cost: 4))
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let van = DeskDevice()
            try await server.register(van, name: "PCR van 12", responder: true)
            // Each payload, run as HTML, counts itself in a global; the `<script>` one also tries to reach a host.
            let imageName = #"<img src=x onerror="window.__pwned=(window.__pwned||0)+1">"#
            let scriptName =
                #"<script>window.__pwned=(window.__pwned||0)+1</script><img src=y onerror="window.__pwned=(window.__pwned||0)+1;fetch('http://127.0.0.1:9/leak')">"#
            let token = ["Authorization": "Bearer " + admin, "Content-Type": "application/json"]
            for (device, name) in [(bus.id, imageName), (van.id, scriptName)] {
                let body = try JSONSerialization.data(withJSONObject: ["name": name])
                let set = try await server.call(
                    "POST", "/v1/devices/\(device)/metadata", headers: token,
                    body: String(decoding: body, as: UTF8.self))
                #expect(set.status == 200, "\(set.body)")
            }
            let press = try bus.next(.emergency(input: "panic"), latitude: 28.6670, longitude: 77.2280)
            try await server.send(bus, [press.envelope])
            try await server.send(van, [try van.next(.position, latitude: 28.6600, longitude: 77.2200).envelope])
            let dispatched = try await server.call(
                "POST", "/v1/alerts/\(bus.id)/\(press.id)/dispatch", headers: token,
                body: #"{"responder":"\#(van.id)"}"#)
            #expect(dispatched.status == 200, "\(dispatched.body)")

            let browser = try DevTools()
            defer { browser.close() }
            let page = try await browser.newPage(server.base + "/login")
            // Before any script of the desk runs: note every policy violation (a payload that got as far as trying).
            try await page.call("Page.enable")
            try await page.call(
                "Page.addScriptToEvaluateOnNewDocument",
                [
                    "source":
                        "window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
                ])
            try await page.logIn("asha", "correct horse asha")
            try await page.waitFor("location.pathname === '/' && window.desk && desk.pushes > 0")
            let row = "document.querySelector('tr[data-alert=\"\(press.id)\"]')"
            try await page.waitFor("\(row) && desk.markerPosition('\(press.id)') && desk.responderMarkers.size === 1")
            // Every tooltip opened, as a pointer over the markers would; the device list filled.
            _ = try await page.evaluate(
                "(desk.markers.forEach((m) => m.openTooltip()), desk.responderMarkers.forEach((m) => m.openTooltip()), true)"
            )
            try await page.waitFor("document.querySelectorAll('.leaflet-tooltip').length === 2")
            try await page.waitFor("document.getElementById('health').rows.length === 2")

            func text(_ expression: String) async throws -> String {
                let json = try await page.evaluate(expression)
                return try JSONDecoder().decode(String.self, from: Data(json.utf8))
            }
            let tooltips = try await text(
                "[...document.querySelectorAll('.leaflet-tooltip')].map((t) => t.textContent).join('\\n')")
            #expect(tooltips.contains(imageName + " — emergency"), "\(tooltips)")
            #expect(tooltips.contains(scriptName + " (dispatched)"), "\(tooltips)")
            let cells = try await text("\(row).textContent")
            #expect(cells.contains(imageName), "\(cells)")
            #expect(cells.contains(scriptName), "\(cells)")
            let health = try await text("document.getElementById('health').textContent")
            #expect(health.contains(imageName) && health.contains(scriptName), "\(health)")
            // Nothing ran, nothing was even attempted: no element from a name exists anywhere in the page.
            #expect(try await page.evaluate("window.__pwned === undefined") == "true", "a payload ran")
            #expect(try await page.evaluate("document.querySelectorAll('img[src=x], img[src=y]').length") == "0")
            #expect(try await page.evaluate("[...document.scripts].every((s) => s.src && !s.textContent)") == "true")
            let violations = try await page.evaluate("window.__violations")
            #expect(violations == "[]", "\(violations)")
            try await Self.screenshot(page, "desk-hostile-names.png")
        }
    }

    /// Saves a screenshot into `PANICBRIDGE_SCREENSHOTS` when set (docs/images holds the ones in the docs).
    static func screenshot(_ page: DevTools.Page, _ name: String) async throws {
        guard let directory = ProcessInfo.processInfo.environment["PANICBRIDGE_SCREENSHOTS"] else { return }
        try await page.screenshot().write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
    }

    static func row(_ alert: String) -> String { "tr[data-alert=\"\(alert)\"]" }
}
