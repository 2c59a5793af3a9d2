import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import NIOCore
import PanicCore
import Testing

extension DeskServer {
    /// Opens the push channel with the given headers (a session cookie, or `Authorization: Bearer` for a token).
    func openEvents(headers: [String: String], client: HTTPClient = .shared) async throws -> EventReader {
        var request = HTTPClientRequest(url: base + "/v1/desk/events")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        return EventReader(iterator: response.body.makeAsyncIterator())
    }

    /// Sends one emergency from `device` and returns its alert id and how long the intake took to answer.
    func pressEmergency(_ device: DeskDevice) async throws -> (id: String, took: Duration) {
        let record = try device.next(.emergency(input: "panic"))
        let start = ContinuousClock.now
        try await send(device, [record.envelope])
        return (record.id, ContinuousClock.now - start)
    }
}

/// How a revoked operator lost access while a push stream was open.
enum StreamRevocation: String, Sendable, CaseIterable, CustomTestStringConvertible {
    /// The page logged out (`POST /v1/session/logout`).
    case logout
    /// `controlroom users passwd` (another process: the store, not this desk, ends the sessions).
    case passwd
    /// `controlroom users remove`.
    case remove
    /// `controlroom users remove` of the account whose API token opened the stream.
    case removeTokenOwner = "remove (API token)"
    /// `controlroom users revoke-token` of the API token that opened the stream.
    case revokeToken = "revoke-token"
    /// `controlroom users role`: the account stays, with another role; the stream opened under the old one ends.
    case roleChange = "role"

    var testDescription: String { rawValue }
}

extension HostileClientTests {
    @Suite("A revoked operator's push stream closes and leaks nothing more", .serialized, .timeLimit(.minutes(4)))
    struct PushRevocationTests {
        @Test(
            "a push stream after logout, passwd, remove: closed, and an alert posted afterwards never reaches it",
            arguments: StoreKind.all, StreamRevocation.allCases)
        func revokedStreamCloses(_ store: StoreKind, _ revocation: StreamRevocation) async throws {
            // A heartbeat far beyond the test: the stream must close on the event it would send, not on a timer.
            try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(3600)), store: store) { server in
                let token = try await server.room.addUser(
                    name: "asha", role: .operator, password: "correct horse asha", token: true, cost: 4)
                let bus = DeskDevice()
                try await server.register(bus, name: "Bus 534")
                let first = try await server.pressEmergency(bus)
                let asha = try await server.login("asha", "correct horse asha")
                let headers =
                    [.removeTokenOwner, .revokeToken].contains(revocation)
                    ? ["Authorization": "Bearer " + (try #require(token))] : ["Cookie": asha.cookie]
                var events = try await server.openEvents(headers: headers)
                let snapshot = try #require(try await events.nextEvent())
                #expect(snapshot.contains(first.id))
                // Live: a new alert is pushed.
                let second = try await server.pressEmergency(bus)
                #expect(try #require(try await events.nextEvent()).contains(second.id))

                switch revocation {
                case .logout:
                    let answer = try await server.call(
                        "POST", "/v1/session/logout", headers: DeskServer.change(asha), body: "{}")
                    #expect(answer.status == 200, "\(answer.body)")
                case .passwd:
                    try await server.room.setPassword(name: "asha", password: "a brand new password", cost: 4)
                case .remove, .removeTokenOwner:
                    #expect(try await server.room.removeUser(name: "asha"))
                case .revokeToken:
                    let issued = try await server.room.tokens(user: "asha")
                    #expect(issued.count == 1)
                    for token in issued { try await server.room.revokeToken(id: token.id) }
                case .roleChange:
                    try await server.room.setRole(name: "asha", role: .supervisor)
                }
                // The attacker's page keeps listening; a new alert with its location comes in.
                let third = try await server.pressEmergency(bus)
                let after = try await events.nextEvent()
                #expect(after == nil, "the revoked stream (\(revocation)) sent: \(after ?? "")")
                #expect(after?.contains(third.id) != true, "the new alert leaked after \(revocation)")
                // The account still exists after a role change: a new stream is the page's to open, under the new role.
                guard revocation != .roleChange else { return }
                // And a new stream with the same credential is refused.
                var again = HTTPClientRequest(url: server.base + "/v1/desk/events")
                for (name, value) in headers { again.headers.add(name: name, value: value) }
                let refused = try await HTTPClient.shared.execute(again, timeout: .seconds(10))
                #expect(refused.status == .unauthorized)
                #expect(server.desk.openStreams == 0)
            }
        }

        @Test(
            "at most 4 push streams per session: the fifth closes the oldest, which is told so and receives nothing more"
        )
        func streamsPerSessionCapped() async throws {
            try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(3600))) { server in
                try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
                let bus = DeskDevice()
                try await server.register(bus, name: "Bus 534")
                _ = try await server.pressEmergency(bus)
                let asha = try await server.login("asha", "correct horse asha")
                var streams: [EventReader] = []
                for _ in 0..<5 {
                    var events = try await server.openEvents(headers: ["Cookie": asha.cookie])
                    _ = try #require(try await events.nextEvent())
                    streams.append(events)
                }
                #expect(server.desk.openStreams == 4)
                let next = try await server.pressEmergency(bus)
                // The oldest was told it was evicted (so the page polls instead of reconnecting) and ended.
                #expect(try await streams[0].nextEvent() == #"{"evicted":true}"#)
                let oldest = try await streams[0].nextEvent()
                #expect(oldest == nil, "the oldest stream stayed open: \(oldest ?? "")")
                for index in 1..<5 {
                    #expect(try await streams[index].nextEvent()?.contains(next.id) == true)
                }
            }
        }
    }

    @Suite("50 push streams do not slow the intake", .serialized, .timeLimit(.minutes(4)))
    struct PushFanOutTests {
        static let alerts = 20

        @Test("50 open push streams: every alert reaches every stream, from one computation of the desk per change")
        func fiftyStreams() async throws {
            try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(3600))) { server in
                try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
                let bus = DeskDevice()
                try await server.register(bus, name: "Bus 534")
                // The intake alone, for the figure printed below.
                var calm: [Duration] = []
                for _ in 0..<Self.alerts { calm.append(try await server.pressEmergency(bus).took) }

                // 50 streams: 13 sessions (at most 4 streams each).
                // The shared client keeps at most 8 connections to a host: the streams get a client of their own.
                let pages = HTTPClient(
                    eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                    configuration: HTTPClient.Configuration(
                        connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
                    ))
                var streams: [EventReader] = []
                var cookie = ""
                for index in 0..<50 {
                    if index % 4 == 0 { cookie = try await server.login("asha", "correct horse asha").cookie }
                    streams.append(try await server.openEvents(headers: ["Cookie": cookie], client: pages))
                    _ = try #require(try await streams[index].nextEvent())
                }
                #expect(server.desk.openStreams == 50)
                let before = server.desk.broadcast.computations
                var loaded: [(id: String, took: Duration)] = []
                for _ in 0..<Self.alerts { loaded.append(try await server.pressEmergency(bus)) }
                // Every stream gets every alert (several may come in one message).
                let wanted = Set(loaded.map(\.id))
                for index in streams.indices {
                    var seen = Set<String>()
                    while !wanted.isSubset(of: seen) {
                        let event = try #require(try await streams[index].nextEvent(), "stream \(index) ended")
                        for id in wanted where event.contains(id) { seen.insert(id) }
                    }
                }
                let computed = server.desk.broadcast.computations - before
                print(
                    "push fan-out: intake of \(Self.alerts) alerts, median/worst \(Self.median(calm))/\(calm.max()!) "
                        + "with no stream, \(Self.median(loaded.map(\.took)))/\(loaded.map(\.took).max()!) with 50 "
                        + "streams; \(computed) computations of the desk for \(Self.alerts) changes")
                #expect(computed <= UInt64(Self.alerts), "\(computed) computations for \(Self.alerts) changes")
                #expect(computed >= 1)
                streams.removeAll()
                try await pages.shutdown()
            }
        }

        static func median(_ values: [Duration]) -> Duration { values.sorted()[values.count / 2] }
    }
}
