import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLISuite {
    /// Claims and confirmations commit without waiting for the disk (docs/outbox.md → *Claims and confirmations do not
    /// wait for the disk*). A writer killed at any moment of a drain must leave every committed record pending or
    /// delivered — delivered only when the receiver has it — and a restart must send whatever was in flight again.
    @Suite("Outbox drain under SIGKILL", .serialized)
    struct DrainCrashTests {
        let panicd = Executable("panicd")

        /// The receiver's file: sequence → envelope hashes received (a record may arrive more than once).
        func received(_ path: String) throws -> [Int64: Set<String>] {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            var received: [Int64: Set<String>] = [:]
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 2, let sequence = Int64(fields[0]) else { continue }
                received[sequence, default: []].insert(String(fields[1]))
            }
            return received
        }

        /// `panicd outbox identities`: sequence → (hash, delivered to the receiver).
        func identities(_ db: String) throws -> [Int64: (hash: String, delivered: Bool)] {
            let output = try panicd.run(["outbox", "identities", "--db", db])
            #expect(output.status == 0, "\(output.stderr)")
            var rows: [Int64: (String, Bool)] = [:]
            for line in output.stdout.split(separator: "\n") {
                let fields = line.split(separator: "\t")
                guard fields.count == 3, let sequence = Int64(fields[0]) else { continue }
                rows[sequence] = (String(fields[1]), fields[2].split(separator: ",").contains("receiver"))
            }
            return rows
        }

        @Test(
            "a drain killed after a claim or a confirmation at random moments loses nothing; in-flight records go again"
        )
        func killDuringDrain() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drain-crash-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("device.pem").path
            let db = directory.appendingPathComponent("outbox.db").path
            let receiver = directory.appendingPathComponent("receiver.txt").path
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)

            var generator = SystemRandomNumberGenerator()
            var stored: Set<Int64> = []
            var killedAfter: [String: Int] = [:]
            let rounds = 40
            for round in 0..<rounds {
                let process = Process()
                process.executableURL = panicd.url
                process.arguments = ["outbox", "drain-crash-child", "--db", db, "--key", key, "--receiver", receiver]
                let out = Pipe()
                process.standardOutput = out
                process.standardError = FileHandle.nullDevice
                try process.run()
                // Kill right after a random line: a commit of records, a claim, the receiver's fsync or a confirmation.
                let target = Int.random(in: 1...40, using: &generator)
                var buffer = Data()
                var lines: [Substring] = []
                while lines.count < target {
                    let chunk = out.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    buffer += chunk
                    let text = String(decoding: buffer, as: UTF8.self)
                    lines = text.split(separator: "\n", omittingEmptySubsequences: true)
                    if !text.hasSuffix("\n"), !lines.isEmpty { lines.removeLast() }
                }
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                #expect(process.terminationReason == .uncaughtSignal, "round \(round): the child exited by itself")
                buffer += out.fileHandleForReading.readDataToEndOfFile()
                let text = String(decoding: buffer, as: UTF8.self)
                let complete =
                    text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
                let reported = complete.split(separator: "\n")
                for line in reported where line.hasPrefix("stored ") {
                    if let sequence = Int64(line.dropFirst("stored ".count)) { stored.insert(sequence) }
                }
                if let last = reported.last?.split(separator: " ").first { killedAfter[String(last), default: 0] += 1 }

                // What the killed writer left: every record it reported stored, delivered only if the receiver has it.
                let rows = try identities(db)
                let have = try received(receiver)
                let missing = stored.filter { rows[$0] == nil }.sorted()
                #expect(missing.isEmpty, "round \(round): reported stored but gone: \(missing)")
                let unreceived = rows.filter { $0.value.delivered && have[$0.key]?.contains($0.value.hash) != true }
                #expect(
                    unreceived.isEmpty, "round \(round): marked delivered, never received: \(unreceived.keys.sorted())")
            }
            #expect(stored.count > rounds, "too few commits to mean anything: \(stored.count)")
            #expect(killedAfter["claimed", default: 0] > 0, "no kill landed right after a claim: \(killedAfter)")

            // A last run appends a few more and drains to the end: whatever a kill left in flight goes again.
            let last = try panicd.run([
                "outbox", "drain-crash-child", "--db", db, "--key", key, "--receiver", receiver, "--records", "7",
            ])
            #expect(last.status == 0, "\(last.stderr)")
            for line in last.stdout.split(separator: "\n") where line.hasPrefix("stored ") {
                if let sequence = Int64(line.dropFirst("stored ".count)) { stored.insert(sequence) }
            }
            let rows = try identities(db)
            let have = try received(receiver)
            #expect(Set(rows.keys).isSuperset(of: stored))
            let undelivered = rows.filter { !$0.value.delivered }.keys.sorted()
            #expect(undelivered.isEmpty, "still undelivered after the drain: \(undelivered)")
            let lost = rows.filter { have[$0.key]?.contains($0.value.hash) != true }.keys.sorted()
            #expect(lost.isEmpty, "never received (by sequence and hash): \(lost)")
            let lines = (try String(contentsOfFile: receiver, encoding: .utf8)).split(separator: "\n").count
            FileHandle.standardError.write(
                Data(
                    "drain crash test: \(rounds) SIGKILLs after \(killedAfter), \(rows.count) records, \(lines - rows.count) sent again\n"
                        .utf8))
        }
    }
}
