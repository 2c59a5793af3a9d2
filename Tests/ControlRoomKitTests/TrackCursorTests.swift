import ControlRoomKit
import Foundation
import PanicCore
import Testing

/// The open alerts' route trails of a push frame in one query (`envelopes(tracks:)`), on both stores: each cursor
/// gets exactly what `envelopes(device:from:afterRowID:)` gives it alone.
@Suite("Route trails of every open alert in one query", .timeLimit(.minutes(2)))
struct TrackCursorTests {
    @Test(
        "each cursor gets its own device's records from its sequence, after its row, in order", arguments: StoreKind.all
    )
    func batched(_ kind: StoreKind) async throws {
        try await Fixture.with(kind) { fixture in
            let other = try await fixture.sibling()
            _ = try await fixture.send(try fixture.chain(6, alertAt: [2]).map(\.envelope))
            _ = try await other.send(try other.chain(3, alertAt: [1]).map(\.envelope))
            let store = fixture.room.store
            let firstFour = try await store.envelopes(device: fixture.deviceID, from: 1, afterRowID: 0).prefix(4)
            let cursors = [
                TrackCursor(device: fixture.deviceID, from: 2, afterRowID: 0),
                // The same device, read before up to its fourth record's row: only what was stored after it.
                TrackCursor(device: fixture.deviceID, from: 1, afterRowID: try #require(firstFour.last).rowID),
                TrackCursor(device: other.deviceID, from: 1, afterRowID: 0),
                TrackCursor(device: "no-such-device", from: 1, afterRowID: 0),
            ]
            let batched = try await store.envelopes(tracks: cursors)
            for cursor in cursors.prefix(3) {
                let alone = try await store.envelopes(
                    device: cursor.device, from: cursor.from, afterRowID: cursor.afterRowID)
                #expect(batched[cursor] == alone)
            }
            #expect(batched[cursors[0]]?.count == 5)
            #expect(batched[cursors[1]]?.count == 2)
            #expect(batched[cursors[2]]?.count == 3)
            #expect(batched[cursors[3]] == nil)
            #expect(try await store.envelopes(tracks: []).isEmpty)
        }
    }
}
