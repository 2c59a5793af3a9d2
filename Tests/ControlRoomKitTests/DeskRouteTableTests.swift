import ControlRoomDesk
import ControlRoomKit
import Foundation
import Testing

/// Who may call each route, checked by an attacker over real HTTP on loopback against every route the router holds:
/// a route added outside the desk's role groups (`DeskRouteGroups`), or moved out of its group, answers the attacker
/// with something else than 401/403, and a route missing from the table below fails the first check.
@Suite(
    "Every desk route is behind its role: no credential, no CSRF token or a lower role is refused",
    .timeLimit(.minutes(3)))
struct DeskRouteTableTests {
    /// Each route (as Hummingbird describes it) and the role it needs; nil for the routes that check for themselves:
    /// the device endpoints (signed records, a device's download proof), the login, the page that redirects to it,
    /// and static files.
    static let table: [String: DeskRole?] = [
        "POST /v1/records": nil, "GET /v1/identity": nil, "GET /v1/updates/{sha256}": nil,
        "POST /v1/session": nil, "GET /login": nil, "GET /": nil, "GET /static/desk/{file}": nil,
        "GET /static/leaflet/**": nil, "GET /static/alarm/{kind}": nil,
        "GET /v1/session": .operator, "POST /v1/session/logout": .operator, "GET /v1/desk/config": .operator,
        "GET /v1/alerts": .operator, "GET /v1/desk/alerts": .operator, "GET /v1/desk/events": .operator,
        "GET /v1/desk/history": .operator, "GET /v1/audit": .operator, "GET /v1/audit.csv": .supervisor,
        "GET /v1/evidence/{device}/{alert}": .supervisor, "POST /v1/alerts/{device}/{alert}/{action}": .operator,
        "GET /v1/devices": .operator, "GET /v1/devices/{id}/records": .operator, "GET /v1/desk/health": .operator,
        "GET /v1/desk/responders": .operator, "POST /v1/devices/{id}/metadata": .admin,
        "GET /v1/desk/vehicles": .operator, "GET /v1/config/status": .operator, "GET /v1/rollouts": .operator,
        "POST /v1/rollouts": .admin, "POST /v1/rollouts/{id}/{action}": .admin, "GET /tiles/{z}/{x}/{file}": .operator,
        "GET /v1/update-packages": .admin, "POST /v1/update-rollouts": .admin,
    ]

    /// A path to call for a route: each capture filled with a harmless value.
    static func path(_ route: String) -> String {
        route.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") ? "x1" : part == "**" ? "leaflet.js" : String(part)
        }.joined(separator: "/")
    }

    @Test("the table names every route, and every desk route refuses the attacker")
    func everyRoute() async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let packages = UpdatePackages(directory: directory + "/updates")
        try await DeskServer.with(updates: packages) { server in
            // The routes as the running server holds them (the same router the server builds).
            let routes = ControlRoomServer.router(
                controlRoom: server.room, updates: packages, installDesk: server.desk.installer(updates: packages)
            ).routes
                .map(\.description)
            #expect(
                Set(routes) == Set(Self.table.keys),
                "routes not in the table: \(Set(routes).subtracting(Self.table.keys).sorted()); in the table but gone: \(Set(Self.table.keys).subtracting(routes).sorted())"
            )

            var sessions: [DeskRole: (cookie: String, csrf: String)] = [:]
            var tokens: [DeskRole: String] = [:]
            for role in [DeskRole.operator, .supervisor, .admin] {
                let name = "user-\(role.rawValue)"
                try await server.room.addUser(name: name, role: role, password: "correct horse \(name)", cost: 4)
                sessions[role] = try await server.login(name, "correct horse \(name)")
                tokens[role] = try await server.room.issueToken(user: name).secret
            }
            let attacked = Self.table.filter { $0.value != nil }.sorted { $0.key < $1.key }
            #expect(attacked.count >= 20)
            for (route, needed) in attacked {
                guard let needed else { continue }
                let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
                let (method, path) = (parts[0], Self.path(parts[1]))
                let changes = method != "GET"
                let body = changes ? "{}" : nil
                // No credential at all.
                let anonymous = try await server.call(
                    method, path, headers: ["Content-Type": "application/json"], body: body)
                #expect(anonymous.status == 401, "\(route) without a credential: \(anonymous.status) \(anonymous.body)")
                // A forged or expired session cookie.
                let forged = try await server.call(
                    method, path, headers: ["Cookie": "pb_session=forged", "Content-Type": "application/json"],
                    body: body)
                #expect(forged.status == 401, "\(route) with a forged cookie: \(forged.status)")
                // A change with the right session but no CSRF token, or from another site.
                if changes, let session = sessions[needed] {
                    let noToken = try await server.call(
                        method, path, headers: ["Cookie": session.cookie, "Content-Type": "application/json"],
                        body: body)
                    #expect(noToken.status == 403, "\(route) without its CSRF token: \(noToken.status)")
                    var crossSite = DeskServer.change(session)
                    crossSite["Sec-Fetch-Site"] = "cross-site"
                    let foreign = try await server.call(method, path, headers: crossSite, body: body)
                    #expect(foreign.status == 403, "\(route) cross-site: \(foreign.status)")
                }
                // A role below the one needed, with everything else right.
                for lower in [DeskRole.operator, .supervisor] where lower < needed {
                    let session = try #require(sessions[lower])
                    let answer = try await server.call(method, path, headers: DeskServer.change(session), body: body)
                    #expect(answer.status == 403, "\(route) as \(lower.rawValue): \(answer.status)")
                    let token = try await server.call(
                        method, path,
                        headers: [
                            "Authorization": "Bearer " + (tokens[lower] ?? ""), "Content-Type": "application/json",
                        ],
                        body: body)
                    #expect(token.status == 403, "\(route) with a \(lower.rawValue)'s token: \(token.status)")
                }
                // The role needed gets past the door (whatever the handler then says of the made-up values). The
                // push stream never ends and logging out would end the session: both are checked elsewhere.
                if route != "GET /v1/desk/events" && route != "POST /v1/session/logout" {
                    let session = try #require(sessions[needed])
                    let answer = try await server.call(method, path, headers: DeskServer.change(session), body: body)
                    #expect(
                        answer.status != 401 && answer.status != 403,
                        "\(route) as \(needed.rawValue): \(answer.status) \(answer.body)")
                }
            }
        }
    }
}
