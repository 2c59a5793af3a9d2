import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import PanicUplink
import Synchronization
import Testing

/// The documents the box's uplink handed on.
final class Received: Sendable {
    let items = Mutex<[ReceivedConfig]>([])
}

@Suite("controlroom config push: a signed document reaches the box over the command path", .timeLimit(.minutes(3)))
struct ConfigPushTests {
    @Test(
        "pushed documents get consecutive versions, are audited, and arrive verified with the box's next answer",
        arguments: StoreKind.all)
    func pushReachesBox(kind: StoreKind) async throws {
        try await SkewedBox.with(kind, roomAhead: .zero) { box in
            let received = Received()
            let uplink = box.uplink
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await document in uplink.configDocuments { received.items.withLock { $0.append(document) } }
                }
                // An open alert keeps the box asking, so the answer to its next request carries the document.
                let alert = try box.press()
                try await box.drive { box.uplink.alerts.state(of: alert) == .sent }
                let first = try await box.room.pushConfig(
                    device: box.deviceID, settings: "privacy_mode: true\n", by: .console, reason: "file a.yaml")
                let second = try await box.room.pushConfig(
                    device: box.deviceID, settings: "privacy_mode: false\n", by: .console)
                #expect(first.document.version == 1)
                #expect(second.document.version == 2)
                try await box.drive { received.items.withLock { $0.count } >= 2 }
                let documents = received.items.withLock { $0 }.sorted { $0.document.version < $1.document.version }
                #expect(documents.map(\.document.version) == [1, 2])
                #expect(documents.first?.document.settings == "privacy_mode: true\n")
                #expect(documents.first?.document.device == box.deviceID)
                #expect(documents.first?.envelope == first.envelope)
                let audit = try await box.room.audit(device: box.deviceID).filter { $0.action == .configPush }
                #expect(audit.map(\.alert) == ["config-v1", "config-v2"])
                #expect(audit.first?.user == "console")
                #expect(audit.first?.reason == "file a.yaml")
                group.cancelAll()
            }
        }
    }

    @Test("a document for an unregistered device is refused before it is signed", arguments: StoreKind.all)
    func unknownDevice(kind: StoreKind) async throws {
        try await SkewedBox.with(kind, roomAhead: .zero) { box in
            await #expect(throws: ControlRoomError.unknownDevice("pb-nobody")) {
                try await box.room.pushConfig(device: "pb-nobody", settings: "log_level: debug\n", by: .console)
            }
            let pushes = try await box.room.audit().filter { $0.action == .configPush }
            #expect(pushes.isEmpty)
        }
    }
}
