import ControlRoomDesk
import ControlRoomKit
import Synchronization
import Testing

/// Subscriptions to the control room's change stream (`ControlRoomChanges`) end: by `cancel()`, and a desk's when
/// the desk ends, so a desk made and dropped while its room lives is not called on every change after.
@Suite("Subscriptions to the control room's change stream end", .timeLimit(.minutes(3)))
struct ChangeSubscriptionTests {
    @Test("a cancelled subscription is called no more; a second cancel does nothing")
    func cancel() {
        let changes = ControlRoomChanges()
        let calls = Mutex(0)
        let kept = Mutex(0)
        let subscription = changes.subscribe { _ in calls.withLock { $0 += 1 } }
        let other = changes.subscribe { _ in kept.withLock { $0 += 1 } }
        changes.publish(ControlRoomChange([.alerts]))
        subscription.cancel()
        subscription.cancel()
        changes.publish(ControlRoomChange([.alerts]))
        #expect(calls.withLock { $0 } == 1)
        #expect(kept.withLock { $0 } == 2)
        #expect(changes.count == 1)
        other.cancel()
        #expect(changes.count == 0)
    }

    @Test("a desk made and dropped while its room lives leaves the room's change stream", arguments: StoreKind.all)
    func droppedDesk(_ kind: StoreKind) async throws {
        try await DeskServer.with(store: kind) { server in
            let room = server.room
            let before = room.changes.count
            weak var dropped: Desk?
            do {
                let desk = Desk(room: room)
                dropped = desk
                #expect(room.changes.count == before + 1)
            }
            #expect(dropped == nil)
            #expect(room.changes.count == before)
            // The desk the server serves still hears the room.
            let version = server.desk.signal.version
            room.changes.publish(ControlRoomChange([.alerts]))
            #expect(server.desk.signal.version > version)
        }
    }
}
