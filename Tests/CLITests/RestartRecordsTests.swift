import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLISuite {
    /// A real `panicd run` on the sim board, started and stopped as a box is: SIGTERM is a clean stop, SIGKILL a power
    /// cut. Each start commits one `boot` record with the right reason; an enclosure open across a restart is state in
    /// the boot record, not a second tamper; the last fix survives the restart.
    @Suite("panicd run: boot records across restarts", .serialized, .timeLimit(.minutes(3)))
    struct RestartRecordsTests {
        let panicd = Executable("panicd")

        final class Flag: Sendable {
            let value = Mutex(false)
        }

        /// A running `panicd run` and its log so far.
        final class Daemon {
            let process = Process()
            let err = Pipe()
            var log = ""

            init(_ panicd: Executable, config: String, directory: URL, environment: [String: String]) throws {
                process.executableURL = panicd.url
                process.arguments = ["run", "--config", config]
                process.currentDirectoryURL = directory
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
                process.standardError = err
                process.standardOutput = FileHandle.nullDevice
                process.standardInput = FileHandle.nullDevice
                try process.run()
            }

            /// Reads the log (blocking on the pipe) until a line contains `text`; false when the daemon exited first,
            /// or was killed because the line had not come within `limit` (the read then ends).
            func wait(for text: String, limit: Double = 30) -> Bool {
                let pid = process.processIdentifier
                let found = Flag()
                DispatchQueue.global().asyncAfter(deadline: .now() + limit) {
                    if !found.value.withLock({ $0 }) { kill(pid, SIGKILL) }
                }
                while !log.split(separator: "\n").contains(where: { $0.contains(text) }) {
                    let chunk = err.fileHandleForReading.availableData
                    if chunk.isEmpty { return false }
                    log += String(decoding: chunk, as: UTF8.self)
                }
                found.value.withLock { $0 = true }
                return true
            }

            /// Sends `signal` and waits for the process to end.
            func stop(_ signal: Int32) {
                kill(process.processIdentifier, signal)
                log += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
            }
        }

        /// The outbox's records as JSON objects, in sequence order.
        func records(outbox: String, key: String) throws -> [[String: Any]] {
            let export = try panicd.run(["outbox", "export", "--db", outbox, "--key", key])
            #expect(export.status == 0, "\(export.stderr)")
            return export.stdout.split(separator: "\n").compactMap { line in
                let payload = line.split(separator: ".")[1]
                var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                while base64.count % 4 != 0 { base64 += "=" }
                return (try? JSONSerialization.jsonObject(with: Data(base64Encoded: base64) ?? Data()))
                    as? [String: Any]
            }
        }

        @Test(
            "first start, clean restart, power cut: one boot record each; an enclosure open across the cut, one tamper")
        func bootReasons() throws {
            let run = RunCommandTests()
            let directory = try run.scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let (config, key, outbox) = try run.simConfig(in: directory)
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)

            // 1: a new outbox. Stopped by SIGTERM once its boot record is stored.
            let first = try Daemon(panicd, config: config, directory: directory, environment: [:])
            #expect(first.wait(for: "record stored: boot"), "\(first.log)")
            first.stop(SIGTERM)
            #expect(first.process.terminationStatus == 0, "\(first.log)")

            // 2: comes up with its enclosure open (opened while it was off): a clean restart, and a new tamper.
            let open = ["PANICD_SIM_START": "enclosure open"]
            let second = try Daemon(panicd, config: config, directory: directory, environment: open)
            #expect(second.wait(for: "alert stored: tamper"), "\(second.log)")
            second.stop(SIGKILL)  // the power goes

            // 3: power back, the enclosure still open: a power cut, the enclosure in the boot record, no new tamper.
            let third = try Daemon(panicd, config: config, directory: directory, environment: open)
            #expect(third.wait(for: "record stored: boot"), "\(third.log)")
            third.stop(SIGTERM)
            #expect(third.process.terminationStatus == 0, "\(third.log)")

            let stored = try records(outbox: outbox, key: key)
            let boots = stored.filter { $0["kind"] as? String == "boot" }.compactMap { $0["body"] as? [String: Any] }
            #expect(boots.map { $0["reason"] as? String } == ["first-start", "clean-restart", "power-cut"])
            #expect(boots.first?["downMs"] == nil, "a first start has no downtime")
            #expect((boots.last?["downMs"] as? NSNumber).map { $0.int64Value >= 0 } == true)
            let found = boots.map { ($0["found"] as? [[String: String]]) ?? [] }
            #expect(found[1] == [["input": "enclosure", "state": "enclosure-open"]])
            #expect(found[2] == [["input": "enclosure", "state": "enclosure-open"]])
            let tampers = stored.filter { $0["kind"] as? String == "tamper" }
            #expect(tampers.count == 1, "the enclosure open across the restart raised a second tamper")
        }

        @Test("the last fix survives a restart: the boot record carries it with its age, not none")
        func fixSurvives() throws {
            let run = RunCommandTests()
            let directory = try run.scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let (config, key, outbox) = try run.simConfig(in: directory)
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)
            let fixFile = directory.appendingPathComponent("state/engine-state.json.fix").path

            // The simulated receiver gives its first fix within seconds; the stop saves it.
            let first = try Daemon(panicd, config: config, directory: directory, environment: [:])
            #expect(first.wait(for: "record stored: boot"), "\(first.log)")
            #expect(first.wait(for: "last fix saved"), "\(first.log)")
            first.stop(SIGTERM)
            let saved = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixFile)))
                    as? [String: Any])
            let savedFix = try #require(saved["fix"] as? [String: Any])

            let second = try Daemon(panicd, config: config, directory: directory, environment: [:])
            #expect(second.wait(for: "record stored: boot"), "\(second.log)")
            second.stop(SIGTERM)
            let boot = try #require(
                try records(outbox: outbox, key: key).filter { $0["kind"] as? String == "boot" }.last)
            let fix = try #require(boot["fix"] as? [String: Any], "the boot record after a restart has no fix")
            #expect(fix["lat"] as? Double == savedFix["lat"] as? Double)
            #expect(fix["lon"] as? Double == savedFix["lon"] as? Double)
            #expect(fix["lat"] as? Double != 0)
            #expect((fix["ageMs"] as? NSNumber).map { $0.int64Value > 0 } == true)
        }
    }
}
