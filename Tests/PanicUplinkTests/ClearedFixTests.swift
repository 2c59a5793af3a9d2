import Foundation
import PanicCore
import PanicStore
import PanicUplink
import Testing

/// The `cleared` record the uplink makes when the control room clears an alert says where the box is, so that a
/// tracking backend's emergency-off frame is not drawn at 0,0.
@Suite("A cleared record carries the box's last fix", .timeLimit(.minutes(5)))
struct ClearedFixTests {
    static let fix = RecordFix(latitude: 26.912434, longitude: 75.787271, mode: .threeD, ageMilliseconds: 3_000)

    @Test("cleared over HTTP: the cleared record has the located fix; its AIS-140 frame reads there, not 0,0")
    func clearedLocated() async throws {
        _ = try await OperatorActionTests().withAcceptedEmergency(seed: 7) { server, device, press, driver in
            driver.uplink.locate { Self.fix }
            try await server.room.clear(device: device.id, alert: press.id)
            try await driver.until { try await server.room.allAlerts().first?.deviceCleared == true }
            let cleared = try #require(
                try device.outbox.records().compactMap { $0.decodedRecord() }.first { $0.kind == .cleared })
            #expect(cleared.fix == Self.fix)
            let frame = try #require(
                AIS140.frames(
                    for: cleared, identity: AIS140FrameTests.identity, live: true, clearing: .emergency
                ).first)
            let read = try #require(ITSFrameReader.read(String(frame.dropLast(2))))
            #expect(read.latitude == 26.912434 && read.longitude == 75.787271 && read.event == 11)
        }
    }
}
