import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

/// An alert's evidence bundle, exported over the desk and checked by the standalone verifier
/// (scripts/evidence/verify.py, Python + joserfc + openssl: no PanicBridge code), good and tampered.
@Suite("Evidence export and independent verification", .timeLimit(.minutes(3)))
struct EvidenceTests {
    /// A press → accept → dispatch → note → clear on the desk over HTTP, with one record the box sent lost (a gap),
    /// the box's commands acknowledged and its `cleared` record.
    static func scenario(
        _ server: DeskServer
    ) async throws -> (bus: DeskDevice, alert: String, supervisor: (cookie: String, csrf: String)) {
        try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
        try await server.room.addUser(name: "vikram", role: .supervisor, password: "correct horse vikram", cost: 4)
        let bus = DeskDevice()
        try await server.register(bus, name: "Bus 534", registration: "DL 1PC 4521")
        let van = DeskDevice()
        try await server.register(van, name: "PCR van 12", responder: true)
        let before = try bus.next(.position)
        _ = try bus.next(.position)  // never arrives: a gap the bundle states
        let press = try bus.next(.emergency(input: "panic"))
        try await server.send(bus, [before.envelope, press.envelope])
        try await server.send(van, [try van.next(.position).envelope])
        let asha = try await server.login("asha", "correct horse asha")
        let path = "/v1/alerts/\(bus.id)/\(press.id)/"
        for (action, body) in [
            ("accept", #"{"reason":"calling the bus"}"#), ("dispatch", #"{"responder":"\#(van.id)"}"#),
            ("note", #"{"text":"driver says a man with a knife"}"#), ("clear", #"{"reason":"suspect held"}"#),
            ("case", #"{"fir":"0123/2026","gd":"GD 45"}"#),
        ] {
            let answer = try await server.call("POST", path + action, headers: DeskServer.change(asha), body: body)
            #expect(answer.status == 200, "\(action): \(answer.body)")
        }
        // The box fetches its commands, acknowledges them and confirms the clear with a signed record.
        let signer = BatchSigner(key: bus.key)
        let poll = try await server.room.receive(
            try signer.sign(RecordBatch(device: bus.id, envelopes: []), time: RecordTime.systemNow()))
        let verifier = CommandSignatureVerifier(controlRoom: try #require(server.room.identity))
        let nonces = try poll.commands.map { try verifier.verify($0).nonce }
        #expect(!nonces.isEmpty)
        let cleared = try bus.next(.cleared(alert: press.id, by: "control-room"))
        _ = try await server.room.receive(
            try signer.sign(
                RecordBatch(device: bus.id, envelopes: [cleared.envelope], commandAcks: nonces),
                time: RecordTime.systemNow()))
        try await server.send(bus, [try bus.next(.position).envelope])  // after the clear: not in the bundle
        return (bus, press.id, try await server.login("vikram", "correct horse vikram"))
    }

    @Test(
        "a supervisor exports over the desk (operators, strangers refused; audited), the verifier passes it, twice alike",
        arguments: StoreKind.all)
    func exportAndVerify(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            let (bus, alert, vikram) = try await Self.scenario(server)
            let route = "/v1/evidence/\(bus.id)/\(alert)"
            #expect(try await server.call("GET", route).status == 401)
            let asha = try await server.login("asha", "correct horse asha")
            #expect(try await server.call("GET", route, headers: ["Cookie": asha.cookie]).status == 403)
            let answer = try await server.call("GET", route, headers: ["Cookie": vikram.cookie])
            #expect(answer.status == 200, "\(answer.body)")
            #expect(answer.header("Content-Type") == "application/x-tar")
            let unknown = try await server.call(
                "GET", "/v1/evidence/\(bus.id)/no-such-alert", headers: ["Cookie": vikram.cookie])
            #expect(unknown.status == 404 && unknown.body.contains("no alert 'no-such-alert'"), "\(unknown.body)")
            let exports = try await server.room.audit(device: bus.id, alert: alert).filter {
                $0.action == .evidenceExport
            }
            #expect(exports.map(\.user) == ["vikram"])

            let directory = Fixture.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let bundle = try await server.room.exportEvidence(alert: alert, by: .console)
            try bundle.write(to: directory + "/bundle.tar")
            let result = try Self.verify(directory + "/bundle.tar")
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("verdict: VERIFIED"), "\(result.output)")
            #expect(result.output.contains("OK   chain: seq 1-4 linked by prev hashes; gaps stated: 2-2"))
            #expect(result.output.contains("OK   commands: 3 signed commands (3 acknowledged by the box)"))
            #expect(
                result.output.contains("OK   audit: 8 lines"),
                "accept, dispatch, note, clear, case numbers, and the box's confirmation of each of its three commands")
            let confirmations = try await server.room.audit(device: bus.id, alert: alert).filter {
                $0.action == .boxConfirmed
            }
            #expect(confirmations.count == 3, "\(confirmations)")
            #expect(result.output.contains("OK   registered-key: registered "), "\(result.output)")
            // The control room's key pinned from an independent source: the right one passes, another fails.
            let kid = try #require(server.room.identity?.thumbprint)
            let pinned = try Self.verify(directory + "/bundle.tar", ["--controlroom-key=" + kid])
            #expect(
                pinned.status == 0 && pinned.output.contains("OK   controlroom-key: thumbprint \(kid) (pinned)"),
                "\(pinned.output)")
            let wrong = try Self.verify(directory + "/bundle.tar", ["--controlroom-key=someone-elses-key"])
            #expect(wrong.status == 1, "\(wrong.output)")
            #expect(
                wrong.output.contains("FAIL controlroom-key: the bundle's control-room key \(kid) is not the pinned"))

            // The §63 certificate: the case numbers, the device, the hash report.
            let certificate = String(decoding: try #require(bundle.attachments["certificate.html"]), as: UTF8.self)
            #expect(certificate.contains("<tr><th>FIR number</th><td>0123/2026</td></tr>"))
            #expect(certificate.contains("<tr><th>GD number</th><td>GD 45</td></tr>"))
            #expect(certificate.contains("<tr><th>Vehicle registration</th><td>DL 1PC 4521</td></tr>"))
            let recordsHash = try Self.manifestHash(bundle, "records.jws")
            #expect(recordsHash.count == 64)
            #expect(certificate.contains("<td><code>records.jws</code></td>"))
            #expect(certificate.contains(recordsHash))
            // Case numbers are checked: markup is refused, not stored.
            let refused = try await server.call(
                "POST", "/v1/alerts/\(bus.id)/\(alert)/case", headers: DeskServer.change(asha),
                body: #"{"fir":"<script>alert(1)</script>"}"#)
            #expect(refused.status == 400, "\(refused.body)")

            let again = try await server.room.exportEvidence(alert: alert, by: .console)
            for name in ["records.jws", "chain.json", "device.json", "commands.json", "audit.jws"] {
                #expect(again.files[name] == bundle.files[name], "\(name) differs between two exports")
            }
            #expect(again.manifest == bundle.manifest)
            // The evidence log grows with other alerts' exports; each bundle's proof leads to its checkpoint.
            var later: [String] = []
            for _ in 0..<4 {
                let press = try bus.next(.emergency(input: "panic"))
                try await server.send(bus, [press.envelope])
                _ = try await server.room.exportEvidence(alert: press.id, by: .console)
                later.append(press.id)
            }
            // The cleared alert's bundle is unchanged (its leaf 0); an open alert's window runs to the newest record,
            // so later[1]'s bundle has grown (a new leaf, 5) while later[3]'s, exported last, has not (leaf 4).
            // The cleared alert keeps the leaf logged when the box's `cleared` record came in (leaf 1, after the
            // operator's clear at leaf 0) and the checkpoint of size 2 signed then; the open alerts are logged at
            // export (leaves 2-5), and later[1]'s grown bundle is a new leaf (6) while later[3]'s is not.
            for (alertID, leaf, size) in [(alert, 1, 2), (later[1], 6, 7), (later[3], 5, 7)] {
                let path = directory + "/log-\(leaf).tar"
                try await server.room.exportEvidence(alert: alertID, by: .console).write(to: path)
                let checked = try Self.verify(path)
                #expect(checked.status == 0, "\(checked.output)")
                let what =
                    alertID == alert
                    ? "the alert, logged when it closed (chain up to seq 4),"
                    : "this manifest (logged at export: the alert was still open)"
                #expect(
                    checked.output.contains("OK   inclusion: \(what) is leaf \(leaf) of \(size) in the signed log"),
                    "\(checked.output)")
            }
            let records = String(decoding: try #require(bundle.files["records.jws"]), as: UTF8.self)
            #expect(records.split(separator: "\n").count == 3, "seq 1, 3 (the press) and 4 (the clear)")
        }
    }

    @Test(
        "an alert enters the evidence log when it closes, before any export; the export proves against that checkpoint",
        arguments: StoreKind.all)
    func loggedAtClose(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            let (bus, alert, _) = try await Self.scenario(server)
            // No export yet: the operator's clear logged the chain up to the press (seq 3), the box's `cleared`
            // record the chain up to it (seq 4).
            #expect(
                try await server.room.audit(device: bus.id, alert: alert).allSatisfy { $0.action != .evidenceExport })
            let logged = try await server.room.evidenceLog()
            #expect(logged.count == 2, "\(logged)")
            for (leaf, seq) in zip(logged, [3, 4]) {
                #expect(leaf.hasPrefix("panicbridge-alert/1 \(bus.id) \(alert) \(seq) "), "\(leaf)")
            }
            // Other alerts' exports grow the log after the close.
            for _ in 0..<3 {
                let press = try bus.next(.emergency(input: "panic"))
                try await server.send(bus, [press.envelope])
                _ = try await server.room.exportEvidence(alert: press.id, by: .console)
            }
            #expect(try await server.room.evidenceLog().count == 5)
            let bundle = try await server.room.exportEvidence(alert: alert, by: .console)
            #expect(try await server.room.evidenceLog().count == 5, "the export of a closed alert logs nothing new")
            let inclusion = try JSONDecoder().decode(
                EvidenceInclusion.self, from: try #require(bundle.attachments["inclusion.json"]))
            #expect(inclusion.logged == .close)
            #expect(inclusion.leaf == logged[1] && inclusion.leafIndex == 1 && inclusion.treeSize == 2)
            let checkpoint = String(decoding: try #require(bundle.attachments["checkpoint"]), as: UTF8.self)
            #expect(checkpoint.split(separator: "\n")[1] == "2", "the checkpoint signed at the close: \(checkpoint)")
            let directory = Fixture.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try bundle.write(to: directory + "/bundle")
            let checked = try Self.verify(directory + "/bundle")
            #expect(checked.status == 0, "\(checked.output)")
            #expect(
                checked.output.contains(
                    "OK   inclusion: the alert, logged when it closed (chain up to seq 4), is leaf 1 of 2"),
                "\(checked.output)")
        }
    }

    @Test(
        "the box's make, model and serial / IMEI: set by an admin on the desk (checked, audited), on the certificate and in device.json",
        arguments: StoreKind.all)
    func deviceIdentity(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            let (bus, alert, _) = try await Self.scenario(server)
            try await server.room.addUser(name: "root", role: .admin, password: "correct horse root", cost: 4)
            let root = try await server.login("root", "correct horse root")
            let route = "/v1/devices/\(bus.id)/metadata"
            for (body, problem) in [
                (#"{"serial":"<script>"}"#, "serial '<script>' may hold at most 64 letters, digits and - / ."),
                (#"{"serial":"\#(String(repeating: "1", count: 65))"}"#, "at most 64"),
                (#"{"make":"\#(String(repeating: "x", count: 201))"}"#, "make is longer than 200 characters"),
                (#"{"model":"PB\n2"}"#, "model may not contain control characters"),
            ] {
                let refused = try await server.call("POST", route, headers: DeskServer.change(root), body: body)
                #expect(refused.status == 400 && refused.body.contains(problem), "\(body): \(refused.body)")
            }
            let edited = try await server.call(
                "POST", route, headers: DeskServer.change(root),
                body: #"{"make":"Acme Safety","model":"PB-2","serial":"356938035643809"}"#)
            #expect(edited.status == 200, "\(edited.body)")
            let stored = try #require(try await server.room.metadata(device: bus.id))
            #expect(stored.make == "Acme Safety" && stored.model == "PB-2" && stored.serial == "356938035643809")
            #expect(stored.name == "Bus 534" && stored.registration == "DL 1PC 4521", "other fields kept")
            let edits = try await server.room.audit(device: bus.id, alert: nil).filter { $0.action == .metadataEdit }
            #expect(
                edits.contains { $0.reason.contains(#"serial "" → "356938035643809""#) && $0.user == "root" },
                "\(edits.map(\.reason))")

            let bundle = try await server.room.exportEvidence(alert: alert, by: .console)
            let certificate = String(decoding: try #require(bundle.attachments["certificate.html"]), as: UTF8.self)
            #expect(certificate.contains("<tr><th>Make</th><td>Acme Safety</td></tr>"))
            #expect(certificate.contains("<tr><th>Model</th><td>PB-2</td></tr>"))
            #expect(certificate.contains("<tr><th>Serial number / IMEI</th><td>356938035643809</td></tr>"))
            let device = String(decoding: try #require(bundle.files["device.json"]), as: UTF8.self)
            #expect(device.contains("356938035643809") && device.contains("Acme Safety"), "\(device)")
            let directory = Fixture.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try bundle.write(to: directory + "/bundle")
            let checked = try Self.verify(directory + "/bundle")
            #expect(checked.status == 0, "\(checked.output)")
        }
    }

    /// One tampered copy: what was done, and the line the verifier must print.
    struct Tamper: Sendable, CustomTestStringConvertible {
        var name: String
        var expected: String
        var apply: @Sendable (String) throws -> Void
        var testDescription: String { name }
    }

    static let tampers: [Tamper] = [
        Tamper(name: "record altered", expected: "FAIL records: line 2: signature does not verify") { dir in
            try edit(dir + "/records.jws") { lines in
                var parts = lines[1].split(separator: ".").map(String.init)
                var payload = try #require(Base64URL.decode(parts[1]))
                let text = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "28.61", with: "28.71")
                payload = Data(text.utf8)
                parts[1] = Base64URL.encode(payload)
                lines[1] = parts.joined(separator: ".")
            }
        },
        Tamper(
            name: "record removed", expected: "FAIL chain: chain.json lists seq 3, which is not in records.jws"
        ) { dir in
            try edit(dir + "/records.jws") { lines in lines.remove(at: 1) }
        },
        Tamper(name: "records reordered", expected: "FAIL chain: record seq 3 comes after seq 4") { dir in
            try edit(dir + "/records.jws") { lines in lines.swapAt(1, 2) }
        },
        Tamper(name: "audit line edited", expected: "FAIL audit: line 4: signature does not verify") { dir in
            try edit(dir + "/audit.jws") { lines in
                var parts = lines[3].split(separator: ".").map(String.init)
                let payload = try #require(Base64URL.decode(parts[1]))
                let text = String(decoding: payload, as: UTF8.self).replacingOccurrences(
                    of: "suspect held", with: "false alarm")
                parts[1] = Base64URL.encode(Data(text.utf8))
                lines[3] = parts.joined(separator: ".")
            }
        },
        Tamper(name: "manifest hash changed", expected: "FAIL manifest-signature: the signed manifest differs") { dir in
            let path = dir + "/manifest.json"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let start = try #require(text.range(of: #""sha256" : ""#)).upperBound
            let hash = text[start...].prefix(64)
            try text.replacingOccurrences(of: hash, with: String(repeating: "0", count: 64))
                .write(toFile: path, atomically: true, encoding: .utf8)
        },
        Tamper(
            name: "checkpoint rewritten",
            expected: "FAIL checkpoint: the control room's signature on the checkpoint does not verify"
        ) { dir in
            try edit(dir + "/checkpoint") { lines in lines[1] = "7" }
        },
        Tamper(
            name: "leaf logged at the close rewritten",
            expected: "FAIL inclusion: record seq 4's SHA-256"
        ) { dir in
            let path = dir + "/inclusion.json"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let leaf = try #require(
                text.range(of: #"panicbridge-alert/1 [^"]* 4 [0-9a-f]{64}"#, options: .regularExpression))
            try text.replacingCharacters(
                in: text.index(leaf.upperBound, offsetBy: -64)..<leaf.upperBound,
                with: String(repeating: "0", count: 64)
            )
            .write(toFile: path, atomically: true, encoding: .utf8)
        },
        Tamper(name: "file swapped without the manifest", expected: "FAIL manifest: chain.json has sha256") { dir in
            try edit(dir + "/chain.json") { lines in lines.insert("", at: 0) }
        },
    ]

    @Test("the verifier names each tampering", arguments: tampers)
    func tampered(_ tamper: Tamper) async throws {
        try await DeskServer.with { server in
            let (_, alert, _) = try await Self.scenario(server)
            let directory = Fixture.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let bundle = try await server.room.exportEvidence(alert: alert, by: .console)
            try bundle.write(to: directory + "/good")
            #expect(try Self.verify(directory + "/good").status == 0)
            try bundle.write(to: directory + "/bad")
            try tamper.apply(directory + "/bad")
            let result = try Self.verify(directory + "/bad")
            #expect(result.status == 1, "\(result.output)")
            #expect(result.output.contains(tamper.expected), "\(result.output)")
            #expect(result.output.contains("verdict: NOT VERIFIED"))
        }
    }

    @Test("an RFC 3161 token from a local TSA over the manifest verifies with openssl; a re-timestamped copy fails")
    func timestamped() async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tsa = try LocalTSA(directory: directory)
        try await tsa.serve { url in
            try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1), tsaURL: url)) { server in
                let (bus, alert, vikram) = try await Self.scenario(server)
                let answer = try await server.call(
                    "GET", "/v1/evidence/\(bus.id)/\(alert)", headers: ["Cookie": vikram.cookie])
                #expect(answer.status == 200, "\(answer.body)")
                // The tar's bytes, as the client received them (the body read as Latin-1 would mangle them).
                let bundle = try await server.room.exportEvidence(
                    alert: alert, by: .console, timestamp: { try await TimeStampAuthority(url: url).timestamp($0) })
                try bundle.write(to: directory + "/good")
                let good = try Self.verify(directory + "/good", ["--tsa-ca", tsa.caFile, "--require-timestamp"])
                #expect(good.status == 0, "\(good.output)")
                #expect(
                    good.output.contains("OK   timestamp: RFC 3161 token over manifest.json verifies"), "\(good.output)"
                )
                #expect(good.output.contains("OK   inclusion: the alert, logged when it closed"), "\(good.output)")

                try bundle.write(to: directory + "/retimestamped")
                let other = try await TimeStampAuthority(url: url).timestamp(Data("another manifest".utf8))
                try other.write(to: URL(fileURLWithPath: directory + "/retimestamped/manifest.tsr"))
                let bad = try Self.verify(
                    directory + "/retimestamped", ["--tsa-ca", tsa.caFile, "--require-timestamp"])
                #expect(bad.status == 1, "\(bad.output)")
                #expect(bad.output.contains("FAIL timestamp: openssl ts -verify refused"), "\(bad.output)")

                try bundle.write(to: directory + "/untimestamped")
                try FileManager.default.removeItem(atPath: directory + "/untimestamped/manifest.tsr")
                let missing = try Self.verify(directory + "/untimestamped", ["--require-timestamp"])
                #expect(missing.output.contains("FAIL timestamp: no manifest.tsr in the bundle"), "\(missing.output)")
            }
        }
    }

    /// The SHA-256 the manifest lists for `name`.
    static func manifestHash(_ bundle: EvidenceBundle, _ name: String) throws -> String {
        let manifest = try JSONSerialization.jsonObject(with: bundle.manifest) as? [String: Any]
        let files = try #require(manifest?["files"] as? [[String: Any]])
        return try #require(files.first { $0["path"] as? String == name }?["sha256"] as? String)
    }

    /// Rewrites a file line by line.
    static func edit(_ path: String, _ change: (inout [String]) throws -> Void) throws {
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false
        )
        .map(String.init)
        if lines.last == "" { lines.removeLast() }
        try change(&lines)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    static let verifier = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/evidence/verify.py").path

    /// Runs the standalone verifier; its exit status and output (stdout and stderr together).
    static func verify(_ bundle: String, _ arguments: [String] = []) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", verifier, bundle] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
