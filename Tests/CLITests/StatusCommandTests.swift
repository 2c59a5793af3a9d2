import Foundation
import Testing

extension CLISuite {
    /// `--version`, `panicd config check`, and `panicd status` with the live watches against a running `panicd run`
    /// on the sim board.
    @Suite("panicd status, config check and --version")
    struct StatusCommandTests {
        let panicd = Executable("panicd")
        let controlroom = Executable("controlroom")
        static let roomKey = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

        /// The release in `VERSION`, the one place it is written.
        static var version: String {
            let url = Executable.repositoryRoot.appendingPathComponent("VERSION")
            return ((try? String(contentsOf: url, encoding: .utf8)) ?? "").trimmingCharacters(
                in: .whitespacesAndNewlines)
        }

        func scratch() throws -> URL {
            // Short: a Unix socket path must fit in 107 bytes.
            let directory = URL(fileURLWithPath: "/tmp/pbst-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory
        }

        /// A sim-board config in `directory` (key, outbox and status socket there too), reporting nowhere.
        func simConfig(in directory: URL, extra: String = "") throws -> String {
            let config = directory.appendingPathComponent("panicd.yaml").path
            try Rig.simBoardConfig(roomKey: Self.roomKey, extra: extra).write(
                toFile: config, atomically: true, encoding: .utf8)
            return config
        }

        @Test("both executables print the release in VERSION")
        func versions() throws {
            #expect(!Self.version.isEmpty)
            for executable in [panicd, controlroom] {
                let result = try executable.run(["--version"])
                #expect(result.status == 0)
                #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == Self.version)
            }
        }

        @Test("config check passes a usable config and says what it describes, opening nothing")
        func configCheckPasses() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = try simConfig(in: directory)
            #expect(
                try panicd.run(["keygen", "--out", directory.appendingPathComponent("device.key").path]).status == 0)
            let result = try panicd.run(["config", "check", "--config", config])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("board sim"), "\(result.stdout)")
            #expect(result.stdout.contains("backend nowhere: http://127.0.0.1:9/v1/records"), "\(result.stdout)")
            #expect(result.stdout.hasSuffix("ok\n"), "\(result.stdout)")
            // Nothing was started or created: no outbox, no socket.
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("state").path))
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("status.sock").path))
        }

        @Test("config check names every problem of the config, its board and its key, and exits 2")
        func configCheckFails() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = directory.appendingPathComponent("panicd.yaml").path
            try """
            board: no-such-board.yaml
            key: device.key
            outbox:
              path: state/outbox.sqlite
            backends:
              - name: erss
                url: https://erss.example/v1/records
                ca: missing-ca.pem
                controlroom_key: \(Self.roomKey)
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let result = try panicd.run(["config", "check", "--config", config])
            #expect(result.status == 2)
            #expect(result.stderr.contains("no-such-board.yaml"), "\(result.stderr)")
            #expect(result.stderr.contains("device.key"), "\(result.stderr)")
            #expect(result.stderr.contains("missing-ca.pem"), "\(result.stderr)")
            #expect(result.stderr.contains("3 problem(s)"), "\(result.stderr)")

            // A YAML mistake is reported with its line and column, as `panicd run` does.
            try "board: x.yaml\nlog_level: loud\n".write(toFile: config, atomically: true, encoding: .utf8)
            let bad = try panicd.run(["config", "check", "--config", config])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("2:12: log_level"), "\(bad.stderr)")
        }

        @Test("status, --watch, the live GNSS watch and outbox status read a running daemon without stopping it")
        func statusOfRunningDaemon() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = try simConfig(in: directory)
            let socket = directory.appendingPathComponent("status.sock").path
            #expect(
                try panicd.run(["keygen", "--out", directory.appendingPathComponent("device.key").path]).status == 0)
            let daemon = try RunningProcess(panicd, ["run", "--config", config], in: directory)
            defer { daemon.stop() }
            #expect(daemon.waitFor("serving status on"), "\(daemon.text)")
            #expect(daemon.text.contains("version=\(Self.version)"), "\(daemon.text)")

            let status = try panicd.run(["status", "--config", config])
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("panicd \(Self.version)"), "\(status.stdout)")
            #expect(status.stdout.contains("state       armed"), "\(status.stdout)")
            #expect(status.stdout.contains("backend     nowhere"), "\(status.stdout)")
            #expect(status.stdout.contains("input       driver-emergency"), "\(status.stdout)")

            let json = try panicd.run(["status", "--socket", socket, "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(object?["version"] as? String == Self.version, "\(json.stdout)")
            #expect(object?["emergencyOpen"] as? Bool == false, "\(json.stdout)")
            #expect((object?["backends"] as? [[String: Any]])?.first?["name"] as? String == "nowhere")
            // No location in the status: only the fix's age, mode and satellites.
            #expect(!json.stdout.contains("latitude"), "\(json.stdout)")

            // --watch prints the status now and again on the next change or refresh.
            let watch = try panicd.run(["status", "--socket", socket, "--watch", "--count", "2"])
            #expect(watch.status == 0, "\(watch.stderr)")
            #expect(watch.stdout.components(separatedBy: "── ").count == 3, "\(watch.stdout)")

            // The daemon's receiver view, once a second, while the daemon keeps the receiver.
            let gnss = try panicd.run(["gnss", "watch", "--live", "--socket", socket, "--count", "2", "--json"])
            #expect(gnss.status == 0, "\(gnss.stderr)")
            let reports = gnss.stdout.split(separator: "\n")
            #expect(reports.count == 2, "\(gnss.stdout)")
            #expect(reports.allSatisfy { $0.contains("\"chunksDecoded\"") }, "\(gnss.stdout)")

            // The outbox's counts without the key, beside the daemon that has it open.
            let outbox = try panicd.run([
                "outbox", "status", "--db", directory.appendingPathComponent("state/outbox.sqlite").path,
            ])
            #expect(outbox.status == 0, "\(outbox.stderr)")
            #expect(outbox.stdout.contains("backend nowhere"), "\(outbox.stdout)")

            #expect(daemon.process.isRunning, "\(daemon.text)")
            daemon.stop()
            #expect(daemon.process.terminationStatus == 0)
            #expect(!FileManager.default.fileExists(atPath: socket), "the socket is removed on a clean stop")
        }

        @Test("without a running daemon, status and the live watches fail with the socket and a hint")
        func noDaemon() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let socket = directory.appendingPathComponent("status.sock").path
            for arguments in [["status"], ["inputs", "watch", "--live"], ["gnss", "watch", "--live"]] {
                let result = try panicd.run(arguments + ["--socket", socket])
                #expect(result.status == 1, "\(arguments)")
                #expect(result.stderr.contains("connect \(socket)"), "\(result.stderr)")
                #expect(result.stderr.contains("is panicd running?"), "\(result.stderr)")
            }
        }
    }
}
