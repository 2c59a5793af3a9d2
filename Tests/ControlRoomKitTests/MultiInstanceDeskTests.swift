import ControlRoomDesk
import ControlRoomKit
import ControlRoomPostgres
import Foundation
import PanicCore
import PanicSigning
import Testing

/// Two `controlroom serve` instances on one PostgreSQL database, each with its desk on a loopback port and the
/// desk feed the command runs (`PostgresDeskFeed`): what one ingests reaches the pages the other serves.
@Suite(
    "Desks of several instances on one PostgreSQL database", .timeLimit(.minutes(3)),
    .enabled(if: StoreKind.all.contains(.postgres), "needs PANICBRIDGE_TEST_POSTGRES (make postgres-start)"))
struct MultiInstanceDeskTests {
    /// The part of a push message this test reads.
    struct Push: Decodable {
        var upsert: [DeskAlert]
    }

    @Test("a position ingested by one instance (POST /v1/records) shows on a push stream served by the other")
    func positionAcrossInstances() async throws {
        try await StoreKind.withPostgresDatabase { url in
            let key = DeviceKey.generate()
            try await PostgresControlRoomStore.with(url: url, logger: StoreKind.quiet) { first in
                try await PostgresControlRoomStore.with(url: url, logger: StoreKind.quiet) { second in
                    let roomOne = ControlRoom(store: first, key: key, logger: StoreKind.quiet)
                    let roomTwo = ControlRoom(store: second, key: key, logger: StoreKind.quiet)
                    let deskTwo = Desk(room: roomTwo, configuration: DeskConfiguration(heartbeat: .seconds(1)))
                    try await DeskServer.serving(Desk(room: roomOne)) { one in
                        try await DeskServer.serving(deskTwo) { two in
                            try await withThrowingTaskGroup(of: Void.self) { feed in
                                feed.addTask {
                                    try await PostgresDeskFeed(store: second, changes: roomTwo.changes).run()
                                }
                                // The feed pokes once its LISTEN is in place.
                                #expect(await deskTwo.signal.changed(after: 0, within: .seconds(20)) != nil)
                                try await positionReaches(two, from: one)
                                feed.cancelAll()
                            }
                        }
                    }
                }
            }
        }
    }

    /// A bus presses on `one`; once `two`'s stream shows the alert, the bus reports a new position to `one`, and
    /// `two`'s stream must show the alert at it.
    func positionReaches(_ two: DeskServer, from one: DeskServer) async throws {
        let bus = DeskDevice()
        try await one.register(bus, name: "Bus 534")
        _ = try await one.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
        let asha = try await two.login("asha", "correct horse asha")
        let press = try bus.next(.emergency(input: "panic"), latitude: 28.6000, longitude: 77.2000)
        try await one.send(bus, [press.envelope])
        let (shown, shownSink) = AsyncStream<Void>.makeStream()
        let seen = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                var events = try await two.openEvents(cookie: asha.cookie)
                var alertShown = false
                while let event = try await events.nextEvent() {
                    let push = try JSONDecoder().decode(Push.self, from: Data(event.utf8))
                    guard let row = push.upsert.first(where: { $0.alert.id == press.id }) else { continue }
                    if row.current?.latitude == 28.6500 { return true }
                    if !alertShown {
                        alertShown = true
                        shownSink.yield()
                    }
                }
                shownSink.finish()
                return false
            }
            group.addTask {
                // A bound on the wait for the event, not a stand-in for it: without the change stream the
                // position never reaches this instance's pages.
                try await Task.sleep(for: .seconds(30))
                shownSink.finish()
                return false
            }
            var iterator = shown.makeAsyncIterator()
            #expect(await iterator.next() != nil, "the press never showed on the other instance's push stream")
            try await one.send(bus, [try bus.next(.position, latitude: 28.6500, longitude: 77.2000).envelope])
            let first = try await group.next() ?? false
            group.cancelAll()
            shownSink.finish()
            return first
        }
        #expect(seen, "the position ingested by one instance never showed on the other's push stream")
    }
}
