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

/// A box's local file, a control room's key pinned in it, and documents signed by that key (or others).
struct RemoteConfigFixture {
    let room = DeviceKey.generate()
    let deviceID = "pb-0011223344556677"
    let directory: String
    let localText: String
    let local: DaemonConfig
    let now = RecordTime(epochMilliseconds: 1_800_000_000_000)

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("remote-config-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        localText = """
            board: board.yaml
            key: device.key
            group: jaipur-buses
            outbox:
              path: outbox.sqlite
            backends:
              - name: erss
                url: https://erss.example.gov.in/v1/records
                controlroom_key: \(room.identity.publicKeyBase64URL)
            sms:
              port: /dev/ttyUSB2
              numbers: ["+919812345678"]
            rates:
              position: 60s
            """
        let parsed = DaemonConfig.parse(localText, relativeTo: URL(fileURLWithPath: directory))
        local = try #require(parsed.config, "\(parsed.problems)")
    }

    var gate: RemoteConfigGate {
        RemoteConfigGate(deviceID: deviceID, localText: localText, localBase: URL(fileURLWithPath: directory))
    }

    func document(
        version: Int = 2, device: String? = nil, group: String? = nil, expiresIn: Int64 = 600_000,
        settings: String = "sms:\n  numbers: [\"+919800000001\"]\n"
    ) -> ConfigDocument {
        ConfigDocument(
            version: version, device: group == nil ? (device ?? deviceID) : nil, group: group, nonce: "n\(version)",
            issued: now, expires: RecordTime(epochMilliseconds: now.epochMilliseconds + expiresIn), settings: settings)
    }

    func signed(_ document: ConfigDocument, by key: DeviceKey? = nil) throws -> String {
        try CommandSigner(key: key ?? room).sign(document)
    }

    func check(_ envelope: String, newest: Int = 1) -> Result<AcceptedConfig, ConfigRefusal> {
        gate.check(
            envelope, verifiers: RemoteConfigGate.verifiers(local), local: local, newestVersion: newest, now: now)
    }

    func refusal(_ envelope: String, newest: Int = 1) -> ConfigRefusal? {
        if case .failure(let refusal) = check(envelope, newest: newest) { return refusal }
        return nil
    }
}

@Suite("Remote configuration documents: the box's checks", .timeLimit(.minutes(1)))
struct RemoteConfigGateTests {
    @Test("a document signed by the pinned key, for this device, newer and unexpired, merges over the local file")
    func accepted() throws {
        let fixture = try RemoteConfigFixture()
        let accepted = try fixture.check(try fixture.signed(fixture.document())).get()
        #expect(accepted.config.sms?.numbers == ["+919800000001"])
        // sms merges one level deep: the modem's port stays the local one.
        #expect(accepted.config.sms?.port == "/dev/ttyUSB2")
        #expect(accepted.config.backends.map(\.name) == ["erss"])
        #expect(accepted.document.version == 2)
    }

    @Test("a document for the box's group is accepted; one for another group is refused naming it")
    func groups() throws {
        let fixture = try RemoteConfigFixture()
        #expect(throws: Never.self) {
            try fixture.check(try fixture.signed(fixture.document(group: "jaipur-buses"))).get()
        }
        let refusal = fixture.refusal(try fixture.signed(fixture.document(group: "kota-buses")))
        #expect(refusal == .wrongGroup("kota-buses"))
        #expect(refusal?.description.contains("kota-buses") == true)
    }

    @Test("a forged document (payload changed after signing) is refused as forged")
    func forged() throws {
        let fixture = try RemoteConfigFixture()
        let envelope = try fixture.signed(fixture.document())
        var parts = envelope.split(separator: ".").map(String.init)
        var other = fixture.document()
        other.settings = "privacy_mode: true\n"
        parts[1] = Base64URL.encode(try JSONEncoder().encode(other))
        let refusal = try #require(fixture.refusal(parts.joined(separator: ".")))
        guard case .forged(.badSignature) = refusal else {
            Issue.record("expected a bad signature, got \(refusal)")
            return
        }
        #expect(refusal.kind == "forged")
        #expect(refusal.description.contains("does not verify with the pinned control-room key"))
        #expect(!refusal.isAcknowledged)
    }

    @Test("a document signed by another key is refused as the wrong key")
    func wrongKey() throws {
        let fixture = try RemoteConfigFixture()
        let refusal = try #require(fixture.refusal(try fixture.signed(fixture.document(), by: DeviceKey.generate())))
        guard case .forged(.unknownKey) = refusal else {
            Issue.record("expected an unknown key, got \(refusal)")
            return
        }
        #expect(refusal.kind == "wrong-key")
        #expect(refusal.description.contains("is not the pinned control-room key"))
    }

    @Test("an expired document is refused with its expiry")
    func expired() throws {
        let fixture = try RemoteConfigFixture()
        let refusal = fixture.refusal(try fixture.signed(fixture.document(expiresIn: -1)))
        #expect(refusal == .expired(RecordTime(epochMilliseconds: fixture.now.epochMilliseconds - 1)))
        #expect(refusal?.description.hasPrefix("configuration expired at") == true)
    }

    @Test("a document whose version is not newer than the applied one is refused as replayed")
    func replayed() throws {
        let fixture = try RemoteConfigFixture()
        let envelope = try fixture.signed(fixture.document(version: 2))
        #expect(fixture.refusal(envelope, newest: 2) == .replayed(version: 2, newest: 2))
        #expect(fixture.refusal(envelope, newest: 5) == .replayed(version: 2, newest: 5))
        #expect(fixture.refusal(envelope, newest: 2)?.description.contains("not newer than version 2") == true)
    }

    @Test("a document for another device is refused naming the device")
    func wrongDevice() throws {
        let fixture = try RemoteConfigFixture()
        let refusal = fixture.refusal(try fixture.signed(fixture.document(device: "pb-ffffffffffffffff")))
        #expect(refusal == .wrongDevice("pb-ffffffffffffffff"))
        #expect(refusal?.isAcknowledged == true)
    }

    @Test(
        "keys that stay local are refused naming the key",
        arguments: [
            ("key: /tmp/other.key\n", "key"),
            ("board: /tmp/other.yaml\n", "board"),
            ("device_id: pb-1\n", "device_id"),
            ("group: elsewhere\n", "group"),
            ("sms:\n  port: /dev/ttyS0\n", "sms.port"),
            (
                "backends:\n  - name: erss\n    url: https://evil.example/v1/records\n"
                    + "    controlroom_key: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n",
                "backends[0].controlroom_key"
            ),
            ("backends:\n  - name: erss\n    url: https://x.example/\n    ca: /tmp/ca.pem\n", "backends[0].ca"),
        ])
    func localOnly(settings: String, key: String) throws {
        let fixture = try RemoteConfigFixture()
        let refusal = fixture.refusal(try fixture.signed(fixture.document(settings: settings)))
        #expect(refusal == .refusedOverlay(.localOnly(key: key)))
        #expect(refusal?.description.contains("\(key) is set on the box only") == true)
        #expect(refusal?.kind == "local-only")
    }

    @Test("a new panicbridge control room (whose key would have to come remotely) is refused")
    func newControlRoom() throws {
        let fixture = try RemoteConfigFixture()
        let settings = "backends:\n  - name: rogue\n    url: https://rogue.example/v1/records\n"
        #expect(
            fixture.refusal(try fixture.signed(fixture.document(settings: settings)))
                == .refusedOverlay(.newControlRoom(backend: "rogue")))
    }

    @Test("a backend moved to a new address keeps its locally pinned key")
    func backendKeepsKey() throws {
        let fixture = try RemoteConfigFixture()
        let settings = "backends:\n  - name: erss\n    url: https://erss2.example.gov.in/v1/records\n"
        let accepted = try fixture.check(try fixture.signed(fixture.document(settings: settings))).get()
        #expect(accepted.config.backends.first?.url.host == "erss2.example.gov.in")
        #expect(accepted.config.backends.first?.controlRoomKey == fixture.room.identity.publicKeyBase64URL)
    }

    @Test("an overlay that fails the checks of panicd config check is refused with the problem")
    func invalid() throws {
        let fixture = try RemoteConfigFixture()
        let refusal = fixture.refusal(try fixture.signed(fixture.document(settings: "rates:\n  telemetry: 2s\n")))
        guard case .refusedOverlay(.invalid(let problems)) = refusal else {
            Issue.record("expected invalid, got \(String(describing: refusal))")
            return
        }
        #expect(problems.contains { $0.key == "rates.telemetry" })
        #expect(
            fixture.refusal(try fixture.signed(fixture.document(settings: "colour: red\n")))
                == .refusedOverlay(.unknownKey("colour")))
    }

    @Test("a signed command is not a configuration document")
    func commandIsNotConfig() throws {
        let fixture = try RemoteConfigFixture()
        let command = ControlCommand(
            action: .clear, device: fixture.deviceID, alert: "a", nonce: "n", issued: fixture.now,
            expires: fixture.now)
        let refusal = fixture.refusal(try CommandSigner(key: fixture.room).sign(command))
        guard case .forged(.malformed) = refusal else {
            Issue.record("expected malformed, got \(String(describing: refusal))")
            return
        }
    }
}

@Suite("Remote configuration on disk: apply, keep the previous, revert", .timeLimit(.minutes(1)))
struct RemoteConfigFilesTests {
    @Test("applying keeps the previous document; the effective configuration is the merged one")
    func applyKeepsPrevious() throws {
        let fixture = try RemoteConfigFixture()
        let files = RemoteConfigFiles(directory: fixture.directory)
        let first = try fixture.signed(fixture.document(version: 2))
        let second = try fixture.signed(fixture.document(version: 3, settings: "privacy_mode: true\n"))
        try files.apply(first)
        try files.apply(second)
        #expect(files.current == second)
        #expect(files.previous == first)
        #expect(files.appliedVersion == 3)
        #expect(files.state.probation)
        let effective = files.effective(
            local: fixture.local, localText: fixture.localText, localBase: URL(fileURLWithPath: fixture.directory),
            deviceID: fixture.deviceID)
        #expect(effective.version == 3)
        #expect(effective.config.privacyMode)
        #expect(effective.problem == nil)
    }

    @Test("a document that fails to deliver in time is reverted (ManualClock) and never applied again")
    func revertsWithoutDelivery() async throws {
        let fixture = try RemoteConfigFixture()
        let files = RemoteConfigFiles(directory: fixture.directory)
        let good = try fixture.signed(fixture.document(version: 2))
        let broken = try fixture.signed(
            fixture.document(
                version: 3, settings: "backends:\n  - name: erss\n    url: https://nowhere.invalid/v1/records\n"))
        try files.apply(good)
        try files.confirm()
        try files.apply(broken)
        let clock = ManualClock()
        let (deliveries, _) = AsyncStream<Void>.makeStream()
        async let outcome = RemoteConfigProbation.watch(deliveries: deliveries, within: .seconds(600), clock: clock)
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(by: .seconds(599))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        #expect(await outcome == .timedOut)
        #expect(try files.revert() == 3)
        #expect(files.current == good)
        #expect(files.appliedVersion == 2)
        #expect(!files.state.probation)
        // The reverted version is never applied again, even though it is newer than the applied one.
        #expect(files.newestVersion == 3)
        #expect(fixture.refusal(broken, newest: files.newestVersion) == .replayed(version: 3, newest: 3))
        let effective = files.effective(
            local: fixture.local, localText: fixture.localText, localBase: URL(fileURLWithPath: fixture.directory),
            deviceID: fixture.deviceID)
        #expect(effective.config.backends.first?.url.host == "erss.example.gov.in")
    }

    @Test("a delivery within the time confirms the document")
    func deliveryConfirms() async throws {
        let clock = ManualClock()
        let (deliveries, sink) = AsyncStream<Void>.makeStream()
        async let outcome = RemoteConfigProbation.watch(deliveries: deliveries, within: .seconds(600), clock: clock)
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(by: .seconds(300))
        sink.yield()
        #expect(await outcome == .delivered)
    }

    @Test("reverting the first document goes back to the local file alone")
    func revertFirst() throws {
        let fixture = try RemoteConfigFixture()
        let files = RemoteConfigFiles(directory: fixture.directory)
        try files.apply(try fixture.signed(fixture.document(version: 2)))
        #expect(try files.revert() == 2)
        #expect(files.current == nil)
        #expect(files.appliedVersion == 0)
        #expect(files.newestVersion == 2)
    }
}

@Suite("An accepted remote configuration changes what the box does", .timeLimit(.minutes(2)))
struct RemoteConfigBehaviourTests {
    static let local = "+919812345678"
    static let remote = "+919800000001"

    @Test("the SMS number a document sets gets the next alert text through the simulated modem; the old one does not")
    func newSMSNumber() async throws {
        let modem = try GatewayModem(refuseTexts: 0)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("remote-sms-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let room = DeviceKey.generate()
        let key = DeviceKey.generate()
        try key.write(to: directory + "/device.key", force: false)
        let path = directory + "/panicd.yaml"
        try """
        board: \(TestBox.sim)
        key: device.key
        outbox:
          path: outbox.sqlite
        backends:
          - name: cr
            url: http://127.0.0.1:9/v1/records
            controlroom_key: \(room.identity.publicKeyBase64URL)
        sms:
          port: \(modem.pty.slavePath)
          numbers: ["\(Self.local)"]
          after: 1s
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let local = try #require(DaemonConfig.load(path: path).config)
        var logger = Logger(label: "test")
        logger.logLevel = .critical

        // The document arrives, passes the gate, and is kept on disk.
        let now = Uplink.systemWallClock()
        let document = ConfigDocument(
            version: 1, device: key.identity.deviceID, nonce: "n1", issued: now,
            expires: RecordTime(epochMilliseconds: now.epochMilliseconds + 600_000),
            settings: "sms:\n  numbers: [\"\(Self.remote)\"]\n")
        let envelope = try CommandSigner(key: room).sign(document)
        let files = RemoteConfigFiles(outboxPath: local.outboxPath)
        let gate = RemoteConfigGate(
            deviceID: key.identity.deviceID, localText: try String(contentsOfFile: path, encoding: .utf8),
            localBase: URL(fileURLWithPath: directory))
        let accepted = try gate.check(
            envelope, verifiers: RemoteConfigGate.verifiers(local), local: local, newestVersion: files.newestVersion,
            now: now
        ).get()
        try files.apply(accepted.envelope)

        // The daemon started again: the local file with the document merged over it.
        let daemon = try Daemon.withRemoteConfig(local: local, path: path, logger: logger)
        #expect(daemon.config.sms?.numbers == [Self.remote])
        #expect(daemon.remote?.version == 1)
        #expect(
            ConfigCheck.run(path: path).summary.contains {
                $0.hasPrefix("remote configuration version 1 merged over it")
            })
        let outbox = try Outbox(path: daemon.config.outboxPath, sealer: RecordSigner(key: key), logger: logger)
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(),
            time: RecordTime(epochMilliseconds: now.epochMilliseconds - 600_000), timeSource: .gnss,
            fix: RecordFix(latitude: 26.9, longitude: 75.8, ageMilliseconds: 900), body: .emergency(input: "panic-1"))
        _ = try outbox.append(draft)
        try await modem.with { _ in
            let fallback = try #require(daemon.smsFallback(outbox: outbox, clock: ManualClock()).first)
            let outcomes = try await fallback.check()
            #expect(outcomes.count == 1)
        }
        #expect(modem.sent.map(\.number) == [Self.remote])
    }
}

@Suite("The daemon's remote configuration: refusals in the log, a revert by itself", .timeLimit(.minutes(1)))
struct RemoteConfigServiceTests {
    func service(
        _ fixture: RemoteConfigFixture, clock: ManualClock, deliveries: AsyncStream<Void>, version: Int? = nil
    ) throws -> (RemoteConfigService, LevelLogHandler) {
        let log = LevelLogHandler()
        let logger = Logger(label: "test") { _ in log }
        let outbox = try Outbox(
            path: fixture.directory + "/outbox.sqlite", sealer: RecordSigner(key: DeviceKey.generate()),
            logger: logger)
        let uplink = try Uplink(
            outbox: outbox, deviceID: fixture.deviceID, backends: [], clock: clock, logger: logger)
        let service = RemoteConfigService(
            uplink: uplink, files: RemoteConfigFiles(directory: fixture.directory), gate: fixture.gate,
            setup: RemoteConfigSetup(
                local: fixture.local, localText: fixture.localText,
                localBase: URL(fileURLWithPath: fixture.directory), version: version),
            deliveries: deliveries, clock: clock, restart: RestartRequest(), logger: logger)
        return (service, log)
    }

    func received(_ fixture: RemoteConfigFixture, _ document: ConfigDocument) throws -> ReceivedConfig {
        ReceivedConfig(
            document: document, envelope: try fixture.signed(document), backend: "erss",
            controlRoomTime: fixture.now)
    }

    @Test("expired, replayed, wrong-device and local-only documents are refused with the reason in the log")
    func refusalsLogged() throws {
        let fixture = try RemoteConfigFixture()
        let (deliveries, _) = AsyncStream<Void>.makeStream()
        let (service, log) = try service(fixture, clock: ManualClock(), deliveries: deliveries)
        try RemoteConfigFiles(directory: fixture.directory).apply(try fixture.signed(fixture.document(version: 4)))
        let cases: [(ConfigDocument, String, String)] = [
            (fixture.document(version: 5, expiresIn: -1), "expired", "configuration expired at"),
            (fixture.document(version: 3), "replayed", "not newer than version 4"),
            (fixture.document(version: 5, device: "pb-ffffffffffffffff"), "wrong-device", "pb-ffffffffffffffff"),
            (fixture.document(version: 5, settings: "key: /tmp/k\n"), "local-only", "key is set on the box only"),
        ]
        for (document, kind, reason) in cases {
            #expect(service.handle(try received(fixture, document)) == nil)
            let line = log.lines.withLock { $0.last }
            #expect(line?.level == .warning)
            #expect(line?.message == "configuration refused")
            #expect(line?.metadata["kind"] == kind)
            #expect(line?.metadata["reason"]?.contains(reason) == true, "\(String(describing: line))")
        }
        #expect(RemoteConfigFiles(directory: fixture.directory).appliedVersion == 4)
        // A good one is applied and asks for the restart that takes it up.
        #expect(
            service.handle(try received(fixture, fixture.document(version: 5))) == "applied configuration version 5")
        #expect(RemoteConfigFiles(directory: fixture.directory).appliedVersion == 5)
        #expect(log.lines.withLock { $0.last?.message } == "configuration applied")
    }

    @Test("no backend takes a batch within revert_after (ManualClock): the previous configuration comes back")
    func revertsByItself() async throws {
        let fixture = try RemoteConfigFixture()
        let files = RemoteConfigFiles(directory: fixture.directory)
        let good = try fixture.signed(fixture.document(version: 2))
        try files.apply(good)
        try files.confirm()
        try files.apply(try fixture.signed(fixture.document(version: 3, settings: "privacy_mode: true\n")))
        let clock = ManualClock()
        let (deliveries, _) = AsyncStream<Void>.makeStream()
        let (service, log) = try service(fixture, clock: clock, deliveries: deliveries, version: 3)
        async let reason = service.probation()
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(by: fixture.local.remoteConfigRevertAfter)
        #expect(await reason == "reverted configuration version 3")
        #expect(files.current == good)
        let line = log.lines.withLock { $0.last }
        #expect(line?.level == .error)
        #expect(line?.message == "remote configuration reverted: no backend took a batch in time")
        #expect(line?.metadata["version"] == "3")
        #expect(line?.metadata["now"] == "2")
    }
}
