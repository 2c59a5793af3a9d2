import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicLinux
import PanicSigning
import PanicStore
import PanicUplink
import Testing

@testable import PanicDaemon

/// A box's local file with two AIS-140 backends on loopback reference receivers (`state`: `ota: true`,
/// `ota_emergency_off: true`, PIN 4711; `vendor`: `ota: true`, no emergency-off), the daemon's effective
/// configuration and its OTA desk wired to real AIS-140 sessions as `panicd run` wires them.
struct OTABox: Sendable {
    static let imei = "490154203237518"
    let directory: String
    let path: String
    let key = DeviceKey.generate()
    let local: DaemonConfig
    let outbox: Outbox
    let uplink: Uplink

    init(state: AIS140ReferenceReceiver, vendor: AIS140ReferenceReceiver) throws {
        try self.init(stateURL: state.url, vendorURL: vendor.url)
    }

    init(stateURL: String, vendorURL: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ota-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try key.write(to: directory + "/device.key", force: false)
        path = directory + "/panicd.yaml"
        try """
        board: \(TestBox.sim)
        key: device.key
        outbox:
          path: outbox.sqlite
        identity:
          imei: "\(Self.imei)"
          vehicle_registration: RJ14PB1234
        rates:
          position: 60s
        backends:
          - name: state
            protocol: ais140
            url: \(stateURL)
            ota: true
            ota_emergency_off: true
            ota_pin: "4711"
          - name: vendor
            protocol: ais140
            url: \(vendorURL)
            ota: true
        """.write(toFile: path, atomically: true, encoding: .utf8)
        local = try #require(DaemonConfig.load(path: path).config)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        outbox = try Outbox(path: local.outboxPath, sealer: RecordSigner(key: key), logger: logger)
        uplink = try Uplink(
            outbox: outbox, deviceID: key.identity.deviceID, backends: [], clock: SystemMonotonicClock(),
            logger: logger)
    }

    /// The daemon as `panicd run` starts it now (local file, document and OTA changes merged).
    func daemon() throws -> Daemon {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try Daemon.withRemoteConfig(local: local, path: path, logger: logger)
    }

    /// Runs a session to each backend with the daemon's OTA desk on it; `body` gets the restart reasons.
    func withSessions<T: Sendable>(
        logger: Logger, _ body: @Sendable ([String: AIS140Transport], AsyncStream<String>) async throws -> T
    ) async throws -> T {
        let daemon = try daemon()
        let remote = try #require(daemon.remote)
        let desk = AIS140OTADesk(
            currentText: remote.currentText ?? remote.localText, base: remote.localBase,
            backends: daemon.config.backends, files: RemoteConfigFiles(outboxPath: daemon.config.outboxPath),
            uplink: uplink, logger: logger)
        let (applied, sink) = AsyncStream<String>.makeStream()
        var sessions: [String: AIS140Transport] = [:]
        for backend in daemon.backends {
            let session = try #require(Uplink.standardReceiver(backend) as? AIS140Transport)
            desk.install(on: session, backend: backend.name) { sink.yield($0) }
            sessions[backend.name] = session
        }
        let all = sessions
        return try await withThrowingTaskGroup(of: T?.self) { group in
            for session in all.values {
                group.addTask {
                    await session.run(); return nil
                }
            }
            let result = try await body(all, applied)
            group.cancelAll()
            return result
        }
    }
}

func withOTAReceivers<T: Sendable>(
    _ body: @Sendable (AIS140ReferenceReceiver, AIS140ReferenceReceiver) async throws -> T
) async throws -> T {
    let state = try await AIS140ReferenceReceiver()
    let vendor = try await AIS140ReferenceReceiver()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await state.run() }
        group.addTask { try await vendor.run() }
        let result = try await body(state, vendor)
        group.cancelAll()
        return result
    }
}

/// Sends `command` from `receiver` on the box's kept session (at its next heartbeat) and waits for the box's
/// `$OTA` answer and the Alert 12 frames after it; returns the answer and the frames' OTA fields.
func otaExchange(
    _ command: String, receiver: AIS140ReferenceReceiver, session: AIS140Transport, alerts expected: Int
) async throws -> (answer: String, alerts: [String]) {
    let answersBefore = receiver.otaAnswers.count
    let alertsBefore = receiver.otaAlerts.count
    receiver.send(command: command)
    var arrivals = receiver.arrivals.makeAsyncIterator()
    let failure = await session.keepAlive(timeout: .seconds(20))
    #expect(failure == nil, "\(failure ?? "")")
    guard failure == nil else { return ("", []) }
    while receiver.otaAnswers.count == answersBefore || receiver.otaAlerts.count < alertsBefore + expected {
        guard await arrivals.next() != nil else { break }
    }
    return (receiver.otaAnswers.last ?? "", Array(receiver.otaAlerts.dropFirst(alertsBefore)))
}

@Suite("AIS-140 OTA over the kept session (real TCP on loopback, the daemon's desk)", .timeLimit(.minutes(2)))
struct AIS140OTASessionTests {
    @Test("SET PIP/PPT is answered, reported in Alert 12 naming key and source, and moves the backend after restart")
    func setMovesBackend() async throws {
        try await withOTAReceivers { state, vendor in
            let box = try OTABox(state: state, vendor: vendor)
            defer { try? FileManager.default.removeItem(atPath: box.directory) }
            try await box.withSessions(logger: Logger(label: "test")) { sessions, applied in
                let session = try #require(sessions["vendor"])
                let (answer, alerts) = try await otaExchange(
                    "SET PIP:10.9.8.7,PPT:5999", receiver: vendor, session: session, alerts: 2)
                #expect(answer == "OK PIP:10.9.8.7,PPT:5999")
                #expect(alerts == ["SET:SRV:vendor|PIP:10.9.8.7", "SET:SRV:vendor|PPT:5999"])
                var reasons = applied.makeAsyncIterator()
                let reason = await reasons.next()
                #expect(reason?.contains("SET PIP:10.9.8.7,PPT:5999") == true)
            }
            // The daemon restarts on the merged configuration: the primary (first) ais140 backend moved.
            let restarted = try box.daemon()
            #expect(restarted.config.backends.map(\.url.absoluteString) == ["tcp://10.9.8.7:5999", vendor.url])
            #expect(restarted.config.backends[0].otaPIN == "4711")
        }
    }

    @Test("SET UR changes the reporting rate the daemon restarts on; GET reads it back")
    func setRate() async throws {
        try await withOTAReceivers { state, vendor in
            let box = try OTABox(state: state, vendor: vendor)
            defer { try? FileManager.default.removeItem(atPath: box.directory) }
            try await box.withSessions(logger: Logger(label: "test")) { sessions, _ in
                let session = try #require(sessions["vendor"])
                let (answer, alerts) = try await otaExchange("SET UR:20", receiver: vendor, session: session, alerts: 1)
                #expect(answer == "OK UR:20")
                #expect(alerts == ["SET:SRV:vendor|UR:20"])
            }
            #expect(try box.daemon().config.rates.position == .seconds(20))
            try await box.withSessions(logger: Logger(label: "test")) { sessions, _ in
                let session = try #require(sessions["vendor"])
                let (answer, alerts) = try await otaExchange("GET UR,VN", receiver: vendor, session: session, alerts: 2)
                #expect(answer == "OK UR:20,VN:RJ14PB1234")
                #expect(alerts == ["GET:SRV:vendor|UR:20", "GET:SRV:vendor|VN:RJ14PB1234"])
            }
        }
    }

    @Test("malformed commands, a wrong or missing PIN and a refused key are answered with the problem, no Alert 12")
    func refusals() async throws {
        try await withOTAReceivers { state, vendor in
            let box = try OTABox(state: state, vendor: vendor)
            defer { try? FileManager.default.removeItem(atPath: box.directory) }
            let logs = LevelLogHandler()
            try await box.withSessions(logger: Logger(label: "test") { _ in logs }) { sessions, _ in
                let stateSession = try #require(sessions["state"])
                let vendorSession = try #require(sessions["vendor"])
                let cases: [(String, AIS140ReferenceReceiver, AIS140Transport, String)] = [
                    ("SET XYZ:1", vendor, vendorSession, "ERROR unknown key 'XYZ'"),
                    ("SET PPT:99999", vendor, vendorSession, "ERROR PPT: '99999' is not a port (1-65535)"),
                    ("SET UR:20", state, stateSession, "ERROR a PIN is required"),
                    ("1234,SET UR:20", state, stateSession, "ERROR wrong PIN"),
                    ("SET VN:XX00", vendor, vendorSession, "ERROR VN is identity.vehicle_registration, set on the box"),
                ]
                for (command, receiver, session, expected) in cases {
                    let (answer, _) = try await otaExchange(command, receiver: receiver, session: session, alerts: 0)
                    #expect(answer.hasPrefix(expected), "\(command): \(answer)")
                }
                #expect(state.otaAlerts.isEmpty && vendor.otaAlerts.isEmpty)
            }
            #expect(RemoteConfigFiles(outboxPath: box.local.outboxPath).otaCommands.isEmpty)
            #expect(logs.lines.withLock { $0 }.filter { $0.message == "AIS-140 OTA command refused" }.count == 5)
        }
    }

    @Test("CLR EO from a backend without ota_emergency_off is refused; from an authorised one it clears the emergency")
    func emergencyOff() async throws {
        try await withOTAReceivers { state, vendor in
            let box = try OTABox(state: state, vendor: vendor)
            defer { try? FileManager.default.removeItem(atPath: box.directory) }
            let alert = UUID().uuidString.lowercased()
            try box.uplink.submit(
                RecordDraft(
                    id: alert, time: Uplink.systemWallClock(), timeSource: .system,
                    fix: RecordFix(latitude: 26.9, longitude: 75.8, ageMilliseconds: 900),
                    body: .emergency(input: "panic-1")))
            try await box.withSessions(logger: Logger(label: "test")) { sessions, _ in
                let refused = try await otaExchange(
                    "CLR EO", receiver: vendor, session: try #require(sessions["vendor"]), alerts: 0)
                #expect(refused.answer.hasPrefix("ERROR backend vendor is not authorised to clear an emergency"))
                #expect(box.uplink.alerts.state(of: alert) != .cleared)
                let cleared = try await otaExchange(
                    "4711,CLR EO", receiver: state, session: try #require(sessions["state"]), alerts: 1)
                #expect(cleared.answer == "OK EO 1 cleared")
                #expect(cleared.alerts == ["CLR:SRV:state|EO:"])
                #expect(box.uplink.alerts.state(of: alert) == .cleared)
            }
            let records = try box.outbox.records().compactMap { $0.decodedRecord()?.body }
            #expect(records.contains(.cleared(alert: alert, by: "ais140-ota:SRV:state")))
        }
    }
}

@Suite(
    "AIS-140 OTA changes on disk: kept, confirmed, reverted, superseded by a signed document", .timeLimit(.minutes(1)))
struct AIS140OTAFilesTests {
    @Test("an OTA SET is kept with the list before it; a revert takes back only the last; a document clears them")
    func revertAndSupersede() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ota-files-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = RemoteConfigFiles(directory: directory)
        try files.applyOTA("SET UR:30")
        #expect(files.otaCommands == ["SET UR:30"])
        #expect(files.state.probation)
        try files.confirm()
        #expect(!files.state.probation)
        try files.applyOTA("SET UR:20")
        #expect(files.otaCommands == ["SET UR:30", "SET UR:20"])
        // No backend took a batch in time: the last OTA change goes, the one confirmed before it stays.
        try files.revert()
        #expect(files.otaCommands == ["SET UR:30"])
        #expect(files.state == RemoteConfigFiles.State(probation: false, reverted: 0))
        // A signed document applied later supersedes every OTA change.
        try files.apply("header.payload.signature")
        #expect(files.otaCommands.isEmpty)
    }

    @Test("at start the OTA changes are merged in order over the file; one that no longer applies is set aside")
    func effective() throws {
        try withTemporaryOTABox { box in
            let files = RemoteConfigFiles(outboxPath: box.local.outboxPath)
            try files.applyOTA("SET UR:30")
            try files.applyOTA("SET URE:5")
            let text = try String(contentsOfFile: box.path, encoding: .utf8)
            let base = URL(fileURLWithPath: box.directory)
            let merged = files.effectiveText(
                local: box.local, localText: text, localBase: base, deviceID: box.key.identity.deviceID)
            #expect(merged.problem == nil)
            #expect(merged.config.rates.position == .seconds(30))
            #expect(merged.config.rates.emergencyPosition == .seconds(5))
            try files.applyOTA("SET SIP:10.0.0.1")
            // The local file lost its second ais140 backend: that change no longer applies.
            let single = try #require(text.components(separatedBy: "  - name: vendor\n").first)
            let local = try #require(DaemonConfig.parse(single, relativeTo: base).config)
            let setAside = files.effectiveText(
                local: local, localText: single, localBase: base, deviceID: box.key.identity.deviceID)
            #expect(setAside.problem?.contains("'SET SIP:10.0.0.1' no longer applies") == true)
            #expect(setAside.config.rates.position == .seconds(60))
        }
    }
}

/// An OTA box whose backends are never connected to (only its files are used).
func withTemporaryOTABox(_ body: (OTABox) throws -> Void) throws {
    let box = try OTABox(stateURL: "tcp://127.0.0.1:9", vendorURL: "tcp://127.0.0.1:9")
    defer { try? FileManager.default.removeItem(atPath: box.directory) }
    try body(box)
}

@Suite("AIS-140 OTA by SMS (simulated modem on a real pty, the daemon's desk)", .timeLimit(.minutes(2)))
struct AIS140OTASMSTests {
    static let listed = "+919800000001"

    @Test(
        "SET/GET from a listed number answered by SMS and as Alert 12; an unlisted sender ignored; a wrong PIN refused")
    func sms() async throws {
        try await withOTAReceivers { state, vendor in
            let box = try OTABox(state: state, vendor: vendor)
            defer { try? FileManager.default.removeItem(atPath: box.directory) }
            let modem = try GatewayModem(refuseTexts: 0)
            let daemon = try box.daemon()
            let remote = try #require(daemon.remote)
            let logs = LevelLogHandler()
            var desk = AIS140OTADesk(
                currentText: remote.currentText ?? remote.localText, base: remote.localBase,
                backends: daemon.config.backends, files: RemoteConfigFiles(outboxPath: daemon.config.outboxPath),
                uplink: box.uplink, logger: Logger(label: "test") { _ in logs })
            var sms = DaemonConfig.SMS(port: modem.pty.slavePath, numbers: ["+919812345678"])
            sms.otaNumbers = [Self.listed]
            sms.otaPIN = "2468"
            desk.sms = sms
            let session = try #require(Uplink.standardReceiver(daemon.backends[1]) as? AIS140Transport)
            modem.modem.withLock {
                $0.deliver("2468,SET UR:25", from: Self.listed)
                $0.deliver("SET UR:5", from: "+919811111111")
                $0.deliver("1111,GET VN", from: Self.listed)
                $0.deliver("2468,GET VN", from: Self.listed)
            }
            let inboxDesk = desk
            let restart = try await withThrowingTaskGroup(of: String??.self) { group in
                group.addTask {
                    await session.run()
                    return nil
                }
                group.addTask {
                    try await modem.with { path in
                        await AIS140OTAInbox(
                            modem: GSMModem(path: path, timeout: .seconds(60)), desk: inboxDesk, sessions: [session],
                            logger: Logger(label: "test")
                        ).check()
                    }
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                return nil
            }
            #expect(restart?.contains("SET UR:25 from SMS:\(Self.listed)") == true)
            #expect(
                modem.sent.map { "\($0.number) \($0.text)" } == [
                    "\(Self.listed) OK UR:25", "\(Self.listed) ERROR wrong PIN", "\(Self.listed) OK VN:RJ14PB1234",
                ])
            #expect(vendor.otaAlerts == ["SET:SMS:\(Self.listed)|UR:25", "GET:SMS:\(Self.listed)|VN:RJ14PB1234"])
            let lines = logs.lines.withLock { $0 }
            #expect(lines.filter { $0.message == "AIS-140 OTA SMS from an unlisted number ignored" }.count == 1)
            #expect(try box.daemon().config.rates.position == .seconds(25))
        }
    }
}
