import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization
import Testing

@testable import PanicDaemon

/// A box's local file with a control room's key pinned, a device key, a stand-in package and update documents
/// signed by that control room's key (or others).
struct UpdateFixture {
    let room = DeviceKey.generate()
    let device = DeviceKey.generate()
    var deviceID: String { device.identity.deviceID }
    let directory: String
    let configPath: String
    let local: DaemonConfig
    let package: Data = Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    let now = Uplink.systemWallClock()

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("update-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try device.write(to: directory + "/device.key", force: true)
        configPath = directory + "/panicd.yaml"
        let text = """
            board: board.yaml
            key: device.key
            group: jaipur-buses
            outbox:
              path: outbox.sqlite
            status_socket: \(directory)/status.sock
            backends:
              - name: erss
                url: https://erss.example.gov.in/v1/records
                controlroom_key: \(room.identity.publicKeyBase64URL)
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
        let parsed = DaemonConfig.parse(text, relativeTo: URL(fileURLWithPath: directory))
        local = try #require(parsed.config, "\(parsed.problems)")
    }

    func document(
        version: String = "99.0.0", device: String? = nil, architecture: String = InstalledSoftware.architecture,
        floor: String? = nil, expiresIn: Int64 = 600_000, size: Int? = nil
    ) -> UpdateDocument {
        UpdateDocument(
            version: version, architecture: architecture, sha256: PackageDigest.sha256(package),
            size: size ?? package.count, floor: floor, device: device ?? deviceID, nonce: "n-\(version)", issued: now,
            expires: RecordTime(epochMilliseconds: now.epochMilliseconds + expiresIn))
    }

    func signed(_ document: UpdateDocument, by key: DeviceKey? = nil) throws -> String {
        try CommandSigner(key: key ?? room).sign(document)
    }

    var spool: UpdateSpool { UpdateSpool(outboxPath: local.outboxPath) }
}

@Suite("Software updates: the box's and the install agent's checks", .serialized, .timeLimit(.minutes(1)))
struct UpdateTests {
    @Test("Debian versions order as dpkg orders them")
    func debianVersions() throws {
        let ordered = ["0.9.0~rc1", "0.9.0", "0.9.0-1", "0.9.0+1", "0.9.1", "0.10.0", "1:0.1"]
        for (lower, higher) in zip(ordered, ordered.dropFirst()) {
            let (a, b) = (try #require(DebianVersion(lower)), try #require(DebianVersion(higher)))
            #expect(a < b, "\(lower) < \(higher)")
            #expect(!(b < a))
        }
        #expect(DebianVersion("1.0") == DebianVersion("1.00"))
        for bad in ["", "abc", "1.0-", "x:1.0", "1.0 beta"] { #expect(DebianVersion(bad) == nil, "\(bad)") }
    }

    @Test("the installed version is read from dpkg's status file: only an installed panicbridge counts")
    func installedVersion() {
        let status = """
            Package: panicbridge-controlroom
            Status: install ok installed
            Version: 2.0.0

            Package: panicbridge
            Status: install ok installed
            Priority: optional
            Version: 0.9.1+1
            Description: panic box
             more text

            """
        #expect(InstalledSoftware.version(inStatus: status) == "0.9.1+1")
        #expect(
            InstalledSoftware.version(
                inStatus: status.replacingOccurrences(of: "ok installed\nPriority", with: "ok config-files\nPriority"))
                == nil)
        #expect(InstalledSoftware.packageVersion(statusFile: "/nonexistent") == PanicBridgeVersion.current)
    }

    @Test("an update document, a configuration document and a command never pass for one another")
    func kindsNeverConfused() throws {
        let fixture = try UpdateFixture()
        let verifier = CommandSignatureVerifier(controlRoom: fixture.room.identity)
        let update = try fixture.signed(fixture.document())
        #expect(throws: CommandSignatureError.self) { try verifier.verifyConfig(update) }
        #expect(throws: CommandSignatureError.self) { try verifier.verify(update) }
        guard case .update = try verifier.verifyMessage(update) else {
            Issue.record("an update document is read as an update")
            return
        }
        let config = try CommandSigner(key: fixture.room).sign(
            ConfigDocument(
                version: 1, device: fixture.deviceID, nonce: "c", issued: fixture.now, expires: fixture.now,
                settings: "log_level: debug\n"))
        #expect(throws: CommandSignatureError.self) { try verifier.verifyUpdate(config) }
        let command = try CommandSigner(key: fixture.room).sign(
            ControlCommand(
                action: .clear, device: fixture.deviceID, alert: "a", nonce: "x", issued: fixture.now,
                expires: fixture.now))
        #expect(throws: CommandSignatureError.self) { try verifier.verifyUpdate(command) }
    }

    /// Spools `envelope` (and the package, or `package`) and runs the agent; its outcome and log.
    func runAgent(
        _ fixture: UpdateFixture, envelope: String, package: Data? = nil, floor: String? = nil
    ) throws -> (UpdateAgent.Outcome, LevelLogHandler) {
        let spool = fixture.spool
        try spool.prepare()
        try (package ?? fixture.package).write(to: URL(fileURLWithPath: spool.packagePath))
        try spool.commit(document: envelope)
        let log = LevelLogHandler()
        var options = UpdateAgent.Options(configPath: fixture.configPath)
        options.stateDirectory = fixture.directory + "/agent"
        // Each case starts from no agent state (no floor, nothing rolled back) unless it gives a floor.
        try? FileManager.default.removeItem(atPath: options.stateDirectory)
        // Nothing here is installed by dpkg: the installed version is this build's; no command must run.
        options.dpkgStatus = "/nonexistent/status"
        options.dpkgQuery = "/nonexistent/dpkg-query"
        options.dpkg = "/nonexistent/dpkg"
        options.dpkgDeb = "/nonexistent/dpkg-deb"
        options.restartCommand = ["/nonexistent/restart"]
        if let floor {
            try FileManager.default.createDirectory(atPath: options.stateDirectory, withIntermediateDirectories: true)
            try UpdateAgentState(floor: floor).save(directory: options.stateDirectory)
        }
        let outcome = try UpdateAgent(options: options, logger: Logger(label: "test") { _ in log }).run()
        return (outcome, log)
    }

    @Test(
        "a rollback is in the agent's state before the previous panicd starts again, so a resent document is refused, not spooled again"
    )
    func rollbackRecordedBeforeRestart() throws {
        let fixture = try UpdateFixture()
        let installed = PanicBridgeVersion.current
        let spool = fixture.spool
        try spool.prepare()
        try fixture.package.write(to: URL(fileURLWithPath: spool.packagePath))
        try spool.commit(document: try fixture.signed(fixture.document(version: "99.0.0")))
        var options = UpdateAgent.Options(configPath: fixture.configPath)
        options.stateDirectory = fixture.directory + "/agent"
        try FileManager.default.createDirectory(atPath: options.stateDirectory, withIntermediateDirectories: true)
        // The rollback target is already kept (no rebuild from the dpkg database); dpkg succeeds; dpkg-deb reads
        // each package's control fields from its name.
        try Data("kept".utf8).write(to: URL(fileURLWithPath: options.stateDirectory + "/current.deb"))
        func script(_ name: String, _ body: String) throws -> String {
            let path = fixture.directory + "/" + name
            try Data(("#!/bin/sh\n" + body).utf8).write(to: URL(fileURLWithPath: path))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            return path
        }
        options.dpkgStatus = "/nonexistent/status"
        options.dpkgQuery = "/nonexistent/dpkg-query"
        options.dpkg = try script("dpkg", "exit 0\n")
        options.dpkgDeb = try script(
            "dpkg-deb",
            """
            case "$2" in *current.deb) v='\(installed)' ;; *) v=99.0.0 ;; esac
            printf 'Package: panicbridge\\nVersion: %s\\nArchitecture: \(InstalledSoftware.architecture)\\n' "$v"

            """)
        // The first restart (into 99.0.0) fails; the second (the previous version again) saves what the agent's
        // state says at that moment: what the restarted panicd reads when the document comes again.
        let seen = fixture.directory + "/state-at-restart.json"
        options.restartCommand = [
            try script(
                "restart",
                """
                if [ -e '\(fixture.directory)/restarted-once' ]; then cp '\(options.stateDirectory)/state.json' '\(seen)' 2>/dev/null; exit 0; fi
                touch '\(fixture.directory)/restarted-once'; exit 1

                """)
        ]
        let outcome = try UpdateAgent(options: options, logger: Logger(label: "test") { _ in LevelLogHandler() }).run()
        guard case .rolledBack(let version, _, _) = outcome else {
            Issue.record("expected a rollback, got \(outcome)")
            return
        }
        #expect(version == "99.0.0")
        let atRestart = try #require(
            FileManager.default.contents(atPath: seen), "no agent state when the previous panicd started again")
        let state = try JSONDecoder().decode(UpdateAgentState.self, from: atRestart)
        #expect(state.rolledBack == ["99.0.0"])
        // What the restarted panicd then does with the same document: refuses it as rolled back.
        let gate = UpdateGate(
            deviceID: fixture.deviceID, group: "jaipur-buses", architecture: InstalledSoftware.architecture)
        let again = gate.check(
            try fixture.signed(fixture.document(version: "99.0.0")),
            verifiers: RemoteConfigGate.verifiers(fixture.local), installed: installed, agent: state, now: fixture.now)
        guard case .failure(.rolledBack("99.0.0")) = again else {
            Issue.record("the resent document is not refused as rolled back: \(again)")
            return
        }
    }

    @Test("the agent refuses forged, wrong-key, expired, wrong-device, below-floor, replayed, wrong-arch, bad-hash")
    func agentRefusals() throws {
        let fixture = try UpdateFixture()
        let installed = PanicBridgeVersion.current
        var forged = try fixture.signed(fixture.document()).split(separator: ".").map(String.init)
        forged[1] = Base64URL.encode(try JSONEncoder().encode(fixture.document(version: "99.0.1")))
        var tampered = fixture.package
        tampered[100] ^= 0xFF
        let cases: [(String, Data?, String?, String, String)] = [
            (forged.joined(separator: "."), nil, nil, "forged", "does not verify with the pinned control-room key"),
            (
                try fixture.signed(fixture.document(), by: DeviceKey.generate()), nil, nil, "wrong-key",
                "is not the pinned control-room key"
            ),
            (try fixture.signed(fixture.document(expiresIn: -1)), nil, nil, "expired", "update expired at"),
            (
                try fixture.signed(fixture.document(device: "pb-ffffffffffffffff")), nil, nil, "wrong-device",
                "pb-ffffffffffffffff"
            ),
            (
                try fixture.signed(fixture.document(version: "99.0.0")), nil, "100.0", "below-floor",
                "below the floor 100.0"
            ),
            (
                try fixture.signed(fixture.document(version: "99.0.0", floor: "99.1")), nil, nil, "below-floor",
                "below the floor 99.1"
            ),
            (
                try fixture.signed(fixture.document(version: installed)), nil, nil, "replayed",
                "not newer than the installed \(installed)"
            ),
            (try fixture.signed(fixture.document(version: "0.0.1")), nil, nil, "replayed", "not newer"),
            (
                try fixture.signed(fixture.document(architecture: "s390x")), nil, nil, "wrong-architecture",
                "architecture \"s390x\""
            ),
            (try fixture.signed(fixture.document()), tampered, nil, "hash-mismatch", "package SHA-256 is"),
            (
                try fixture.signed(fixture.document()), fixture.package + Data([1]), nil, "size-mismatch",
                "the update document says \(fixture.package.count)"
            ),
        ]
        for (envelope, package, floor, kind, reason) in cases {
            let (outcome, log) = try runAgent(fixture, envelope: envelope, package: package, floor: floor)
            guard case .refused(let why) = outcome else {
                Issue.record("\(kind): expected a refusal, got \(outcome)")
                continue
            }
            #expect(why.hasPrefix(kind + ":"), "\(why)")
            let line = log.lines.withLock { $0.last { $0.message == "update refused" } }
            #expect(line?.level == .warning)
            #expect(line?.metadata["kind"] == kind)
            #expect(line?.metadata["reason"]?.contains(reason) == true, "\(kind): \(String(describing: line))")
            #expect(fixture.spool.document == nil && !FileManager.default.fileExists(atPath: fixture.spool.packagePath))
            let state = UpdateAgentState.load(directory: fixture.directory + "/agent")
            #expect(state.lastOutcome?.hasPrefix("refused: \(kind)") == true)
        }
    }

    @Test("the agent never follows a link the panicd user put in the spool")
    func agentIgnoresLinks() throws {
        let fixture = try UpdateFixture()
        let spool = fixture.spool
        try spool.prepare()
        try Data(try fixture.signed(fixture.document()).utf8).write(to: URL(fileURLWithPath: fixture.directory + "/d"))
        try FileManager.default.createSymbolicLink(
            atPath: spool.documentPath, withDestinationPath: fixture.directory + "/d")
        try fixture.package.write(to: URL(fileURLWithPath: spool.packagePath))
        var options = UpdateAgent.Options(configPath: fixture.configPath)
        options.stateDirectory = fixture.directory + "/agent"
        options.dpkgStatus = "/nonexistent/status"
        let outcome = try UpdateAgent(options: options, logger: Logger(label: "test") { _ in LevelLogHandler() }).run()
        #expect(outcome == .nothingSpooled)
    }

    func service(
        _ fixture: UpdateFixture, agent: UpdateAgentState = UpdateAgentState()
    ) throws
        -> (UpdateService, LevelLogHandler)
    {
        let log = LevelLogHandler()
        let logger = Logger(label: "test") { _ in log }
        let outbox = try Outbox(
            path: fixture.directory + "/outbox.sqlite", sealer: RecordSigner(key: fixture.device), logger: logger)
        let uplink = try Uplink(
            outbox: outbox, deviceID: fixture.deviceID, backends: [], clock: ManualClock(), logger: logger)
        let service = UpdateService(
            uplink: uplink,
            gate: UpdateGate(
                deviceID: fixture.deviceID, group: fixture.local.group, architecture: InstalledSoftware.architecture),
            spool: fixture.spool, installed: { "0.9.0" }, agent: { agent }, logger: logger)
        return (service, log)
    }

    func received(
        _ fixture: UpdateFixture, _ document: UpdateDocument, serving bytes: Data? = nil
    ) throws
        -> ReceivedUpdate
    {
        let body = bytes ?? fixture.package
        return ReceivedUpdate(
            document: document, envelope: try fixture.signed(document), backend: "erss",
            controlRoomTime: fixture.now,
            download: { path in try body.write(to: URL(fileURLWithPath: path)) })
    }

    @Test("panicd spools an accepted, downloaded, hash-checked update; refusals are logged with the reason")
    func daemonSpools() async throws {
        let fixture = try UpdateFixture()
        let (service, log) = try service(fixture, agent: UpdateAgentState(floor: "0.9.5", rolledBack: ["0.9.7"]))
        var tampered = fixture.package
        tampered[0] ^= 1
        let cases: [(ReceivedUpdate, String, String)] = [
            (try received(fixture, fixture.document(expiresIn: -1)), "expired", "update expired at"),
            (
                try received(fixture, fixture.document(version: "0.9.0")), "replayed",
                "not newer than the installed 0.9.0"
            ),
            (try received(fixture, fixture.document(version: "0.9.3")), "below-floor", "below the floor 0.9.5"),
            (try received(fixture, fixture.document(device: "pb-ffffffffffffffff")), "wrong-device", "pb-ffff"),
            (try received(fixture, fixture.document(version: "0.9.7")), "rolled-back", "never installed again"),
            (try received(fixture, fixture.document(architecture: "s390x")), "wrong-architecture", "s390x"),
            (try received(fixture, fixture.document(), serving: tampered), "hash-mismatch", "package SHA-256 is"),
        ]
        for (update, kind, reason) in cases {
            await service.handle(update)
            let line = log.lines.withLock { $0.last }
            #expect(line?.message == "update refused")
            #expect(line?.metadata["kind"] == kind)
            #expect(line?.metadata["reason"]?.contains(reason) == true, "\(kind): \(String(describing: line))")
            #expect(fixture.spool.document == nil)
        }
        let good = try received(fixture, fixture.document(version: "1.0.0"))
        await service.handle(good)
        #expect(log.lines.withLock { $0.last?.message } == "update spooled for the install agent")
        #expect(fixture.spool.document == good.envelope)
        #expect(FileManager.default.contents(atPath: fixture.spool.packagePath) == fixture.package)
    }
}
