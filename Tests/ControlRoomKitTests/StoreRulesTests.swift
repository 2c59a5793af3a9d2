import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import PanicUplink
import Synchronization
import Testing

/// The rules both stores run, as pure decisions over the rows they read (`AlertActionPlan`, `DispatchPlan`,
/// `SessionPlan`, `AnswerPlan`, `CommandReissue`).
@Suite("The store rules, decided over rows", .timeLimit(.minutes(1)))
struct StoreRulesTests {
    static let now = RecordTime(epochMilliseconds: 1_764_000_000_000)
    static let asha = DeskAccount(name: "asha", role: .operator, hasToken: false)

    @Test("an operator action: unknown alert, wrong state, or the new state with its command and audit line")
    func alertAction() throws {
        let audit = NewAuditEntry(
            action: .accept, account: Self.asha, device: "d", alert: "a", reason: "", now: Self.now)
        #expect(throws: ControlRoomError.unknownAlert(device: "d", alert: "a")) {
            try AlertActionPlan(
                .accept, device: "d", alert: "a", current: nil, allowed: [.open], newState: .acknowledged, audit: nil)
        }
        #expect(throws: ControlRoomError.wrongState(alert: "a", state: .cleared, action: .accept)) {
            try AlertActionPlan(
                .accept, device: "d", alert: "a", current: .cleared, allowed: [.open], newState: .acknowledged,
                audit: audit)
        }
        let plan = try AlertActionPlan(
            .clear, device: "d", alert: "a", current: .acknowledged, allowed: [.open, .acknowledged],
            newState: .cleared, audit: audit)
        #expect(plan.state == .cleared)
        #expect(plan.command == .clear)
        #expect(plan.audit == audit)
    }

    @Test("a dispatch: responders only, forward only, a command for each stage the box shows unless cleared")
    func dispatch() throws {
        func plan(
            _ state: ControlRoomAlertState = .acknowledged, responder: Bool = true, from before: DispatchStage?,
            to stage: DispatchStage
        ) throws -> DispatchPlan? {
            try DispatchPlan.plan(
                device: "bus", alert: "a", alertState: state, responder: "van", isResponder: responder,
                before: before, to: stage, by: Self.asha, now: Self.now)
        }
        #expect(throws: DeskError.badRequest("device 'van' is not registered as a responder")) {
            try plan(responder: false, from: nil, to: .dispatched)
        }
        #expect(throws: DeskError.self) { try plan(from: .onScene, to: .dispatched) }
        #expect(try plan(from: .dispatched, to: .dispatched) == nil, "the same stage again changes nothing")
        let first = try #require(try plan(from: nil, to: .dispatched))
        #expect(first.row == DispatchRow(responder: "van", stage: .dispatched, timeMs: Self.now.epochMilliseconds))
        #expect(first.command == .dispatch)
        #expect(first.audit.action == .dispatch && first.audit.reason == "van dispatched")
        #expect(first.audit.user == "asha" && first.audit.device == "bus" && first.audit.alert == "a")
        #expect(try plan(from: .dispatched, to: .onScene)?.command == .arrive)
        #expect(try plan(from: .onScene, to: .stoodDown)?.command == nil)
        let cleared = try #require(try plan(.cleared, from: nil, to: .dispatched))
        #expect(cleared.command == nil, "a cleared alert's box is not told of a dispatch")
        #expect(cleared.audit.reason == "van dispatched")
    }

    @Test("a session: dead after idle or lifetime (and the sweep's bounds), touched only after touchAfter")
    func session() {
        let session = StoredSession(idHash: "h", user: "asha", csrf: "c", startedMs: 1_000, lastUsedMs: 5_000)
        func plan(_ now: Int64) -> SessionPlan {
            SessionPlan(session, now: now, idle: 10_000, lifetime: 100_000, touchAfter: 1_000)
        }
        #expect(plan(5_500) == .alive(touch: false))
        #expect(plan(6_000) == .alive(touch: true))
        #expect(plan(14_999) == .alive(touch: true))
        #expect(plan(15_000) == .expired(lastUsedBefore: 5_000, startedBefore: -85_000))
        let busy = StoredSession(idHash: "h", user: "asha", csrf: "c", startedMs: 1_000, lastUsedMs: 100_500)
        #expect(
            SessionPlan(busy, now: 101_000, idle: 10_000, lifetime: 100_000, touchAfter: 1_000)
                == .expired(lastUsedBefore: 91_000, startedBefore: 1_000))
    }

    @Test("an answer waits for an open alert or an unacknowledged command not yet expired")
    func answer() {
        func has(_ open: Bool, _ expiry: Int64?) -> Bool {
            AnswerPlan.hasAnswer(.init(openAlert: open, latestUnackedExpiryMs: expiry), nowMs: 1_000)
        }
        #expect(has(true, nil))
        #expect(has(false, 1_001))
        #expect(!has(false, 1_000))
        #expect(!has(false, nil))
    }

    @Test("the reissue of every command kind: the dispatch stage's command too, unless the alert is cleared")
    func reissueDispatch() {
        typealias Alert = CommandReissue.AlertRow
        typealias Command = CommandReissue.CommandRow
        let now: Int64 = 1_000_000
        let alerts = [
            Alert(device: "d", alert: "sent", state: .acknowledged, deviceCleared: false, stages: [.dispatched]),
            Alert(device: "d", alert: "open", state: .open, deviceCleared: false, stages: [.stoodDown, .dispatched]),
            Alert(
                device: "d", alert: "scene", state: .acknowledged, deviceCleared: false,
                stages: [.dispatched, .onScene]),
            Alert(device: "d", alert: "down", state: .acknowledged, deviceCleared: false, stages: [.stoodDown]),
            Alert(device: "d", alert: "cleared", state: .cleared, deviceCleared: false, stages: [.onScene]),
            Alert(device: "d", alert: "done", state: .cleared, deviceCleared: true, stages: [.onScene]),
        ]
        let commands = [
            Command(device: "d", alert: "sent", action: .accept, acked: true, expiresMs: now - 1),
            Command(device: "d", alert: "sent", action: .dispatch, acked: false, expiresMs: now),
            Command(device: "d", alert: "scene", action: .accept, acked: true, expiresMs: now - 1),
            // An unexpired dispatch does not stand for the arrive.
            Command(device: "d", alert: "scene", action: .dispatch, acked: false, expiresMs: now + 1),
            Command(device: "d", alert: "down", action: .accept, acked: true, expiresMs: now - 1),
        ]
        let issued = CommandReissue.reissues(alerts: alerts, commands: commands, nowMs: now)
        #expect(
            issued.map { "\($0.alert) \($0.action.rawValue)" } == [
                "sent dispatch", "open dispatch", "scene arrive", "cleared clear",
            ])
    }
}

/// Whether a box is out of coverage.
final class Coverage: Sendable {
    let away = Mutex(false)
}

/// A link that is down while its `coverage` says away: every request fails as a box out of coverage would see it.
final class AwayLink: UplinkTransport {
    struct Offline: Error {}
    let inner: HTTPUplinkTransport
    let coverage: Coverage

    init(_ inner: HTTPUplinkTransport, _ coverage: Coverage) {
        self.inner = inner
        self.coverage = coverage
    }

    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        guard !coverage.away.withLock({ $0 }) else { throw Offline() }
        return try await inner.send(batch, timeout: timeout)
    }

    func shutdown() async throws { try await inner.shutdown() }
}

@Suite("Every command kind is reissued: a dispatch the box missed while away", .timeLimit(.minutes(5)))
struct DispatchReissueTests {
    @Test(
        "dispatched while the box is out of coverage past the command's life: its next request gets a fresh one",
        arguments: StoreKind.all)
    func dispatchWhileAway(kind: StoreKind) async throws {
        let lifetime = Duration.seconds(300)
        let coverage = Coverage()
        try await SkewedBox.with(
            kind, roomAhead: .zero, commandLifetime: lifetime, transport: { http, _ in AwayLink(http, coverage) }
        ) { box in
            let alert = try box.press()
            try await box.drive { box.uplink.alerts.state(of: alert) == .sent }
            try await box.room.accept(device: box.deviceID, alert: alert)
            try await box.drive { box.uplink.alerts.state(of: alert) == .acknowledged }
            let van = DeviceKey.generate().identity
            try await box.room.addDevice(id: van.deviceID, publicKey: van.jwk)
            _ = try await box.room.editDevice(id: van.deviceID, DeviceMetadataEdit(name: "PCR van", responder: true))
            _ = try await box.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try #require(try await box.room.account(name: "asha"))
            // The box goes out of coverage; the van is dispatched; the command's life runs out before it is back.
            coverage.away.withLock { $0 = true }
            try await box.room.dispatch(
                device: box.deviceID, alert: alert, responder: van.deviceID, stage: .dispatched, by: asha)
            box.clock.advance(by: lifetime + .seconds(1))
            coverage.away.withLock { $0 = false }
            try await box.drive(maxEvents: 200) { box.uplink.alerts.state(of: alert) == .dispatched }
            // The box's confirmation of the fresh command shows on the desk's audit of the alert.
            try await box.drive(maxEvents: 200) {
                try await box.room.audit(device: box.deviceID, alert: alert).contains {
                    $0.action == .boxConfirmed && $0.reason.hasPrefix("dispatch confirmed")
                }
            }
            let dispatches = try await box.room.store.commands(device: box.deviceID, alert: alert).filter {
                $0.action == CommandAction.dispatch.rawValue
            }
            #expect(dispatches.count == 2, "the expired dispatch and its reissue: \(dispatches)")
        }
    }
}
