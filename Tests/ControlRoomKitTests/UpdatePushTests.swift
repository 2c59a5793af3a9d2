import AsyncHTTPClient
import ControlRoomKit
import Foundation
import NIOCore
import PanicCore
import PanicSigning
import PanicUplink
import Synchronization
import Testing

/// The update documents the box's uplink handed on.
final class ReceivedUpdates: Sendable {
    let items = Mutex<[ReceivedUpdate]>([])
}

/// `GET url` with the headers given; the status and the body.
func get(_ url: String, headers: [(String, String)] = []) async throws -> (status: UInt, body: Data) {
    var request = HTTPClientRequest(url: url)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
    let bytes = try await response.body.collect(upTo: 4 << 20)
    return (response.status.code, Data(bytes.readableBytesView))
}

@Suite(
    "controlroom update push: a signed update reaches the box, its package only to a registered device",
    .timeLimit(.minutes(3)))
struct UpdatePushTests {
    /// A stand-in package (the control room reads nothing in it but its hash; the fields come from dpkg-deb).
    static func package(in directory: String) throws -> (path: String, artifact: UpdateArtifact) {
        let bytes = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let path = directory + "/panicbridge_0.9.1_amd64.deb"
        try bytes.write(to: URL(fileURLWithPath: path))
        let artifact = try UpdateArtifact(
            package: "panicbridge", version: "0.9.1", architecture: "amd64", sha256: PackageDigest.sha256(bytes),
            size: bytes.count)
        return (path, artifact)
    }

    @Test(
        "a queued update is audited, arrives verified with the box's next answer, and the box downloads its package",
        arguments: StoreKind.all)
    func pushReachesBox(kind: StoreKind) async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let packages = UpdatePackages(directory: directory + "/updates")
        let (source, artifact) = try Self.package(in: directory)
        _ = try packages.store(source, sha256: artifact.sha256, size: artifact.size)
        try await SkewedBox.with(kind, roomAhead: .zero, updates: packages) { box in
            let received = ReceivedUpdates()
            let uplink = box.uplink
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await update in uplink.updateDocuments { received.items.withLock { $0.append(update) } }
                }
                let alert = try box.press()
                try await box.drive { box.uplink.alerts.state(of: alert) == .sent }
                let issued = try await box.room.queueUpdate(
                    device: box.deviceID, artifact: artifact, floor: "0.9.0", by: .console, reason: "file x.deb")
                try await box.drive { received.items.withLock { $0.count } >= 1 }
                let update = try #require(received.items.withLock { $0.first })
                #expect(update.document == issued.document)
                #expect(update.document.path == "/v1/updates/\(artifact.sha256)")
                #expect(update.document.floor == "0.9.0")
                let target = directory + "/downloaded.deb"
                try await update.download(target)
                #expect(FileManager.default.contents(atPath: target) == FileManager.default.contents(atPath: source))
                let audit = try await box.room.audit(device: box.deviceID).filter { $0.action == .updatePush }
                #expect(audit.map(\.alert) == ["update-0.9.1"])
                #expect(audit.first?.reason.contains(artifact.sha256) == true)
                #expect(audit.first?.reason.hasPrefix("file x.deb") == true)
                group.cancelAll()
            }
        }
    }

    @Test(
        "the package endpoint refuses a client without a registered device's fresh proof for that very package, and a device it was not pushed to"
    )
    func downloadNeedsDeviceProof() async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let packages = UpdatePackages(directory: directory + "/updates")
        let (source, artifact) = try Self.package(in: directory)
        _ = try packages.store(source, sha256: artifact.sha256, size: artifact.size)
        let room = try ControlRoom(path: directory + "/cr.db", key: DeviceKey.generate(), logger: StoreKind.quiet)
        let device = DeviceKey.generate()
        try await room.addDevice(id: device.identity.deviceID, publicKey: device.identity.jwk)
        let signer = BatchSigner(key: device)
        try await serving(room, updates: packages) { url in
            let path = url + "/v1/updates/" + artifact.sha256
            let header = DownloadProof.header
            func proof(
                _ sha: String = artifact.sha256, by key: BatchSigner = signer, at time: RecordTime = .systemNow()
            )
                throws -> [(String, String)]
            {
                [(header, try DownloadProof.sign(sha256: sha, signer: key, time: time))]
            }
            // No proof at all.
            var answer = try await get(path)
            #expect(answer.status == 401)
            #expect(String(decoding: answer.body, as: UTF8.self).contains("missing"))
            #expect(answer.body.count < 200, "nothing of the package")
            // A key no registered device has.
            answer = try await get(path, headers: try proof(by: BatchSigner(key: DeviceKey.generate())))
            #expect(answer.status == 401)
            #expect(String(decoding: answer.body, as: UTF8.self).contains("unknown-device"))
            // The registered device's proof for another package is not one for this one.
            answer = try await get(path, headers: try proof(String(repeating: "0", count: 64)))
            #expect(answer.status == 401)
            #expect(String(decoding: answer.body, as: UTF8.self).contains("body-mismatch"))
            // An old proof (captured and replayed later).
            let old = RecordTime(epochMilliseconds: RecordTime.systemNow().epochMilliseconds - 10 * 60_000)
            answer = try await get(path, headers: try proof(at: old))
            #expect(answer.status == 401)
            #expect(String(decoding: answer.body, as: UTF8.self).contains("stale"))
            // A record request's proof (purpose batch) is not a download proof.
            let batch = try signer.sign(
                RecordBatch(device: device.identity.deviceID, envelopes: []), time: .systemNow())
            answer = try await get(path, headers: [(header, try #require(batch.proof))])
            #expect(answer.status == 401)
            // A forged signature.
            var forged = try DownloadProof.sign(sha256: artifact.sha256, signer: signer, time: .systemNow())
            forged.removeLast(4)
            forged += "AAAA"
            answer = try await get(path, headers: [(header, forged)])
            #expect(answer.status == 401)
            // A registered device's good proof, but no update naming the package was pushed to it yet: 403.
            answer = try await get(path, headers: try proof())
            #expect(answer.status == 403)
            #expect(String(decoding: answer.body, as: UTF8.self).contains("not-queued"))
            #expect(answer.body.count < 200, "nothing of the package")
            // Pushed to this device: another registered device, with its own fresh proof, still gets nothing.
            _ = try await room.queueUpdate(device: device.identity.deviceID, artifact: artifact, by: .console)
            let other = DeviceKey.generate()
            try await room.addDevice(id: other.identity.deviceID, publicKey: other.identity.jwk)
            answer = try await get(path, headers: try proof(by: BatchSigner(key: other)))
            #expect(answer.status == 403)
            #expect(String(decoding: answer.body, as: UTF8.self).contains("not-queued"))
            #expect(answer.body.count < 200, "nothing of the package")
            // The device itself gets the package; a hash never pushed to it is refused even to it.
            answer = try await get(path, headers: try proof())
            #expect(answer.status == 200)
            #expect(answer.body == FileManager.default.contents(atPath: source))
            let unknown = String(repeating: "a", count: 64)
            answer = try await get(url + "/v1/updates/" + unknown, headers: try proof(unknown))
            #expect(answer.status == 403)
            answer = try await get(url + "/v1/updates/..%2Fcr.db", headers: try proof())
            #expect(answer.status == 404)
        }
    }

    @Test("an update is refused before it is signed: another package, an unregistered device, a floor above it")
    func refusedBeforeSigning() async throws {
        #expect(throws: DeskError.self) {
            try UpdateArtifact(
                package: "panicbridge-controlroom", version: "0.9.1", architecture: "amd64",
                sha256: String(repeating: "a", count: 64), size: 10)
        }
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let room = try ControlRoom(path: directory + "/cr.db", key: DeviceKey.generate(), logger: StoreKind.quiet)
        let (_, artifact) = try Self.package(in: directory)
        await #expect(throws: ControlRoomError.unknownDevice("pb-nobody")) {
            try await room.queueUpdate(device: "pb-nobody", artifact: artifact, by: .console)
        }
        let device = DeviceKey.generate()
        try await room.addDevice(id: device.identity.deviceID, publicKey: device.identity.jwk)
        await #expect(throws: DeskError.self) {
            try await room.queueUpdate(
                device: device.identity.deviceID, artifact: artifact, floor: "1.0", by: .console)
        }
        #expect(try await room.audit().filter { $0.action == .updatePush }.isEmpty)
    }
}
