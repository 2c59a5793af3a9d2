import ControlRoomDesk
import ControlRoomKit
import Foundation
import Logging
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization
import Testing

/// A box (its key, its outbox, its uplink on a virtual clock) reporting over HTTP to a control room on `kind`'s
/// store whose clock is `roomAhead` ahead of the box's (negative: the box's clock runs fast).
struct SkewedBox {
    let room: ControlRoom
    let uplink: Uplink
    let clock: ManualClock
    let wall: @Sendable () -> RecordTime
    let deviceID: String
    /// Where the control room listens (with its desk when `desk`).
    var url = ""

    /// `pinned`: the control-room key the box pins (nil: the room's own; another: a mis-pinned box).
    static func with(
        _ kind: StoreKind, roomAhead: Duration, commandLifetime: Duration = .seconds(300),
        transport: (@Sendable (HTTPUplinkTransport, ManualClock) -> any UplinkTransport)? = nil,
        updates: UpdatePackages? = nil, pinned: DeviceKey? = nil, desk: Bool = false,
        _ body: (SkewedBox) async throws -> Void
    ) async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock()
        let wall: @Sendable () -> RecordTime = {
            RecordTime(epochMilliseconds: 1_764_000_000_000 + clock.now.sinceOrigin.components.seconds * 1000)
        }
        let ahead = roomAhead.components.seconds * 1000
        let roomClock: @Sendable () -> RecordTime = { RecordTime(epochMilliseconds: wall().epochMilliseconds + ahead) }
        try await kind.withStore(directory: directory) { store in
            let roomKey = DeviceKey.generate()
            let room = ControlRoom(
                store: store, key: roomKey, commandLifetime: commandLifetime, wallClock: roomClock,
                logger: StoreKind.quiet)
            let deviceKey = DeviceKey.generate()
            let deviceID = deviceKey.identity.deviceID
            try await room.addDevice(id: deviceID, publicKey: deviceKey.identity.jwk)
            let outbox = try Outbox(
                path: directory + "/outbox.db", sealer: RecordSigner(key: deviceKey), logger: StoreKind.quiet)
            try await serving(room, desk: desk, updates: updates) { url in
                let uplink = try Uplink(
                    outbox: outbox, deviceID: deviceID, signingKey: deviceKey,
                    backends: [.init(name: "cr", url: url, controlRoomKey: (pinned ?? roomKey).identity)],
                    clock: clock, wallClock: wall,
                    transport: { configuration in
                        let http = HTTPUplinkTransport(baseURL: configuration.url, trust: configuration.trust)
                        return transport?(http, clock) ?? http
                    }, seed: 11, logger: StoreKind.quiet)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await uplink.run() }
                    try await body(
                        SkewedBox(
                            room: room, uplink: uplink, clock: clock, wall: wall, deviceID: deviceID, url: url))
                    group.cancelAll()
                }
            }
        }
    }

    /// Presses the panic button: an emergency record, committed and tracked.
    func press() throws -> String {
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: wall(), timeSource: .gnss,
            fix: RecordFix(latitude: 28.6139, longitude: 77.2090, ageMilliseconds: 1200),
            body: .emergency(input: "panic-1"))
        try uplink.submit(draft)
        return draft.id
    }

    /// Runs virtual time on (each time the uplink goes quiet, to its next deadline) until `done` holds.
    func drive(maxEvents: Int = 600, until done: () async throws -> Bool) async throws {
        var events = uplink.events.makeAsyncIterator()
        if try await done() { return }
        if let next = clock.nextDeadline { clock.advance(to: next) }
        var count = 0
        while let event = await events.next() {
            count += 1
            if try await done() { return }
            if case .idle(_, let until?) = event { clock.advance(to: until) }
            if count > maxEvents { break }
        }
        Issue.record("the condition never held (after \(count) uplink events)")
    }
}

/// Holds back the first answer that carries commands until the virtual clock has run past the commands' lifetime:
/// the commands reach the box after they expired (a slow link, a long-stalled connection).
final class LateAnswer: UplinkTransport {
    let inner: HTTPUplinkTransport
    let clock: ManualClock
    let delay: Duration
    let held = Mutex(false)

    init(_ inner: HTTPUplinkTransport, clock: ManualClock, delay: Duration) {
        self.inner = inner
        self.clock = clock
        self.delay = delay
    }

    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        let response = try await inner.send(batch, timeout: timeout)
        if !response.commands.isEmpty,
            held.withLock({ held in
                defer { held = true }; return !held
            })
        {
            clock.advance(by: delay)
        }
        return response
    }

    func shutdown() async throws { try await inner.shutdown() }
}

@Suite(
    "Commands on the control room's clock: a fast box clock, and commands that expire before they act",
    .timeLimit(.minutes(5)))
struct CommandClockTests {
    @Test(
        "a box whose clock runs fast by 10 minutes or a day shows help on the way, then cleared",
        arguments: StoreKind.all, [Duration.seconds(600), .seconds(86_400)])
    func fastBoxClock(kind: StoreKind, fast: Duration) async throws {
        try await SkewedBox.with(kind, roomAhead: .zero - fast) { box in
            let alert = try box.press()
            try await box.drive { box.uplink.alerts.state(of: alert) == .sent }
            try await box.room.accept(device: box.deviceID, alert: alert)
            try await box.drive { box.uplink.alerts.state(of: alert) == .acknowledged }
            try await box.room.clear(device: box.deviceID, alert: alert)
            try await box.drive {
                try await box.room.allAlerts().first { $0.id == alert }?.deviceCleared == true
            }
            #expect(box.uplink.alerts.state(of: alert) == .cleared)
        }
    }

    @Test(
        "a command that reaches the box after it expired is refused unacknowledged: the control room reissues it",
        arguments: StoreKind.all)
    func expiredCommandIsReissued(kind: StoreKind) async throws {
        let lifetime = Duration.seconds(300)
        try await SkewedBox.with(
            kind, roomAhead: .zero, commandLifetime: lifetime,
            transport: { LateAnswer($0, clock: $1, delay: lifetime + .seconds(1)) }
        ) { box in
            let alert = try box.press()
            try await box.drive { box.uplink.alerts.state(of: alert) == .sent }
            try await box.room.accept(device: box.deviceID, alert: alert)
            // The first accept arrives expired and is refused; the reissued one takes effect.
            try await box.drive { box.uplink.alerts.state(of: alert) == .acknowledged }
            try await box.room.clear(device: box.deviceID, alert: alert)
            try await box.drive {
                try await box.room.allAlerts().first { $0.id == alert }?.deviceCleared == true
            }
            #expect(box.uplink.alerts.state(of: alert) == .cleared)
        }
    }
}

@Suite("An answer carries a bounded number of commands", .timeLimit(.minutes(2)))
struct CommandCapTests {
    @Test(
        "40 accepted alerts: the answer carries the oldest 32 commands, the rest once those are acknowledged",
        arguments: StoreKind.all)
    func perDeviceCap(kind: StoreKind) async throws {
        try await Fixture.with(kind) { fixture in
            let records = try fixture.chain(40, alertAt: Set(1...40))
            _ = try await fixture.send(records.map(\.envelope))
            let alerts = try await fixture.room.openAlerts()
            #expect(alerts.count == 40)
            for alert in alerts { try await fixture.room.accept(device: fixture.deviceID, alert: alert.id) }
            let first = try await fixture.send([])
            #expect(first.commands.count == RecordBatchResponse.maximumCommands)
            let nonces = first.commands.compactMap { command -> String? in
                let parts = command.split(separator: ".")
                guard parts.count == 3, let payload = Base64URL.decode(parts[1]) else { return nil }
                return (try? JSONDecoder().decode(ControlCommand.self, from: payload))?.nonce
            }
            let second = try await fixture.send([], acks: nonces)
            #expect(second.commands.count == 40 - RecordBatchResponse.maximumCommands)
        }
    }
}

@Suite("The reissue rule", .timeLimit(.minutes(1)))
struct CommandReissueTests {
    typealias Alert = CommandReissue.AlertRow
    typealias Command = CommandReissue.CommandRow

    @Test("an accepted or cleared alert gets a fresh command when none of its kind is acknowledged or unexpired")
    func rule() {
        let now: Int64 = 1_000_000
        let alerts = [
            Alert(device: "d", alert: "open", state: .open, deviceCleared: false),
            Alert(device: "d", alert: "expired", state: .acknowledged, deviceCleared: false),
            Alert(device: "d", alert: "live", state: .acknowledged, deviceCleared: false),
            Alert(device: "d", alert: "acked", state: .acknowledged, deviceCleared: false),
            Alert(device: "d", alert: "cleared", state: .cleared, deviceCleared: false),
            Alert(device: "d", alert: "done", state: .cleared, deviceCleared: true),
        ]
        let commands = [
            Command(device: "d", alert: "expired", action: .accept, acked: false, expiresMs: now),
            Command(device: "d", alert: "live", action: .accept, acked: false, expiresMs: now + 1),
            Command(device: "d", alert: "acked", action: .accept, acked: true, expiresMs: now - 10),
            // An acknowledged accept does not stand for the clear.
            Command(device: "d", alert: "cleared", action: .accept, acked: true, expiresMs: now + 100),
            // Another device's command does not stand for this one's alert.
            Command(device: "e", alert: "cleared", action: .clear, acked: true, expiresMs: now + 100),
        ]
        let issued = CommandReissue.reissues(alerts: alerts, commands: commands, nowMs: now)
        #expect(issued.map { "\($0.alert) \($0.action.rawValue)" } == ["expired accept", "cleared clear"])
    }
}
