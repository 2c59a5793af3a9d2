import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Testing

@Suite("Uplink delivery over real HTTP on loopback", .timeLimit(.minutes(3)))
struct UplinkDeliveryTests {
    @Test("an outage of hours, then recovery: every record arrives exactly once, the alert before the backlog")
    func outageThenRecovery() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            server.faults.set(.resetConnection)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: server.key.identity, batchSize: 50)],
                clock: clock, wallClock: wall, seed: 1, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                // Three hours without a link: a position every minute piles up.
                for minute in 0..<180 {
                    try uplink.submit(position(minute, at: wall()))
                    let target = clock.now.advanced(by: .seconds(60))
                    try await drive(uplink, events: &events, clock: clock) { clock.now >= target }
                    clock.advance(to: target)
                }
                try uplink.submit(emergency(at: wall()))
                // The link comes back once the emergency's first attempt has failed and nothing is in flight
                // (a backlog batch already on the wire when the link returns would arrive first, and rightly).
                var alertFailed = false
                while let event = await events.next() {
                    if case .failed(_, .alert, _) = event { alertFailed = true }
                    if case .idle = event, alertFailed { break }
                }
                #expect(try await server.room.recordCount() == 0)
                let failuresDuringOutage = server.faults.injected
                server.faults.set(nil)
                try await drive(uplink, events: &events, clock: clock) {
                    try await server.room.recordCount() == 181 && device.outbox.status().undelivered == 0
                }
                let arrivals = try await server.room.arrivalOrder(device: device.id)
                #expect(arrivals.count == 181)
                #expect(Set(arrivals.map(\.sequence)) == Set(1...181))
                #expect(arrivals.first?.kind == .emergency)
                #expect(try await server.room.gaps(device: device.id).isEmpty)
                #expect(try await server.room.findings(device: device.id).isEmpty)
                // Backoff, not hammering: far fewer attempts than the 180 minutes' worth of records.
                #expect(failuresDuringOutage > 10)
                #expect(failuresDuringOutage < 400)
            }
        }
    }

    @Test(
        "a server that answers 500, resets, answers slowly, times out or loses the answer still gets each record once",
        arguments: [
            FaultInjector.Fault.internalError, .resetConnection, .delay(.milliseconds(50)), .delay(.seconds(2)),
            .loseResponse,
        ])
    func faultyServer(fault: FaultInjector.Fault) async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            server.faults.set(fault, count: 3)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id,
                backends: [
                    .init(name: "cr", url: server.url, batchSize: 20, requestTimeout: .milliseconds(500))
                ],
                clock: clock, wallClock: wall, seed: 2, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                for index in 0..<60 { try uplink.submit(position(index, at: wall())) }
                try uplink.submit(emergency(at: wall()))
                try await drive(uplink, events: &events, clock: clock) {
                    try device.outbox.status().undelivered == 0
                }
                #expect(server.faults.injected == 3)
                #expect(try await server.room.recordCount(device: device.id) == 61)
                #expect(try await server.room.gaps(device: device.id).isEmpty)
                // A resend of a stored record is a duplicate, never a fork or a second copy.
                #expect(try await server.room.findings(device: device.id).isEmpty)
            }
        }
    }

    @Test("two backends, one down: the other gets everything at once, and the down one catches up later")
    func twoBackendsOneDown() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(directory: directory.path, name: "regulator") { regulator in
            try await withControlRoom(directory: directory.path, name: "operator") { operatorRoom in
                for server in [regulator, operatorRoom] {
                    try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
                }
                operatorRoom.faults.set(.resetConnection)
                let uplink = try Uplink(
                    outbox: device.outbox, deviceID: device.id,
                    backends: [
                        .init(name: "regulator", url: regulator.url, batchSize: 25),
                        .init(name: "operator", url: operatorRoom.url, batchSize: 25),
                    ],
                    clock: clock, wallClock: wall, seed: 3, logger: quietLogger)
                var events = uplink.events.makeAsyncIterator()
                try await withUplink(uplink) {
                    for index in 0..<100 { try uplink.submit(position(index, at: wall())) }
                    try uplink.submit(emergency(at: wall()))
                    // Done when the regulator has everything and the device has heard so.
                    try await drive(uplink, events: &events, clock: clock) {
                        try await regulator.room.recordCount() == 101
                            && device.outbox.status().backends.first { $0.name == "regulator" }?.undelivered == 0
                    }
                    #expect(try await regulator.room.recordCount() == 101)
                    #expect(try await operatorRoom.room.recordCount() == 0)
                    let status = try device.outbox.status()
                    #expect(status.backends.first { $0.name == "regulator" }?.undelivered == 0)
                    #expect(status.backends.first { $0.name == "operator" }?.undelivered == 101)
                    // Ten minutes later the operator's server is back.
                    let later = clock.now.advanced(by: .seconds(600))
                    try await drive(uplink, events: &events, clock: clock) { clock.now >= later }
                    operatorRoom.faults.set(nil)
                    try await drive(uplink, events: &events, clock: clock) {
                        try await operatorRoom.room.recordCount() == 101 && device.outbox.status().undelivered == 0
                    }
                    #expect(try await regulator.room.recordCount() == 101)
                    #expect(try await operatorRoom.room.arrivalOrder(device: device.id).first?.kind == .emergency)
                    #expect(try await operatorRoom.room.gaps(device: device.id).isEmpty)
                }
            }
        }
    }
}
