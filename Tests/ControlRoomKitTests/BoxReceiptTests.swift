import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import PanicUplink
import Testing

/// The box's own answer to each command: a real box (outbox, uplink, its key) over HTTP on loopback.
@Suite("The box's confirmation and refusal of each command, audited and on the desk", .timeLimit(.minutes(4)))
struct BoxReceiptTests {
    @Test(
        "a box whose pinned control-room key is wrong refuses the accept: one box-refused line (forged, a security event) however often the command comes back, in the audit CSV and on the desk's alert, which never reads help on the way",
        arguments: StoreKind.all)
    func misPinnedBoxRefusesAccept(kind: StoreKind) async throws {
        try await SkewedBox.with(kind, roomAhead: .zero, pinned: DeviceKey.generate(), desk: true) { box in
            let alert = try box.press()
            try await box.drive { box.uplink.alerts.state(of: alert) == .sent }
            try await box.room.accept(device: box.deviceID, alert: alert)
            try await box.drive { try await box.room.audit().contains { $0.action == .boxRefused } }
            // The command keeps coming with every answer (it is not acknowledged): still one line.
            var polls = 0
            try await box.drive {
                polls += 1
                return polls > 12
            }
            #expect(box.uplink.alerts.state(of: alert) == .sent)
            let lines = try await box.room.audit().filter { $0.action == .boxRefused || $0.action == .boxConfirmed }
            #expect(lines.count == 1, "\(lines)")
            let line = try #require(lines.first)
            #expect(line.action == .boxRefused && line.alert == alert && line.device == box.deviceID)
            #expect(line.user == "box" && line.role == nil)
            #expect(line.reason.hasPrefix("accept refused: forged (nonce "), "\(line.reason)")
            #expect(AuditAction.boxRefused.isSecurityEvent && !AuditAction.boxConfirmed.isSecurityEvent)

            // As a supervisor reads it over HTTP: the CSV line, and the alert on the desk with its box-refused line.
            try await box.room.addUser(name: "sunita", role: .supervisor, password: "correct horse sunita", cost: 4)
            let server = DeskServer(room: box.room, desk: Desk(room: box.room), base: box.url)
            let session = try await server.login("sunita", "correct horse sunita")
            let csv = try await server.call("GET", "/v1/audit.csv", headers: ["Cookie": session.cookie])
            #expect(csv.status == 200)
            #expect(
                csv.body.contains(",box,,box-refused,\(box.deviceID),\(alert),accept refused: forged (nonce "),
                "\(csv.body)")
            let desk = try await server.call("GET", "/v1/desk/alerts", headers: ["Cookie": session.cookie])
            #expect(desk.body.contains(#""action":"box-refused""#), "\(desk.body)")
        }
    }

    @Test(
        "a box with the right key confirms the accept and the clear: one box-confirmed line each, no refusal",
        arguments: StoreKind.all)
    func boxConfirmsEachCommand(kind: StoreKind) async throws {
        try await SkewedBox.with(kind, roomAhead: .zero) { box in
            let alert = try box.press()
            try await box.drive { box.uplink.alerts.state(of: alert) == .sent }
            try await box.room.accept(device: box.deviceID, alert: alert)
            try await box.drive {
                try await box.room.audit().contains { $0.action == .boxConfirmed && $0.reason.hasPrefix("accept ") }
            }
            #expect(box.uplink.alerts.state(of: alert) == .acknowledged)
            try await box.room.clear(device: box.deviceID, alert: alert)
            try await box.drive {
                try await box.room.audit().contains { $0.action == .boxConfirmed && $0.reason.hasPrefix("clear ") }
            }
            let lines = try await box.room.audit().filter { $0.action == .boxRefused || $0.action == .boxConfirmed }
            #expect(lines.map(\.action) == [.boxConfirmed, .boxConfirmed], "\(lines)")
            #expect(lines.allSatisfy { $0.alert == alert && $0.user == "box" })
        }
    }

    @Test(
        "the receipt rule: first ack confirms, a refusal wins over its ack, another device's nonce and a repeat are ignored"
    )
    func rule() {
        let now = RecordTime(epochMilliseconds: 1_000)
        let rows = [
            CommandReceiptRow(nonce: "n1", alert: "a", action: "accept", acked: false),
            CommandReceiptRow(nonce: "n2", alert: "a", action: "dispatch", acked: true),
            CommandReceiptRow(nonce: "n3", alert: "b", action: "accept", acked: false),
            CommandReceiptRow(nonce: "n4", alert: "b", action: "clear", acked: false),
        ]
        let entries = CommandReceipts.plan(
            device: "d", rows: rows, acks: ["n1", "n2", "n3", "x"],
            refusals: [
                CommandRefusalReport(nonce: "n3", reason: "stale"), CommandRefusalReport(nonce: "n4", reason: "forged"),
                CommandRefusalReport(nonce: "y", reason: "forged"),
            ], refusedBefore: ["n4"], now: now)
        #expect(
            entries.map { "\($0.action.rawValue) \($0.alert) \($0.reason)" } == [
                "box-refused b accept refused: stale (nonce n3)", "box-confirmed a accept confirmed (nonce n1)",
            ])
        #expect(CommandReceipts.refusedNonce(in: "accept refused: forged (nonce abc_-1)") == "abc_-1")
        #expect(CommandReceipts.refusedNonce(in: "accept confirmed") == nil)
    }
}
