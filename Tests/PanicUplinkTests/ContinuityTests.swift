import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Testing

/// A device whose outbox can be lost and reopened under the same key, with its stream mark beside the key.
final class LosableDevice: Sendable {
    let key = DeviceKey.generate()
    let directory: String
    var id: String { key.identity.deviceID }
    var outboxPath: String { directory + "/outbox.db" }
    var markPath: String { directory + "/device.key.stream" }

    init(directory: String) { self.directory = directory }

    func open() throws -> Outbox {
        try Outbox(
            path: outboxPath, sealer: RecordSigner(key: key),
            configuration: OutboxConfiguration(streamMarkPath: markPath), logger: quietLogger)
    }

    /// The outbox's records by identity.
    static func identities(_ outbox: Outbox) throws -> Set<RecordIdentity> {
        Set(
            try outbox.records().map { RecordIdentity(sequence: $0.sequence, hash: Envelope.hash($0.envelope)) }
        )
    }
}

func health(at time: RecordTime) -> RecordDraft {
    RecordDraft(
        id: UUID().uuidString.lowercased(), time: time, timeSource: .system, fix: nil,
        body: .health(HealthReport(queueDepth: 0, inputFaults: [], droppedRecords: 0, faults: [])))
}

/// Runs an uplink for `outbox` against `server` until `done` holds.
func deliver(
    _ outbox: Outbox, device: String, to server: RunningControlRoom, clock: ManualClock,
    submit drafts: [RecordDraft], until done: (Uplink) throws -> Bool
) async throws -> (Uplink, [UplinkEvent]) {
    let uplink = try Uplink(
        outbox: outbox, deviceID: device,
        backends: [.init(name: "cr", url: server.url, controlRoomKey: server.key.identity)],
        clock: clock, wallClock: wallClock(for: clock), seed: 7, logger: quietLogger)
    var events = uplink.events.makeAsyncIterator()
    var seen: [UplinkEvent] = []
    try await withUplink(uplink) {
        for draft in drafts { try uplink.submit(draft) }
        // As `drive`, keeping every event for the test to look at.
        while try !done(uplink), let event = await events.next() {
            seen.append(event)
            if case .idle(_, let until?) = event { clock.advance(to: until) }
            if seen.count > 100_000 {
                Issue.record("the condition did not hold after \(seen.count) events")
                break
            }
        }
    }
    // The uplink has stopped and its event stream ended: keep what came after the condition held too.
    while let event = await events.next() { seen.append(event) }
    return (uplink, seen)
}

@Suite("A lost outbox: the stream continues, a refused alert is never sent", .timeLimit(.minutes(2)))
struct ContinuityTests {
    enum Loss: String, CaseIterable { case deleted, corrupt }

    @Test(
        "after the outbox is deleted or found corrupt, a press reaches the control room by identity and the loss shows",
        arguments: Loss.allCases)
    func lostOutboxContinues(_ loss: Loss) async throws {
        let directory = try TemporaryDirectory()
        let device = LosableDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            var outbox: Outbox? = try device.open()
            let first = emergency(at: wall())
            _ = try await deliver(
                outbox!, device: device.id, to: server, clock: clock,
                submit: [position(0, at: wall()), first, position(1, at: wall())]
            ) { uplink in try uplink.alerts.state(of: first.id) == .sent && outbox!.status().undelivered == 0 }
            // An unsent record, then the outbox goes: the card re-imaged (key kept), or the file damaged.
            _ = try outbox!.append(position(2, at: wall()))
            outbox = nil
            switch loss {
            case .deleted:
                for suffix in ["", "-wal", "-shm"] {
                    try? FileManager.default.removeItem(atPath: device.outboxPath + suffix)
                }
            case .corrupt:
                for suffix in ["-wal", "-shm"] {
                    try? FileManager.default.removeItem(atPath: device.outboxPath + suffix)
                }
                try Data(repeating: 0x5a, count: 8192).write(to: URL(fileURLWithPath: device.outboxPath))
            }
            let reopened = try device.open()
            let press = emergency(at: wall())
            let (uplink, events) = try await deliver(
                reopened, device: device.id, to: server, clock: clock, submit: [press, health(at: wall())]
            ) { uplink in try uplink.alerts.state(of: press.id) == .sent && reopened.status().undelivered == 0 }
            // Numbering went on after the mark: no sequence number was used twice.
            #expect(try reopened.records().map(\.sequence) == [5, 6])
            let stored = Set(try await server.room.recordIdentities(device: device.id))
            let boxSide = try LosableDevice.identities(reopened)
            #expect(boxSide.isSubset(of: stored), "every record of the new outbox is at the control room by identity")
            #expect(stored.count == 5)
            #expect(uplink.alerts.undeliverable.isEmpty)
            #expect(!events.contains { if case .refused = $0 { true } else { false } })
            #expect(try await server.room.findings(device: device.id).isEmpty)
            let flags = try #require(try await server.room.devices().first { $0.id == device.id }).findings
            #expect(flags == ["\(ControlRoom.outboxLostFinding) seq 6"])
            // The unsent position died with the outbox: the control room sees the gap.
            #expect(try await server.room.gaps(device: device.id) == [4...4])
        }
    }

    @Test("with the mark lost too, the refused emergency stays pending and undeliverable, never sent, and is reported")
    func forkedAlertStaysPending() async throws {
        let directory = try TemporaryDirectory()
        let device = LosableDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            var outbox: Outbox? = try device.open()
            let first = emergency(at: wall())
            _ = try await deliver(outbox!, device: device.id, to: server, clock: clock, submit: [first]) { uplink in
                uplink.alerts.state(of: first.id) == .sent
            }
            outbox = nil
            // A restored image: outbox and mark both from before the first press.
            for path in [device.outboxPath, device.outboxPath + "-wal", device.outboxPath + "-shm", device.markPath] {
                try? FileManager.default.removeItem(atPath: path)
            }
            let reopened = try device.open()
            let press = emergency(at: wall())
            let (uplink, events) = try await deliver(
                reopened, device: device.id, to: server, clock: clock, submit: [press]
            ) { uplink in uplink.alerts.undeliverable.contains(press.id) && !uplink.faults.isEmpty }
            #expect(uplink.alerts.state(of: press.id) == .stored, "a refused alert is never sent")
            #expect(try reopened.status().undelivered == 1, "it stays pending")
            #expect(uplink.faults.map(\.description).contains("alert-undeliverable:cr:fork"))
            #expect(events.contains(.refused(backend: "cr", sequence: 1, kind: .emergency, reason: .fork)))
            #expect(events.contains(.fault(.alertUndeliverable(backend: "cr", reason: .fork))))
        }
    }

    @Test("a device registered under another id: its alert stays pending until the registry is right, then is sent")
    func deviceMismatchStaysPending() async throws {
        let directory = try TemporaryDirectory()
        let device = LosableDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: "bus-7", publicKey: device.key.identity.jwk)
            let outbox = try device.open()
            let press = emergency(at: wall())
            let uplink = try Uplink(
                outbox: outbox, deviceID: device.id,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: server.key.identity)],
                clock: clock, wallClock: wall, seed: 7, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                try uplink.submit(press)
                try await drive(uplink, events: &events, clock: clock) {
                    uplink.alerts.undeliverable.contains(press.id)
                }
                #expect(uplink.alerts.state(of: press.id) == .stored)
                #expect(uplink.faults.map(\.description).contains("alert-undeliverable:cr:device-mismatch"))
                #expect(try outbox.status().undelivered == 1)
                // The registry is put right: the alert still pending goes through on the lane's next retry.
                try await server.room.removeDevice(id: "bus-7")
                try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
                try await drive(uplink, events: &events, clock: clock) { uplink.alerts.state(of: press.id) == .sent }
                #expect(uplink.alerts.undeliverable.isEmpty)
                #expect(!uplink.faults.contains { $0.description.hasPrefix("alert-undeliverable") })
                let stored = Set(try await server.room.recordIdentities(device: device.id))
                #expect(try LosableDevice.identities(outbox) == stored)
            }
        }
    }
}
