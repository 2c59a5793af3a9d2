import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

@Suite("The desk's dispatch, history and device health", .serialized, .timeLimit(.minutes(2)))
struct DeskDispatchTests {
    @Test(
        "a responder is dispatched to an alert: its stage and live distance show on the alert, and the audit says so",
        arguments: StoreKind.all)
    func dispatch(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let van = DeskDevice()
            try await server.register(van, name: "PCR van 12", responder: true)
            let press = try bus.next(.emergency(input: "panic"), latitude: 28.6000, longitude: 77.2000)
            try await server.send(bus, [press.envelope])
            try await server.send(van, [try van.next(.position, latitude: 28.6100, longitude: 77.2000).envelope])
            let asha = try await server.login("asha", "correct horse asha")
            let path = "/v1/alerts/\(bus.id)/\(press.id)/dispatch"
            let bus2 = try await server.call(
                "POST", path, headers: DeskServer.change(asha), body: #"{"responder":"\#(bus.id)"}"#)
            #expect(bus2.status == 400, "a device that is no responder cannot be dispatched: \(bus2.body)")
            let sent = try await server.call(
                "POST", path, headers: DeskServer.change(asha), body: #"{"responder":"\#(van.id)"}"#)
            #expect(sent.status == 200, "\(sent.body)")
            let message = try #require(try await server.desk.openAlerts().first)
            let responder = try #require(message.responders.first)
            #expect(responder.stage == .dispatched)
            #expect(responder.name == "PCR van 12")
            // 0.01° of latitude is 1.11 km.
            #expect(abs((responder.distanceMeters ?? 0) - 1112) < 5, "\(responder)")
            // The van closes in; the stage moves on.
            try await server.send(van, [try van.next(.position, latitude: 28.6001, longitude: 77.2000).envelope])
            _ = try await server.call(
                "POST", path, headers: DeskServer.change(asha),
                body: #"{"responder":"\#(van.id)","stage":"on-scene"}"#)
            let later = try #require(try await server.desk.openAlerts().first?.responders.first)
            #expect(later.stage == .onScene)
            #expect((later.distanceMeters ?? 99) < 20)
            let audit = try await server.room.audit(device: bus.id, alert: press.id)
            #expect(audit.map(\.reason) == ["\(van.id) dispatched", "\(van.id) on-scene"])
            // Each stage the box shows went to it as a signed command, in the same transaction as the audit line.
            let poll = try BatchSigner(key: bus.key).sign(
                RecordBatch(device: bus.id, envelopes: []), time: RecordTime.systemNow())
            let answer = try await server.room.receive(poll)
            let verifier = CommandSignatureVerifier(controlRoom: try #require(server.room.identity))
            let commands = try answer.commands.map { try verifier.verify($0) }
            #expect(Set(commands.map(\.action)) == [.dispatch, .arrive], "\(commands)")
            #expect(commands.allSatisfy { $0.alert == press.id && $0.device == bus.id })
        }
    }

    @Test(
        "an accept and its audit line are one transaction: a refused accept leaves no line, a clear writes its reason",
        arguments: StoreKind.all)
    func actionAndAuditTogether(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try #require(try await server.room.account(name: "asha"))
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let press = try bus.next(.emergency(input: "panic"))
            try await server.send(bus, [press.envelope])
            try await server.room.accept(device: bus.id, alert: press.id, by: asha, reason: "calling the bus")
            await #expect(throws: ControlRoomError.self) {
                try await server.room.accept(device: bus.id, alert: press.id, by: asha, reason: "again")
            }
            try await server.room.clear(device: bus.id, alert: press.id, by: asha, reason: "false alarm: child")
            let audit = try await server.room.audit(device: bus.id, alert: press.id)
            #expect(audit.map(\.action) == [.accept, .clear])
            #expect(audit.map(\.reason) == ["calling the bus", "false alarm: child"])
            #expect(audit.allSatisfy { $0.user == "asha" })
        }
    }

    @Test(
        "history lists closed alerts with who cleared them and why; health shows the last health report",
        arguments: StoreKind.all)
    func historyAndHealth(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let booth = DeskDevice()
            try await server.register(booth, name: "Booth 3")
            let press = try booth.next(.help(input: "help"))
            try await server.send(booth, [press.envelope])
            let asha = try await server.login("asha", "correct horse asha")
            _ = try await server.call(
                "POST", "/v1/alerts/\(booth.id)/\(press.id)/clear", headers: DeskServer.change(asha),
                body: #"{"reason":"test"}"#)
            try await server.send(
                booth,
                [
                    try booth.next(.cleared(alert: press.id, by: "operator")).envelope,
                    try booth.next(.health(HealthReport(queueDepth: 3, oldestUndeliveredAgeMilliseconds: 4000)))
                        .envelope,
                ])
            #expect(try await server.room.openAlerts().isEmpty)
            let history = try await server.call("GET", "/v1/desk/history?kind=help", headers: ["Cookie": asha.cookie])
            #expect(history.body.contains(press.id))
            #expect(history.body.contains(#""reason":"test""#))
            #expect(history.body.contains(#""user":"asha""#))
            let none = try await server.call("GET", "/v1/desk/history?kind=emergency", headers: ["Cookie": asha.cookie])
            #expect(none.body == "[]")
            let health = try await server.room.health()
            #expect(health.first?.metadata.name == "Booth 3")
            #expect(health.first?.health?.queueDepth == 3)
            #expect(health.first?.health?.oldestUndeliveredAgeMilliseconds == 4000)
            #expect(health.first?.lastSeenMs != nil)
        }
    }
}
