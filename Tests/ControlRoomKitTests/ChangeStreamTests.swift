import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Synchronization
import Testing

/// The control room's one change stream (`ControlRoom.changes`): what each committed change publishes, whoever made
/// it, and the desk's push channel woken by it alone.
@Suite("The control room's one change stream", .timeLimit(.minutes(2)))
struct ChangeStreamTests {
    @Test(
        "each change is published once by the control room itself, and wakes the desk with no route involved",
        arguments: StoreKind.all)
    func published(kind: StoreKind) async throws {
        try await DeskServer.with(store: kind) { server in
            let room = server.room
            let seen = Mutex<[ControlRoomChange]>([])
            room.changes.subscribe { change in seen.withLock { $0.append(change) } }
            func take() -> [ControlRoomChange] {
                seen.withLock { changes in
                    defer { changes = [] }; return changes
                }
            }
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let van = DeskDevice()
            try await server.register(van, name: "PCR van", responder: true)
            #expect(
                take().map(\.kinds) == [
                    [.registry, .audit], [.metadata, .audit], [.registry, .audit], [.metadata, .audit],
                ])
            _ = try await room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try #require(try await room.account(name: "asha"))
            let press = try bus.next(.emergency(input: "panic"))
            _ = try await room.receive(RecordBatch(device: bus.id, envelopes: [press.envelope]))
            _ = try await room.receive(RecordBatch(device: van.id, envelopes: [try van.next(.position).envelope]))
            #expect(
                take() == [
                    ControlRoomChange([.records], devices: [bus.id]),
                    ControlRoomChange([.positions], devices: [van.id]),
                ])
            // Called on the control room, not through a desk route: the desk's push channel wakes all the same.
            let before = server.desk.signal.version
            try await room.accept(device: bus.id, alert: press.id, by: asha, reason: "on it")
            #expect(server.desk.signal.version > before)
            try await room.dispatch(device: bus.id, alert: press.id, responder: van.id, stage: .dispatched, by: asha)
            try await room.note(device: bus.id, alert: press.id, text: "van 2 km away", by: asha)
            #expect(take().map(\.kinds) == [[.alerts, .audit], [.dispatches, .audit], [.audit]])
        }
    }

    @Test("a PostgreSQL notification names its change; positions name their devices")
    func notifications() {
        #expect(
            ControlRoomChange(notification: "positions a b") == ControlRoomChange([.positions], devices: ["a", "b"]))
        #expect(ControlRoomChange(notification: "records") == ControlRoomChange([.records]))
        #expect(ControlRoomChange(notification: "alerts") == ControlRoomChange([.alerts]))
        #expect(ControlRoomChange(notification: "device_meta") == ControlRoomChange([.metadata]))
        #expect(ControlRoomChange(notification: "") == ControlRoomChange(Set(ControlRoomChange.Kind.allCases)))
        #expect(
            ControlRoomChange(stored: [.position, .health], device: "d", receipts: true)
                == ControlRoomChange([.positions, .records, .receipts], devices: ["d"]))
    }
}
