import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import Logging
import NIOCore
import PanicCore
import PanicSQLite
import PanicSigning
import Synchronization
import Testing

/// Keeps every log line's message and metadata values.
final class CapturingLogHandler: LogHandler, Sendable {
    let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}  // swift-format-ignore
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}  // swift-format-ignore
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}  // swift-format-ignore
    }
    func log(event: LogEvent) {
        let values = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        lines.withLock { $0.append(([event.message.description] + values).joined(separator: " ")) }
    }
}

@Suite("Login budgets, password policy and log text without I/O", .timeLimit(.minutes(1)))
struct LoginPolicyTests {
    @Test("attempts in flight count against the budget; a full hashing queue is refused at once")
    func budgetCountsInFlight() {
        var budget = LoginBudget(LoginBudget.Limits(perSource: 10, perNameAtSource: 5, inFlight: 8))
        let now = MonotonicInstant.zero
        var tickets: [LoginBudget.Ticket] = []
        for _ in 0..<5 {
            guard case .go(let ticket) = budget.reserve(name: "asha", source: "192.0.2.1", now: now) else {
                Issue.record("refused within the budget")
                return
            }
            tickets.append(ticket)
        }
        // Five still being checked: a sixth for the same name from the same address is refused before hashing.
        guard case .throttled = budget.reserve(name: "asha", source: "192.0.2.1", now: now) else {
            Issue.record("the sixth attempt in flight was let through")
            return
        }
        // Another name from that address still has the source's budget; the name from another address its own.
        #expect(budget.reserve(name: "ravi", source: "192.0.2.1", now: now) != .busy)
        #expect(budget.reserve(name: "asha", source: "192.0.2.2", now: now) != .busy)
        #expect(budget.reserve(name: "asha", source: "192.0.2.3", now: now) != .busy)
        // Eight in flight over every source: the ninth is busy, whoever it is.
        #expect(budget.reserve(name: "asha", source: "192.0.2.4", now: now) == .busy)
        for ticket in tickets { budget.finish(ticket, succeeded: false, now: now) }
        // The failures stay for the window, then go.
        guard case .throttled(let wait, let newly) = budget.reserve(name: "asha", source: "192.0.2.1", now: now) else {
            Issue.record("five failures did not throttle")
            return
        }
        #expect(wait == .seconds(300))
        #expect(!newly, "the refusal of the sixth in flight was already the first")
        #expect(
            budget.reserve(name: "asha", source: "192.0.2.1", now: now.advanced(by: .seconds(301))) != .busy)
    }

    @Test("addresses that have failed cannot fill the hashing queue: slots stay for a clean address")
    func cleanAddressesKeepSlots() {
        var budget = LoginBudget(LoginBudget.Limits(inFlight: 4, reservedForClean: 2))
        let now = MonotonicInstant.zero
        guard case .go(let first) = budget.reserve(name: "x", source: "203.0.113.9", now: now) else {
            Issue.record("the first attempt was refused")
            return
        }
        budget.finish(first, succeeded: false, now: now)
        // The attacker's address has failed once: it may fill only the unreserved slots.
        #expect(budget.reserve(name: "y", source: "203.0.113.9", now: now) != .busy)
        #expect(budget.reserve(name: "z", source: "203.0.113.9", now: now) != .busy)
        #expect(budget.reserve(name: "w", source: "203.0.113.9", now: now) == .busy)
        // An operator at a clean address still gets a slot, until the reserved ones are taken too.
        #expect(budget.reserve(name: "asha", source: "192.0.2.50", now: now) != .busy)
        #expect(budget.reserve(name: "ravi", source: "192.0.2.51", now: now) != .busy)
        #expect(budget.reserve(name: "sunil", source: "192.0.2.52", now: now) == .busy)
    }

    @Test("a success forgets the name's failures at that address, not the address's")
    func successKeepsSourceBudget() {
        var budget = LoginBudget(LoginBudget.Limits(perSource: 3, perNameAtSource: 2, inFlight: 8))
        let now = MonotonicInstant.zero
        func attempt(_ name: String, succeeded: Bool) -> Bool {
            guard case .go(let ticket) = budget.reserve(name: name, source: "198.51.100.7", now: now) else {
                return false
            }
            budget.finish(ticket, succeeded: succeeded, now: now)
            return true
        }
        #expect(attempt("mallory", succeeded: false))
        #expect(attempt("mallory", succeeded: true))
        #expect(attempt("asha", succeeded: false))
        #expect(attempt("ravi", succeeded: false))
        #expect(!attempt("mallory", succeeded: true), "the address used its 3 failures")
    }

    @Test("an IPv6 client is counted by its /64; an IPv4-mapped address as the IPv4 address")
    func sourceKeys() {
        #expect(LoginBudget.sourceKey("2001:db8:1:2:3:4:5:6") == LoginBudget.sourceKey("2001:db8:1:2::9"))
        #expect(LoginBudget.sourceKey("2001:db8:1:2::9") != LoginBudget.sourceKey("2001:db8:1:3::9"))
        #expect(LoginBudget.sourceKey("::ffff:192.0.2.1") == "192.0.2.1")
        #expect(LoginBudget.sourceKey("192.0.2.1") == "192.0.2.1")
    }

    @Test("passwords: at least 12 characters, not the name, not one character repeated, not a common one")
    func passwordPolicy() async throws {
        let fixture = try await Fixture(register: false)
        let refused: [(String, String)] = [
            ("elevenchars", "it needs at least 12 characters"),
            ("ashaashaasha", "it must not be the account's name"),
            ("aaaaaaaaaaaaaa", "it is one or two characters repeated"),
            ("Password1234", "it is a commonly used password"),
            ("correct horse battery staple", "it is a commonly used password"),
        ]
        for (password, why) in refused {
            await #expect(throws: DeskError.weakPassword(why)) {
                try await fixture.room.addUser(name: "asha", role: .operator, password: password, cost: 4)
            }
        }
        #expect(DeskError.weakPassword("it needs at least 12 characters").description.contains("12 characters"))
        try await fixture.room.addUser(name: "asha", role: .operator, password: "twelve chars", cost: 4)
        await #expect(throws: DeskError.weakPassword("it must not be the account's name")) {
            try await fixture.room.setPassword(name: "asha", password: "ASHAASHAASHA", cost: 4)
        }
    }

    @Test("user-controlled text is escaped for logs: no newline, NUL or escape sequence gets through")
    func safeText() {
        #expect(SafeText.escaped("evil\nlogin user=admin") == "evil\\u{a}login user=admin")
        #expect(SafeText.escaped("nul\u{0}\u{1b}[31m") == "nul\\u{0}\\u{1b}[31m")
        #expect(SafeText.quoted("a\"b") == "\"a\\\"b\"")
        #expect(SafeText.escaped(String(repeating: "x", count: 300)).count == 201)
    }
}

@Suite("Desk security over HTTP: cookies, log lines, tokens, audit", .serialized, .timeLimit(.minutes(3)))
struct DeskSecurityTests {
    @Test("the session cookie is a browser-session cookie (no Max-Age, no Expires); logout deletes it")
    func sessionCookie() async throws {
        try await DeskServer.with { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let answer = try await server.call(
                "POST", "/v1/session", headers: ["Content-Type": "application/json"],
                body: #"{"name":"asha","password":"correct horse asha"}"#)
            let cookie = try #require(answer.header("Set-Cookie"))
            #expect(!cookie.lowercased().contains("max-age"), "\(cookie)")
            #expect(!cookie.lowercased().contains("expires"), "\(cookie)")
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            let session = try await server.login("asha", "correct horse asha")
            let out = try await server.call(
                "POST", "/v1/session/logout", headers: DeskServer.change(session), body: "{}")
            #expect(out.status == 200)
            #expect(out.header("Set-Cookie")?.contains("Max-Age=0") == true)
            #expect(try await server.call("GET", "/v1/session", headers: ["Cookie": session.cookie]).status == 401)
        }
    }

    @Test("a login name with a newline cannot forge a log line")
    func loginNameInLogs() async throws {
        let capture = CapturingLogHandler()
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let room = try ControlRoom(
            path: directory + "/cr.db", key: nil, logger: Logger(label: "cr") { _ in capture })
        try await serving(room, desk: true) { url in
            let forged = "nobody\n2026-12-06T22:00:00Z notice login user=admin role=admin\u{1b}[2J"
            var request = HTTPClientRequest(url: url + "/v1/session")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(
                ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["name": forged, "password": "x"])))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
            #expect(response.status == .unauthorized)
        }
        let lines = capture.lines.withLock { $0 }
        let failed = try #require(lines.first { $0.hasPrefix("login failed") })
        #expect(!lines.contains { $0.contains("\n") || $0.contains("\u{1b}") }, "\(lines)")
        #expect(failed.contains(#"user="nobody\u{a}2026"#), "\(failed)")
    }

    @Test("a device id with a newline in a refused batch cannot forge a log line")
    func deviceClaimInLogs() async throws {
        let capture = CapturingLogHandler()
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let room = try ControlRoom(path: directory + "/cr.db", key: nil, logger: Logger(label: "cr") { _ in capture })
        try await serving(room) { url in
            let batch = RecordBatch(device: "bus\n2026-12-06 critical forged", envelopes: ["not.a.record"])
            let answer = try await post(try JSONEncoder().encode(batch), to: url)
            #expect(answer.status == 200, "\(answer.text)")
        }
        let lines = capture.lines.withLock { $0 }
        #expect(
            lines.contains { $0.hasPrefix("records rejected") && $0.contains(#"device="bus\u{a}2026"#) }, "\(lines)")
        #expect(!lines.contains { $0.contains("\n") }, "\(lines)")
    }

    @Test(
        "API tokens: listed without secrets, a revoked one refused over HTTP, a rotated one works, a password change ends them all",
        arguments: StoreKind.all)
    func tokens(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            let room = server.room
            let first = try #require(
                try await room.addUser(
                    name: "bot", role: .operator, password: "automation password", token: true, cost: 4))
            func status(_ token: String) async throws -> Int {
                try await server.call("GET", "/v1/alerts", headers: ["Authorization": "Bearer \(token)"]).status
            }
            #expect(try await status(first) == 200)
            let second = try await room.issueToken(user: "bot")
            let listed = try await room.tokens(user: "bot")
            #expect(listed.count == 2)
            #expect(listed.contains { $0.id == second.id })
            #expect(listed.first { $0.id != second.id }?.lastUsedMs != nil, "the first token was used")
            #expect(listed.first { $0.id == second.id }?.lastUsedMs == nil)
            #expect(try await room.users().first { $0.name == "bot" }?.hasToken == true)
            // Rotating: the new one issued, the old one revoked.
            let old = try #require(listed.first { $0.id != second.id })
            try await room.revokeToken(id: old.id)
            #expect(try await status(first) == 401)
            #expect(try await status(second.secret) == 200)
            await #expect(throws: DeskError.unknownToken(old.id)) { try await room.revokeToken(id: old.id) }
            // A new password ends every token of the account.
            try await room.setPassword(name: "bot", password: "another automation password", cost: 4)
            #expect(try await status(second.secret) == 401)
            #expect(try await room.tokens(user: "bot").isEmpty)
            #expect(try await room.users().first { $0.name == "bot" }?.hasToken == false)
            await #expect(throws: DeskError.unknownUser("nobody")) { try await room.tokens(user: "nobody") }
        }
    }

    @Test("an API token made before the tokens table (users.token_hash) still works after the upgrade, listed by id")
    func legacyTokenMoves() async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/cr.db"
        let secret = try #require(
            try await ControlRoom(path: path, key: nil, logger: StoreKind.quiet).addUser(
                name: "bot", role: .operator, password: "automation password", token: true, cost: 4))
        // Back to schema step 4, with the token where step 4 kept it: in users.token_hash (and without step 7's
        // device columns).
        let connection = try SQLiteConnection(path: path)
        try connection.execute(
            """
            UPDATE users SET token_hash = (SELECT hash FROM api_tokens WHERE user = 'bot');
            DROP TABLE api_tokens; ALTER TABLE device_meta DROP COLUMN make; ALTER TABLE device_meta DROP COLUMN model;
            ALTER TABLE device_meta DROP COLUMN serial; PRAGMA user_version = 4;
            """)
        let room = try ControlRoom(path: path, key: nil, logger: StoreKind.quiet)
        #expect(try await room.account(token: secret)?.name == "bot")
        let tokens = try await room.tokens(user: "bot")
        #expect(tokens.count == 1 && tokens.first?.id.hasPrefix("tok_") == true)
        try await room.revokeToken(id: try #require(tokens.first?.id))
        #expect(try await room.account(token: secret) == nil)
    }

    @Test("every security event is written to the append-only audit log", arguments: StoreKind.all)
    func securityAudit(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            let room = server.room
            let device = DeskDevice()
            try await room.addUser(name: "asha", role: .admin, password: "correct horse asha", cost: 4)
            try await server.register(device, name: "Bus 534")
            let json = ["Content-Type": "application/json"]
            let wrong = try await server.call(
                "POST", "/v1/session", headers: json, body: #"{"name":"asha","password":"not the password"}"#)
            #expect(wrong.status == 401)
            let session = try await server.login("asha", "correct horse asha")
            let edit = try await server.call(
                "POST", "/v1/devices/\(device.id)/metadata", headers: DeskServer.change(session),
                body: #"{"name":"Bus 535","route":"534 via ITO"}"#)
            #expect(edit.status == 200, "\(edit.body)")
            let nul = try await server.call(
                "POST", "/v1/devices/\(device.id)/metadata", headers: DeskServer.change(session),
                body: #"{"name":"Bus\u0000535"}"#)
            #expect(nul.status == 400 && nul.body.contains("control characters"), "\(nul.status) \(nul.body)")
            _ = try await server.call("POST", "/v1/session/logout", headers: DeskServer.change(session), body: "{}")
            try await room.setRole(name: "asha", role: .supervisor)
            try await room.setPassword(name: "asha", password: "a brand new passphrase", cost: 4)
            let token = try await room.issueToken(user: "asha")
            try await room.revokeToken(id: token.id)
            // Guesses at the account while it exists (its hash is cost 4: an unknown name would cost a cost-12 decoy
            // check each, seconds on a busy machine for nothing this test looks at).
            for _ in 0..<5 {
                _ = try await server.call(
                    "POST", "/v1/session", headers: json, body: #"{"name":"asha","password":"guessing again"}"#)
            }
            #expect(
                try await server.call("POST", "/v1/session", headers: json, body: #"{"name":"asha","password":"x"}"#)
                    .status == 429)
            _ = try await room.pushConfig(device: device.id, settings: "log_level: debug\n", by: .console)
            _ = try await room.queueUpdate(
                device: device.id,
                artifact: try UpdateArtifact(
                    package: "panicbridge", version: "0.9.1", architecture: "arm64",
                    sha256: String(repeating: "b", count: 64), size: 1),
                by: .console)
            #expect(try await room.removeDevice(id: device.id))
            #expect(try await room.removeUser(name: "asha"))

            let audit = try await room.audit()
            let kinds = Set(audit.map(\.action))
            let expected: [AuditAction] = [
                .userAdd, .deviceAdd, .deviceRename, .metadataEdit, .loginFailed, .login, .logout, .roleChange,
                .passwordChange, .tokenIssue, .tokenRevoke, .deviceRemove, .userRemove, .loginThrottled, .configPush,
                .updatePush,
            ]
            for kind in expected { #expect(kinds.contains(kind), "no \(kind.rawValue) line in the audit log") }
            // The rollout lines a person causes (RolloutTests writes and checks them) and a box's refusal of a
            // command (BoxReceiptTests) are security events too.
            #expect(
                Set(AuditAction.allCases.filter(\.isSecurityEvent))
                    == Set(expected + [.rolloutCreate, .rolloutResume, .rolloutAbort, .boxRefused]))
            let rename = try #require(audit.last { $0.action == .deviceRename })
            #expect(rename.user == "asha" && rename.role == .admin && rename.device == device.id)
            #expect(rename.reason.contains("Bus 534") && rename.reason.contains("Bus 535"))
            #expect(audit.first { $0.action == .userAdd }?.user == "console")
            #expect(audit.first { $0.action == .loginFailed }?.role == nil)
            #expect(audit.first { $0.action == .roleChange }?.reason == "admin → supervisor")
            #expect(audit.first { $0.action == .tokenRevoke }?.alert == token.id)
            // Only once for the throttle, however many attempts it refused.
            #expect(audit.filter { $0.action == .loginThrottled }.count == 1)
            let csv = try await room.auditCSV()
            #expect(csv.contains("device-rename") && csv.contains("login-failed"))
        }
    }
}

@Suite("Records with text PostgreSQL cannot hold", .timeLimit(.minutes(2)))
struct StorableTextTests {
    @Test(
        "a NUL byte in a genuinely signed record: a label is stored as U+FFFD, an id with NUL is refused alone and logged, the rest of the batch and the box's later records are stored",
        arguments: StoreKind.all)
    func nulBytes(_ store: StoreKind) async throws {
        let capture = CapturingLogHandler()
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await store.withStore(directory: directory) { store in
            let room = ControlRoom(store: store, key: nil, logger: Logger(label: "cr") { _ in capture })
            let key = DeviceKey.generate()
            let device = key.identity.deviceID
            try await room.addDevice(id: device, publicKey: key.identity.jwk)
            let signer = RecordSigner(key: key)
            var previous: String?
            var sequence: Int64 = 0
            func seal(id: String = UUID().uuidString.lowercased(), _ body: RecordBody) throws -> String {
                sequence += 1
                let draft = RecordDraft(
                    id: id, time: RecordTime.systemNow(), timeSource: .gnss,
                    fix: RecordFix(latitude: 28.61, longitude: 77.2, ageMilliseconds: 900), body: body)
                let sealed = try signer.seal(
                    Record(device: device, sequence: sequence, previousHash: previous, draft: draft))
                previous = sealed.hash
                return sealed.envelope
            }
            let first = try await room.receive(
                RecordBatch(
                    device: device,
                    envelopes: [
                        try seal(.emergency(input: "panic\u{0}1")), try seal(id: "bad\u{0}id", .position),
                        try seal(.position),
                    ]))
            #expect(first.results.map(\.status) == [.accepted, .rejected, .accepted])
            #expect(first.results[1].reason == .malformed)
            let later = try await room.receive(RecordBatch(device: device, envelopes: [try seal(.position)]))
            #expect(later.results.map(\.status) == [.accepted])
            #expect(try await room.recordCount() == 3)
            #expect(try await room.openAlerts().first?.input == "panic\u{FFFD}1")
        }
        let lines = capture.lines.withLock { $0 }
        #expect(
            lines.contains { $0.contains("genuine record refused") && $0.contains("NUL byte in its id") }, "\(lines)")
    }
}
