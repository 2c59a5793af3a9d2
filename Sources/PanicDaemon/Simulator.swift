import ControlRoomKit
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicHardware
import PanicSigning
import PanicSim
import PanicStore
import PanicUplink
import ServiceLifecycle
import Synchronization

/// Runs a scenario against the real daemon parts on the simulated board: simulated lines and GNSS, a real
/// SQLite outbox, the real uplink over HTTP on loopback, and an embedded reference control room whose operator
/// accepts and clears alerts as the scenario says. On the virtual clock hours pass in seconds: time moves on only
/// when every part is waiting for it.
public final class Simulator: Sendable {
    /// One line of the timeline: when, and what happened.
    public struct Entry: Sendable {
        public var at: Duration
        public var text: String
    }

    /// The outcome: every expectation with whether it held, and totals.
    public struct Report: Sendable {
        public var expectations: [(text: String, held: Bool)]
        public var stored: Int64
        public var delivered: Int
        public var undelivered: Int
        public var lost: Int
        public var duplicates: Int
        public var gaps: Int
        public var deliveredByKind: [RecordKind: Int]
        public var finalIndicator: IndicatorState?
        public var passed: Bool { expectations.allSatisfy(\.held) }
    }

    let scenario: Scenario
    let board: BoardDefinition
    let route: Route
    let directory: String
    let logger: Logger
    let print: @Sendable (String) -> Void

    public init(
        scenario: Scenario, directory: String, logger: Logger, print: @escaping @Sendable (String) -> Void
    ) throws {
        self.scenario = scenario
        let loaded = BoardFile.load(path: scenario.board)
        guard let board = loaded.board, loaded.isValid else {
            throw SimulationError(
                "board file \(scenario.board): \(loaded.problems.map(\.description).joined(separator: "; "))")
        }
        self.board = board
        route = try Route.load(path: scenario.route)
        self.directory = directory
        self.logger = logger
        self.print = print
    }

    /// What the conductor has seen so far.
    struct Observations {
        var milestones: [(Scenario.Milestone, Duration)] = []
        var indicator: IndicatorState?
        var seenAtControlRoom: Set<String> = []
        var operatorQueue: [(at: Duration, action: Scenario.OperatorAction, alert: String)] = []
    }

    /// The observations, shared by the conductor and the box watcher.
    final class ObservationLog: Sendable {
        private let state = Mutex(Observations())
        func withLock<T>(_ body: (inout Observations) -> T) -> T { state.withLock { body(&$0) } }
    }

    /// Runs the scenario on the virtual clock and returns the report.
    public func run() async throws -> Report {
        let clock = ManualClock()
        let origin = clock.now
        let start = scenario.start
        let wall: @Sendable () -> Date = {
            start.addingTimeInterval(Double(origin.duration(to: clock.now).milliseconds) / 1000)
        }
        let recordWall: @Sendable () -> RecordTime = {
            RecordTime(epochMilliseconds: Int64(wall().timeIntervalSince1970 * 1000))
        }
        let quiet = Logger(label: "panicbridge.sim.parts", factory: { _ in SwiftLogNoOpLogHandler() })

        let deviceKey = DeviceKey.generate()
        let roomKey = DeviceKey.generate()
        let room = try ControlRoom(
            path: directory + "/controlroom.sqlite", key: roomKey, wallClock: recordWall, logger: quiet)
        let deviceID = deviceKey.identity.deviceID
        try room.addDevice(id: deviceID, publicKey: deviceKey.identity.jwk)
        let faults = FaultInjector()
        let network = NetworkSwitch()
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let server = ControlRoomServer.application(
            controlRoom: room, host: "127.0.0.1", port: 0, faults: faults, logger: quiet,
            onRunning: { portSink.yield($0) })

        let gnss = SimulatedGNSS(drive: RouteDrive(route: route), clock: clock, startDate: start, origin: origin)
        // The conductor feeds the receiver's output itself, one epoch per simulated second up to the clock's now.
        // Each power cycle gets its own feed: a box that is off hears nothing.
        var feed = PushedGNSSSource()
        var lastEpoch = origin.advanced(by: .seconds(-1))
        var lastStop: String?
        func pushEpochs(upTo target: MonotonicInstant? = nil) {
            let target = target ?? clock.now
            while lastEpoch.advanced(by: .seconds(1)) <= target {
                lastEpoch = lastEpoch.advanced(by: .seconds(1))
                feed.push(GNSSChunk(bytes: gnss.epoch(at: lastEpoch), receivedAt: lastEpoch))
                // The timeline follows the bus from stop to stop.
                let stop = gnss.busState(at: lastEpoch).stop
                if let stop, stop != lastStop {
                    self.print(line(origin.duration(to: lastEpoch), "bus at \(stop)"))
                }
                lastStop = stop
            }
        }
        let outputs = SimulatedOutputLines(specs: board.outputs, clock: clock)
        let observations = ObservationLog()

        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var portIterator = ports.makeAsyncIterator()
            guard let port = await portIterator.next() else { throw SimulationError("the control room did not start") }
            let url = "http://127.0.0.1:\(port)"
            print("control room on \(url); device \(deviceID); route \(route.name) (\(route.stops.count) stops)")

            var contacts: [String: Bool] = [:]
            var cycle = 0
            func makeBox() throws -> (PanicBox, SimulatedInputLines) {
                cycle += 1
                feed = PushedGNSSSource()
                let lines = SimulatedInputLines(specs: board.inputs, clock: clock, closed: contacts)
                let outbox = try Outbox(
                    path: directory + "/outbox.sqlite", sealer: RecordSigner(key: deviceKey), logger: quiet)
                let uplink = try Uplink(
                    outbox: outbox, deviceID: deviceID,
                    backends: [
                        .init(
                            name: "control-room", url: url, controlRoomKey: roomKey.identity,
                            requestTimeout: .seconds(5))
                    ],
                    clock: clock, wallClock: recordWall,
                    transport: {
                        SwitchedTransport(HTTPUplinkTransport(baseURL: $0.url, trust: $0.trust), network: network)
                    },
                    seed: UInt64(cycle), logger: quiet)
                let box = try PanicBox(
                    parts: .init(
                        inputs: lines, outputs: outputs, gnss: feed, outbox: outbox, uplink: uplink,
                        statePath: directory + "/engine-state.json"),
                    configuration: .init(), clock: clock, logger: quiet, systemTime: wall)
                return (box, lines)
            }

            var (box, lines) = try makeBox()
            var boxOn = true
            var boxTask = startBox(box, observations: observations, origin: origin, clock: clock)
            let elapsed = { origin.duration(to: clock.now) }
            let end = scenario.duration
            var steps = scenario.steps[...]

            func settle() async {
                pushEpochs()
                await VirtualTime.settle(clock: clock) {
                    box.isBusy || lines.edgeCount != box.inputService.classifiedThrough
                        || box.fixes.chunksDecoded != feed.pushed
                }
            }

            /// Moves the clock to `target`, the receiver's epochs up to it decoded first, so whatever wakes at
            /// `target` sees the fix the bus had then.
            func advance(to target: MonotonicInstant) async {
                guard target > clock.now else { return }
                pushEpochs(upTo: target)
                while boxOn, box.fixes.chunksDecoded != feed.pushed { await Task.yield() }
                clock.advance(to: target)
            }

            func note(_ milestone: Scenario.Milestone) {
                observations.withLock { $0.milestones.append((milestone, elapsed())) }
            }

            func watchControlRoom() throws {
                let alerts = try room.allAlerts().filter { $0.device == deviceID }
                let now = elapsed()
                for alert in alerts {
                    let isNew = observations.withLock { $0.seenAtControlRoom.insert(alert.id).inserted }
                    guard isNew else { continue }
                    note(.delivered)
                    self.print(
                        line(
                            now,
                            "control room: \(alert.kind) received (\(alert.fixAgeMs.map { "fix \($0 / 1000) s old" } ?? "no fix"))"
                        ))
                    if let after = scenario.operatorAcceptAfter, alert.kind != "tamper" {
                        observations.withLock { $0.operatorQueue.append((now + after, .accept, alert.id)) }
                        if let clearAfter = scenario.operatorClearAfter {
                            observations.withLock {
                                $0.operatorQueue.append((now + after + clearAfter, .clear, alert.id))
                            }
                        }
                    }
                }
            }

            func operate(_ action: Scenario.OperatorAction, alert: String?) {
                let targets =
                    (try? room.openAlerts().filter { $0.device == deviceID && (alert == nil || $0.id == alert) }) ?? []
                for target in targets {
                    do {
                        _ =
                            action == .accept
                            ? try room.accept(device: deviceID, alert: target.id)
                            : try room.clear(device: deviceID, alert: target.id)
                        self.print(
                            line(
                                elapsed(),
                                action == .accept
                                    ? "operator accepts the \(target.kind): help is on the way"
                                    : "operator clears the \(target.kind)"
                            ))
                    } catch {
                        self.print(line(elapsed(), "operator: cannot \(action.rawValue) \(target.kind): \(error)"))
                    }
                }
            }

            func apply(_ action: Scenario.Action) async throws {
                let now = elapsed()
                switch action {
                case .press(let input, let hold):
                    try lines.press(input)
                    pressMilestone(input)
                    self.print(line(now, "passenger presses \(input) for \(hold.milliseconds) ms"))
                    try await runFor(hold)
                    try lines.release(input)
                case .bounce(let input, let edges, let span, let hold):
                    // An odd number of edges ends with the contact the other way round: pressed.
                    try lines.bounce(input, edges: edges | 1, over: span)
                    pressMilestone(input)
                    self.print(
                        line(
                            now,
                            "\(input) bounces (\(edges) edges in \(span.milliseconds) ms) and is held \(hold.milliseconds) ms"
                        ))
                    try await runFor(span + hold)
                    try lines.release(input)
                case .cutWire(let input):
                    try lines.cutWire(input)
                    note(.cut)
                    self.print(line(now, "the wire of \(input) is cut"))
                case .restore(let input):
                    let index = try lines.index(of: input)
                    let spec = board.inputs[index]
                    lines.setContact(index, closed: spec.contact == .normallyClosed)
                    self.print(line(now, "\(input) is back at rest"))
                case .stuck(let input):
                    try lines.press(input)
                    self.print(line(now, "\(input) jams pressed"))
                case .enclosure(let open):
                    try open ? lines.openEnclosure() : lines.closeEnclosure()
                    self.print(line(now, "the enclosure is \(open ? "opened" : "closed")"))
                case .mainPower(let on):
                    try on ? lines.restorePower() : lines.losePower()
                    self.print(line(now, "main power \(on ? "restored" : "lost")"))
                case .gnss(let available):
                    gnss.isAvailable = available
                    self.print(line(now, available ? "GNSS back (out of the tunnel)" : "GNSS lost (tunnel)"))
                case .network(let up):
                    network.isUp = up
                    note(up ? .networkUp : .networkDown)
                    self.print(line(now, up ? "network up" : "network DOWN"))
                case .serverErrors(let status, let count):
                    faults.set(.internalError, count: count)
                    self.print(line(now, "control room answers the next \(count) requests with HTTP \(status)"))
                case .operatorAction(let action):
                    operate(action, alert: nil)
                case .powerCut(let restoreAfter):
                    self.print(line(now, "POWER CUT — every process state is lost"))
                    boxTask.cancel()
                    _ = await boxTask.result
                    boxOn = false
                    contacts = Dictionary(
                        uniqueKeysWithValues: zip(board.inputs.map(\.name), (try? lines.contactsClosed()) ?? []))
                    try await runFor(restoreAfter)
                    pushEpochs()
                    (box, lines) = try makeBox()
                    boxOn = true
                    boxTask = startBox(box, observations: observations, origin: origin, clock: clock)
                    note(.powerRestored)
                    self.print(
                        line(elapsed(), "power back: panicd restarts from disk (emergency open: \(box.emergencyOpen))"))
                }
            }

            func pressMilestone(_ input: String) {
                if let spec = board.inputs.first(where: { $0.name == input }), spec.role.isButton { note(.press) }
            }

            /// Lets virtual time run for `duration` (the conductor's own waits inside a step).
            func runFor(_ duration: Duration) async throws {
                let until = clock.now.advanced(by: duration)
                while clock.now < until {
                    if boxOn { await settle() }
                    await advance(to: min(clock.nextDeadline ?? until, until))
                    if boxOn { try watchControlRoom() }
                }
            }

            // The conductor: move time to the next thing that happens, whenever every part is waiting.
            while true {
                await settle()
                try watchControlRoom()
                let now = elapsed()
                let due = observations.withLock { state in
                    let due = state.operatorQueue.filter { $0.at <= now }
                    state.operatorQueue.removeAll { $0.at <= now }
                    return due
                }
                for item in due { operate(item.action, alert: item.alert) }
                if !due.isEmpty { continue }
                if let step = steps.first, step.at <= now {
                    steps = steps.dropFirst()
                    try await apply(step.action)
                    continue
                }
                if now >= end { break }
                let nextOperator = observations.withLock { $0.operatorQueue.map(\.at).min() }
                let candidates = [
                    steps.first.map { origin.advanced(by: $0.at) }, nextOperator.map { origin.advanced(by: $0) },
                    clock.nextDeadline, origin.advanced(by: end),
                ].compactMap { $0 }
                guard let next = candidates.min() else { break }
                await advance(to: next)
            }
            // Let what is still in the outbox drain (when the network is up), so the totals are final.
            let drainUntil = clock.now.advanced(by: .seconds(600))
            while try box.parts.outbox.status().undelivered > 0, clock.now < drainUntil {
                await settle()
                try watchControlRoom()
                await advance(to: clock.nextDeadline ?? drainUntil)
            }
            await settle()
            try watchControlRoom()

            let report = try makeReport(
                room: room, deviceID: deviceID, outbox: box.parts.outbox, observations: observations,
                outputs: outputs)
            boxTask.cancel()
            _ = await boxTask.result
            group.cancelAll()
            return report
        }
    }

    /// Runs a box in a task of its own and turns its events into milestones and timeline lines.
    private func startBox(
        _ box: PanicBox, observations: ObservationLog, origin: MonotonicInstant, clock: ManualClock
    ) -> Task<Void, any Error> {
        let print = self.print
        let events = box.events
        let watcher = Task {
            for await event in events {
                let now = origin.duration(to: clock.now)
                switch event {
                case .input(let input):
                    print(line(now, "box: \(input.role.rawValue) \(input.name) → \(input.kind.rawValue)"))
                    if input.kind == .wireCut {
                        observations.withLock { $0.milestones.append((.wireCutReported, now)) }
                    }
                case .stored(_, let kind, let sequence):
                    if kind != .position && kind != .health {
                        print(line(now, "box: \(kind.rawValue) record #\(sequence) signed and stored"))
                    }
                    if kind == .emergency || kind == .help {
                        observations.withLock { $0.milestones.append((.stored, now)) }
                    }
                    if kind == .tamper { observations.withLock { $0.milestones.append((.tamperReported, now)) } }
                case .held(_, let kind):
                    print(line(now, "box: \(kind.rawValue) record held in memory (outbox cannot take it yet)"))
                case .alert(let transition):
                    if transition.to == .acknowledged {
                        observations.withLock { $0.milestones.append((.accepted, now)) }
                    }
                    if transition.to == .cleared { observations.withLock { $0.milestones.append((.cleared, now)) } }
                case .indicator(let state):
                    observations.withLock { $0.indicator = state }
                    print(line(now, "box LED: \(Self.describe(state))"))
                }
            }
        }
        return Task {
            try await withTaskCancellationHandler {
                try await box.run()
            } onCancel: {
                watcher.cancel()
            }
        }
    }

    static func describe(_ state: IndicatorState) -> String {
        switch state {
        case .armed: "armed (heartbeat)"
        case .stored: "STORED (fast blink)"
        case .sent: "SENT (steady)"
        case .helpOnTheWay: "HELP IS ON THE WAY (slow blink)"
        case .cleared: "cleared"
        case .fault: "FAULT"
        }
    }

    private func makeReport(
        room: ControlRoom, deviceID: String, outbox: Outbox, observations: ObservationLog,
        outputs: SimulatedOutputLines
    ) throws -> Report {
        let status = try outbox.status()
        let delivered = try room.recordCount(device: deviceID)
        let arrivals = try room.arrivalOrder(device: deviceID)
        let gaps = try room.gaps(device: deviceID).reduce(0) { $0 + $1.count }
        var byKind: [RecordKind: Int] = [:]
        for arrival in arrivals { byKind[arrival.kind, default: 0] += 1 }
        let duplicates = arrivals.count - Set(arrivals.map(\.sequence)).count
        let stored = status.lastSequence
        let lost = Int(stored) - delivered - status.undelivered
        let seen = observations.withLock { $0 }
        var results: [(String, Bool)] = []
        for expectation in scenario.expectations {
            switch expectation {
            case .within(let milestone, let within, let after):
                // Every occurrence of `after` must be followed by `milestone` within `within`.
                let references = seen.milestones.filter { $0.0 == after }.map(\.1)
                var held = !references.isEmpty
                var details: [String] = references.isEmpty ? ["no \(after.rawValue)"] : []
                for from in references {
                    if let hit = seen.milestones.first(where: { $0.0 == milestone && $0.1 >= from }) {
                        let took = hit.1 - from
                        held = held && took <= within
                        details.append("took \(Self.seconds(took))")
                    } else {
                        held = false
                        details.append("never happened")
                    }
                }
                results.append(
                    (
                        "\(milestone.rawValue) within \(Self.seconds(within)) of every \(after.rawValue): "
                            + details.joined(separator: ", "), held
                    ))
            case .finalIndicator(let state):
                results.append(
                    (
                        "LED ends as \(state): it is \(seen.indicator?.rawValue ?? "unknown")",
                        seen.indicator?.rawValue == state
                    ))
            case .lost(let count):
                results.append(("lost = \(count): \(lost)", lost == count))
            case .duplicates(let count):
                results.append(("duplicates = \(count): \(duplicates)", duplicates == count))
            case .delivered(let kind, let atLeast):
                let count = byKind[kind, default: 0]
                results.append(("at least \(atLeast) \(kind.rawValue) delivered: \(count)", count >= atLeast))
            }
        }
        _ = outputs
        return Report(
            expectations: results, stored: stored, delivered: delivered, undelivered: status.undelivered, lost: lost,
            duplicates: duplicates, gaps: gaps, deliveredByKind: byKind, finalIndicator: seen.indicator)
    }

    public static func seconds(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        return ms % 1000 == 0 ? "\(ms / 1000) s" : String(format: "%.1f s", Double(ms) / 1000)
    }
}

/// `[hh:mm:ss] text`, with the scenario's elapsed time.
func line(_ at: Duration, _ text: String) -> String {
    let total = Int(at.components.seconds)
    return String(format: "[%02d:%02d:%02d] ", total / 3600, total / 60 % 60, total % 60) + text
}

/// A simulation that cannot start, with the reason.
public struct SimulationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The simulated box's mobile link: when it is down, every request fails at once, as a modem with no signal does.
final class NetworkSwitch: Sendable {
    private let up = Mutex(true)
    var isUp: Bool {
        get { up.withLock { $0 } }
        set { up.withLock { $0 = newValue } }
    }
}

/// A transport that goes through the simulated link.
struct SwitchedTransport: UplinkTransport {
    let base: any UplinkTransport
    let network: NetworkSwitch

    init(_ base: any UplinkTransport, network: NetworkSwitch) {
        self.base = base
        self.network = network
    }

    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        guard network.isUp else { throw UplinkTransportError(description: "network unreachable (simulated outage)") }
        return try await base.send(batch, timeout: timeout)
    }

    func shutdown() async throws { try await base.shutdown() }
}
