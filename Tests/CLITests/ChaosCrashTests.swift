import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLISuite {
    /// The promise under a bad network and crashes: `panicd run` delivers through `panicd chaos-proxy` (500s, resets,
    /// answers held past the timeout, answers lost after the store) to `controlroom serve`, and both are killed with
    /// SIGKILL while records are in flight. At the end every record the box committed is at the control room with
    /// the same hash, and the control room holds nothing the box did not commit — compared by identity.
    @Suite("Delivery through chaos and SIGKILL", .serialized)
    struct ChaosCrashTests {
        let panicd = Executable("panicd")
        let controlroom = Executable("controlroom")

        /// The schedule's seed: fixed, so the same faults meet the same requests every run (it is printed).
        static let seed: UInt64 = 20_261_202

        @Test("0 lost, 0 duplicated by (sequence, hash) through faults and kill -9 of box and control room")
        func chaosAndKills() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = { (name: String) in directory.appendingPathComponent(name).path }

            // Keys, and the box registered at the control room.
            let enrolment = try Rig.enrol(in: directory, database: path("cr.db"))
            let (device, roomKey) = (enrolment.device, enrolment.roomKey)

            // The control room on a port of its choosing; restarts come back on the same port.
            var room = try startRoom(directory, port: 0)
            let roomPort = try #require(
                room.text.split(separator: " ").first { $0.hasPrefix("port=") }.map { String($0.dropFirst(5)) })
            var proxy = try RunningProcess(
                panicd,
                [
                    "chaos-proxy", "--upstream", "http://127.0.0.1:\(roomPort)", "--rate", "0.5", "--delay", "1500",
                    "--seed", "\(Self.seed)",
                ])
            #expect(proxy.waitFor("listening on"), "\(proxy.text)")
            let proxyPort = try #require(
                proxy.text.split(separator: "\n").first { $0.hasPrefix("listening on ") }?.split(separator: ":").last
                    .map(String.init))
            FileHandle.standardError.write(Data("chaos test: seed \(Self.seed), proxy :\(proxyPort)\n".utf8))

            // Fast positions and small batches: many requests, many records in flight when a kill lands.
            try config(position: "100ms", health: "2s", proxyPort: proxyPort, roomKey: roomKey)
                .write(toFile: path("panicd.yaml"), atomically: true, encoding: .utf8)
            var generator = SystemRandomNumberGenerator()
            var boxKills = 0
            var roomKills = 0
            let rounds = 6
            for round in 0..<rounds {
                let box = try RunningProcess(panicd, ["run", "--config", path("panicd.yaml")], in: directory)
                #expect(box.waitFor(" ready"), "round \(round): \(box.text)")
                proxy.waitForCount(
                    "\nrequest ", atLeast: proxy.count("\nrequest ") + Int.random(in: 3...8, using: &generator))
                if round % 2 == 1 {
                    // The control room dies mid-delivery; the box keeps storing and retrying into a dead upstream.
                    room.kill9()
                    roomKills += 1
                    let stored = box.count("record stored")
                    box.waitForCount("record stored", atLeast: stored + 12)
                    room = try startRoom(directory, port: Int(roomPort) ?? 0)
                }
                proxy.waitForCount(
                    "\nrequest ", atLeast: proxy.count("\nrequest ") + Int.random(in: 2...6, using: &generator))
                if round == rounds - 1 {
                    // End with a backlog: the control room down while the box stores a dozen more records.
                    room.kill9()
                    roomKills += 1
                    let stored = box.count("record stored")
                    box.waitForCount("record stored", atLeast: stored + 12)
                }
                box.kill9()
                boxKills += 1
            }

            // Drain: no more faults, the control room back, the box slow so the backlog can reach zero.
            proxy.kill9()
            let faultLog = proxy.text
            proxy = try RunningProcess(
                panicd,
                [
                    "chaos-proxy", "--listen", "127.0.0.1:\(proxyPort)", "--upstream", "http://127.0.0.1:\(roomPort)",
                    "--rate", "0",
                ])
            #expect(proxy.waitFor("listening on"), "\(proxy.text)")
            room = try startRoom(directory, port: Int(roomPort) ?? 0)
            try config(position: "1h", health: "1h", proxyPort: proxyPort, roomKey: roomKey)
                .write(toFile: path("panicd.yaml"), atomically: true, encoding: .utf8)
            let box = try RunningProcess(panicd, ["run", "--config", path("panicd.yaml")], in: directory)
            #expect(box.waitFor(" ready"), "\(box.text)")
            #expect(box.waitFor("serving status on"), "\(box.text)")
            // The status socket says when the backlog is gone (the box pushes each change; nothing polls).
            let watch = try RunningProcess(panicd, ["status", "--socket", path("status.sock"), "--watch", "--json"])
            let drained = watch.waitUntil { text in
                text.split(separator: "\n").contains { line in
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let backends = object["backends"] as? [[String: Any]], let first = backends.first
                    else { return false }
                    return (first["queued"] as? Int) == 0 && (first["inFlight"] as? Int) == 0
                }
            }
            #expect(drained, "the backlog never drained:\n\(watch.text)\n\(box.text)")
            watch.stop()
            box.stop()
            #expect(box.text.contains("undelivered=0"), "\(box.text)")
            room.stop()
            proxy.stop()

            // By identity: the box's outbox against the control room's store.
            let outbox = try panicd.run(["outbox", "identities", "--db", path("state/outbox.sqlite")])
            #expect(outbox.status == 0, "\(outbox.stderr)")
            let committed = outbox.stdout.split(separator: "\n").map { $0.split(separator: "\t") }
            let stored = try controlroom.run(["devices", "records", "--db", path("cr.db"), "--id", device])
            #expect(stored.status == 0, "\(stored.stderr)")
            let atRoom = stored.stdout.split(separator: "\n").map { $0.split(separator: "\t") }
            let committedIDs = Set(committed.map { "\($0[0]) \($0[1])" })
            let roomIDs = atRoom.map { "\($0[0]) \($0[1])" }
            #expect(committed.count > 60, "too few records to mean anything: \(committed.count)")
            let missing = committedIDs.subtracting(roomIDs).sorted()
            #expect(missing.isEmpty, "committed by the box, not at the control room: \(missing)")
            let foreign = Set(roomIDs).subtracting(committedIDs).sorted()
            #expect(foreign.isEmpty, "at the control room, never committed by the box: \(foreign)")
            #expect(Set(roomIDs).count == roomIDs.count, "a record is stored twice at the control room")
            let unconfirmed = committed.filter { $0.count < 3 || $0[2] != "chaos" }.map { $0[0] }
            #expect(unconfirmed.isEmpty, "records the box does not count delivered: \(unconfirmed)")

            // The run met every fault, more than once.
            for fault in ["500", "reset", "delay", "drop"] {
                #expect(
                    faultLog.components(separatedBy: " \(fault): ").count > 2, "no '\(fault)' fault in:\n\(faultLog)")
            }
            let lostAnswers = faultLog.components(separatedBy: " drop: upstream 200").count - 1
            #expect(lostAnswers >= 1, "no answer was lost after the store:\n\(faultLog)")
            FileHandle.standardError.write(
                Data(
                    ("chaos test: \(boxKills) box kills, \(roomKills) control-room kills, "
                        + "\(faultLog.components(separatedBy: "\nrequest ").count - 1) requests through the proxy "
                        + "(\(lostAnswers) answers lost after the store), \(committed.count) records compared by "
                        + "identity: \(missing.count) missing, \(foreign.count) foreign, "
                        + "\(roomIDs.count - Set(roomIDs).count) duplicated\n").utf8))
        }

        func startRoom(_ directory: URL, port: Int) throws -> RunningProcess {
            let path = { (name: String) in directory.appendingPathComponent(name).path }
            let room = try RunningProcess(
                controlroom, ["serve", "--db", path("cr.db"), "--key", path("cr.key"), "--listen", "127.0.0.1:\(port)"])
            #expect(room.waitFor("control room listening"), "\(room.text)")
            return room
        }

        func config(position: String, health: String, proxyPort: String, roomKey: String) -> String {
            Rig.simBoardConfig(
                backend: "chaos", url: "http://127.0.0.1:\(proxyPort)", roomKey: roomKey, batchSize: 5,
                logLevel: "debug",
                extra: """
                    rates:
                      position: \(position)
                      emergency_position: \(position)
                      health: \(health)
                    """)
        }
    }
}
