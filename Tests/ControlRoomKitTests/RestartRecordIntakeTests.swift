import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

/// The control room accepts and stores boot, restored and ignition records on both stores; none opens an alert
/// on the desk (only the tamper before them does).
@Suite("Boot, restore and ignition records at intake", .timeLimit(.minutes(5)))
struct RestartRecordIntakeTests {
    func chain(_ fixture: Fixture, _ bodies: [RecordBody]) throws -> [SealedRecord] {
        var previous: String?
        var result: [SealedRecord] = []
        for (index, body) in bodies.enumerated() {
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(),
                time: RecordTime(epochMilliseconds: 1_764_000_000_000 + Int64(index) * 1000), timeSource: .gnss,
                fix: RecordFix(latitude: 26.91, longitude: 75.78, ageMilliseconds: 90_000), body: body)
            let sealed = try fixture.signer.seal(
                Record(
                    device: fixture.deviceID, sequence: Int64(index + 1), previousHash: previous, draft: draft))
            previous = sealed.hash
            result.append(sealed)
        }
        return result
    }

    @Test(
        "boot, restored and ignition records are accepted and stored; only the tamper opens an alert",
        arguments: StoreKind.all)
    func accepted(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let bodies: [RecordBody] = [
                .boot(
                    BootReport(
                        reason: .powerCut, downMilliseconds: 60_000,
                        found: [FoundInput(input: "enclosure", state: .enclosureOpen)])),
                .tamper(reason: .wireCut, input: "driver"),
                .restored(reason: .wireCut, input: "driver"),
                .restored(reason: .enclosure, input: "enclosure"),
                .ignition(state: .on, input: "ignition"),
                .ignition(state: .off, input: "ignition"),
                .boot(BootReport(reason: .cleanRestart)),
            ]
            let records = try chain(fixture, bodies)
            let response = try await fixture.send(records.map(\.envelope))
            #expect(response.results.map(\.status) == Array(repeating: .accepted, count: bodies.count))
            #expect(try await fixture.room.recordCount() == bodies.count)
            let kinds = try await fixture.room.arrivalOrder(device: fixture.deviceID).map(\.kind)
            #expect(kinds == [.boot, .tamper, .restored, .restored, .ignition, .ignition, .boot])
            let alerts = try await fixture.room.allAlerts()
            #expect(alerts.map(\.kind) == ["tamper"], "\(alerts)")
            // The desk's device view: the wire was restored after its cut, so no tamper is shown any more.
            let health = try await fixture.room.health().first { $0.device == fixture.deviceID }
            #expect(health != nil && health?.tamper == nil, "\(String(describing: health))")
        }
    }

    @Test("the desk shows a tamper until a later restored record of the same reason and input ends it")
    func openTamper() {
        func record(_ sequence: Int64, _ body: RecordBody) -> Record {
            Record(
                device: "dev", sequence: sequence, previousHash: nil,
                draft: RecordDraft(
                    id: "r\(sequence)", time: RecordTime(epochMilliseconds: sequence), timeSource: .gnss, fix: nil,
                    body: body))
        }
        let cut = record(5, .tamper(reason: .wireCut, input: "driver"))
        #expect(DeviceHealth.openTamper(last: cut, restored: []) == .wireCut)
        #expect(
            DeviceHealth.openTamper(last: cut, restored: [record(6, .restored(reason: .wireCut, input: "driver"))])
                == nil)
        #expect(
            DeviceHealth.openTamper(last: cut, restored: [record(4, .restored(reason: .wireCut, input: "driver"))])
                == .wireCut)
        #expect(
            DeviceHealth.openTamper(
                last: cut, restored: [record(6, .restored(reason: .enclosure, input: "enclosure"))])
                == .wireCut)
        // A later restore of another input first among the latest: the wire's own restore still ends it.
        #expect(
            DeviceHealth.openTamper(
                last: cut,
                restored: [
                    record(7, .restored(reason: .enclosure, input: "enclosure")),
                    record(6, .restored(reason: .wireCut, input: "driver")),
                ]) == nil)
        #expect(DeviceHealth.openTamper(last: nil, restored: []) == nil)
    }
}
