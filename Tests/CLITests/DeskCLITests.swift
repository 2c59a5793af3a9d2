import Foundation
import Testing

extension CLISuite {
    @Suite("controlroom users, device metadata and HTTPS", .timeLimit(.minutes(3)))
    struct DeskCLITests {
        let controlroom = Executable("controlroom")

        func scratch() throws -> URL {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("desk-cli-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory
        }

        @Test("users add / list / passwd / remove, with clear errors for a weak password, a bad role, a duplicate")
        func users() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let db = directory.appendingPathComponent("cr.db").path
            let added = try controlroom.run(
                ["users", "add", "--db", db, "--name", "asha", "--role", "supervisor"],
                stdin: Data("a long password\n".utf8))
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.contains("added asha (supervisor)"))
            let token = try controlroom.run(
                ["users", "add", "--db", db, "--name", "bot", "--token"], stdin: Data("another password\n".utf8))
            #expect(token.stdout.contains("token: "), "\(token.stdout)")
            let weak = try controlroom.run(["users", "add", "--db", db, "--name", "x"], stdin: Data("short\n".utf8))
            #expect(weak.status != 0)
            #expect(weak.stderr.contains("at least 12 characters"), "\(weak.stderr)")
            let role = try controlroom.run(
                ["users", "add", "--db", db, "--name", "y", "--role", "boss"], stdin: Data("a long password\n".utf8))
            #expect(role.stderr.contains("'boss' is not a role"), "\(role.stderr)")
            let twice = try controlroom.run(
                ["users", "add", "--db", db, "--name", "asha"], stdin: Data("a long password\n".utf8))
            #expect(twice.stderr.contains("already exists"), "\(twice.stderr)")
            let listed = try controlroom.run(["users", "list", "--db", db])
            #expect(
                listed.stdout == "asha\trole=supervisor\ttoken=no\nbot\trole=operator\ttoken=yes\n", "\(listed.stdout)")
            // Tokens: listed by id without the secret, another issued, the first revoked.
            let secret = try #require(token.stdout.split(separator: "\n").first { $0.hasPrefix("token: ") })
                .dropFirst(7)
            let tokens = try controlroom.run(["users", "tokens", "--db", db, "bot"])
            #expect(tokens.stdout.hasPrefix("tok_") && tokens.stdout.contains("last-used=never"), "\(tokens.stdout)")
            #expect(!tokens.stdout.contains(String(secret)) && !tokens.stdout.contains("pbt_"))
            let firstID = String(tokens.stdout.prefix { $0 != "\t" })
            let issued = try controlroom.run(["users", "issue-token", "--db", db, "bot"])
            #expect(issued.stdout.contains("token: pbt_"), "\(issued.stdout)")
            let revoked = try controlroom.run(["users", "revoke-token", "--db", db, firstID])
            #expect(revoked.stdout == "revoked \(firstID)\n", "\(revoked.stderr)")
            let left = try controlroom.run(["users", "tokens", "--db", db, "bot"]).stdout
            #expect(left.split(separator: "\n").count == 1 && !left.contains(firstID), "\(left)")
            let unknown = try controlroom.run(["users", "revoke-token", "--db", db, firstID])
            #expect(unknown.status != 0 && unknown.stderr.contains("no API token"), "\(unknown.stderr)")
            let promoted = try controlroom.run(["users", "role", "--db", db, "--name", "bot", "--role", "admin"])
            #expect(promoted.stdout == "bot is now admin\n", "\(promoted.stderr)")
            let changed = try controlroom.run(
                ["users", "passwd", "--db", db, "--name", "asha"], stdin: Data("a new long password\n".utf8))
            #expect(changed.status == 0, "\(changed.stderr)")
            #expect(try controlroom.run(["users", "remove", "--db", db, "--name", "asha"]).status == 0)
            #expect(try controlroom.run(["users", "remove", "--db", db, "--name", "asha"]).stderr.contains("no user"))
        }

        @Test("devices add and edit set the name, registration, route, phone and responder flag")
        func metadata() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let db = directory.appendingPathComponent("cr.db").path
            let key = directory.appendingPathComponent("cr.key").path
            _ = try controlroom.run(["keygen", "--out", key])
            let identity = try controlroom.run(["identity", "--key", key])
            let jwk = try #require(identity.stdout.split(separator: "\n").first { $0.hasPrefix("jwk: ") }).dropFirst(5)
            let added = try controlroom.run([
                "devices", "add", "--db", db, "--id", "pb-1", "--key", String(jwk), "--name", "Bus 534",
                "--registration", "DL 1PC 4521",
            ])
            #expect(added.status == 0, "\(added.stderr)")
            let edited = try controlroom.run([
                "devices", "edit", "--db", db, "--id", "pb-1", "--route", "534", "--phone", "+91 98100 00000",
                "--responder", "true", "--make", "Acme Safety", "--model", "PB-2", "--serial", "356938035643809",
            ])
            #expect(
                edited.stdout
                    == "pb-1\tname=Bus 534\tregistration=DL 1PC 4521\troute=534\tphone=+91 98100 00000\tresponder=true"
                    + "\tmake=Acme Safety\tmodel=PB-2\tserial=356938035643809\n",
                "\(edited.stdout)\(edited.stderr)")
            let badSerial = try controlroom.run(["devices", "edit", "--db", db, "--id", "pb-1", "--serial", "35 69;"])
            #expect(
                badSerial.status != 0 && badSerial.stderr.contains("serial '35 69;' may hold"), "\(badSerial.stderr)")
            let unknown = try controlroom.run(["devices", "edit", "--db", db, "--id", "pb-9", "--name", "x"])
            #expect(unknown.stderr.contains("no device 'pb-9'"), "\(unknown.stderr)")
            let nothing = try controlroom.run(["devices", "edit", "--db", db, "--id", "pb-1"])
            #expect(nothing.stderr.contains("nothing to change"), "\(nothing.stderr)")
        }

        @Test("serve --tls-cert/--tls-key speaks HTTPS, sends HSTS, and its session cookie is Secure")
        func https() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = { (name: String) in directory.appendingPathComponent(name).path }
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-keyout", path("tls.key"), "-out", path("tls.crt"),
            ]
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            #expect(openssl.terminationStatus == 0)
            _ = try controlroom.run(["keygen", "--out", path("cr.key")])
            _ = try controlroom.run(
                ["users", "add", "--db", path("cr.db"), "--name", "asha"], stdin: Data("a long password\n".utf8))
            let bad = try controlroom.run([
                "serve", "--db", path("cr.db"), "--key", path("cr.key"), "--tls-cert", path("missing.crt"),
                "--tls-key", path("tls.key"),
            ])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("--tls-cert"), "\(bad.stderr)")
            let server = try RunningProcess(
                controlroom,
                [
                    "serve", "--db", path("cr.db"), "--key", path("cr.key"), "--listen", "127.0.0.1:0", "--tls-cert",
                    path("tls.crt"), "--tls-key", path("tls.key"),
                ])
            defer { server.stop() }
            #expect(server.waitFor("control room listening"), "\(server.text)")
            let port = try #require(
                server.text.split(separator: " ").first { $0.hasPrefix("port=") }.map { $0.dropFirst(5) })
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = [
                "-sk", "-i", "-X", "POST", "-H", "Content-Type: application/json", "-d",
                #"{"name":"asha","password":"a long password"}"#, "https://127.0.0.1:\(port)/v1/session",
            ]
            let out = Pipe()
            curl.standardOutput = out
            try curl.run()
            let answer = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            curl.waitUntilExit()
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            let cookie = try #require(
                answer.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") }, "\(answer)")
            #expect(cookie.contains("; Secure"))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            // Served over TLS: browsers are told to use nothing else (HSTS), on every answer.
            #expect(
                answer.lowercased().contains("strict-transport-security: max-age=31536000"), "no HSTS: \(answer)")

            // A page holding the push channel open does not keep SIGTERM from stopping the server.
            let session = String(cookie.dropFirst("set-cookie: ".count).prefix { $0 != ";" })
            let events = Process()
            events.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            events.arguments = ["-skN", "-H", "Cookie: \(session)", "https://127.0.0.1:\(port)/v1/desk/events"]
            let stream = Pipe()
            events.standardOutput = stream
            try events.run()
            defer { events.terminate() }
            var received = ""
            while !received.contains("\"snapshot\":true") {
                let chunk = stream.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                received += String(decoding: chunk, as: UTF8.self)
            }
            #expect(received.contains("\"snapshot\":true"), "\(received)")
            server.process.terminate()
            #expect(server.finish() == 0, "\(server.text)")
        }
    }
}
