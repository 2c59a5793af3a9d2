import ControlRoomDesk
import ControlRoomKit
import Foundation
import Testing

/// The session cookie through Hummingbird's own `Cookie` and `request.cookies`: the same attributes as ever, and
/// the session found among a browser's other cookies.
@Suite("Desk session cookie: Hummingbird's cookie types", .serialized, .timeLimit(.minutes(2)))
struct DeskCookieTests {
    /// A Set-Cookie header's name=value and its attributes (names as sent, values after `=`).
    static func parse(_ header: String) -> (pair: String, attributes: [String: String]) {
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        var attributes: [String: String] = [:]
        for part in parts.dropFirst() {
            let pieces = part.split(separator: "=", maxSplits: 1)
            attributes[String(pieces[0])] = pieces.count == 2 ? String(pieces[1]) : ""
        }
        return (parts.first ?? "", attributes)
    }

    @Test(
        "login sets pb_session with Path=/, HttpOnly, SameSite=Strict, Secure (TLS) and no lifetime; logout sends it empty with Max-Age=0; the session is read among other cookies"
    )
    func attributesAndParsing() async throws {
        try await DeskServer.with(DeskConfiguration(secureCookies: true)) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let answer = try await server.call(
                "POST", "/v1/session", headers: ["Content-Type": "application/json"],
                body: #"{"name":"asha","password":"correct horse asha"}"#)
            #expect(answer.status == 200)
            let login = Self.parse(try #require(answer.header("Set-Cookie")))
            #expect(login.pair.hasPrefix("pb_session=") && login.pair.count > 30, "\(login.pair)")
            #expect(login.attributes == ["Path": "/", "HttpOnly": "", "SameSite": "Strict", "Secure": ""])
            let session = try await server.login("asha", "correct horse asha")
            // A browser sends every cookie of the host, in one header or several.
            let among = "theme=dark; \(session.cookie); lang=hi"
            #expect(try await server.call("GET", "/v1/session", headers: ["Cookie": among]).status == 200)
            #expect(try await server.call("GET", "/v1/session", headers: ["Cookie": "pb_session="]).status == 401)
            #expect(try await server.call("GET", "/v1/session", headers: ["Cookie": "pb_sessionx=1"]).status == 401)
            let out = try await server.call(
                "POST", "/v1/session/logout", headers: DeskServer.change(session).merging(["Cookie": among]) { $1 },
                body: "{}")
            #expect(out.status == 200, "\(out.body)")
            let logout = Self.parse(try #require(out.header("Set-Cookie")))
            #expect(logout.pair == "pb_session=")
            #expect(
                logout.attributes == ["Path": "/", "HttpOnly": "", "SameSite": "Strict", "Secure": "", "Max-Age": "0"])
            #expect(try await server.call("GET", "/v1/session", headers: ["Cookie": among]).status == 401)
        }
    }
}
