import ControlRoomDesk
import ControlRoomKit
import Synchronization
import Testing

/// The registry on the control room's change stream: registering or removing a device publishes `.registry`, and
/// the desk's push channel wakes (its devices panel is read again).
@Suite("Registering or removing a device wakes the desk", .timeLimit(.minutes(2)))
struct RegistryChangeTests {
    @Test("addDevice and removeDevice publish a registry change, and the push channel wakes", arguments: StoreKind.all)
    func registryWakes(_ kind: StoreKind) async throws {
        try await DeskServer.with(store: kind) { server in
            let room = server.room
            let seen = Mutex<[ControlRoomChange]>([])
            let subscription = room.changes.subscribe { change in seen.withLock { $0.append(change) } }
            defer { subscription.cancel() }
            let bus = DeskDevice()
            let before = server.desk.signal.version
            try await room.addDevice(id: bus.id, publicKey: bus.key.identity.jwk)
            #expect(server.desk.signal.version > before)
            let added = server.desk.signal.version
            #expect(try await room.removeDevice(id: bus.id))
            #expect(server.desk.signal.version > added)
            let change = ControlRoomChange([.registry, .audit], devices: [bus.id])
            #expect(seen.withLock { $0 } == [change, change])
        }
    }
}
