import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLISuite {
    @Suite("panicd run with sms: configured")
    struct RunSMSStopTests {
        let panicd = Executable("panicd")

        /// A modem's AT port that never answers: a real pseudo-terminal whose master the test holds open.
        final class SilentModemPort {
            let master: CInt
            let slave: CInt
            let path: String

            init() throws {
                var master: CInt = -1
                var slave: CInt = -1
                var name = [CChar](repeating: 0, count: 128)
                guard openpty(&master, &slave, &name, nil, nil) == 0 else { throw POSIXError(.EIO) }
                // Close-on-exec: no child spawned meanwhile (by this test or another) keeps the port open.
                for fd in [master, slave] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                self.master = master
                self.slave = slave
                path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }

            deinit {
                close(master)
                close(slave)
            }
        }

        @Test(
            "SIGTERM stops it with status 0 within 5 s (the unit's stop timeout is 15 s)", .timeLimit(.minutes(1)))
        func stopsOnSIGTERM() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("run-sms-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let modem = try SilentModemPort()
            let board = Executable.repositoryRoot.appendingPathComponent("boards/sim.yaml").path
            let config = directory.appendingPathComponent("panicd.yaml").path
            try """
            board: \(board)
            key: device.key
            outbox:
              path: state/outbox.sqlite
            status_socket: state/status.sock
            backends:
              - name: nowhere
                url: http://127.0.0.1:9/v1/records
                controlroom_key: \(RunCommandTests.roomKey)
                timeout: 1s
            sms:
              port: \(modem.path)
              numbers: ["+919812345678"]
              after: 30s
            log_level: info
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let key = directory.appendingPathComponent("device.key").path
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)

            // Bounded waits that name what they waited for (`RunningProcess.panicdRun`).
            let daemon = try RunningProcess.panicdRun(panicd, config: config, in: directory)
            defer { daemon.kill9() }
            // Waits on the exit itself (the termination handler), giving up after 5 s.
            let stop = try daemon.terminate(within: .seconds(5))
            daemon.expectStoppedCleanly(stop, within: .seconds(5))
            #expect(stop.took < .seconds(5))
        }

        @Test("config check lists the SMS recipients with their formats, warns without an IMEI, refuses a clash")
        func configCheck() throws {
            let directory = URL(fileURLWithPath: "/tmp/pbsms-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            #expect(
                try panicd.run(["keygen", "--out", directory.appendingPathComponent("device.key").path]).status == 0)
            let config = directory.appendingPathComponent("panicd.yaml").path
            let sms = """
                sms:
                  port: /dev/ttyUSB2
                  numbers: ["+919999000111", {number: "+919812345678", format: text}]
                  tamper_numbers: ["+911412222333"]
                """
            try Rig.simBoardConfig(roomKey: RunCommandTests.roomKey, extra: sms).write(
                toFile: config, atomically: true, encoding: .utf8)
            let result = try panicd.run(["config", "check", "--config", config])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(
                result.stdout.contains(
                    "sms via /dev/ttyUSB2: alerts to +919999000111 (fields), +919812345678 (text); "
                        + "tamper to +911412222333 (fields)"), "\(result.stdout)")
            #expect(result.stderr.contains("sms: no identity.imei"), "\(result.stderr)")

            // One number with two formats (the gateway's fields for alerts, a sentence for tamper) is refused.
            let clashing = """
                identity:
                  imei: "490154203237518"
                sms:
                  port: /dev/ttyUSB2
                  numbers: ["+919999000111"]
                  tamper_numbers: ["+911412222333", {number: "+919999000111", format: text}]
                """
            try Rig.simBoardConfig(roomKey: RunCommandTests.roomKey, extra: clashing).write(
                toFile: config, atomically: true, encoding: .utf8)
            let clash = try panicd.run(["config", "check", "--config", config])
            #expect(clash.status == 2, "\(clash.stdout)")
            #expect(clash.stderr.contains("sms.tamper_numbers[1]"), "\(clash.stderr)")
            #expect(clash.stderr.contains("one number gets one format"), "\(clash.stderr)")
            #expect(!clash.stderr.contains("no identity.imei"), "\(clash.stderr)")
        }
    }
}
