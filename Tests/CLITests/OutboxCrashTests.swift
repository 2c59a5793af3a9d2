import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLISuite {
    @Suite("Outbox under SIGKILL", .serialized)
    struct OutboxCrashTests {
        let panicd = Executable("panicd")

        @Test("every committed record survives SIGKILL at random moments; numbers never repeat; the chain verifies")
        func killRepeatedly() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("device.pem").path
            let db = directory.appendingPathComponent("outbox.db").path
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)

            var generator = SystemRandomNumberGenerator()
            var reported: [Int64] = []
            let rounds = 50
            for round in 0..<rounds {
                let process = Process()
                process.executableURL = panicd.url
                let batch = round % 3 == 0 ? 4 : 1
                process.arguments = ["outbox", "crash-child", "--db", db, "--key", key, "--batch", "\(batch)"]
                let out = Pipe()
                process.standardOutput = out
                process.standardError = FileHandle.nullDevice
                try process.run()
                // Kill after a random number of reported commits (0 = while it is still opening the database).
                let target = Int.random(in: 0...12, using: &generator)
                var buffer = Data()
                var lines = 0
                while lines < target {
                    let chunk = out.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    buffer += chunk
                    lines = buffer.split(separator: UInt8(ascii: "\n")).count
                }
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                #expect(process.terminationReason == .uncaughtSignal, "round \(round): the child exited by itself")
                buffer += out.fileHandleForReading.readDataToEndOfFile()
                let text = String(decoding: buffer, as: UTF8.self)
                // A line cut by the kill was never completely reported; only whole lines count.
                let complete =
                    text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
                reported += complete.split(separator: "\n").compactMap { Int64($0) }
            }
            #expect(reported.count > rounds, "too few commits reported to mean anything: \(reported.count)")
            #expect(Set(reported).count == reported.count, "a sequence number was reported twice")
            #expect(reported == reported.sorted(), "sequence numbers went backwards across restarts")

            let export = try panicd.run(["outbox", "export", "--db", db, "--key", key])
            #expect(export.status == 0, "\(export.stderr)")
            let stored = Set(
                export.stdout.split(separator: "\n").map { line -> Int64 in
                    let payload = line.split(separator: ".")[1]
                    var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(
                        of: "_", with: "/")
                    while base64.count % 4 != 0 { base64 += "=" }
                    let json = try? JSONSerialization.jsonObject(with: Data(base64Encoded: base64) ?? Data())
                    return ((json as? [String: Any])?["seq"] as? NSNumber)?.int64Value ?? -1
                })
            let missing = reported.filter { !stored.contains($0) }
            #expect(missing.isEmpty, "reported as committed but not stored: \(missing)")

            let verify = try panicd.run(["verify", "--key", key, "-"], stdin: Data(export.stdout.utf8))
            #expect(verify.status == 0, "\(verify.stdout)")
            #expect(verify.stdout.contains("ok \(stored.count)"))
            FileHandle.standardError.write(
                Data(
                    "crash test: \(rounds) SIGKILLs, \(reported.count) commits reported, \(stored.count) stored\n".utf8)
            )
        }
    }
}
