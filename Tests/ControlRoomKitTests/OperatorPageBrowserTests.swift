import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import PanicCore
import PanicSigning
import Testing

/// Debian's chromium, if installed (`make browser-test` installs it).
enum Browser {
    static let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static var available: Bool {
        path != nil || ProcessInfo.processInfo.environment["PANICBRIDGE_REQUIRE_BROWSER"] != nil
    }

    /// Loads `url` headless, lets its scripts run for `budget` ms of virtual time, and returns the final DOM.
    static func dumpDOM(_ url: String, budget: Int = 3000) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(path, "chromium is not installed"))
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        process.arguments = [
            "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--user-data-dir=\(profile.path)",
            "--virtual-time-budget=\(budget)", "--dump-dom", url,
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: profile)
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite("Operator page in a real headless browser", .timeLimit(.minutes(2)))
struct OperatorPageBrowserTests {
    @Test(
        "a posted alert appears on the page with its kind, device, location and an Accept button; after accepting it shows help on the way",
        .enabled(if: Browser.available, "chromium is not installed: run `make browser-test`"))
    func alertRowAppears() async throws {
        let fixture = try Fixture()
        let records = try fixture.chain(1, alertAt: [1])
        _ = try fixture.send(records.map(\.envelope))
        let alert = try #require(try fixture.room.openAlerts().first)
        let (ports, sink) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = ControlRoomServer.application(
            controlRoom: fixture.room, host: "127.0.0.1", port: 0, logger: logger, onRunning: { sink.yield($0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let url = "http://127.0.0.1:\(port)/"
            let dom = try await Task.detached { try Browser.dumpDOM(url) }.value
            let row = try #require(
                dom.range(of: "data-alert=\"\(alert.id)\"").map { String(dom[$0.lowerBound...].prefix(900)) })
            #expect(row.contains("emergency"))
            #expect(row.contains(fixture.deviceID))
            #expect(row.contains("28.61000, 77.20000"))
            #expect(row.contains("OPEN"))
            #expect(row.contains(">Accept</button>"))
            try fixture.room.accept(device: fixture.deviceID, alert: alert.id)
            let after = try await Task.detached { try Browser.dumpDOM(url) }.value
            #expect(after.contains("help on the way"))
            group.cancelAll()
        }
    }
}
