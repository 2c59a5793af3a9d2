import AsyncHTTPClient
import Foundation
import NIOCore
import PanicCore
import Testing

@testable import ControlRoomDesk
@testable import ControlRoomKit

/// One push event: its SSE `id` and its message.
struct PushEvent {
    var id: String?
    var snapshot: Bool
    /// `device/alert` of each row sent, in order.
    var upsert: [String]
    var remove: [String]
    /// The route-trail pieces sent, by key (`/device/alert#N`): the sequence numbers of their points.
    var tracks: [String: [Int64]] = [:]
    /// Whether any row carried its whole trail inline.
    var inlineTrack = false
    /// The message's size in bytes.
    var bytes = 0
}

extension EventReader {
    /// The next `alerts` event with its `id` (heartbeats skipped).
    mutating func nextPush() async throws -> PushEvent? {
        while true {
            if let range = buffer.range(of: "\n\n") {
                let lines = buffer[..<range.lowerBound].split(separator: "\n")
                buffer = String(buffer[range.upperBound...])
                guard let data = lines.first(where: { $0.hasPrefix("data: ") }) else { continue }
                let id = lines.first { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) }
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8)) as? [String: Any])
                let rows = try #require(object["upsert"] as? [[String: Any]])
                let upsert = try rows.map { row in
                    let alert = try #require(row["alert"] as? [String: Any])
                    return "\(try #require(alert["device"] as? String))/\(try #require(alert["id"] as? String))"
                }
                var tracks: [String: [Int64]] = [:]
                for chunk in try #require(object["tracks"] as? [[String: Any]]) {
                    let alert = try #require(chunk["alert"] as? String)
                    let number = try #require(chunk["chunk"] as? Int)
                    let points = try #require(chunk["points"] as? [[String: Any]])
                    tracks["/\(alert)#\(number)"] = try points.map { Int64(try #require($0["sequence"] as? Int)) }
                }
                return PushEvent(
                    id: id, snapshot: try #require(object["snapshot"] as? Bool), upsert: upsert,
                    remove: try #require(object["remove"] as? [String]), tracks: tracks,
                    inlineTrack: rows.contains { $0["track"] != nil }, bytes: data.utf8.count - 6)
            }
            guard let chunk = try await iterator.next() else { return nil }
            buffer += String(buffer: chunk)
        }
    }
}

@Suite("The desk at fleet scale: paged device lists, pushed deltas, resumable streams", .timeLimit(.minutes(4)))
struct DeskScaleTests {
    /// Follows `X-Next-After` from the first page to the last; returns each page's ids.
    static func pages(_ server: DeskServer, _ path: String, limit: Int, cookie: String) async throws -> [[String]] {
        var pages: [[String]] = []
        var after: String?
        repeat {
            let query = "?limit=\(limit)" + (after.map { "&after=" + $0 } ?? "")
            let answer = try await server.call("GET", path + query, headers: ["Cookie": cookie])
            #expect(answer.status == 200, "\(answer.body)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]])
            pages.append(rows.compactMap { ($0["id"] ?? $0["device"]) as? String })
            after = answer.header("X-Next-After")
        } while after != nil && pages.count < 50
        return pages
    }

    @Test(
        "GET /v1/devices and /v1/desk/health come in pages (default and asked), each row right; a bad limit is refused",
        arguments: StoreKind.all)
    func pagedDeviceLists(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            _ = try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            // Five devices with records: one with a gap, one with an open tamper, one whose tamper ended.
            let devices = (0..<5).map { _ in DeskDevice() }
            for (index, device) in devices.enumerated() { try await server.register(device, name: "Bus \(index)") }
            let gapped = devices[0]
            let first = try gapped.next(.position)
            _ = try gapped.next(.position)
            let third = try gapped.next(.position)
            try await server.send(gapped, [first.envelope, third.envelope])
            let open = devices[1]
            try await server.send(open, [try open.next(.tamper(reason: .enclosure, input: "lid")).envelope])
            let ended = devices[2]
            try await server.send(
                ended,
                [
                    try ended.next(.tamper(reason: .wireCut, input: "panic-1")).envelope,
                    try ended.next(.restored(reason: .wireCut, input: "panic-1")).envelope,
                ])

            let ids = devices.map(\.id).sorted()
            let devicePages = try await Self.pages(server, "/v1/devices", limit: 2, cookie: asha.cookie)
            #expect(devicePages == [Array(ids[0..<2]), Array(ids[2..<4]), [ids[4]]])
            let healthPages = try await Self.pages(server, "/v1/desk/health", limit: 2, cookie: asha.cookie)
            #expect(healthPages == devicePages)

            // The rows are what the per-device reads gave: counts, gaps, last contact, open tamper.
            let listed = try await server.room.devices()
            #expect(listed.map(\.id) == ids)
            let byID = Dictionary(uniqueKeysWithValues: listed.map { ($0.id, $0) })
            #expect(byID[gapped.id]?.records == 2)
            #expect(byID[gapped.id]?.gaps == ["2"])
            #expect(byID[ended.id]?.records == 2)
            #expect(byID[devices[3].id]?.records == 0)
            let health = Dictionary(uniqueKeysWithValues: try await server.room.health().map { ($0.device, $0) })
            #expect(health[open.id]?.tamper == .enclosure)
            #expect(health[ended.id]?.tamper == nil)
            #expect(health[gapped.id]?.gaps == ["2"])
            #expect(health[gapped.id]?.lastSeenMs != nil)
            #expect(health[devices[4].id]?.lastSeenMs == nil)
            #expect(health[open.id]?.metadata.name == "Bus 1")

            // The device table's configuration column asks for the same page.
            let configs = try await server.call(
                "GET", "/v1/config/status?limit=2&after=" + ids[1], headers: ["Cookie": asha.cookie])
            let configRows = try #require(
                try JSONSerialization.jsonObject(with: Data(configs.body.utf8)) as? [[String: Any]])
            #expect(configRows.compactMap { $0["device"] as? String } == Array(ids[2..<4]))

            // A bad page size is refused, naming the limit.
            for bad in ["0", "1001", "ten"] {
                let answer = try await server.call("GET", "/v1/devices?limit=" + bad, headers: ["Cookie": asha.cookie])
                #expect(answer.status == 400)
                #expect(answer.body.contains("limit must be a whole number from 1 to 1000"), "\(answer.body)")
            }
        }
    }

    @Test("a fleet bigger than a page is never one answer unasked: the default page holds 200 devices")
    func defaultPageIsBounded() async throws {
        try await DeskServer.with { server in
            _ = try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            for _ in 0..<(DevicePageRequest.defaultLimit + 3) {
                let key = DeskDevice().key
                try await server.room.addDevice(id: key.identity.deviceID, publicKey: key.identity.jwk)
            }
            for path in ["/v1/devices", "/v1/desk/health"] {
                let answer = try await server.call("GET", path, headers: ["Cookie": asha.cookie])
                let rows = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [Any])
                #expect(rows.count == DevicePageRequest.defaultLimit, "\(path)")
                #expect(answer.header("X-Next-After") != nil, "\(path)")
            }
        }
    }

    @Test(
        "push: a new alert and a position change come as deltas, a reconnect after N changes gets exactly the missed rows",
        arguments: StoreKind.all)
    func deltasAndResume(_ store: StoreKind) async throws {
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(3600)), store: store) { server in
            _ = try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let first = try await server.pressEmergency(bus)
            var events = try await server.openEvents(cookie: asha.cookie)
            let snapshot = try #require(try await events.nextPush())
            #expect(snapshot.snapshot)
            #expect(snapshot.upsert == [bus.id + "/" + first.id])
            #expect(snapshot.id != nil)

            // A new alert from another bus: only its row.
            let van = DeskDevice()
            try await server.register(van, name: "Van 12")
            let second = try await server.pressEmergency(van)
            let added = try #require(try await events.nextPush())
            #expect(!added.snapshot)
            #expect(added.upsert == [van.id + "/" + second.id])
            #expect(added.remove.isEmpty)

            // The first bus moves: only its row.
            try await server.send(bus, [try bus.next(.position, latitude: 28.62, longitude: 77.21).envelope])
            let moved = try #require(try await events.nextPush())
            #expect(!moved.snapshot)
            #expect(moved.upsert == [bus.id + "/" + first.id])
            let position = try #require(moved.id)

            // N changes while the page is away: three new alerts and an accept of the van's alert.
            var missed = Set([van.id + "/" + second.id])
            for index in 0..<3 {
                let car = DeskDevice()
                try await server.register(car, name: "Car \(index)")
                missed.insert(car.id + "/" + (try await server.pressEmergency(car)).id)
            }
            let accepted = try await server.call(
                "POST", "/v1/alerts/\(van.id)/\(second.id)/accept", headers: DeskServer.change(asha), body: "{}")
            #expect(accepted.status == 200, "\(accepted.body)")

            // The reconnect, as EventSource does it: exactly the missed rows, not the bus's unchanged one.
            var resumed = try await server.openEvents(headers: ["Cookie": asha.cookie, "Last-Event-ID": position])
            let catchUp = try #require(try await resumed.nextPush())
            #expect(!catchUp.snapshot)
            #expect(Set(catchUp.upsert) == missed)
            #expect(catchUp.upsert.count == missed.count)
            #expect(catchUp.remove.isEmpty)

            // A position from another run (or none this server knows): the whole state.
            var stranger = try await server.openEvents(headers: ["Cookie": asha.cookie, "Last-Event-ID": "0badc0de.3"])
            let whole = try #require(try await stranger.nextPush())
            #expect(whole.snapshot)
            #expect(Set(whole.upsert) == missed.union([bus.id + "/" + first.id]))
        }
    }

    @Test(
        "an alerting bus's next position costs each stream one piece of its trail, not the whole trail; the pieces add up to every position since the press",
        arguments: StoreKind.all)
    func trailPieces(_ store: StoreKind) async throws {
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(3600)), store: store) { server in
            _ = try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let press = try bus.next(.emergency(input: "sos"))
            var envelopes = [press.envelope]
            for index in 0..<199 {
                envelopes.append(
                    try bus.next(.position, latitude: 28.6 + Double(index) * 0.0001, longitude: 77.2).envelope)
            }
            try await server.send(bus, envelopes)
            let key = bus.id + "/" + press.id
            var events = try await server.openEvents(cookie: asha.cookie)
            let snapshot = try #require(try await events.nextPush())
            #expect(snapshot.snapshot && snapshot.upsert == [key])
            #expect(!snapshot.inlineTrack)
            // Records 1 (the press) to 200, in blocks of 64 sequence numbers: 1–63, 64–127, 128–191, 192–200.
            #expect(snapshot.tracks.keys.sorted() == (0...3).map { "/\(key)#\($0)" })
            #expect(snapshot.tracks.values.flatMap { $0 }.sorted() == Array(1...200))

            try await server.send(bus, [try bus.next(.position, latitude: 28.7, longitude: 77.3).envelope])
            let moved = try #require(try await events.nextPush())
            #expect(!moved.snapshot && moved.upsert == [key])
            #expect(!moved.inlineTrack)
            #expect(moved.tracks == ["/\(key)#3": Array(192...201)])
            #expect(moved.remove.isEmpty)
            #expect(moved.bytes * 4 < snapshot.bytes, "moved \(moved.bytes) B, snapshot \(snapshot.bytes) B")

            // Cleared and confirmed by the box: the row and every piece of its trail leave.
            try await server.room.clear(
                device: bus.id, alert: press.id, reason: "test")
            let cleared = try #require(try await events.nextPush())
            #expect(cleared.upsert == [key] && cleared.tracks.isEmpty)
            try await server.send(bus, [try bus.next(.cleared(alert: press.id, by: "operator")).envelope])
            let gone = try #require(try await events.nextPush())
            #expect(Set(gone.remove) == Set([key] + (0...3).map { "/\(key)#\($0)" }))
        }
    }

    @Test("positions of boxes the desk does not show wake no push computation; a shown box's position does")
    func unshownPositionsWakeNothing() async throws {
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(3600))) { server in
            _ = try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let alert = try await server.pressEmergency(bus)
            let fleet = (0..<5).map { _ in DeskDevice() }
            for (index, device) in fleet.enumerated() { try await server.register(device, name: "Truck \(index)") }
            var events = try await server.openEvents(cookie: asha.cookie)
            _ = try #require(try await events.nextPush())
            let before = server.desk.broadcast.computations
            for _ in 0..<4 {
                for device in fleet { try await server.send(device, [try device.next(.position).envelope]) }
            }
            try await server.send(bus, [try bus.next(.position, latitude: 28.7).envelope])
            let moved = try #require(try await events.nextPush())
            #expect(moved.upsert == [bus.id + "/" + alert.id])
            #expect(server.desk.broadcast.computations - before == 1)
        }
    }

    @Test("the change history resumes a position it holds, and refuses one too far behind (a snapshot instead)")
    func historyIsBounded() {
        var history = DeskHistory()
        for number in UInt64(1)...UInt64(DeskHistory.limit + 100) {
            history.append(previous: number - 1, number: number, keys: ["k\(number % 3)"])
        }
        let last = UInt64(DeskHistory.limit + 100)
        #expect(history.changed(since: 1, upTo: last) == nil)
        #expect(history.changed(since: last - 1, upTo: last) == ["k\(last % 3)"])
        #expect(history.changed(since: last - 3, upTo: last) == ["k0", "k1", "k2"])
        #expect(history.changed(since: last, upTo: last) == [])
        #expect(history.changed(since: last + 1, upTo: last) == nil)
    }
}
