import Foundation
import Logging
import PanicCore
import PanicSigning
import Synchronization
import Testing

@testable import PanicDaemon

/// Keeps every log line with its level and metadata (the status-alert and remote-configuration suites read them).
final class LevelLogHandler: LogHandler, Sendable {
    let lines = Mutex<[(level: Logger.Level, message: String, metadata: [String: String])]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    func log(event: LogEvent) {
        let metadata = (event.metadata ?? [:]).mapValues { "\($0)" }
        lines.withLock { $0.append((event.level, event.message.description, metadata)) }
    }
}

@Suite("panicd status shows every open alert and its state", .serialized, .timeLimit(.minutes(1)))
struct StatusAlertsTests {
    @Test("an open help request is 'help open' with the alert and its state, not 'armed'")
    func helpOpen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("status-alerts-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let test = try TestBox(
            outboxPath: directory + "/outbox.sqlite", statePath: directory + "/engine-state.json",
            key: DeviceKey.generate())
        let board = StatusBoard(
            box: test.box, deviceID: "dev", board: test.board, backends: ["unreachable"], clock: SystemMonotonicClock())
        #expect(board.snapshot().state == "armed")
        #expect(board.snapshot().alerts.isEmpty)
        let help = test.board.inputs.first { $0.role == .help }!.name
        let emergency = test.emergencyButton
        let (afterHelp, afterBoth) = try await test.run { box, lines, events in
            var events = events
            await box.inputService.watching()
            func stored(_ kind: RecordKind) async -> String? {
                let event = await events.next {
                    if case .alert(let transition) = $0 { return transition.kind == kind && transition.to == .stored }
                    return false
                }
                if case .alert(let transition) = event { return transition.alert }
                return nil
            }
            try lines.press(help)
            let helpID = await stored(.help)
            let afterHelp = (helpID, board.snapshot())
            try lines.press(emergency)
            let emergencyID = await stored(.emergency)
            return (afterHelp, (helpID, emergencyID, board.snapshot()))
        }
        let (helpID, status) = afterHelp
        #expect(status.state == "help open")
        #expect(status.alerts == [BoxStatus.Alert(id: try #require(helpID), kind: "help", state: "stored")])
        #expect(status.text.contains("alert       help \(helpID ?? ""): stored"), "\(status.text)")
        let (_, emergencyID, both) = afterBoth
        #expect(both.state == "emergency and help open")
        #expect(both.emergencyOpen)
        #expect(both.alerts.map(\.id) == [try #require(emergencyID), try #require(helpID)])
        #expect(both.alerts.map(\.kind) == ["emergency", "help"])
    }

    @Test("one notice line per alert event: the stored emergency is logged once at notice, not twice")
    func oneNoticePerAlert() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("alert-log-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let test = try TestBox(
            outboxPath: directory + "/outbox.sqlite", statePath: directory + "/engine-state.json",
            key: DeviceKey.generate())
        let handler = LevelLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let button = test.emergencyButton
        // The box's own events for one press, each logged as the daemon logs it, up to the alert's stored transition.
        let id = try await test.run { box, lines, events in
            var events = events
            await box.inputService.watching()
            try lines.press(button)
            while let event = await events.next() {
                BoxService.log(event, to: logger)
                if case .alert(let transition) = event, transition.to == .stored { return transition.alert }
            }
            return ""
        }
        #expect(!id.isEmpty, "the alert's stored transition came")
        let notices = handler.lines.withLock { $0.filter { $0.0 == .notice }.map(\.1) }
        #expect(notices.filter { $0.contains("emergency") }.count == 1, "\(notices)")
    }

    @Test("clearing an alert is one notice line: the transition, not the cleared record as well")
    func oneNoticePerClear() {
        let handler = LevelLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        BoxService.log(.stored(id: "c1", kind: .cleared, sequence: 9), to: logger)
        BoxService.log(
            .alert(AlertTransition(alert: "a1", kind: .emergency, from: .acknowledged, to: .cleared)), to: logger)
        let notices = handler.lines.withLock { $0.filter { $0.0 >= .notice }.map(\.1) }
        #expect(notices == ["alert cleared: emergency"])
    }
}
