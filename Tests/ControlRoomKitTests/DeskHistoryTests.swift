import ControlRoomKit
import Foundation
import PanicCore
import Testing

@Suite("The desk's history: closed alerts newest first, a page at a time", .timeLimit(.minutes(3)))
struct DeskHistoryTests {
    struct Page {
        var ids: [String]
        var pressed: [String]
        var next: String?
    }

    static func page(_ server: DeskServer, _ query: String, cookie: String) async throws -> Page {
        let answer = try await server.call("GET", "/v1/desk/history" + query, headers: ["Cookie": cookie])
        #expect(answer.status == 200, "\(query): \(answer.body)")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]])
        let alerts = try items.map { try #require($0["alert"] as? [String: Any]) }
        return Page(
            ids: try alerts.map { try #require($0["id"] as? String) },
            pressed: try alerts.map { try #require($0["pressed"] as? String) }, next: answer.header("X-Next-Before"))
    }

    /// An operator logged in, and two registered devices whose presses share their milliseconds pairwise: a
    /// cursor of the press time alone would repeat or skip alerts at a page's edge.
    static func twoDevices(
        _ server: DeskServer
    ) async throws -> (session: (cookie: String, csrf: String), bus: DeskDevice, booth: DeskDevice) {
        _ = try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
        let asha = try await server.login("asha", "correct horse asha")
        let (bus, booth) = (DeskDevice(), DeskDevice())
        try await server.register(bus, name: "Bus")
        try await server.register(booth, name: "Booth")
        booth.time = bus.time
        return (asha, bus, booth)
    }

    @Test(
        "pages of closed alerts: each once across the pages, newest first, ties in a millisecond kept apart; filters; open alerts never; bad parameters named",
        arguments: StoreKind.all)
    func pages(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            let (asha, bus, booth) = try await Self.twoDevices(server)
            var closed: [String: (device: String, kind: String)] = [:]
            var open: Set<String> = []
            for device in [bus, booth] {
                var envelopes: [String] = []
                for index in 0..<130 {
                    let emergency = index % 3 == 0
                    let press = try device.next(emergency ? .emergency(input: "sos") : .help(input: "help"))
                    envelopes += [press.envelope, try device.next(.cleared(alert: press.id, by: "operator")).envelope]
                    closed[press.id] = (device.id, emergency ? "emergency" : "help")
                }
                let still = try device.next(.help(input: "help"))
                envelopes.append(still.envelope)
                open.insert(still.id)
                try await server.send(device, envelopes)
            }

            // Pages of 100: 260 closed alerts in three, each exactly once, newest press first.
            var seen: [String] = []
            var pressed: [String] = []
            var before: String?
            var pages = 0
            repeat {
                let query = "?limit=100" + (before.map { "&before=" + $0 } ?? "")
                let page = try await Self.page(server, query, cookie: asha.cookie)
                seen += page.ids
                pressed += page.pressed
                before = page.next
                pages += 1
            } while before != nil && pages < 10
            #expect(pages == 3)
            #expect(seen.count == 260)
            #expect(Set(seen) == Set(closed.keys))
            #expect(open.isDisjoint(with: seen))
            #expect(pressed == pressed.sorted(by: >), "newest press first")

            // The default page is 200, and says where the next starts.
            let first = try await Self.page(server, "", cookie: asha.cookie)
            #expect(first.ids == Array(seen.prefix(200)))
            #expect(first.next != nil)

            // Filters, paged too: the booth's emergencies only (part of its id is enough).
            let part = String(booth.id.dropFirst(3).prefix(10))
            var filtered: [String] = []
            before = nil
            pages = 0
            repeat {
                let query = "?kind=emergency&limit=20&device=\(part)" + (before.map { "&before=" + $0 } ?? "")
                let page = try await Self.page(server, query, cookie: asha.cookie)
                filtered += page.ids
                before = page.next
                pages += 1
            } while before != nil && pages < 10
            let wanted = closed.filter { $0.value.device == booth.id && $0.value.kind == "emergency" }
            #expect(filtered.count == wanted.count)
            #expect(Set(filtered) == Set(wanted.keys))

            // Only an operator reads it; a bad parameter is named.
            #expect(try await server.call("GET", "/v1/desk/history").status == 401)
            for (bad, named) in [
                ("limit=0", "limit must be a whole number"), ("limit=501", "limit must be a whole number"),
                ("before=yesterday", "before must be a cursor"), ("before=1.2", "before must be a cursor"),
            ] {
                let answer = try await server.call("GET", "/v1/desk/history?" + bad, headers: ["Cookie": asha.cookie])
                #expect(answer.status == 400, "\(bad): \(answer.body)")
                #expect(answer.body.contains(named), "\(bad): \(answer.body)")
            }
        }
    }

    @Test(
        "the desk's audit lines and responders of many alerts come in one query each, and never mix two alerts",
        arguments: StoreKind.all)
    func batchedReads(_ store: StoreKind) async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await store.withStore(directory: directory) { store in
            let now = RecordTime(epochMilliseconds: 1_760_000_000_000)
            // Device a's alert "y" shares its id with device b's: asking for (a, x) and (b, y) must not bring (a, y).
            for (device, alert, reason) in [
                ("a", "x", "a-x"), ("b", "y", "b-y"), ("a", "y", "a-y"), ("a", "x", "a-x 2"),
            ] {
                try await store.appendAudit(
                    NewAuditEntry(
                        action: .note, actor: AuditActor(user: "asha", role: .operator), device: device, alert: alert,
                        reason: reason, now: now), requireAlert: false)
            }
            let asked = [
                AlertRef(device: "a", id: "x"), AlertRef(device: "b", id: "y"), AlertRef(device: "c", id: "z"),
            ]
            let audit = try await store.audit(alerts: asked)
            #expect(audit[asked[0]]?.map(\.reason) == ["a-x", "a-x 2"])
            #expect(audit[asked[1]]?.map(\.reason) == ["b-y"])
            #expect(audit[asked[2]] == nil)
            #expect(audit.count == 2)
            #expect(try await store.audit(alerts: []).isEmpty)
            #expect(try await store.dispatches(alerts: asked).isEmpty)
        }
    }
}
