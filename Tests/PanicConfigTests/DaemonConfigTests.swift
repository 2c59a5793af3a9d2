import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("Daemon configuration")
struct DaemonConfigTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../config/panicd.example.yaml").standardized.path

    @Test("the shipped example is valid and means what its comments say")
    func exampleParses() throws {
        let (config, problems) = DaemonConfig.load(path: Self.example)
        #expect(problems.isEmpty, "\(problems)")
        let parsed = try #require(config)
        #expect(parsed.backends.map(\.name) == ["state-erss", "operator"])
        // The pinned CA is shown commented out: the installed example must pass `panicd config check` as it is.
        #expect(parsed.backends[0].caFile == nil)
        #expect(parsed.statusSocket == "/run/panicd/status.sock")
        #expect(parsed.backends[1].backlogOrder == .newestFirst)
        #expect(parsed.backends[1].timeout == .seconds(10))
        #expect(parsed.rates.emergencyPosition == .seconds(10))
        #expect(parsed.rates.emergencyTrackingAfter == .seconds(1800))
        #expect(parsed.outboxMaxRecords == 50_000)
        #expect(parsed.privacyMode == false)
    }

    @Test("unset, revert_after is 10 minutes or two health intervals, whichever is longer; a slow health rate is valid")
    func revertAfterDefault() throws {
        let base = "board: b.yaml\nkey: k\noutbox:\n  path: o.db\n"
        let (quick, quickProblems) = DaemonConfig.parse(base + "rates:\n  health: 1m\n")
        #expect(quickProblems.isEmpty, "\(quickProblems)")
        #expect(quick?.remoteConfigRevertAfter == .seconds(600))
        let (slow, slowProblems) = DaemonConfig.parse(base + "rates:\n  health: 15m\n")
        #expect(slowProblems.isEmpty, "\(slowProblems)")
        #expect(slow?.remoteConfigRevertAfter == .seconds(1800))
    }

    @Test("relative paths are resolved against the file's directory")
    func relativePaths() throws {
        let yaml = "board: ../boards/sim.yaml\nkey: device.key\noutbox:\n  path: state/outbox.sqlite\n"
        let (config, problems) = DaemonConfig.parse(yaml, relativeTo: URL(fileURLWithPath: "/srv/box/etc"))
        #expect(problems.isEmpty)
        #expect(config?.boardFile == "/srv/box/boards/sim.yaml")
        #expect(config?.keyFile == "/srv/box/etc/device.key")
        #expect(config?.outboxPath == "/srv/box/etc/state/outbox.sqlite")
    }

    @Test(
        "a bad configuration names the key and the problem",
        arguments: [
            ("outbox:\n  path: o.db\n  max_records: 1000\n", "outbox.max_records", "40000"),
            (
                "outbox:\n  path: o.db\nbackends:\n  - name: a\n    url: ftp://x\n    controlroom_key: abc\n",
                "backends[0].url", "http(s)"
            ),
            (
                "outbox:\n  path: o.db\nbackends:\n  - name: a\n    url: https://x\n    controlroom_key: abc\n",
                "backends[0].controlroom_key", "Ed25519"
            ),
            ("outbox:\n  path: o.db\nrates:\n  position: 10\n", "rates.position", "duration"),
            (
                "outbox:\n  path: o.db\nrates:\n  position: 5s\n  emergency_position: 1m\n", "rates.emergency_position",
                "slower"
            ),
            ("outbox:\n  path: o.db\nprivacy: true\n", "privacy", "did you mean 'privacy_mode'"),
            ("outbox:\n  path: o.db\nlog_level: loud\n", "log_level", "not one of"),
            ("outbox: {}\n", "outbox.path", "missing"),
            (
                "outbox:\n  path: o.db\nrates:\n  health: 15m\nremote_config:\n  revert_after: 10m\n",
                "remote_config.revert_after", "longer than rates.health"
            ),
        ])
    func badConfigs(tail: String, key: String, message: String) throws {
        let (config, problems) = DaemonConfig.parse("board: b.yaml\nkey: k\n" + tail)
        #expect(config == nil)
        let problem = try #require(problems.first { $0.key == key }, "\(problems)")
        #expect(problem.message.contains(message), "\(problem.message)")
    }

    @Test("durations take a unit")
    func durations() {
        #expect(DaemonConfig.parseDuration("500ms") == .milliseconds(500))
        #expect(DaemonConfig.parseDuration("30m") == .seconds(1800))
        #expect(DaemonConfig.parseDuration("2h") == .seconds(7200))
        #expect(DaemonConfig.parseDuration("10") == nil)
        #expect(DaemonConfig.parseDuration("fast") == nil)
    }
}
