import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import PanicSQLite
import Testing

@Suite("The desk over HTTP: sessions, CSRF, roles, the audit log", .serialized, .timeLimit(.minutes(3)))
struct DeskHTTPTests {
    /// A server with one open emergency and an operator, a supervisor and an admin.
    func withAlert(
        store: StoreKind = .sqlite, _ body: (DeskServer, DeskDevice, String) async throws -> Void
    ) async throws {
        try await DeskServer.with(store: store) { server in
            for (name, role) in [("asha", DeskRole.operator), ("sunil", .supervisor), ("root", .admin)] {
                try await server.room.addUser(name: name, role: role, password: "correct horse \(name)", cost: 4)
            }
            let device = DeskDevice()
            try await server.register(device, name: "Bus 534", registration: "DL 1PC 4521")
            let emergency = try device.next(.emergency(input: "panic-1"))
            try await server.send(device, [emergency.envelope])
            try await body(server, device, emergency.id)
        }
    }

    @Test("every operator endpoint refuses a request without a session (401); the page sends you to the login")
    func noSession() async throws {
        try await withAlert { server, device, alert in
            let gets = [
                "/v1/alerts", "/v1/alerts?all=1", "/v1/devices", "/v1/desk/alerts", "/v1/desk/events",
                "/v1/desk/history", "/v1/desk/health", "/v1/desk/responders", "/v1/audit", "/v1/audit.csv",
                "/v1/desk/config", "/v1/session",
            ]
            for path in gets {
                let answer = try await server.call("GET", path)
                #expect(answer.status == 401, "GET \(path): \(answer.status)")
                #expect(!answer.body.contains("28.61"), "GET \(path) leaked a location")
            }
            let posts =
                ["accept", "clear", "note", "dispatch"].map { "/v1/alerts/\(device.id)/\(alert)/\($0)" } + [
                    "/v1/devices/\(device.id)/metadata", "/v1/session/logout",
                ]
            for path in posts {
                let answer = try await server.call(
                    "POST", path, headers: ["Content-Type": "application/json"], body: #"{"reason":"x","text":"x"}"#)
                #expect(answer.status == 401, "POST \(path): \(answer.status)")
            }
            // The client follows the page's 303 to the login form.
            let page = try await server.call("GET", "/")
            #expect(page.body.contains("<title>PanicBridge desk: log in</title>"))
            #expect(!page.body.contains("Open alerts"))
            // Device endpoints keep their own authentication (signed records) and need no session.
            #expect(try await server.call("GET", "/v1/identity").status == 200)
            try await server.send(device, [])
            #expect(try await server.room.openAlerts().first?.state == .open)
        }
    }

    @Test(
        "a wrong or missing CSRF token is refused (403); the right one accepts and the audit names the operator",
        arguments: StoreKind.all)
    func csrf(_ store: StoreKind) async throws {
        try await withAlert(store: store) { server, device, alert in
            let session = try await server.login("asha", "correct horse asha")
            let path = "/v1/alerts/\(device.id)/\(alert)/accept"
            var headers = DeskServer.change(session)
            headers["X-CSRF-Token"] = "not-the-token"
            #expect(try await server.call("POST", path, headers: headers, body: "{}").status == 403)
            headers["X-CSRF-Token"] = nil
            #expect(try await server.call("POST", path, headers: headers, body: "{}").status == 403)
            #expect(try await server.room.openAlerts().first?.state == .open)
            let accepted = try await server.call("POST", path, headers: DeskServer.change(session), body: "{}")
            #expect(accepted.status == 200, "\(accepted.body)")
            let audit = try await server.room.audit(device: device.id, alert: alert)
            #expect(audit.map(\.action) == [.accept])
            #expect(audit.first?.user == "asha")
            #expect(audit.first?.role == .operator)
        }
    }

    @Test("a cross-site text/plain POST (what an HTML form on another site can send) is refused")
    func crossSite() async throws {
        try await withAlert { server, device, alert in
            let session = try await server.login("asha", "correct horse asha")
            let path = "/v1/alerts/\(device.id)/\(alert)/clear"
            let form = try await server.call(
                "POST", path, headers: ["Cookie": session.cookie, "Content-Type": "text/plain"],
                body: #"{"reason":"forged"}"#)
            #expect(form.status == 403, "\(form.body)")
            // Even with the token, a text/plain body or a foreign origin is refused.
            var headers = DeskServer.change(session)
            headers["Content-Type"] = "text/plain"
            #expect(try await server.call("POST", path, headers: headers, body: #"{"reason":"x"}"#).status == 403)
            headers = DeskServer.change(session)
            headers["Origin"] = "https://evil.example"
            #expect(try await server.call("POST", path, headers: headers, body: #"{"reason":"x"}"#).status == 403)
            headers = DeskServer.change(session)
            headers["Sec-Fetch-Site"] = "cross-site"
            #expect(try await server.call("POST", path, headers: headers, body: #"{"reason":"x"}"#).status == 403)
            #expect(try await server.room.openAlerts().first?.state == .open)
            #expect(try await server.room.audit().filter { !$0.action.isSecurityEvent }.isEmpty)
        }
    }

    @Test(
        "roles: only supervisors export the audit, only admins edit devices; operators act on alerts",
        arguments: StoreKind.all)
    func roles(_ store: StoreKind) async throws {
        try await withAlert(store: store) { server, device, alert in
            let asha = try await server.login("asha", "correct horse asha")
            let sunil = try await server.login("sunil", "correct horse sunil")
            let root = try await server.login("root", "correct horse root")
            #expect(try await server.call("GET", "/v1/audit.csv", headers: ["Cookie": asha.cookie]).status == 403)
            let csv = try await server.call("GET", "/v1/audit.csv", headers: ["Cookie": sunil.cookie])
            #expect(csv.status == 200)
            #expect(csv.body.hasPrefix("id,time,user,role,action,device,alert,reason"))
            let metadata = "/v1/devices/\(device.id)/metadata"
            let edit = #"{"name":"Bus 534 (night)"}"#
            #expect(try await server.call("POST", metadata, headers: DeskServer.change(asha), body: edit).status == 403)
            #expect(
                try await server.call("POST", metadata, headers: DeskServer.change(sunil), body: edit).status == 403)
            let edited = try await server.call("POST", metadata, headers: DeskServer.change(root), body: edit)
            #expect(edited.status == 200, "\(edited.body)")
            #expect(try await server.room.metadata(device: device.id)?.name == "Bus 534 (night)")
            let note = try await server.call(
                "POST", "/v1/alerts/\(device.id)/\(alert)/note", headers: DeskServer.change(asha),
                body: #"{"text":"called the driver"}"#)
            #expect(note.status == 200, "\(note.body)")
            let alerts = try await server.call("GET", "/v1/desk/alerts", headers: ["Cookie": asha.cookie])
            #expect(alerts.body.contains("Bus 534 (night)"))
            #expect(alerts.body.contains("called the driver"))
        }
    }

    @Test("clear needs a reason; the audit log keeps it, in CSV too, and refuses to be changed")
    func clearWithReason() async throws {
        try await withAlert { server, device, alert in
            let asha = try await server.login("asha", "correct horse asha")
            let path = "/v1/alerts/\(device.id)/\(alert)/clear"
            let bare = try await server.call("POST", path, headers: DeskServer.change(asha), body: "{}")
            #expect(bare.status == 400)
            #expect(bare.body.contains("reason"))
            let cleared = try await server.call(
                "POST", path, headers: DeskServer.change(asha), body: #"{"reason":"false alarm: \"test\", sorry"}"#)
            #expect(cleared.status == 200, "\(cleared.body)")
            let csv = try await server.room.auditCSV()
            #expect(
                csv.contains(#"asha,operator,clear,\#(device.id),\#(alert),"false alarm: ""test"", sorry""#), "\(csv)")
            let connection = try SQLiteConnection(path: server.room.databasePath)
            #expect(throws: SQLiteError.self) { try connection.execute("UPDATE audit SET user = 'nobody'") }
            #expect(throws: SQLiteError.self) { try connection.execute("DELETE FROM audit") }
            #expect(try await server.room.audit().first { !$0.action.isSecurityEvent }?.user == "asha")
        }
    }

    @Test(
        "logins: wrong password 401; five failures lock the name at that address (429, Retry-After); the cookie is HttpOnly, SameSite=Strict"
    )
    func loginThrottle() async throws {
        try await withAlert { server, _, _ in
            let json = ["Content-Type": "application/json"]
            let good = try await server.call(
                "POST", "/v1/session", headers: json, body: #"{"name":"asha","password":"correct horse asha"}"#)
            let cookie = try #require(good.header("Set-Cookie"))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            #expect(!cookie.contains("Secure"), "plain HTTP: no Secure flag")
            for _ in 0..<5 {
                let wrong = try await server.call(
                    "POST", "/v1/session", headers: json, body: #"{"name":"asha","password":"wrong password!"}"#)
                #expect(wrong.status == 401)
            }
            let locked = try await server.call(
                "POST", "/v1/session", headers: json, body: #"{"name":"asha","password":"correct horse asha"}"#)
            #expect(locked.status == 429)
            #expect(locked.header("Retry-After") != nil)
        }
    }

    @Test("removing an account ends its sessions at once; the alarm sounds are served as WAV files")
    func removedAccount() async throws {
        try await withAlert { server, _, _ in
            let asha = try await server.login("asha", "correct horse asha")
            #expect(try await server.call("GET", "/v1/alerts", headers: ["Cookie": asha.cookie]).status == 200)
            try await server.room.removeUser(name: "asha")
            #expect(try await server.call("GET", "/v1/alerts", headers: ["Cookie": asha.cookie]).status == 401)
            for tone in ["emergency", "help"] {
                let sound = try await server.call("GET", "/static/alarm/\(tone)")
                #expect(sound.status == 200)
                #expect(sound.header("Content-Type") == "audio/wav")
                #expect(sound.body.hasPrefix("RIFF"))
            }
            #expect(try await server.call("GET", "/static/alarm/other").status == 404)
            #expect(try await server.call("GET", "/static/leaflet/../../../etc/passwd").status == 404)
            let leaflet = try await server.call("GET", "/static/leaflet/leaflet.js")
            #expect(leaflet.status == 200, "libjs-leaflet is installed by make deps")
        }
    }

    @Test(
        "an API token authenticates a program without cookies or CSRF; a wrong token is 401", arguments: StoreKind.all)
    func apiToken(_ store: StoreKind) async throws {
        try await withAlert(store: store) { server, device, alert in
            let token = try #require(
                try await server.room.addUser(
                    name: "bot", role: .operator, password: "automation password", token: true, cost: 4))
            #expect(token.hasPrefix(DeskPasswords.apiTokenPrefix), "an API token never starts with '-': \(token)")
            let wrong = try await server.call("GET", "/v1/alerts", headers: ["Authorization": "Bearer nope"])
            #expect(wrong.status == 401)
            let list = try await server.call("GET", "/v1/alerts", headers: ["Authorization": "Bearer \(token)"])
            #expect(list.status == 200)
            #expect(list.body.contains(alert))
            let accept = try await server.call(
                "POST", "/v1/alerts/\(device.id)/\(alert)/accept", headers: ["Authorization": "Bearer \(token)"])
            #expect(accept.status == 200, "\(accept.body)")
            #expect(try await server.room.audit().first { !$0.action.isSecurityEvent }?.user == "bot")
        }
    }

    @Test(
        "the push channel sends a snapshot, then each change: a new alert, its new position, the accept",
        arguments: StoreKind.all)
    func pushChannel(_ store: StoreKind) async throws {
        try await withAlert(store: store) { server, device, alert in
            let asha = try await server.login("asha", "correct horse asha")
            var lines = try await server.openEvents(cookie: asha.cookie)
            let snapshot = try #require(try await lines.nextEvent())
            #expect(snapshot.contains(alert))
            #expect(snapshot.contains("Bus 534"))
            try await server.send(device, [try device.next(.position, latitude: 28.62).envelope])
            let moved = try #require(try await lines.nextEvent())
            #expect(moved.contains("28.62"))
            _ = try await server.call(
                "POST", "/v1/alerts/\(device.id)/\(alert)/accept", headers: DeskServer.change(asha), body: "{}")
            let accepted = try #require(try await lines.nextEvent())
            #expect(accepted.contains("acknowledged"))
        }
    }
}

@Suite("Desk policies without I/O", .timeLimit(.minutes(1)))
struct DeskPolicyTests {
    @Test("roles are ordered operator < supervisor < admin; names and passwords are checked with clear errors")
    func accounts() async throws {
        #expect(DeskRole.operator < .supervisor && DeskRole.supervisor < .admin)
        let fixture = try await Fixture(register: false)
        await #expect(throws: DeskError.weakPassword("it needs at least 12 characters")) {
            try await fixture.room.addUser(name: "asha", role: .operator, password: "short", cost: 4)
        }
        await #expect(throws: DeskError.badUserName("a b")) {
            try await fixture.room.addUser(name: "a b", role: .operator, password: "long enough pass", cost: 4)
        }
        try await fixture.room.addUser(name: "asha", role: .operator, password: "long enough pass", cost: 4)
        await #expect(throws: DeskError.duplicateUser("asha")) {
            try await fixture.room.addUser(name: "asha", role: .admin, password: "long enough pass", cost: 4)
        }
        #expect(try await fixture.room.authenticate(name: "asha", password: "long enough pass")?.role == .operator)
        #expect(try await fixture.room.authenticate(name: "asha", password: "long enough pasS") == nil)
        try await fixture.room.setPassword(name: "asha", password: "another long one", cost: 4)
        #expect(try await fixture.room.authenticate(name: "asha", password: "another long one") != nil)
        #expect(try await fixture.room.removeUser(name: "asha"))
        #expect(try await fixture.room.authenticate(name: "asha", password: "another long one") == nil)
    }
}
