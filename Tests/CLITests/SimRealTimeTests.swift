import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension CLISuite {
    /// `panicd sim` in real time: a person at the keys, an external control room, NMEA on a pseudo-terminal. These
    /// take real seconds (each a few), so they run in the second test pass with the scenario suite.
    @Suite("panicd sim in real time", .serialized, .timeLimit(.minutes(5)))
    struct SimRealTimeTests {
        let panicd = Executable("panicd")
        let controlroom = Executable("controlroom")

        func scratch() throws -> URL {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-rt-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory
        }

        /// The control room's address from the line `panicd sim` prints (`control room on http://…`).
        func controlRoomURL(in text: String) -> String? {
            guard let range = text.range(of: "control room on ") else { return nil }
            return String(text[range.upperBound...].prefix { !$0.isWhitespace })
        }

        /// The desk's API token from the line `panicd sim` prints (`… API token T); device …`).
        func operatorToken(in text: String) -> String? {
            guard let range = text.range(of: "API token ") else { return nil }
            return String(text[range.upperBound...].prefix { !$0.isWhitespace && $0 != ")" })
        }

        /// What the operator page does: GET the open alerts, then POST accept/clear for one (as a desk account).
        func operatorAction(_ action: String, base: String, token: String) async throws -> Int {
            var list = URLRequest(url: URL(string: base + "/v1/alerts")!)
            list.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (data, _) = try await URLSession.shared.data(for: list)
            let alerts = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
            let alert = try #require(alerts.first)
            let device = try #require(alert["device"] as? String)
            let id = try #require(alert["id"] as? String)
            var request = URLRequest(url: URL(string: "\(base)/v1/alerts/\(device)/\(id)/\(action)")!)
            request.httpMethod = "POST"
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(#"{"reason":"test"}"#.utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }

        @Test("keys drive the box, the operator accepts on the control room's API, the box shows help on the way")
        func interactiveKeys() async throws {
            let sim = try RunningProcess(panicd, ["sim", "--interactive"])
            defer { sim.stop() }
            #expect(sim.waitFor("[00:00:00] bus at "), "\(sim.text)")
            let base = try #require(controlRoomURL(in: sim.text), "\(sim.text)")
            let token = try #require(operatorToken(in: sim.text), "\(sim.text)")

            sim.type("n")  // the network goes down…
            #expect(sim.waitFor("network DOWN"), "\(sim.text)")
            sim.type("e")  // …a passenger presses the emergency button…
            #expect(sim.waitFor("STORED (fast blink)"), "\(sim.text)")
            sim.type("n")  // …and the network comes back.
            #expect(sim.waitFor("control room: emergency received"), "\(sim.text)")

            #expect(try await operatorAction("accept", base: base, token: token) == 200)
            #expect(sim.waitFor("HELP IS ON THE WAY"), "\(sim.text)")
            #expect(try await operatorAction("clear", base: base, token: token) == 200)
            #expect(sim.waitFor("box LED: cleared"), "\(sim.text)")

            sim.type("q")
            #expect(sim.finish() == 0, "\(sim.text)")
            let order = ["network DOWN", "signed and stored", "network up", "emergency received", "HELP IS ON THE WAY"]
            var rest = Substring(sim.text)
            for step in order {
                let found = try #require(rest.range(of: step), "'\(step)' out of order in:\n\(sim.text)")
                rest = rest[found.upperBound...]
            }
            #expect(sim.text.contains("0 lost, 0 duplicates, 0 gaps"), "\(sim.text)")
            #expect(sim.text.contains("PASSED"))
        }

        @Test("against an external `controlroom serve`: delivered, accepted, and the control room has every record")
        func externalControlRoom() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = { (name: String) in directory.appendingPathComponent(name).path }
            let enrolment = try Rig.enrol(in: directory, database: path("cr.sqlite"))
            try enrolment.roomIdentity.write(toFile: path("cr.pub"), atomically: true, encoding: .utf8)
            let device = enrolment.device
            // The simulator's operator is a desk account with an API token.
            try "automation-password-1\n".write(toFile: path("pw"), atomically: true, encoding: .utf8)
            let user = try controlroom.run([
                "users", "add", "--db", path("cr.sqlite"), "--name", "sim", "--role", "operator", "--token",
                "--password-file", path("pw"),
            ])
            #expect(user.status == 0, "\(user.stderr)")
            let token = try #require(
                user.stdout.split(separator: "\n").first { $0.hasPrefix("token: ") }.map { String($0.dropFirst(7)) },
                "\(user.stdout)")

            let server = try RunningProcess(
                controlroom, ["serve", "--db", path("cr.sqlite"), "--key", path("cr.key"), "--listen", "127.0.0.1:0"])
            defer { server.stop() }
            #expect(server.waitFor("control room listening"), "\(server.text)")
            let port = try #require(
                server.text.split(separator: " ").first { $0.hasPrefix("port=") }.map { $0.dropFirst(5) })

            let root = Executable.repositoryRoot.path
            let scenario = """
                name: external control room
                board: \(root)/boards/sim.yaml
                route: \(root)/sim/routes/jaipur-jctsl-3a.csv
                duration: 14s
                operator:
                  accept_after: 1s
                timeline:
                  - at: 1s
                    network: down
                  - at: 2s
                    press: driver-emergency
                    hold: 800ms
                  - at: 4s
                    network: up
                expect:
                  - milestone: delivered
                    after: network-up
                    within: 5s
                  - milestone: accepted
                    after: network-up
                    within: 10s
                  - delivered: emergency    # counted against the external control room's records
                  - lost: 0
                  - duplicates: 0
                """
            try scenario.write(toFile: path("scenario.yaml"), atomically: true, encoding: .utf8)
            let run = try panicd.run([
                "sim", "--scenario", path("scenario.yaml"), "--controlroom", "http://127.0.0.1:\(port)",
                "--controlroom-key", path("cr.pub"), "--device-key", path("device.key"), "--operator-token", token,
            ])
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
            #expect(run.stdout.contains("external control room http://127.0.0.1:\(port)"))
            #expect(run.stdout.contains("HELP IS ON THE WAY"), "\(run.stdout)")
            #expect(run.stdout.contains("0 lost, 0 duplicates, 0 gaps"), "\(run.stdout)")

            // The control room's own registry agrees: every record the box stored is there, none missing.
            let totals = try #require(run.stdout.split(separator: "\n").first { $0.hasPrefix("totals:") })
            let stored = try #require(Int(totals.dropFirst("totals: ".count).prefix { $0.isNumber }))
            let listed = try controlroom.run(["devices", "list", "--db", path("cr.sqlite")])
            #expect(listed.stdout.contains("\(device)\t"), "\(listed.stdout)")
            #expect(listed.stdout.contains("records=\(stored)\tgaps=none"), "\(listed.stdout) vs \(totals)")
        }

        @Test("an external control room needs the device key registered there")
        func externalNeedsDeviceKey() throws {
            let output = try panicd.run(["sim", "--controlroom", "http://127.0.0.1:9"])
            #expect(output.status != 0)
            #expect(output.stderr.contains("--device-key"), "\(output.stderr)")
        }

        @Test("the receiver's NMEA is on a pseudo-terminal behind the link while the sim runs, NavIC included")
        func nmeaOnPseudoTerminal() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let link = directory.appendingPathComponent("gnss").path
            let sim = try RunningProcess(panicd, ["sim", "--interactive", "--nmea-pty", link])
            defer { sim.stop() }
            #expect(sim.waitFor("linked from \(link)"), "\(sim.text)")
            let destination = try FileManager.default.destinationOfSymbolicLink(atPath: link)
            #expect(destination.hasPrefix("/dev/pts/"))

            // Read it as gpsd would: open the link, read sentences as they come.
            let reader = try #require(FileHandle(forReadingAtPath: link))
            var received = ""
            while !(received.contains("$GIGSV") && received.components(separatedBy: "$GNRMC").count > 2) {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                received += String(decoding: chunk, as: UTF8.self)
            }
            try reader.close()
            let sentences = received.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("$") }
            #expect(sentences.contains { $0.hasPrefix("$GNRMC") && $0.contains(",A,") }, "\(received)")
            #expect(sentences.contains { $0.hasPrefix("$GIGSV") }, "\(received)")

            sim.type("q")
            #expect(sim.finish() == 0, "\(sim.text)")
            #expect(
                (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil,
                "the link is removed when the sim ends")
        }
    }
}
