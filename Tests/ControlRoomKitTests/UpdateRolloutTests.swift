import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

/// Staged update rollouts on both stores (docs/updates.md → *Update rollouts*): each device's push is the signed
/// update document, and the boxes' health records (their `software`), sent over HTTP, decide.
@Suite(
    "Staged update rollouts: signed update per device, healthy on its software version, pause, audit",
    .timeLimit(.minutes(3)))
struct UpdateRolloutTests {
    static var artifact: UpdateArtifact {
        get throws {
            try UpdateArtifact(
                package: "panicbridge", version: "0.9.1", architecture: "arm64",
                sha256: String(repeating: "b", count: 64), size: 70_000)
        }
    }

    /// Sends `bodies` as the device's next records, signed, with `acks` and `refusals`, as its uplink does.
    static func send(
        _ server: DeskServer, _ device: DeskDevice, _ bodies: [RecordBody], acks: [String] = [],
        refusals: [CommandRefusalReport] = []
    ) async throws {
        let envelopes = try bodies.map { try device.next($0).envelope }
        let batch = try BatchSigner(key: device.key).sign(
            RecordBatch(
                device: device.id, envelopes: envelopes, commandAcks: acks,
                commandRefusals: refusals.isEmpty ? nil : refusals),
            time: RecordTime.systemNow())
        let answer = try await server.call(
            "POST", "/v1/records", headers: ["Content-Type": "application/json"],
            body: String(decoding: try JSONEncoder().encode(batch), as: UTF8.self))
        #expect(answer.status == 200, "\(answer.body)")
    }

    static func health(_ software: String, faults: [String] = []) -> RecordBody {
        .health(HealthReport(inputFaults: faults, software: software))
    }

    /// The update document queued for `device` by the rollout.
    static func document(_ server: DeskServer, _ device: DeskDevice) async throws -> (UpdateDocument, String) {
        let command = try #require(
            try await server.room.store.commands(device: device.id, alert: UpdateQueue.alert(version: "0.9.1")).first)
        let envelope = try Envelope(command.envelope)
        return (try JSONDecoder().decode(UpdateDocument.self, from: envelope.payload), command.nonce)
    }

    @Test(
        "an update rollout over HTTP: each device gets its own signed update; healthy on the new software, a rolled-back box and a refusing box fail stage 2 and pause it; every step audited",
        arguments: StoreKind.all)
    func rollout(kind: StoreKind) async throws {
        let artifact = try Self.artifact
        try await DeskServer.with(store: kind) { server in
            let room = server.room
            let buses = try await RolloutTests.fleet(server)
            await #expect(throws: DeskError.self) {
                try await room.startUpdateRollout(
                    group: "buses", artifact: artifact, floor: "1.0", stages: [100], maxFailedPercent: 0,
                    waitMs: 600_000, by: .console)
            }
            let rollout = try await room.startUpdateRollout(
                group: "buses", artifact: artifact, floor: "0.9.0", stages: [25, 100], maxFailedPercent: 30,
                waitMs: 600_000, by: .console, reason: "file panicbridge_0.9.1_arm64.deb")
            #expect(rollout.kind == .update && rollout.state == .running && rollout.stage == 0)
            // Stage 1 is one box: only it has a document, signed by this control room, for it alone.
            let (first, nonce) = try await Self.document(server, buses[0])
            #expect(first.device == buses[0].id && first.sha256 == artifact.sha256 && first.floor == "0.9.0")
            #expect(first.version == "0.9.1" && first.architecture == "arm64")
            #expect(try await room.store.lastQueued(device: buses[1].id, action: UpdateQueue.action) == nil)
            #expect(try await room.store.lastQueued(device: buses[0].id, action: ConfigQueue.action) == nil)

            // Still the old software: pending. The new software with a faulty input (not armed): still pending.
            try await Self.send(server, buses[0], [Self.health("0.9.0")], acks: [nonce])
            #expect(try await room.advanceRollouts().changed == false)
            try await Self.send(server, buses[0], [Self.health("0.9.1", faults: ["panic-1"])])
            #expect(try await room.advanceRollouts().changed == false)
            // Armed on 0.9.1: healthy, and stage 2 goes out.
            try await Self.send(server, buses[0], [Self.health("0.9.1")])
            #expect(try await room.advanceRollouts().changed)
            var status = try await room.rolloutStatus(id: rollout.id)
            #expect(status.rollout.stage == 1 && status.rollout.state == .running)
            #expect(status.devices.map(\.row.state) == [.healthy, .pending, .pending, .pending])
            #expect(status.devices[0].acknowledged && status.devices[0].running == "0.9.1")
            #expect(try await Self.document(server, buses[3]).0.device == buses[3].id)

            // Stage 2: one healthy; one ran 0.9.1 and its agent rolled it back to 0.9.0; one box refuses the
            // document (its pinned key is not this control room's).
            try await Self.send(server, buses[1], [Self.health("0.9.1")])
            try await Self.send(server, buses[2], [Self.health("0.9.1"), Self.health("0.9.0")])
            let refused = try await Self.document(server, buses[3]).1
            try await Self.send(
                server, buses[3], [Self.health("0.9.0")],
                refusals: [CommandRefusalReport(nonce: refused, reason: "forged")])
            try await room.advanceRollouts()
            status = try await room.rolloutStatus(id: rollout.id)
            #expect(status.rollout.state == .paused, "2 of 3 failed is over 30 %")
            #expect(status.devices.map(\.row.state) == [.healthy, .healthy, .failed, .failed])
            #expect(status.devices.map(\.running) == ["0.9.1", "0.9.1", "0.9.0", "0.9.0"])
            #expect(status.devices[2].row.reason == "rolled back: health shows 0.9.0 after 0.9.1")
            #expect(status.devices[3].row.reason.hasPrefix("refused by the box: update refused: forged"))

            let audit = try await room.audit().filter { $0.alert == rollout.auditName }
            #expect(
                audit.map(\.action) == [
                    .rolloutCreate, .rolloutStage, .rolloutStage, .rolloutDeviceFailed, .rolloutDeviceFailed,
                    .rolloutPause,
                ])
            #expect(audit.first?.reason.hasPrefix("update to 0.9.1 (sha256 \(artifact.sha256)") == true)
            let pushes = try await room.audit().filter { $0.action == .updatePush }
            #expect(pushes.map(\.device).sorted() == buses.map(\.id))
            #expect(
                pushes.allSatisfy { $0.reason.hasPrefix("rollout-\(rollout.id) stage ") && $0.alert == "update-0.9.1" })
            #expect(try await room.audit().filter { $0.action == .configPush }.isEmpty)
            // A config rollout's view is not confused by it.
            #expect(try await room.configStatus(group: "buses").allSatisfy { $0.state == "-" })
        }
    }

    @Test(
        "under the rollout service a package that never arms (health stays on the old software) fails at --wait and pauses the stage; later stages never get it",
        arguments: StoreKind.all)
    func neverArms(kind: StoreKind) async throws {
        let artifact = try Self.artifact
        try await DeskServer.with(store: kind) { server in
            let room = server.room
            let buses = try await RolloutTests.fleet(server)
            let rollout = try await room.startUpdateRollout(
                group: "buses", artifact: artifact, stages: [50, 100], maxFailedPercent: 0, waitMs: 2000,
                by: .console)
            let service = RolloutService(
                room: room, signal: server.desk.signal, interval: .zero, logger: StoreKind.quiet)
            // One box of stage 1 comes back on 0.9.1; the other is back on 0.9.0 (never armed, rolled back). Sent
            // before the service's first step, so a slow machine cannot let the deadline pass before they arrive.
            try await Self.send(server, buses[0], [Self.health("0.9.1")])
            try await Self.send(server, buses[1], [Self.health("0.9.0")])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.loop() }
                var state = RolloutState.running
                while state == .running {
                    let version = server.desk.signal.version
                    state = try await room.rolloutStatus(id: rollout.id).rollout.state
                    if state == .running { _ = await server.desk.signal.waitForChange(after: version) }
                }
                #expect(state == .paused)
                let status = try await room.rolloutStatus(id: rollout.id)
                #expect(status.devices.map(\.row.state) == [.healthy, .failed, .waiting, .waiting])
                #expect(status.devices[1].row.reason.contains("within 2 s"))
                #expect(status.devices[1].row.reason.contains("health shows 0.9.0"))
                for bus in buses[2...] {
                    #expect(try await room.store.lastQueued(device: bus.id, action: UpdateQueue.action) == nil)
                }
                group.cancelAll()
            }
        }
    }
}

@Suite("The desk's update rollouts: a stored package by name, admins only, with CSRF", .timeLimit(.minutes(2)))
struct DeskUpdateRolloutTests {
    @Test(
        "an operator, a supervisor and a request without the CSRF token are refused; an unknown package is named; an admin rolls out a stored package picked by name",
        arguments: StoreKind.all)
    func adminOnly(kind: StoreKind) async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let packages = UpdatePackages(directory: directory + "/updates")
        let (source, artifact) = try UpdatePushTests.package(in: directory)
        _ = try packages.store(source, sha256: artifact.sha256, size: artifact.size)
        try packages.describe(artifact, name: "panicbridge_0.9.1_amd64.deb")
        try await DeskServer.with(store: kind, updates: packages) { server in
            let buses = try await RolloutTests.fleet(server)
            for (name, role) in [("ravi", DeskRole.operator), ("sunil", .supervisor), ("asha", .admin)] {
                try await server.room.addUser(name: name, role: role, password: "correct horse \(name)", cost: 4)
            }
            let body =
                #"{"group":"buses","package":"panicbridge_0.9.1_amd64.deb","floor":"0.9.0","stages":"50,100","maxFailed":"0%","wait":"10m"}"#
            for name in ["ravi", "sunil"] {
                let session = try await server.login(name, "correct horse \(name)")
                let refused = try await server.call(
                    "POST", "/v1/update-rollouts", headers: DeskServer.change(session), body: body)
                #expect(refused.status == 403, "\(name): \(refused.body)")
                #expect(refused.body.contains("needs the admin role"), "\(refused.body)")
                let list = try await server.call("GET", "/v1/update-packages", headers: ["Cookie": session.cookie])
                #expect(list.status == 403, "\(name): \(list.body)")
            }
            let admin = try await server.login("asha", "correct horse asha")
            var noToken = DeskServer.change(admin)
            noToken["X-CSRF-Token"] = nil
            let forged = try await server.call("POST", "/v1/update-rollouts", headers: noToken, body: body)
            #expect(forged.status == 403, "\(forged.body)")
            #expect(try await server.room.rollouts().isEmpty)
            #expect(try await server.room.audit().filter { $0.action == .updatePush }.isEmpty)

            let list = try await server.call("GET", "/v1/update-packages", headers: ["Cookie": admin.cookie])
            let catalogue = try JSONDecoder().decode([UpdatePackages.Stored].self, from: Data(list.body.utf8))
            #expect(catalogue.map(\.name) == ["panicbridge_0.9.1_amd64.deb"])
            #expect(catalogue.first?.sha256 == artifact.sha256 && catalogue.first?.version == "0.9.1")
            let unknown = try await server.call(
                "POST", "/v1/update-rollouts", headers: DeskServer.change(admin),
                body: #"{"group":"buses","package":"../../etc/passwd"}"#)
            #expect(unknown.status == 400 && unknown.body.contains("no stored package"), "\(unknown.body)")

            let started = try await server.call(
                "POST", "/v1/update-rollouts", headers: DeskServer.change(admin), body: body)
            #expect(started.status == 200, "\(started.body)")
            let status = try JSONDecoder().decode(RolloutStatus.self, from: Data(started.body.utf8))
            #expect(status.rollout.kind == .update && status.rollout.createdBy == "asha")
            #expect(status.devices.map(\.row.state) == [.pending, .pending, .waiting, .waiting])
            #expect(status.devices.map(\.row.version) == ["0.9.1", "0.9.1", nil, nil])
            let created = try #require(try await server.room.audit().first { $0.action == .rolloutCreate })
            #expect(created.user == "asha" && created.role == .admin)
            #expect(created.reason.contains("floor 0.9.0") && created.reason.contains("from the desk"))
            let pushes = try await server.room.audit().filter { $0.action == .updatePush }
            #expect(pushes.map(\.device) == Array(buses.prefix(2).map(\.id)))
        }
    }
}
