import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import Testing

@Suite("Desk sessions live in the database", .serialized, .timeLimit(.minutes(2)))
struct DeskSessionTests {
    @Test(
        "a session opened on one desk is known to another on the same database; a new password ends it everywhere",
        arguments: StoreKind.all)
    func sharedAndEnded(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let (cookie, csrf) = try await server.login("asha", "correct horse asha")
            let secret = try #require(cookie.split(separator: "=", maxSplits: 1).last.map(String.init))
            // Another control-room process on the same database: before, sessions were kept per process.
            let other = Desk(room: server.room)
            let seen = try #require(try await other.sessions.session(id: secret))
            #expect(seen.account.name == "asha")
            #expect(seen.csrf == csrf)
            // The database holds the hash of the secret, never the secret.
            #expect(try await other.sessions.session(id: secret + "x") == nil)
            #expect((try await server.call("GET", "/v1/session", headers: ["Cookie": cookie])).status == 200)

            try await server.room.setPassword(name: "asha", password: "a brand new passphrase", cost: 4)
            #expect((try await server.call("GET", "/v1/session", headers: ["Cookie": cookie])).status == 401)
            #expect(try await other.sessions.session(id: secret) == nil)

            // Logging out ends it for every desk too.
            let (again, _) = try await server.login("asha", "a brand new passphrase")
            let secondSecret = try #require(again.split(separator: "=", maxSplits: 1).last.map(String.init))
            try await other.sessions.end(id: secondSecret)
            #expect((try await server.call("GET", "/v1/session", headers: ["Cookie": again])).status == 401)
        }
    }
}
