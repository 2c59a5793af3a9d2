import Foundation
import Testing

extension CLISuite {
    @Suite("panicd run")
    struct RunCommandTests {
        let panicd = Executable("panicd")
        /// The RFC 8032 test-1 Ed25519 public key: a valid control-room key nobody uses.
        static let roomKey = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

        func scratch() throws -> URL {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory
        }

        /// A config for the sim board with the key and outbox in `directory`, reporting to a port nobody serves.
        func simConfig(in directory: URL) throws -> (config: String, key: String, outbox: String) {
            let board = Executable.repositoryRoot.appendingPathComponent("boards/sim.yaml").path
            let text = """
                board: \(board)
                key: device.key
                outbox:
                  path: state/outbox.sqlite
                backends:
                  - name: nowhere
                    url: http://127.0.0.1:9/v1/records
                    controlroom_key: \(Self.roomKey)
                    timeout: 1s
                log_level: info
                """
            let config = directory.appendingPathComponent("panicd.yaml").path
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            return (
                config, directory.appendingPathComponent("device.key").path,
                directory.appendingPathComponent("state/outbox.sqlite").path
            )
        }

        @Test("a broken config exits 2 and names every problem with its line")
        func brokenConfig() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = directory.appendingPathComponent("panicd.yaml").path
            try """
            board: boards/sim.yaml
            key: device.key
            outbox:
              path: outbox.sqlite
            log_level: loud
            colour: blue
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let result = try panicd.run(["run", "--config", config])
            #expect(result.status == 2)
            #expect(result.stderr.contains("5:12: log_level: 'loud' is not one of"), "\(result.stderr)")
            #expect(result.stderr.contains("colour"), "\(result.stderr)")
        }

        @Test("a device key others can read is refused with the chmod hint")
        func insecureKey() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let (config, key, outbox) = try simConfig(in: directory)
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)
            chmod(key, 0o644)
            let result = try panicd.run(["run", "--config", config])
            #expect(result.status == 1)
            #expect(result.stderr.contains("chmod 600 \(key)"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: outbox))
        }

        @Test("on the sim board it opens its outbox, says ready, and stops cleanly on SIGTERM", .timeLimit(.minutes(1)))
        func runsAndStops() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let (config, key, outbox) = try simConfig(in: directory)
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)

            // Bounded waits that name what they waited for (`RunningProcess.panicdRun`).
            let daemon = try RunningProcess.panicdRun(panicd, config: config, in: directory)
            defer { daemon.kill9() }
            #expect(FileManager.default.fileExists(atPath: outbox))

            let stop = try daemon.terminate(within: .seconds(15))
            daemon.expectStoppedCleanly(stop, within: .seconds(15))
            #expect(FileManager.default.fileExists(atPath: outbox))
        }
    }
}
