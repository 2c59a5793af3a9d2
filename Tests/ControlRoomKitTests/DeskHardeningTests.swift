import ControlRoomDesk
import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

@Suite("Desk hardening: dispatch stages, security headers", .serialized, .timeLimit(.minutes(3)))
struct DeskHardeningTests {
    @Test("the dispatch rule: stages only move forward; the same stage again changes nothing")
    func dispatchRule() throws {
        #expect(try DispatchStage.move(responder: "van", from: nil, to: .onScene))
        #expect(try DispatchStage.move(responder: "van", from: .dispatched, to: .onScene))
        #expect(try DispatchStage.move(responder: "van", from: .dispatched, to: .stoodDown))
        #expect(try DispatchStage.move(responder: "van", from: .onScene, to: .stoodDown))
        #expect(try !DispatchStage.move(responder: "van", from: .onScene, to: .onScene))
        #expect(throws: DeskError.self) { try DispatchStage.move(responder: "van", from: .onScene, to: .dispatched) }
        #expect(throws: DeskError.self) { try DispatchStage.move(responder: "van", from: .stoodDown, to: .onScene) }
        do {
            _ = try DispatchStage.move(responder: "van", from: .stoodDown, to: .dispatched)
        } catch {
            #expect(error.description.contains("already stood-down"))
            #expect(error.description.contains("not back to dispatched"))
        }
    }

    @Test(
        "over HTTP, on both stores: a responder on scene cannot be sent back to dispatched, nor a stood-down one brought back; the refused step leaves no audit line and no command",
        arguments: StoreKind.all)
    func dispatchStagesOnlyMoveForward(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let van = DeskDevice()
            try await server.register(van, name: "PCR van 12", responder: true)
            let press = try bus.next(.emergency(input: "panic"))
            try await server.send(bus, [press.envelope])
            let asha = try await server.login("asha", "correct horse asha")
            let path = "/v1/alerts/\(bus.id)/\(press.id)/dispatch"
            func move(_ stage: String) async throws -> DeskServer.Answer {
                try await server.call(
                    "POST", path, headers: DeskServer.change(asha),
                    body: #"{"responder":"\#(van.id)","stage":"\#(stage)"}"#)
            }
            #expect(try await move("dispatched").status == 200)
            #expect(try await move("on-scene").status == 200)
            let back = try await move("dispatched")
            #expect(back.status == 400, "\(back.body)")
            #expect(back.body.contains("only moves forward"), "\(back.body)")
            #expect(try await move("on-scene").status == 200, "the same stage again is not an error")
            #expect(try await move("stood-down").status == 200)
            #expect(try await move("on-scene").status == 400)
            let stage = try await server.desk.openAlerts().first?.responders.first?.stage
            #expect(stage == .stoodDown)
            let audit = try await server.room.audit(device: bus.id, alert: press.id)
            #expect(audit.map(\.reason) == ["\(van.id) dispatched", "\(van.id) on-scene", "\(van.id) stood-down"])
            // One command per stage the box shows: the repeated on-scene issued none.
            let poll = try BatchSigner(key: bus.key).sign(
                RecordBatch(device: bus.id, envelopes: []), time: RecordTime.systemNow())
            let answer = try await server.room.receive(poll)
            let verifier = CommandSignatureVerifier(controlRoom: try #require(server.room.identity))
            let commands = try answer.commands.map { try verifier.verify($0) }
            #expect(commands.map(\.action).sorted { $0.rawValue < $1.rawValue } == [.arrive, .dispatch], "\(commands)")
        }
    }

    @Test(
        "concurrent moves of one responder, from its first assignment on: the stages the audit records never go back",
        arguments: StoreKind.all)
    func concurrentDispatchStagesOnlyMoveForward(_ store: StoreKind) async throws {
        try await DeskServer.with(store: store) { server in
            let token = try #require(
                try await server.room.addUser(
                    name: "asha", role: .operator, password: "correct horse asha", token: true, cost: 4))
            let bus = DeskDevice()
            try await server.register(bus, name: "Bus 534")
            let van = DeskDevice()
            try await server.register(van, name: "PCR van 12", responder: true)
            let press = try bus.next(.emergency(input: "panic"))
            try await server.send(bus, [press.envelope])
            let stages = ["stood-down", "on-scene", "dispatched"]
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        try await server.call(
                            "POST", "/v1/alerts/\(bus.id)/\(press.id)/dispatch",
                            headers: ["Authorization": "Bearer " + token, "Content-Type": "application/json"],
                            body: #"{"responder":"\#(van.id)","stage":"\#(stages[index % 3])"}"#
                        ).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 400 }, "\(statuses)")
            let recorded = try await server.room.audit(device: bus.id, alert: press.id).map {
                String($0.reason.split(separator: " ").last ?? "")
            }
            let ranks = recorded.map { stage in ["dispatched", "on-scene", "stood-down"].firstIndex(of: stage) ?? -1 }
            #expect(!ranks.isEmpty && ranks == ranks.sorted() && Set(ranks).count == ranks.count, "\(recorded)")
            let final = try await server.desk.openAlerts().first?.responders.first?.stage
            #expect(final?.rawValue == recorded.last, "\(String(describing: final)) after \(recorded)")
        }
    }

    @Test("the pages' policy: no inline code, images from the control room and the configured tile server only")
    func contentSecurityPolicy() {
        let plain = DeskConfiguration.contentSecurityPolicy(tileURL: nil)
        #expect(!plain.contains("unsafe-inline"))
        #expect(plain.contains("script-src 'self';"))
        #expect(plain.contains("img-src 'self';"))
        #expect(!plain.contains("*"))
        let tiles = DeskConfiguration.contentSecurityPolicy(tileURL: "https://{s}.tile.example.org/{z}/{x}/{y}.png")
        #expect(tiles.contains("img-src 'self' https://*.tile.example.org;"), "\(tiles)")
        #expect(DeskConfiguration.tileSource("http://10.0.0.5:8080/tiles/{z}/{x}/{y}.png") == "http://10.0.0.5:8080")
        #expect(DeskConfiguration.tileSource("/tiles/{z}/{x}/{y}.png") == "'self'")
        // Nothing that would widen or break the policy.
        #expect(DeskConfiguration.tileSource("https://evil.example;script-src *;/{z}/{x}/{y}") == nil)
        #expect(DeskConfiguration.tileSource("javascript:alert(1)//{z}{x}{y}") == nil)
        #expect(DeskConfiguration.tileSource("https://a.{s}.example/{z}/{x}/{y}") == nil)
        #expect(DeskConfiguration.tileSource("//cdn.example/{z}/{x}/{y}") == nil)
    }

    @Test("the pages carry no inline script, handler or style; the policy is sent with them")
    func noInlineCode() async throws {
        try await DeskServer.with(DeskConfiguration(tileURL: "https://tiles.example/{z}/{x}/{y}.png")) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            for path in ["/login", "/"] {
                let page = try await server.call("GET", path, headers: ["Cookie": asha.cookie])
                #expect(page.status == 200)
                let policy = try #require(page.header("Content-Security-Policy"))
                #expect(!policy.contains("unsafe-inline"), "\(policy)")
                #expect(policy.contains("img-src 'self' https://tiles.example;"), "\(policy)")
                // Every <script> has a src and an empty body; no on…= attribute; no style attribute or element.
                let scripts = page.body.components(separatedBy: "<script").dropFirst()
                #expect(!scripts.isEmpty)
                for script in scripts {
                    #expect(script.hasPrefix(" src=\"/static/"), "\(script.prefix(60))")
                    #expect(script.contains("></script>"), "\(script.prefix(60))")
                }
                #expect(page.body.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil)
                #expect(!page.body.contains("style=") && !page.body.contains("<style"))
            }
            for file in ["desk.js", "desk.css", "login.js", "login.css"] {
                let served = try await server.call("GET", "/static/desk/" + file)
                #expect(served.status == 200, "\(file)")
                #expect(served.body.count > 100)
            }
            #expect(try await server.call("GET", "/static/desk/other.js").status == 404)
        }
    }

    @Test("HSTS: sent on every desk answer (errors too) when the desk is served over TLS, absent otherwise")
    func strictTransportSecurity() async throws {
        let year = DeskConfiguration(strictTransportSecurity: .seconds(31_536_000))
        try await DeskServer.with(year) { server in
            let page = try await server.call("GET", "/login")
            #expect(page.header("Strict-Transport-Security") == "max-age=31536000")
            let refused = try await server.call("GET", "/v1/alerts")
            #expect(refused.status == 401)
            #expect(refused.header("Strict-Transport-Security") == "max-age=31536000")
        }
        try await DeskServer.with { server in
            let page = try await server.call("GET", "/login")
            #expect(page.header("Strict-Transport-Security") == nil)
        }
    }
}
