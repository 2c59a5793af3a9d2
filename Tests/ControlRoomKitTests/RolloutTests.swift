import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

/// Staged configuration rollouts on both stores, driven by health records the boxes send over HTTP.
@Suite("Staged config rollouts: groups, stages, revert and silence, pause, resume, audit", .timeLimit(.minutes(3)))
struct RolloutTests {
    /// Sends `bodies` as the device's next records, signed and with `acks`, as its uplink does.
    static func send(
        _ server: DeskServer, _ device: DeskDevice, _ bodies: [RecordBody], acks: [String] = []
    ) async throws {
        let envelopes = try bodies.map { try device.next($0).envelope }
        let batch = try BatchSigner(key: device.key).sign(
            RecordBatch(device: device.id, envelopes: envelopes, commandAcks: acks), time: server.wall())
        let answer = try await server.call(
            "POST", "/v1/records", headers: ["Content-Type": "application/json"],
            body: String(decoding: try JSONEncoder().encode(batch), as: UTF8.self))
        #expect(answer.status == 200, "\(answer.body)")
    }

    static func health(_ version: Int?) -> RecordBody { .health(HealthReport(configVersion: version)) }

    /// The nonce of the configuration document version `version` queued for `device`.
    static func nonce(_ server: DeskServer, _ device: DeskDevice, version: Int) async throws -> String {
        try #require(try await server.room.store.commands(device: device.id, alert: "config-v\(version)").first).nonce
    }

    /// Four boxes in group `buses` (and one outside it), by id.
    static func fleet(_ server: DeskServer) async throws -> [DeskDevice] {
        let devices = (0..<4).map { _ in DeskDevice(time: server.wall()) }.sorted { $0.id < $1.id }
        for (index, device) in devices.enumerated() {
            try await server.register(device, name: "Bus \(index)")
            try await server.room.setGroup(device: device.id, group: "buses")
        }
        let other = DeskDevice(time: server.wall())
        try await server.register(other, name: "Booth")
        try await server.room.setGroup(device: other.id, group: "booths")
        return devices
    }

    @Test(
        "a config rollout over HTTP: stage 1 healthy, stage 2 pushed; a box that reverts fails it and pauses it past the threshold; resume finishes; every step audited",
        arguments: StoreKind.all)
    func rollout(kind: StoreKind) async throws {
        try await DeskServer.with(store: kind) { server in
            let room = server.room
            let buses = try await Self.fleet(server)
            #expect(try await room.devices(inGroup: "buses") == buses.map(\.id))
            await #expect(throws: RolloutError.emptyGroup("trams")) {
                try await room.startConfigRollout(
                    group: "trams", settings: "log_level: debug\n", stages: [100], maxFailedPercent: 10,
                    waitMs: 600_000, by: .console)
            }
            let rollout = try await room.startConfigRollout(
                group: "buses", settings: "log_level: debug\n", stages: [25, 100], maxFailedPercent: 30,
                waitMs: 600_000, by: .console, reason: "file debug.yaml")
            #expect(rollout.state == .running && rollout.stage == 0)
            // Stage 1 is one box: only it has the document.
            #expect(try await room.store.lastQueued(device: buses[0].id, action: "config")?.alert == "config-v1")
            #expect(try await room.store.lastQueued(device: buses[1].id, action: "config") == nil)

            // It runs version 1 and says so in its health record, acknowledging the document.
            try await Self.send(
                server, buses[0], [Self.health(nil), Self.health(1)],
                acks: [try await Self.nonce(server, buses[0], version: 1)])
            #expect(try await room.advanceRollouts().changed)
            var status = try await room.rolloutStatus(id: rollout.id)
            #expect(status.rollout.stage == 1 && status.rollout.state == .running)
            #expect(status.devices.map(\.row.state) == [.healthy, .pending, .pending, .pending])
            #expect(status.devices.first?.acknowledged == true && status.devices.first?.running == "1")

            // Stage 2: one box healthy, one back on its local file after running version 1 (it reverted).
            try await Self.send(server, buses[1], [Self.health(1)])
            try await Self.send(server, buses[2], [Self.health(1), Self.health(nil)])
            try await room.advanceRollouts()
            status = try await room.rolloutStatus(id: rollout.id)
            #expect(status.rollout.state == .paused, "1 of 3 failed is over 30 %")
            #expect(status.devices.map(\.row.state) == [.healthy, .healthy, .failed, .pending])
            #expect(status.devices[2].row.reason.hasPrefix("reverted"))

            // Paused: the last box's health changes nothing.
            try await Self.send(server, buses[3], [Self.health(1)])
            #expect(try await room.advanceRollouts().changed == false)
            #expect(try await room.rolloutStatus(id: rollout.id).rollout.state == .paused)

            try await room.resumeRollout(id: rollout.id, by: AuditActor(user: "asha", role: .admin))
            status = try await room.rolloutStatus(id: rollout.id)
            #expect(status.rollout.state == .done)
            #expect(status.devices.map(\.row.state) == [.healthy, .healthy, .failed, .healthy])
            await #expect(throws: RolloutError.finished(rollout.id, .done)) {
                try await room.abortRollout(id: rollout.id, by: .console)
            }

            let config = try await room.configStatus(group: "buses")
            #expect(config.map(\.device) == buses.map(\.id))
            #expect(config.map(\.pushed) == [1, 1, 1, 1])
            #expect(config.map(\.running) == [1, 1, nil, 1])
            #expect(config.map(\.state) == ["healthy", "healthy", "failed", "healthy"])
            #expect(config[0].acknowledged && !config[1].acknowledged)
            #expect(try await room.configStatus().count == 5)

            let audit = try await room.audit().filter { $0.alert == rollout.auditName }
            #expect(
                audit.map(\.action) == [
                    .rolloutCreate, .rolloutStage, .rolloutStage, .rolloutDeviceFailed, .rolloutPause, .rolloutResume,
                    .rolloutDone,
                ])
            #expect(audit.first?.user == "console" && audit.first?.reason.contains("file debug.yaml") == true)
            #expect(audit.first { $0.action == .rolloutDeviceFailed }?.device == buses[2].id)
            #expect(audit.first { $0.action == .rolloutResume }?.user == "asha")
            #expect(audit.filter { $0.action == .rolloutStage }.allSatisfy { $0.user == "controlroom" })
            let pushes = try await room.audit().filter { $0.action == .configPush }
            #expect(pushes.count == 4)
            #expect(
                pushes.allSatisfy { $0.reason.hasPrefix("rollout-\(rollout.id) stage ") && $0.alert == "config-v1" })
        }
    }

    @Test(
        "under the rollout service a silent box fails when --wait runs out on its clock, with no record arriving, and the rollout pauses",
        arguments: StoreKind.all)
    func silentBox(kind: StoreKind) async throws {
        // Virtual time: the service's deadline passes when the test moves the clock, however loaded the machine.
        let time = VirtualTime()
        try await DeskServer.with(store: kind, time: time) { server in
            let room = server.room
            let buses = try await Self.fleet(server)
            let rollout = try await room.startConfigRollout(
                group: "buses", settings: "log_level: debug\n", stages: [50, 100], maxFailedPercent: 0,
                waitMs: 2000, by: .console)
            let pushedMs = try #require(try await room.rolloutStatus(id: rollout.id).devices[1].row.pushedMs)
            let service = RolloutService(
                room: room, signal: server.desk.signal, clock: time.clock, interval: .zero, logger: StoreKind.quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.loop() }
                // One box of stage 1 healthy over HTTP (the ingest wakes the service); the other never reports.
                try await Self.send(server, buses[0], [Self.health(1)])
                var status = try await room.rolloutStatus(id: rollout.id)
                while status.devices[0].row.state != .healthy {
                    let version = server.desk.signal.version
                    status = try await room.rolloutStatus(id: rollout.id)
                    if status.devices[0].row.state != .healthy {
                        _ = await server.desk.signal.waitForChange(after: version)
                    }
                }
                #expect(status.rollout.state == .running && status.devices[1].row.state == .pending)
                // --wait runs out: nothing arrives, only the clock moves.
                time.advance(toWall: pushedMs + 2000)
                while status.rollout.state == .running {
                    let version = server.desk.signal.version
                    status = try await room.rolloutStatus(id: rollout.id)
                    if status.rollout.state == .running { _ = await server.desk.signal.waitForChange(after: version) }
                }
                #expect(status.rollout.state == .paused)
                #expect(status.devices.map(\.row.state) == [.healthy, .failed, .waiting, .waiting])
                #expect(status.devices[1].row.reason.contains("within 2 s"))
                // Decided at the deadline itself, on the control room's (virtual) wall clock.
                let failed = try await room.audit().first { $0.action == .rolloutDeviceFailed }
                #expect(failed?.device == buses[1].id && failed?.timeMs == pushedMs + 2000)
                group.cancelAll()
            }
        }
    }

    @Test("groups: a name is checked, an unregistered device refused, a change audited")
    func groups() async throws {
        try await DeskServer.with { server in
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 1")
            await #expect(throws: RolloutError.badGroup("no spaces")) {
                try await server.room.setGroup(device: bus.id, group: "no spaces")
            }
            await #expect(throws: ControlRoomError.unknownDevice("pb-nobody")) {
                try await server.room.setGroup(device: "pb-nobody", group: "buses")
            }
            try await server.room.setGroup(device: bus.id, group: "buses")
            try await server.room.setGroup(device: bus.id, group: "")
            #expect(try await server.room.devices(inGroup: "buses").isEmpty)
            let lines = try await server.room.audit(device: bus.id).filter { $0.action == .metadataEdit }
            #expect(lines.map(\.reason).suffix(2) == ["group \"\" → \"buses\"", "group \"buses\" → \"\""])
        }
    }
}

@Suite("The desk's config rollouts: admins only, with CSRF; per-device status for every role", .timeLimit(.minutes(2)))
struct DeskRolloutTests {
    @Test(
        "an operator (and a supervisor) is refused starting a rollout, a cookie without the CSRF token too; an admin starts one",
        arguments: StoreKind.all)
    func adminOnly(kind: StoreKind) async throws {
        try await DeskServer.with(store: kind) { server in
            let buses = try await RolloutTests.fleet(server)
            for (name, role) in [("ravi", DeskRole.operator), ("sunil", .supervisor), ("asha", .admin)] {
                try await server.room.addUser(name: name, role: role, password: "correct horse \(name)", cost: 4)
            }
            let body =
                #"{"group":"buses","settings":"log_level: debug\n","stages":"50,100","maxFailed":"0%","wait":"10m"}"#
            for name in ["ravi", "sunil"] {
                let session = try await server.login(name, "correct horse \(name)")
                let refused = try await server.call(
                    "POST", "/v1/rollouts", headers: DeskServer.change(session), body: body)
                #expect(refused.status == 403, "\(name): \(refused.body)")
                #expect(refused.body.contains("needs the admin role"), "\(refused.body)")
                // Reading the per-device status is for everyone at the desk.
                let status = try await server.call("GET", "/v1/config/status", headers: ["Cookie": session.cookie])
                #expect(status.status == 200)
            }
            #expect(try await server.room.rollouts().isEmpty)
            let admin = try await server.login("asha", "correct horse asha")
            var noToken = DeskServer.change(admin)
            noToken["X-CSRF-Token"] = nil
            let forged = try await server.call("POST", "/v1/rollouts", headers: noToken, body: body)
            #expect(forged.status == 403, "\(forged.body)")
            #expect(try await server.room.rollouts().isEmpty)
            let bad = try await server.call(
                "POST", "/v1/rollouts", headers: DeskServer.change(admin),
                body: #"{"group":"buses","settings":"log_level: debug\n","stages":"100,50"}"#)
            #expect(bad.status == 400 && bad.body.contains("--stages '100,50'"), "\(bad.body)")

            let started = try await server.call("POST", "/v1/rollouts", headers: DeskServer.change(admin), body: body)
            #expect(started.status == 200, "\(started.body)")
            let status = try JSONDecoder().decode(RolloutStatus.self, from: Data(started.body.utf8))
            #expect(status.rollout.createdBy == "asha" && status.rollout.group == "buses")
            #expect(status.devices.map(\.row.state) == [.pending, .pending, .waiting, .waiting])
            let created = try #require(try await server.room.audit().first { $0.action == .rolloutCreate })
            #expect(created.user == "asha" && created.role == .admin)

            let config = try await server.call(
                "GET", "/v1/config/status?group=buses", headers: ["Cookie": admin.cookie])
            let rows = try JSONDecoder().decode([DeviceConfigStatus].self, from: Data(config.body.utf8))
            #expect(rows.map(\.device) == buses.map(\.id))
            #expect(rows.map(\.state) == ["pending", "pending", "waiting", "waiting"])

            let ravi = try await server.login("ravi", "correct horse ravi")
            let abortByOperator = try await server.call(
                "POST", "/v1/rollouts/\(status.rollout.id)/abort", headers: DeskServer.change(ravi), body: "{}")
            #expect(abortByOperator.status == 403)
            let aborted = try await server.call(
                "POST", "/v1/rollouts/\(status.rollout.id)/abort", headers: DeskServer.change(admin), body: "{}")
            #expect(aborted.status == 200, "\(aborted.body)")
            #expect(try await server.room.rollouts().first?.state == .aborted)
        }
    }
}
