import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import PanicCore

extension Desk {
    /// The desk as `ControlRoomServer.router(installDesk:)` takes it: `install(on:updates:)` on the router.
    public func installer(updates: UpdatePackages? = nil) -> ControlRoomServer.Installer {
        { [self] router in install(on: router, updates: updates) }
    }

    /// Adds the desk to the control room's router: login and sessions, the page, the operator API, the push channel
    /// and the static files; with `updates`, the update rollouts' routes too.
    public func install(on router: Router<ControlRoomRequestContext>, updates: UpdatePackages? = nil) {
        if let maxAge = configuration.strictTransportSecurity {
            router.add(middleware: StrictTransportSecurityMiddleware(maxAge: maxAge))
        }
        let routes = DeskRouteGroups(router: router, desk: self)
        installSession(on: routes)
        installPages(on: routes)
        installAlerts(on: routes)
        installDevices(on: routes)
        installVehicles(on: routes)
        installRollouts(on: routes)
        installTiles(on: routes)
        if let updates { installUpdateRollouts(updates, on: router) }
    }

    private func installSession(on routes: DeskRouteGroups) {
        struct Login: Decodable {
            var name: String
            var password: String
        }
        routes.open.post("/v1/session") { [self] request, context -> Response in
            let type = request.headers[.contentType]?.lowercased() ?? ""
            guard type.hasPrefix("application/json") else {
                throw HTTPError(.forbidden, message: "log in with an application/json body")
            }
            if let site = request.headers[Desk.secFetchSite], site == "cross-site" {
                throw HTTPError(.forbidden, message: "cross-site login refused")
            }
            let login = try await Desk.decode(Login.self, request, context)
            let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
            return try await logIn(name: login.name, password: login.password, address: address)
        }
        routes.operators.get("/v1/session") { [self] request, _ -> Response in
            guard let id = Desk.sessionID(in: request), let session = try await sessions.session(id: id)
            else {
                throw HTTPError(.unauthorized, message: "log in first (no session)")
            }
            return ControlRoomServer.json(SessionInfo(session))
        }
        routes.operators.post("/v1/session/logout") { [self] request, context -> Response in
            let account = try context.account()
            if let id = Desk.sessionID(in: request) {
                try await sessions.end(id: id)
                // The session's push streams close now, not at their next event.
                streams.close(key: DeskCredential.session(id).key)
            }
            try await room.auditSecurity(.logout, by: AuditActor(account))
            var response = ControlRoomServer.json(["ok": true])
            response.setCookie(sessionCookie("", expired: true))
            return response
        }
    }

    private func installPages(on routes: DeskRouteGroups) {
        routes.open.get("/login") { [self] _, _ in page(OperatorPage.login) }
        routes.open.get("/") { [self] request, _ -> Response in
            do { _ = try await authorize(request, .operator) } catch {
                return Response(status: .seeOther, headers: [.location: "/login", .cacheControl: "no-store"])
            }
            return page(OperatorPage.html)
        }
        // The pages' own scripts and style sheets: served, not inline, so the policy allows no inline code.
        routes.open.get("/static/desk/:file") { _, context -> Response in
            guard let file = OperatorPage.files[try context.parameters.require("file")] else {
                throw HTTPError(.notFound)
            }
            return Response(
                status: .ok, headers: [.contentType: file.type + "; charset=utf-8", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
        }
        routes.open.get("/static/leaflet/**") { [self] request, context -> Response in
            let rest = context.parameters.getCatchAll().joined(separator: "/")
            let allowed = ["leaflet.js", "leaflet.css"]
            guard
                allowed.contains(rest) || (rest.hasPrefix("images/") && rest.hasSuffix(".png") && !rest.contains(".."))
            else { throw HTTPError(.notFound) }
            let path = configuration.leafletDirectory + "/" + rest
            guard let data = FileManager.default.contents(atPath: path) else {
                throw HTTPError(.notFound, message: "\(path) is missing: install Debian's libjs-leaflet")
            }
            let type = rest.hasSuffix(".js") ? "text/javascript" : rest.hasSuffix(".css") ? "text/css" : "image/png"
            return Response(
                status: .ok, headers: [.contentType: type, .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        routes.open.get("/static/alarm/:kind") { _, context -> Response in
            let kind = try context.parameters.require("kind")
            guard let tone = AlarmSound.Tone(rawValue: kind) else { throw HTTPError(.notFound) }
            return Response(
                status: .ok, headers: [.contentType: "audio/wav", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: AlarmSound.wav(tone))))
        }
        routes.operators.get("/v1/desk/config") { [self] request, context -> Response in
            let account = try context.account()
            return ControlRoomServer.json(
                DeskClientConfiguration(
                    tileURL: configuration.mapTileURL, tileMinZoom: configuration.tiles?.minZoom,
                    tileMaxZoom: configuration.tiles?.maxZoom, tileAttribution: configuration.tiles?.attribution,
                    escalateAfterMs: configuration.escalateAfter.components.seconds * 1000,
                    user: account.name, role: account.role, notifies: configuration.escalation?.notifies ?? false,
                    vehicleRefreshMs: configuration.vehicleRefresh.components.seconds * 1000
                        + configuration.vehicleRefresh.components.attoseconds / 1_000_000_000_000_000))
        }
    }

    private func installAlerts(on routes: DeskRouteGroups) {
        // Open alerts; with `all=1` every alert, newest press first, a page at a time as the history.
        routes.operators.get("/v1/alerts") { [self] request, _ -> Response in
            guard request.uri.queryParameters.get("all") == "1" else {
                return ControlRoomServer.json(try await room.openAlerts())
            }
            var query = try Self.historyQuery(request)
            query.includeOpen = true
            let page = try await room.closedAlerts(query)
            var response = ControlRoomServer.json(page.alerts)
            if let next = page.next { response.headers[Self.nextBefore] = next.description }
            return response
        }
        routes.operators.get("/v1/desk/alerts") { [self] request, _ -> Response in
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: try await snapshotMessage())))
        }
        routes.operators.get("/v1/desk/events") { [self] request, context -> Response in
            let account = try context.account()
            guard let credential = DeskCredential(request) else { throw HTTPError(.unauthorized) }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/event-stream", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no",
                ],
                body: eventStream(
                    credential: credential, account: account,
                    resume: DeskPosition(request.headers[Desk.lastEventID])))
        }
        // Closed alerts, newest first, one page (`limit`, at most 500) at a time; `X-Next-Before` names the next
        // page's `before` when more follow. Read from an index: the cost is the page's, not the store's.
        routes.operators.get("/v1/desk/history") { [self] request, _ -> Response in
            let page = try await room.closedAlerts(try Self.historyQuery(request))
            var response = ControlRoomServer.json(try await room.deskAlerts(page.alerts, tracks: nil))
            if let next = page.next { response.headers[Self.nextBefore] = next.description }
            return response
        }
        // The audit log oldest first, a page at a time (`limit`, at most 500); `X-Next-After` names the next page's
        // `after` when more follow.
        routes.operators.get("/v1/audit") { [self] request, context -> Response in
            let account = try context.account()
            let page = try await room.audit(try Self.auditQuery(request))
            // Security events (logins with addresses, account and token changes) are for supervisors and up.
            var response = ControlRoomServer.json(
                account.role >= .supervisor ? page.entries : page.entries.filter { !$0.action.isSecurityEvent })
            if let next = page.next { response.headers[Self.nextAfterHeader] = String(next) }
            return response
        }
        // The whole log for evidence: written a page of the store at a time as it is read, never held whole.
        routes.supervisors.get("/v1/audit.csv") { [self] request, _ -> Response in
            let room = room
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8", .cacheControl: "no-store",
                    .init("Content-Disposition")!: "attachment; filename=\"audit.csv\"",
                ],
                body: ResponseBody { writer in
                    try await room.auditCSV { try await writer.write(ByteBuffer(string: $0)) }
                    try await writer.finish(nil)
                })
        }
        // An alert's evidence bundle (docs/evidence.md), as a tar archive: supervisors and up, audited.
        routes.supervisors.get("/v1/evidence/:device/:alert") { [self] request, context -> Response in
            try await evidence(request, context)
        }
        struct Reason: Decodable { var reason: String? }
        struct Note: Decodable { var text: String }
        struct CaseNumbersBody: Decodable {
            var fir: String?
            var gd: String?
        }
        struct Dispatch: Decodable {
            var responder: String
            var stage: DispatchStage?
        }
        routes.operators.post("/v1/alerts/:device/:alert/:action") { [self] request, context -> Response in
            let account = try context.account()
            let device = try context.parameters.require("device")
            let alert = try context.parameters.require("alert")
            let action = try context.parameters.require("action")
            do {
                switch action {
                case "accept":
                    let reason = try await Desk.decodeIfPresent(Reason.self, request, context)?.reason ?? ""
                    let view = try await room.accept(device: device, alert: alert, by: account, reason: reason)
                    return ControlRoomServer.json(view)
                case "clear":
                    let reason = try await Desk.decodeIfPresent(Reason.self, request, context)?.reason ?? ""
                    guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                        throw HTTPError(.badRequest, message: "clearing an alert needs a reason ({\"reason\": \"…\"})")
                    }
                    let view = try await room.clear(device: device, alert: alert, by: account, reason: reason)
                    return ControlRoomServer.json(view)
                case "note":
                    let note = try await Desk.decode(Note.self, request, context)
                    try await room.note(device: device, alert: alert, text: note.text, by: account)
                    return ControlRoomServer.json(try await room.audit(device: device, alert: alert))
                case "dispatch":
                    let dispatch = try await Desk.decode(Dispatch.self, request, context)
                    try await room.dispatch(
                        device: device, alert: alert, responder: dispatch.responder,
                        stage: dispatch.stage ?? .dispatched, by: account)
                    return ControlRoomServer.json(try await room.audit(device: device, alert: alert))
                case "case":
                    let numbers = try await Desk.decode(CaseNumbersBody.self, request, context)
                    _ = try await room.setCaseNumbers(
                        device: device, alert: alert, fir: numbers.fir, gd: numbers.gd, by: AuditActor(account))
                    return ControlRoomServer.json(try await room.audit(device: device, alert: alert))
                default:
                    throw HTTPError(.notFound, message: "no action '\(action)' (accept, clear, note, dispatch, case)")
                }
            } catch let error as ControlRoomError {
                let status: HTTPResponse.Status
                if case .unknownAlert = error { status = .notFound } else { status = .conflict }
                return ControlRoomServer.json(["error": error.description], status: status)
            } catch let error as DeskError {
                return ControlRoomServer.json(["error": error.description], status: .badRequest)
            }
        }
    }

    private func installDevices(on routes: DeskRouteGroups) {
        routes.operators.get("/v1/devices") { [self] request, _ -> Response in
            return try await devicePage(request) { $0.devices }
        }
        // Each stored record's identity (sequence, envelope hash): what an auditor compares a box's outbox with.
        routes.operators.get("/v1/devices/:id/records") { [self] request, context -> Response in
            return ControlRoomServer.json(try await room.recordIdentities(device: try context.parameters.require("id")))
        }
        routes.operators.get("/v1/desk/health") { [self] request, _ -> Response in
            return try await devicePage(request) { $0.health }
        }
        routes.operators.get("/v1/desk/responders") { [self] request, _ -> Response in
            return ControlRoomServer.json(try await room.responderDevices())
        }
        routes.admins.post("/v1/devices/:id/metadata") { [self] request, context -> Response in
            let account = try context.account()
            let id = try context.parameters.require("id")
            let edit = try await Desk.decode(DeviceMetadataEdit.self, request, context)
            do {
                let metadata = try await room.editDevice(id: id, edit, by: AuditActor(account))
                return ControlRoomServer.json(metadata)
            } catch let error as ControlRoomError {
                return ControlRoomServer.json(["error": error.description], status: .notFound)
            } catch let error as DeskError {
                return ControlRoomServer.json(["error": error.description], status: .badRequest)
            }
        }
    }

    /// One page of a device list (`?after=ID&limit=N`, `DevicePageRequest`): a JSON array, with the id to ask for
    /// the next page after in `X-Next-After` (absent on the last page); a bad `limit` is a 400 naming it.
    func devicePage<T: Encodable>(
        _ request: Request, _ view: (DevicePage) -> [T]
    ) async throws -> Response {
        let query = request.uri.queryParameters
        let asked: DevicePageRequest
        switch DevicePageRequest.parse(after: query.get("after"), limit: query.get("limit")) {
        case .success(let request): asked = request
        case .failure(let error): return ControlRoomServer.json(["error": error.description], status: .badRequest)
        }
        let page = try await room.devicePage(asked)
        var response = ControlRoomServer.json(view(page))
        if let next = page.nextAfter { response.headers[Desk.nextAfterHeader] = next }
        return response
    }

    static let nextAfterHeader = HTTPFields.Element.Name("X-Next-After")!
    /// The history's next page: the `before` to ask with.
    static let nextBefore = HTTPFields.Element.Name("X-Next-Before")!

    /// `GET /v1/desk/history`'s parameters: `device` (part of the id), `kind`, `before` (a cursor from
    /// `X-Next-Before`) and `limit`; a 400 naming a bad one.
    static func historyQuery(_ request: Request) throws -> AlertHistoryQuery {
        let query = request.uri.queryParameters
        func text(_ name: String) throws -> String? {
            guard let value = query.get(name), !value.isEmpty else { return nil }
            guard value.utf8.count <= 200 else { throw HTTPError(.badRequest, message: "\(name) is too long") }
            return value
        }
        var before: AlertHistoryCursor?
        if let cursor = try text("before") {
            guard let parsed = AlertHistoryCursor(cursor) else {
                throw HTTPError(.badRequest, message: "before must be a cursor from X-Next-Before")
            }
            before = parsed
        }
        return AlertHistoryQuery(
            deviceContains: try text("device"), kind: try text("kind"), before: before, limit: try pageLimit(request))
    }

    /// `GET /v1/audit`'s parameters: `device`, `alert`, `after` (an id from `X-Next-After`) and `limit`; a 400
    /// naming a bad one.
    static func auditQuery(_ request: Request) throws -> AuditQuery {
        let query = request.uri.queryParameters
        var after: Int64?
        if let text = query.get("after"), !text.isEmpty {
            guard let id = Int64(text), id >= 0 else {
                throw HTTPError(.badRequest, message: "after must be an entry id from X-Next-After")
            }
            after = id
        }
        return AuditQuery(
            device: query.get("device").flatMap { $0.isEmpty ? nil : $0 },
            alert: query.get("alert").flatMap { $0.isEmpty ? nil : $0 }, after: after, limit: try pageLimit(request))
    }

    /// A page's `limit` (`Paging`: 1 to 500, 200 when absent); a 400 naming it otherwise.
    static func pageLimit(_ request: Request) throws -> Int {
        Int(
            try integer(
                request.uri.queryParameters.get("limit"), name: "limit", default: Int64(Paging.defaultLimit),
                in: Int64(Paging.limits.lowerBound)...Int64(Paging.limits.upperBound)))
    }
    /// What a reconnecting `EventSource` sends back: the `id` of the last event it got (`DeskPosition`).
    static let lastEventID = HTTPFields.Element.Name("Last-Event-ID")!

    /// `GET /v1/evidence/{device}/{alert}`: the alert's evidence bundle as a tar (supervisors and up, audited).
    func evidence(_ request: Request, _ context: ControlRoomRequestContext) async throws -> Response {
        let account = try context.account()
        let device = try context.parameters.require("device")
        let alert = try context.parameters.require("alert")
        let before = request.uri.queryParameters.get("before").flatMap { Int($0) } ?? 600
        guard before >= 0 else { throw HTTPError(.badRequest, message: "before must be 0 or more seconds") }
        var timestamp: EvidenceTimestamper?
        if let url = configuration.tsaURL {
            let authority = TimeStampAuthority(url: url)
            timestamp = { data in try await authority.timestamp(data) }
        }
        let bundle: EvidenceBundle
        do {
            bundle = try await room.exportEvidence(
                alert: alert, device: device, before: .seconds(before), by: AuditActor(account), timestamp: timestamp)
        } catch let error as EvidenceError {
            return ControlRoomServer.json(["error": error.description], status: .notFound)
        } catch let error as TimeStampError {
            return ControlRoomServer.json(["error": error.description], status: .badGateway)
        }
        let name = String(alert.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }.prefix(64))
        var headers = HTTPFields()
        headers[.contentType] = "application/x-tar"
        headers[.cacheControl] = "no-store"
        headers[HTTPFields.Element.Name("Content-Disposition")!] = "attachment; filename=\"evidence-\(name).tar\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bundle.tar)))
    }

    func page(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .init("Content-Security-Policy")!: DeskConfiguration.contentSecurityPolicy(
                    tileURL: configuration.mapTileURL),
                .init("X-Frame-Options")!: "DENY", .init("X-Content-Type-Options")!: "nosniff",
                .init("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func decode<T: Decodable>(
        _ type: T.Type, _ request: Request, _ context: ControlRoomRequestContext
    )
        async throws -> T
    {
        let body = try await request.body.collect(upTo: 64 << 10)
        do { return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)) } catch {
            throw HTTPError(.badRequest, message: "the body is not the expected JSON: \(error)")
        }
    }

    static func decodeIfPresent<T: Decodable>(
        _ type: T.Type, _ request: Request, _ context: ControlRoomRequestContext
    )
        async throws -> T?
    {
        let body = try await request.body.collect(upTo: 64 << 10)
        if body.readableBytes == 0 { return nil }
        do { return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)) } catch {
            throw HTTPError(.badRequest, message: "the body is not the expected JSON: \(error)")
        }
    }
}

/// What `GET /v1/session` and a login answer: who, in which role, and the CSRF token to send back.
struct SessionInfo: Codable {
    var user: String
    var role: DeskRole
    var csrf: String

    init(_ session: DeskSession) {
        user = session.account.name
        role = session.account.role
        csrf = session.csrf
    }
}

/// The page's settings.
struct DeskClientConfiguration: Codable {
    var tileURL: String?
    /// The local tileset's zoom levels and attribution (`--tiles`), nil for a tile URL or the plain grid.
    var tileMinZoom: Int?
    var tileMaxZoom: Int?
    var tileAttribution: String?
    var escalateAfterMs: Int64
    var user: String
    var role: DeskRole
    /// Whether escalations reach anyone (e-mail or webhook configured).
    var notifies: Bool
    /// How often the fleet layer asks for the vehicles that moved (`DeskConfiguration.vehicleRefresh`).
    var vehicleRefreshMs: Int64
}
