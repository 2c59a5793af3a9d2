import ControlRoomKit
import ControlRoomPostgres
import Foundation
import PanicCore
import PanicSigning
import Testing

/// An instance on PostgreSQL hears every commit on the database through `NOTIFY panicbridge_desk`, its own too; its
/// own changes were published by its control room already, so the desk feed skips the notifications its own
/// connections sent (`OwnSessions`), and a page is woken once per change, not twice.
@Suite(
    "An instance does not hear its own PostgreSQL notifications again", .timeLimit(.minutes(2)),
    .enabled(if: StoreKind.all.contains(.postgres), "needs PANICBRIDGE_TEST_POSTGRES (make postgres-start)"))
struct OwnNotificationTests {
    @Test("one change on one instance is published once on its change stream; another instance's still arrives")
    func ownChangeOnce() async throws {
        try await StoreKind.withPostgresDatabase { url in
            let key = DeviceKey.generate()
            try await PostgresControlRoomStore.with(url: url, logger: StoreKind.quiet) { mine in
                try await PostgresControlRoomStore.with(url: url, logger: StoreKind.quiet) { other in
                    let room = ControlRoom(store: mine, key: key, logger: StoreKind.quiet)
                    let otherRoom = ControlRoom(store: other, key: key, logger: StoreKind.quiet)
                    let bus = DeskDevice()
                    let van = DeskDevice()
                    try await room.addDevice(id: bus.id, publicKey: bus.key.identity.jwk)
                    try await room.addDevice(id: van.id, publicKey: van.key.identity.jwk)
                    let (published, sink) = AsyncStream<ControlRoomChange>.makeStream()
                    let subscription = room.changes.subscribe { sink.yield($0) }
                    defer { subscription.cancel() }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await PostgresDeskFeed(store: mine, changes: room.changes).run() }
                        var iterator = published.makeAsyncIterator()
                        // The feed publishes every kind once its LISTEN is in place.
                        #expect(await iterator.next()?.kinds == Set(ControlRoomChange.Kind.allCases))
                        // One change on this instance: a name and its audit line, published by its control room.
                        try await room.editDevice(id: bus.id, DeviceMetadataEdit(name: "Bus 534"))
                        // Then a position stored by the other instance: its notification is delivered after the
                        // ones this instance's commit sent.
                        _ = try await otherRoom.receive(
                            RecordBatch(device: van.id, envelopes: [try van.next(.position).envelope]))
                        var seen: [ControlRoomChange] = []
                        while let change = await iterator.next() {
                            seen.append(change)
                            if change.kinds == [.positions] { break }
                        }
                        #expect(
                            seen == [
                                ControlRoomChange([.metadata, .audit]),
                                ControlRoomChange([.positions], devices: [van.id]),
                            ])
                        group.cancelAll()
                    }
                }
            }
        }
    }
}
