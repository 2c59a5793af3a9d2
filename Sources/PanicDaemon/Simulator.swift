import ControlRoomKit
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicHardware
import PanicLinux
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
        /// Time the run covered, the final drain included.
        public var simulated: Duration
        public var passed: Bool { expectations.allSatisfy(\.held) }
    }

    /// What else a run can do besides the default (virtual clock, embedded control room on a free port).
    public struct Options: Sendable {
        /// Where the box sends its records.
        public enum ControlRoomChoice: Sendable {
            /// The embedded reference control room on loopback, on `port` (0 picks a free one).
            case embedded(port: Int)
            /// An external control room at `url` (`controlroom serve`, or any server with its API); the device key
            /// must be registered there. Its command key is fetched from `GET /v1/identity` when not given.
            case external(url: String, controlRoomKey: DeviceIdentity?, deviceKey: DeviceKey)
        }

        public var pace: SimulationPace
        public var controlRoom: ControlRoomChoice
        /// Expose the receiver's NMEA on a pseudo-terminal and link this path to it (for gpsd or any reader).
        public var nmeaLink: String?

        public init(
            pace: SimulationPace = .virtual, controlRoom: ControlRoomChoice = .embedded(port: 0),
            nmeaLink: String? = nil
        ) {
            self.pace = pace
            self.controlRoom = controlRoom
            self.nmeaLink = nmeaLink
        }
    }

    let scenario: Scenario
    /// The board the box is wired as (from the scenario's board file).
    public let board: BoardDefinition
    let route: Route
    let directory: String
    let options: Options
    let logger: Logger
    let print: @Sendable (String) -> Void

    public init(
        scenario: Scenario, directory: String, options: Options = .init(), logger: Logger,
        print: @escaping @Sendable (String) -> Void
    ) throws {
        self.scenario = scenario
        do { board = try BoardFile.loadValid(path: scenario.board) } catch { throw SimulationError(error.description) }
        route = try Route.load(path: scenario.route)
        self.directory = directory
        self.options = options
        self.logger = logger
        self.print = print
    }

    /// What the conductor has seen so far.
    struct Observations {
        var milestones: [(Scenario.Milestone, Duration)] = []
        var indicator: IndicatorState?
    }

    /// The observations, shared by the conductor and the box watcher.
    final class ObservationLog: Sendable {
        private let state = Mutex(Observations())
        func withLock<T>(_ body: (inout Observations) -> T) -> T { state.withLock { body(&$0) } }
        func note(_ milestone: Scenario.Milestone, at: Duration) { withLock { $0.milestones.append((milestone, at)) } }
    }

    /// Commands a person typed, waiting for the conductor.
    final class ControlQueue: Sendable {
        private let items = Mutex<[SimulatorControl]>([])
        func append(_ control: SimulatorControl) { items.withLock { $0.append(control) } }
        func take() -> [SimulatorControl] {
            items.withLock { items in
                defer { items = [] }; return items
            }
        }
    }

    /// Runs the scenario and returns the report. `controls` are commands a person types while it runs (real
    /// time): the run ends on `.quit` or when they end.
    public func run(controls typed: AsyncStream<SimulatorControl>? = nil) async throws -> Report {
        let manual = options.pace == .virtual ? ManualClock() : nil
        let clock: any MonotonicClock = manual ?? SystemMonotonicClock()
        // In real time the box lives now, its receiver's epochs on whole UTC seconds as a real one's are; on the
        // virtual clock the scenario says when.
        let wallNow = Date()
        let fraction = wallNow.timeIntervalSince1970 - wallNow.timeIntervalSince1970.rounded(.down)
        let origin = manual == nil ? clock.now.advanced(by: .milliseconds(-Int64(fraction * 1000))) : clock.now
        let start = manual == nil ? wallNow.addingTimeInterval(-fraction) : scenario.start
        let time = SimulatedTime(clock: clock, origin: origin, start: start)
        let quiet = Logger(label: "panicbridge.sim.parts", factory: { _ in SwiftLogNoOpLogHandler() })

        let deviceKey: DeviceKey
        let faults = FaultInjector()
        let desk: any ControlRoomDesk
        let roomIdentity: DeviceIdentity
        let url: String
        var server: (any Service)?
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        switch options.controlRoom {
        case .embedded(let port):
            deviceKey = DeviceKey.generate()
            let roomKey = DeviceKey.generate()
            let room = try ControlRoom(
                path: directory + "/controlroom.sqlite", key: roomKey, wallClock: { time.recordNow }, logger: quiet)
            try room.addDevice(id: deviceKey.identity.deviceID, publicKey: deviceKey.identity.jwk)
            server = ControlRoomServer.application(
                controlRoom: room, host: "127.0.0.1", port: port, faults: faults, logger: quiet,
                onRunning: { portSink.yield($0) })
            desk = EmbeddedDesk(room: room)
            roomIdentity = roomKey.identity
            url = ""
        case .external(let external, let pinned, let key):
            deviceKey = key
            let remote = RemoteDesk(baseURL: external)
            desk = remote
            if let pinned { roomIdentity = pinned } else { roomIdentity = try await remote.identity() }
            url = remote.baseURL
            if pinned == nil {
                print("control room key fetched from \(url)/v1/identity (pin it with --controlroom-key)")
            }
        }
        let deviceID = deviceKey.identity.deviceID
        let observations = ObservationLog()
        let controls = ControlQueue()
        let print = self.print

        return try await withThrowingTaskGroup(of: Void.self) { group in
            var url = url
            if let server {
                group.addTask { try await server.run() }
                var portIterator = ports.makeAsyncIterator()
                guard let port = await portIterator.next() else {
                    throw SimulationError("the control room did not start")
                }
                url = "http://127.0.0.1:\(port)"
                print("control room on \(url) (operator page: \(url)/); device \(deviceID)")
            } else {
                print("external control room \(url); device \(deviceID)")
            }
            print(
                "route \(route.name) (\(route.stops.count) stops); "
                    + (manual == nil ? "real time" : "virtual clock"))

            let world = SimulationWorld(
                time: time, controlRoomURL: url, controlRoomKey: roomIdentity, partsLogger: quiet)
            let conductor = Conductor(world: world, manual: manual)
            if let stream = typed {
                let wake = conductor.waker
                group.addTask {
                    for await control in stream {
                        controls.append(control)
                        wake()
                    }
                    controls.append(.quit)
                    wake()
                }
            }
            let gnss = SimulatedGNSS(drive: RouteDrive(route: route), clock: clock, startDate: start, origin: origin)
            let unit = try SimulatedBox(
                name: "box", key: deviceKey, board: board, directory: directory, world: world, gnss: gnss, seed: 0,
                onEvent: { event, at in Self.observe(event, at: at, observations: observations, print: print) })
            conductor.boxes = [unit]
            var lastStop: String?
            var pty: PseudoTerminal?
            if let link = options.nmeaLink {
                let terminal = try PseudoTerminal(link: link)
                pty = terminal
                print("receiver NMEA on \(terminal.slavePath), linked from \(link)")
            }
            defer { pty?.close() }
            unit.onEpoch = { instant, bytes in
                pty?.offer(bytes)
                // The timeline follows the bus from stop to stop.
                let stop = gnss.busState(at: instant).stop
                if let stop, stop != lastStop { print(line(origin.duration(to: instant), "bus at \(stop)")) }
                lastStop = stop
            }
            try unit.powerOn()

            var auto = AutoOperator(
                acceptAfter: scenario.operatorAcceptAfter, clearAfter: scenario.operatorClearAfter)
            let network = unit.network

            func note(_ milestone: Scenario.Milestone) { observations.note(milestone, at: conductor.elapsed) }

            func watchControlRoom() async throws {
                let now = conductor.elapsed
                for alert in try await desk.newAlerts() where alert.device == deviceID {
                    note(.delivered)
                    print(
                        line(
                            now,
                            "control room: \(alert.kind) received (\(alert.fixAgeMs.map { "fix \($0 / 1000) s old" } ?? "no fix"))"
                        ))
                    auto.saw(alert, at: now)
                }
            }

            func operate(_ action: Scenario.OperatorAction, alert: String?) async {
                let targets =
                    (try? await desk.openAlerts().filter { $0.device == deviceID && (alert == nil || $0.id == alert) })
                    ?? []
                for target in targets {
                    do {
                        _ = try await desk.act(action, device: deviceID, alert: target.id)
                        print(
                            line(
                                conductor.elapsed,
                                action == .accept
                                    ? "operator accepts the \(target.kind): help is on the way"
                                    : "operator clears the \(target.kind)"
                            ))
                    } catch {
                        print(line(conductor.elapsed, "operator: cannot \(action.rawValue) \(target.kind): \(error)"))
                    }
                }
            }

            /// Lets time run for `duration` inside a step (a button held down), watching the control room.
            func runFor(_ duration: Duration) async throws {
                try await conductor.run(for: duration) { if unit.isOn { try await watchControlRoom() } }
            }

            func pressMilestone(_ input: String) {
                if let spec = board.inputs.first(where: { $0.name == input }), spec.role.isButton { note(.press) }
            }

            func apply(_ action: Scenario.Action) async throws {
                let now = conductor.elapsed
                let lines = unit.lines
                switch action {
                case .press(let input, let hold):
                    try lines.press(input)
                    pressMilestone(input)
                    unit.presses += 1
                    print(line(now, "passenger presses \(input) for \(hold.milliseconds) ms"))
                    try await runFor(hold)
                    try unit.lines.release(input)
                case .bounce(let input, let edges, let span, let hold):
                    // An odd number of edges ends with the contact the other way round: pressed.
                    try lines.bounce(input, edges: edges | 1, over: span)
                    pressMilestone(input)
                    print(
                        line(
                            now,
                            "\(input) bounces (\(edges) edges in \(span.milliseconds) ms) and is held \(hold.milliseconds) ms"
                        ))
                    try await runFor(span + hold)
                    try unit.lines.release(input)
                case .cutWire(let input):
                    try lines.cutWire(input)
                    note(.cut)
                    print(line(now, "the wire of \(input) is cut"))
                case .restore(let input):
                    let index = try lines.index(of: input)
                    lines.setContact(index, closed: board.inputs[index].contact == .normallyClosed)
                    print(line(now, "\(input) is back at rest"))
                case .stuck(let input):
                    try lines.press(input)
                    print(line(now, "\(input) jams pressed"))
                case .enclosure(let open):
                    try open ? lines.openEnclosure() : lines.closeEnclosure()
                    print(line(now, "the enclosure is \(open ? "opened" : "closed")"))
                case .mainPower(let on):
                    try on ? lines.restorePower() : lines.losePower()
                    print(line(now, "main power \(on ? "restored" : "lost")"))
                case .gnss(let available):
                    gnss.isAvailable = available
                    print(line(now, available ? "GNSS back (out of the tunnel)" : "GNSS lost (tunnel)"))
                case .network(let up):
                    unit.setNetwork(up: up)
                    note(up ? .networkUp : .networkDown)
                    print(line(now, up ? "network up" : "network DOWN"))
                case .serverErrors(let status, let count):
                    guard server != nil else {
                        print(line(now, "server errors cannot be injected into an external control room: skipped"))
                        return
                    }
                    faults.set(.internalError, count: count)
                    print(line(now, "control room answers the next \(count) requests with HTTP \(status)"))
                case .operatorAction(let action):
                    await operate(action, alert: nil)
                case .powerCut(let restoreAfter):
                    print(line(now, "POWER CUT — every process state is lost"))
                    await unit.powerOff()
                    try await runFor(restoreAfter)
                    try unit.powerOn()
                    note(.powerRestored)
                    print(
                        line(
                            conductor.elapsed,
                            "power back: panicd restarts from disk (emergency open: \(unit.box?.emergencyOpen ?? false))"
                        ))
                }
            }

            let end = scenario.duration
            var steps = scenario.steps[...]
            var quit = false
            // The conductor: move time to the next thing that happens, whenever every part is waiting.
            while !quit {
                await conductor.settle()
                try conductor.checkBoxes()
                try await watchControlRoom()
                let now = conductor.elapsed
                let due = auto.due(at: now)
                for item in due { await operate(item.action, alert: item.alert) }
                if !due.isEmpty { continue }
                let typed = controls.take()
                for control in typed {
                    switch control {
                    case .act(let action): try await apply(action)
                    case .quit: quit = true
                    }
                }
                if !typed.isEmpty { continue }
                if let step = steps.first, step.at <= now {
                    steps = steps.dropFirst()
                    try await apply(step.action)
                    continue
                }
                if now >= end { break }
                let candidates = [
                    steps.first.map { origin.advanced(by: $0.at) }, auto.next.map { origin.advanced(by: $0) },
                    conductor.nextDeadline, origin.advanced(by: end),
                ].compactMap { $0 }
                guard let next = candidates.min() else { break }
                await conductor.advance(to: next)
            }
            // Let what is still in the outbox drain (when the network is up), so the totals are final.
            let drainUntil = conductor.now.advanced(by: manual == nil ? .seconds(15) : .seconds(600))
            if !unit.isOn { try unit.powerOn() }
            while network.isUp, try unit.isBusy || (unit.outbox?.status().undelivered ?? 0) > 0,
                conductor.now < drainUntil
            {
                await conductor.settle()
                try await watchControlRoom()
                await conductor.advance(to: min(conductor.nextDeadline ?? drainUntil, drainUntil))
            }
            await conductor.settle()
            try await watchControlRoom()

            let report = try await makeReport(
                desk: desk, deviceID: deviceID, unit: unit, observations: observations)
            await unit.shutDown()
            group.cancelAll()
            return report
        }
    }

    /// Turns a box event into milestones and timeline lines.
    private static func observe(
        _ event: BoxEvent, at now: Duration, observations: ObservationLog, print: @Sendable (String) -> Void
    ) {
        switch event {
        case .input(let input):
            print(line(now, "box: \(input.role.rawValue) \(input.name) → \(input.kind.rawValue)"))
            if input.kind == .wireCut { observations.note(.wireCutReported, at: now) }
        case .stored(_, let kind, let sequence):
            if kind != .position && kind != .health {
                print(line(now, "box: \(kind.rawValue) record #\(sequence) signed and stored"))
            }
            if kind == .emergency || kind == .help { observations.note(.stored, at: now) }
            if kind == .tamper { observations.note(.tamperReported, at: now) }
        case .held(_, let kind):
            print(line(now, "box: \(kind.rawValue) record held in memory (outbox cannot take it yet)"))
        case .alert(let transition):
            if transition.to == .acknowledged { observations.note(.accepted, at: now) }
            if transition.to == .cleared { observations.note(.cleared, at: now) }
        case .indicator(let state):
            observations.withLock { $0.indicator = state }
            print(line(now, "box LED: \(describe(state))"))
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
        desk: any ControlRoomDesk, deviceID: String, unit: SimulatedBox, observations: ObservationLog
    ) async throws -> Report {
        guard let status = try unit.outbox?.status() else { throw SimulationError("the box is off at the end") }
        let summary = try await desk.summary(device: deviceID)
        let delivered = summary.records
        let gaps = summary.gaps
        let byKind = summary.byKind
        let duplicates = summary.duplicates
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
        return Report(
            expectations: results, stored: stored, delivered: delivered, undelivered: status.undelivered, lost: lost,
            duplicates: duplicates, gaps: gaps, deliveredByKind: byKind, finalIndicator: seen.indicator,
            simulated: unit.world.time.elapsed)
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

/// What a person at the terminal can ask of a running simulation.
public enum SimulatorControl: Sendable, Equatable {
    /// Do this now, as a scenario step would.
    case act(Scenario.Action)
    /// End the run (the outbox drains briefly, then the report).
    case quit
}

/// A simulation that cannot start, with the reason.
public struct SimulationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
