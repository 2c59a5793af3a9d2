import ControlRoomKit
import Foundation
import PanicCore
import Testing

/// `GET /v1/alerts?all=1` and `GET /v1/audit` read a page at a time (`Paging`), however many rows the store holds,
/// and the audit CSV export still has the whole log, written a page at a time.
@Suite("The desk's long lists: every alert and the audit log a page at a time; the whole CSV", .timeLimit(.minutes(3)))
struct DeskPagingTests {
    struct Page {
        var items: [[String: Any]]
        var next: String?
    }

    static func page(
        _ server: DeskServer, _ path: String, cookie: String, header: String
    ) async throws -> Page {
        let answer = try await server.call("GET", path, headers: ["Cookie": cookie])
        #expect(answer.status == 200, "\(path): \(answer.body)")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]])
        return Page(items: items, next: answer.header(header))
    }

    /// Every page of `path` (which takes `&name=` cursors from `header`), in order.
    static func pages(
        _ server: DeskServer, _ path: String, cursor name: String, header: String, cookie: String
    ) async throws -> [Page] {
        var pages: [Page] = []
        var cursor: String?
        repeat {
            let page = try await Self.page(
                server, path + (cursor.map { "&\(name)=" + $0 } ?? ""), cookie: cookie, header: header)
            pages.append(page)
            cursor = page.next
        } while cursor != nil && pages.count < 50
        return pages
    }

    static func status(_ server: DeskServer, _ path: String, cookie: String) async throws -> (Int, String) {
        let answer = try await server.call("GET", path, headers: ["Cookie": cookie])
        return (answer.status, answer.body)
    }

    @Test(
        "GET /v1/alerts?all=1: every alert, open and closed, once across the pages, newest press first, ties in a millisecond kept apart; bad parameters named",
        arguments: StoreKind.all)
    func everyAlert(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            // Every press of the booth shares its millisecond with one of the bus.
            let (asha, bus, booth) = try await DeskHistoryTests.twoDevices(server)
            var open: Set<String> = []
            var all: Set<String> = []
            for device in [bus, booth] {
                var envelopes: [String] = []
                for index in 0..<65 {
                    let press = try device.next(.help(input: "help"))
                    envelopes.append(press.envelope)
                    all.insert(press.id)
                    if index % 4 == 0 {
                        open.insert(press.id)
                    } else {
                        envelopes.append(try device.next(.cleared(alert: press.id, by: "operator")).envelope)
                    }
                }
                try await server.send(device, envelopes)
            }

            // Pages of 50: 130 alerts in three, each exactly once, newest press first, the open ones among them.
            let pages = try await Self.pages(
                server, "/v1/alerts?all=1&limit=50", cursor: "before", header: "X-Next-Before", cookie: asha.cookie)
            #expect(pages.map(\.items.count) == [50, 50, 30])
            let alerts = pages.flatMap(\.items)
            let ids = alerts.compactMap { $0["id"] as? String }
            #expect(ids.count == 130 && Set(ids) == all, "each alert once")
            let pressed = alerts.compactMap { $0["pressed"] as? String }
            #expect(pressed == pressed.sorted(by: >), "newest press first")
            #expect(open.isSubset(of: ids))
            #expect(pages.last?.next == nil)

            // The default page is 200 (all of them here); without all=1, the open alerts only, as before.
            let whole = try await Self.page(server, "/v1/alerts?all=1", cookie: asha.cookie, header: "X-Next-Before")
            #expect(whole.items.compactMap { $0["id"] as? String } == ids && whole.next == nil)
            let openOnly = try await Self.page(server, "/v1/alerts", cookie: asha.cookie, header: "X-Next-Before")
            #expect(Set(openOnly.items.compactMap { $0["id"] as? String }) == open)

            for (query, named) in [
                ("limit=0", "limit"), ("limit=501", "limit"), ("limit=many", "limit"), ("before=yesterday", "before"),
            ] {
                let (status, body) = try await Self.status(server, "/v1/alerts?all=1&" + query, cookie: asha.cookie)
                #expect(status == 400 && body.contains(named), "\(query): \(status) \(body)")
            }
        }
    }

    @Test(
        "GET /v1/audit: oldest first, each entry once across the pages though they share one millisecond; filters paged; bad parameters named; the CSV has the whole log",
        arguments: StoreKind.all)
    func auditLog(_ store: StoreKind) async throws {
        // Virtual time that never moves: every entry is written in the same millisecond.
        let time = VirtualTime()
        try await DeskServer.with(store: store, time: time) { server in
            let room = server.room
            _ = try await room.addUser(name: "sunil", role: .supervisor, password: "correct horse sunil", cost: 4)
            let sunil = try await server.login("sunil", "correct horse sunil")
            for index in 0..<540 {
                try await room.auditSecurity(
                    .escalate, by: .console, subject: index % 3 == 0 ? "pb-bus" : "pb-booth", item: "a\(index % 2)",
                    detail: "line \(index), \"quoted\"")
            }
            let stored = try await room.audit()
            #expect(stored.count >= 540)
            #expect(Set(stored.map(\.timeMs)).count == 1, "one millisecond for all")

            // Pages of 200: each entry exactly once, oldest first (by id), the last page without a cursor.
            let pages = try await Self.pages(
                server, "/v1/audit?limit=200", cursor: "after", header: "X-Next-After", cookie: sunil.cookie)
            let ids = pages.flatMap(\.items).compactMap { ($0["id"] as? NSNumber)?.int64Value }
            #expect(ids == stored.map(\.id), "every entry once, in order")
            #expect(pages.count == (stored.count + 199) / 200 && pages.last?.next == nil)
            #expect(pages.dropLast().allSatisfy { $0.items.count == 200 })

            // The default page is 200; a filter is paged too.
            let first = try await Self.page(server, "/v1/audit", cookie: sunil.cookie, header: "X-Next-After")
            #expect(first.items.count == 200 && first.next == String(stored[199].id))
            let busLines = stored.filter { $0.device == "pb-bus" && $0.alert == "a0" }.map(\.id)
            let filtered = try await Self.pages(
                server, "/v1/audit?device=pb-bus&alert=a0&limit=30", cursor: "after", header: "X-Next-After",
                cookie: sunil.cookie)
            #expect(filtered.flatMap(\.items).compactMap { ($0["id"] as? NSNumber)?.int64Value } == busLines)
            #expect(filtered.count == (busLines.count + 29) / 30)

            for (query, named) in [
                ("limit=0", "limit"), ("limit=501", "limit"), ("limit=all", "limit"), ("after=-1", "after"),
                ("after=last", "after"),
            ] {
                let (status, body) = try await Self.status(server, "/v1/audit?" + query, cookie: sunil.cookie)
                #expect(status == 400 && body.contains(named), "\(query): \(status) \(body)")
            }

            // The CSV export has the whole log, header first, each line once in order — across page seams
            // (pages of 7 here, 500 over HTTP).
            let expected = try await room.audit()
            var chunks = 0
            var text = ""
            try await room.auditCSV(pageSize: 7) {
                chunks += 1
                text += $0
            }
            #expect(chunks == 1 + (expected.count + 6) / 7)
            let lines = text.components(separatedBy: "\r\n").dropLast()
            #expect(lines.first == "id,time,user,role,action,device,alert,reason")
            #expect(
                lines.dropFirst().map { $0.split(separator: ",").first.map(String.init) } == expected.map { "\($0.id)" }
            )
            #expect(lines.contains { $0.hasSuffix(",\"line 7, \"\"quoted\"\"\"") }, "fields quoted per RFC 4180")
            let csv = try await server.call("GET", "/v1/audit.csv", headers: ["Cookie": sunil.cookie])
            #expect(csv.status == 200)
            #expect(csv.body == text)
        }
    }
}
