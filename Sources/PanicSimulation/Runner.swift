import ControlRoomDesk
import ControlRoomKit
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDaemon
import PanicSigning
import ServiceLifecycle
import Synchronization

/// One act of a run's timeline: when, on which box, what. Control-room acts (server errors, lost answers) happen
/// to the control room whatever box they name.
struct TimedAct: Sendable {
    var at: Duration
    /// Index of the box in the run (nil for the control room).
    var box: Int?
    var action: BoxAction
}

/// What a person at the terminal can ask of a running simulation.
public enum SimulatorControl: Sendable, Equatable {
    /// Do this now, as a scenario step would.
    case act(BoxAction)
    /// End the run (the outbox drains briefly, then the report).
    case quit
}

/// A simulation that cannot start or go on, with the reason.
public struct SimulationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Commands a person typed, waiting for the runner.
final class ControlQueue: Sendable {
    private let items = Mutex<[SimulatorControl]>([])
    func append(_ control: SimulatorControl) { items.withLock { $0.append(control) } }
    func take() -> [SimulatorControl] {
        items.withLock { items in
            defer { items = [] }
            return items
        }
    }
}

/// The one runner of simulations: boxes on one conductor, a timeline of acts, the operator the simulator plays,
/// the control room watched for arrivals, and the final drain. A scenario is a fleet of one; a fleet is a
/// scenario with many boxes and a generated timeline.
///
/// Driven by one task: not `Sendable`.
final class SimulationRunner {
    /// How the run ends once the timeline is over.
    struct Drain {
        /// Bring every network and receiver back first (the fleet's drain); otherwise leave them as they are.
        var restoreLinks: Bool
        /// How much (virtual or real) time the drain may take.
        var limit: Duration
    }

    let conductor: Conductor
    let boxes: [SimulatedBox]
    let observers: [BoxObserver]
    let client: any ControlRoomClient
    /// The embedded control room's fault switch (nil for an external control room).
    let faults: FaultInjector?
    /// Say what happens, step by step, on the timeline (a scenario does; a fleet prints totals only).
    let narrate: Bool
    let print: @Sendable (String) -> Void
    let controls: ControlQueue?
    /// Called with the virtual time reached, at most once per `progressEvery` of wall time (a fleet prints a
    /// progress line; nil for scenarios).
    var progress: (@Sendable (Duration) async -> Void)?
    var progressEvery: Duration = .seconds(3)
    /// Called at every turn, once the boxes settled and the control room was read (the fleet's rollouts take their
    /// steps and the boxes their restarts); `deadline` says when it next needs a turn without news.
    var tick: (() async throws -> Void)?
    var deadline: (() -> Duration?)?

    private var auto: AutoOperator
    private var steps: ArraySlice<TimedAct>
    /// Letting go after a hold, power coming back after a cut: they happen even after the timeline's end.
    private var followUps: [(at: Duration, box: Int, what: FollowUp)] = []
    private let boxByDevice: [String: Int]
    /// Bursts of control-room faults the timeline asked for.
    private(set) var serverFaults = 0

    private enum FollowUp {
        case release(String)
        case powerBack
    }

    init(
        conductor: Conductor, observers: [BoxObserver], client: any ControlRoomClient, faults: FaultInjector?,
        operator auto: AutoOperator, steps: [TimedAct], controls: ControlQueue?, narrate: Bool,
        print: @escaping @Sendable (String) -> Void
    ) {
        self.conductor = conductor
        boxes = conductor.boxes
        self.observers = observers
        self.client = client
        self.faults = faults
        self.auto = auto
        // Stable by time, then by order given.
        self.steps =
            steps.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            .map(\.element)[...]
        self.controls = controls
        self.narrate = narrate
        self.print = print
        boxByDevice = Dictionary(uniqueKeysWithValues: conductor.boxes.enumerated().map { ($1.deviceID, $0) })
    }

    /// Runs the timeline until `end` (and whatever follows up on it), or until a person quits.
    func run(until end: Duration) async throws {
        let origin = conductor.world.time.origin
        var quit = false
        let wall = ContinuousClock()
        var lastProgress = wall.now
        // Move time to the next thing that happens, whenever every part is waiting.
        while !quit {
            if let progress, lastProgress.duration(to: wall.now) >= progressEvery {
                lastProgress = wall.now
                await progress(conductor.elapsed)
            }
            try await conductor.settle()
            try conductor.checkBoxes()
            try await watchControlRoom()
            try await tick?()
            let now = conductor.elapsed
            let due = auto.due(at: now)
            for item in due {
                guard let box = boxByDevice[item.device] else { continue }
                await operate(item.action, box: box, alert: item.alert)
            }
            if !due.isEmpty { continue }
            let typed = controls?.take() ?? []
            for control in typed {
                switch control {
                case .act(let action): try await apply(TimedAct(at: now, box: 0, action: action))
                case .quit: quit = true
                }
            }
            if !typed.isEmpty { continue }
            if let next = followUps.indices.filter({ followUps[$0].at <= now }).min(by: {
                followUps[$0].at < followUps[$1].at
            }) {
                let followUp = followUps.remove(at: next)
                try await perform(followUp.what, box: followUp.box)
                continue
            }
            if let step = steps.first, step.at <= now {
                steps = steps.dropFirst()
                try await apply(step)
                continue
            }
            if now >= end, followUps.isEmpty { break }
            let candidates = [
                steps.first.map { origin.advanced(by: $0.at) }, auto.next.map { origin.advanced(by: $0) },
                followUps.map(\.at).min().map { origin.advanced(by: $0) }, conductor.nextDeadline,
                deadline?().map { origin.advanced(by: $0) }, origin.advanced(by: end),
            ].compactMap { $0 }.filter { $0 > conductor.now }
            guard let next = candidates.min() else { break }
            await conductor.advance(to: next)
        }
    }

    /// Lets what is still in the outboxes drain, within the limit, so the totals are final.
    func drain(_ drain: Drain) async throws {
        if drain.restoreLinks {
            for unit in boxes {
                unit.setNetwork(up: true)
                unit.gnss.isAvailable = true
            }
        }
        for unit in boxes where !unit.isOn { try unit.powerOn() }
        let until = conductor.now.advanced(by: drain.limit)
        func pending() throws -> Bool {
            try boxes.contains { unit in
                guard unit.network.isUp else { return false }
                if unit.isBusy { return true }
                return (try unit.outbox?.status().undelivered ?? 0) > 0
            }
        }
        while try pending(), conductor.now < until {
            try await conductor.settle()
            try await watchControlRoom()
            try await tick?()
            await conductor.advance(to: min(conductor.nextDeadline ?? until, until))
        }
        try await conductor.settle()
        try await watchControlRoom()
    }

    // MARK: The control room

    private func watchControlRoom() async throws {
        let now = conductor.elapsed
        for alert in try await client.newAlerts() {
            guard let box = boxByDevice[alert.device] else { continue }
            observers[box].arrived(alert, at: now)
            auto.saw(alert, at: now)
        }
    }

    /// The operator accepts or clears the box's open alerts (or just `alert`), as the operator's page does.
    private func operate(_ action: BoxAction.OperatorAction, box: Int, alert: String?) async {
        let device = boxes[box].deviceID
        let targets =
            (try? await client.openAlerts().filter { $0.device == device && (alert == nil || $0.id == alert) }) ?? []
        for target in targets {
            do {
                _ = try await client.act(action, device: device, alert: target.id)
                say(
                    action == .accept
                        ? "operator accepts the \(target.kind): help is on the way"
                        : "operator clears the \(target.kind)")
            } catch {
                print(line(conductor.elapsed, "operator: cannot \(action.rawValue) \(target.kind): \(error)"))
            }
        }
    }

    // MARK: Acts

    private func say(_ text: String) {
        if narrate { print(line(conductor.elapsed, text)) }
    }

    private func apply(_ act: TimedAct) async throws {
        let now = conductor.elapsed
        if let fault = Self.controlRoomFault(act.action) {
            guard let faults else {
                say("\(fault.what) cannot be injected into an external control room: skipped")
                return
            }
            faults.set(fault.fault, count: fault.count)
            serverFaults += 1
            say("control room " + fault.text)
            return
        }
        guard let index = act.box else { return }
        let unit = boxes[index]
        let observer = observers[index]
        switch act.action {
        case .operatorAction(let action):
            await operate(action, box: index, alert: nil)
        case .network(let up):
            unit.setNetwork(up: up)
            observer.note(up ? .networkUp : .networkDown, at: now)
            say(up ? "network up" : "network DOWN")
        case .gnss(let available):
            unit.gnss.isAvailable = available
            say(available ? "GNSS back (out of the tunnel)" : "GNSS lost (tunnel)")
        case .powerCut(let restoreAfter):
            // A box that is off cannot lose its power again.
            guard unit.isOn else { return }
            say("POWER CUT — every process state is lost")
            await unit.powerOff()
            followUps.append((now + restoreAfter, index, .powerBack))
        default:
            // An act on the lines: a box that is off cannot be pressed or cut; its network and sky go on.
            guard unit.isOn else {
                say("\(unit.name) is off: nothing happens")
                return
            }
            try unit.lines.perform(act.action)
            narrateLines(act.action, box: index, at: now)
        }
    }

    /// The fault a control-room act injects, with its words; nil for acts on a box.
    private static func controlRoomFault(
        _ action: BoxAction
    ) -> (fault: FaultInjector.Fault, count: Int, what: String, text: String)? {
        switch action {
        case .serverErrors(let status, let count):
            (.internalError, count, "server errors", "answers the next \(count) requests with HTTP \(status)")
        case .lostResponses(let count):
            (.loseResponse, count, "lost answers", "stores the next \(count) batches and their answers are lost")
        default: nil
        }
    }

    /// The timeline's words and milestones for an act on the lines, and what follows up on it.
    private func narrateLines(_ action: BoxAction, box index: Int, at now: Duration) {
        let unit = boxes[index]
        let observer = observers[index]
        func pressMilestone(_ input: String) {
            if let spec = unit.board.inputs.first(where: { $0.name == input }), spec.role.isButton {
                observer.note(.press, at: now)
            }
        }
        switch action {
        case .press(let input, let hold):
            pressMilestone(input)
            unit.presses += 1
            if let hold {
                say("passenger presses \(input) for \(hold.milliseconds) ms")
                followUps.append((now + hold, index, .release(input)))
            } else {
                say("passenger presses \(input)")
            }
        case .bounce(let input, let edges, let span, let hold):
            pressMilestone(input)
            if let hold {
                say("\(input) bounces (\(edges) edges in \(span.milliseconds) ms) and is held \(hold.milliseconds) ms")
                followUps.append((now + span + hold, index, .release(input)))
            } else {
                say("\(input) bounces (\(edges) edges in \(span.milliseconds) ms)")
            }
        case .release(let input): say("\(input) is let go")
        case .cutWire(let input):
            observer.note(.cut, at: now)
            say("the wire of \(input) is cut")
        case .restore(let input): say("\(input) is back at rest")
        case .stuck(let input): say("\(input) jams pressed")
        case .enclosure(let open): say("the enclosure is \(open ? "opened" : "closed")")
        case .mainPower(let on): say("main power \(on ? "restored" : "lost")")
        case .ignition(let on): say("ignition \(on ? "on" : "off")")
        default: break
        }
    }

    private func perform(_ followUp: FollowUp, box index: Int) async throws {
        let unit = boxes[index]
        switch followUp {
        case .release(let input):
            // A box that lost its power meanwhile keeps the contact as it was (switches keep their position).
            guard unit.isOn else { return }
            try unit.lines.release(input)
        case .powerBack:
            try unit.powerOn()
            observers[index].note(.powerRestored, at: conductor.elapsed)
            say("power back: panicd restarts from disk (emergency open: \(unit.box?.emergencyOpen ?? false))")
        }
    }
}

/// What one box's watcher saw: milestones, the LED, when each alert was stored and when it reached the control
/// room. With `narrate` set, it also writes the box's side of the timeline.
final class BoxObserver: Sendable {
    struct Seen: Sendable {
        var milestones: [(Scenario.Milestone, Duration)] = []
        var indicator: IndicatorState?
        /// Emergency and help alerts, by id: when the box stored them.
        var alertsStored: [String: Duration] = [:]
        /// ... and when they showed up at the control room.
        var alertsArrived: [String: Duration] = [:]
    }

    private let state = Mutex(Seen())
    private let narrate: (@Sendable (String) -> Void)?

    init(narrate: (@Sendable (String) -> Void)?) { self.narrate = narrate }

    var seen: Seen { state.withLock { $0 } }

    func note(_ milestone: Scenario.Milestone, at: Duration) {
        state.withLock { $0.milestones.append((milestone, at)) }
    }

    /// An alert from this box reached the control room.
    func arrived(_ alert: AlertView, at now: Duration) {
        state.withLock {
            $0.milestones.append((.delivered, now))
            if $0.alertsArrived[alert.id] == nil { $0.alertsArrived[alert.id] = now }
        }
        narrate?(
            line(
                now,
                "control room: \(alert.kind) received (\(alert.fixAgeMs.map { "fix \($0 / 1000) s old" } ?? "no fix"))"
            ))
    }

    /// Turns a box event into milestones and timeline lines.
    func observe(_ event: BoxEvent, at now: Duration) {
        switch event {
        case .input(let input):
            narrate?(line(now, "box: \(input.role.rawValue) \(input.name) → \(input.kind.rawValue)"))
            if input.kind == .wireCut { note(.wireCutReported, at: now) }
        case .stored(let id, let kind, let sequence):
            if kind != .position && kind != .health {
                narrate?(line(now, "box: \(kind.rawValue) record #\(sequence) signed and stored"))
            }
            if kind == .emergency || kind == .help {
                note(.stored, at: now)
                state.withLock { if $0.alertsStored[id] == nil { $0.alertsStored[id] = now } }
            }
            if kind == .tamper { note(.tamperReported, at: now) }
        case .held(_, let kind):
            narrate?(line(now, "box: \(kind.rawValue) record held in memory (outbox cannot take it yet)"))
        case .alert(let transition):
            if transition.to == .acknowledged { note(.accepted, at: now) }
            if transition.to == .cleared { note(.cleared, at: now) }
        case .indicator(let state):
            self.state.withLock { $0.indicator = state }
            narrate?(line(now, "box LED: \(describe(state))"))
        case .fault(let fault, let raised):
            narrate?(line(now, raised ? "box FAULT: \(fault)" : "box fault cleared: \(fault)"))
        }
    }
}

/// The LED state in the timeline's words.
func describe(_ state: IndicatorState) -> String {
    switch state {
    case .armed: "armed (heartbeat)"
    case .stored: "STORED (fast blink)"
    case .sent: "SENT (steady)"
    case .helpOnTheWay: "HELP IS ON THE WAY (slow blink)"
    case .helpDispatched: "RESPONDER DISPATCHED (double slow blink)"
    case .helpOnScene: "RESPONDER ON SCENE (long on)"
    case .cleared: "cleared"
    case .fault: "FAULT"
    case .notStoredFull: "NOT STORED, CARD FULL (long + two short flashes)"
    }
}

/// `[hh:mm:ss] text`, with the run's elapsed time.
func line(_ at: Duration, _ text: String) -> String {
    let total = Int(at.components.seconds)
    return String(format: "[%02d:%02d:%02d] ", total / 3600, total / 60 % 60, total % 60) + text
}

/// The embedded reference control room of a run: its database in the run's directory, its key, its fault switch,
/// and its HTTP server (not yet started).
struct EmbeddedControlRoom {
    let room: ControlRoom
    let key: DeviceKey
    let faults = FaultInjector()
    let server: any Service
    let ports: AsyncStream<Int>
    /// The desk account made for this run: its name, password and API token (printed, so a person can log in).
    let operatorName = "sim-operator"
    let operatorPassword: String
    let operatorToken: String

    /// The packages it serves to its boxes (`serve --updates`), when the run has updates.
    let updates: UpdatePackages?

    init(
        directory: String, time: SimulatedTime, port: Int, updates: UpdatePackages? = nil, logger: Logger
    ) async throws {
        self.updates = updates
        key = DeviceKey.generate()
        room = try ControlRoom(
            path: directory + "/controlroom.sqlite", key: key, wallClock: { time.recordNow }, logger: logger)
        operatorPassword = "sim-" + String(UUID().uuidString.lowercased().prefix(13))
        // A throwaway account on a loopback server for one run: bcrypt's lowest cost keeps the start quick.
        operatorToken =
            try await room.addUser(
                name: operatorName, role: .supervisor, password: operatorPassword, token: true, cost: 4)
            ?? ""
        let (ports, sink) = AsyncStream<Int>.makeStream()
        self.ports = ports
        server = ControlRoomServer.application(
            controlRoom: room, host: "127.0.0.1", port: port, faults: faults, updates: updates,
            installDesk: Desk(room: room).installer(updates: updates), logger: logger, onRunning: { sink.yield($0) })
    }

    /// Starts the server in `group` and returns its URL once it listens.
    func start(in group: inout ThrowingTaskGroup<Void, any Error>) async throws -> String {
        let server = server
        group.addTask { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw SimulationError("the control room did not start") }
        return "http://127.0.0.1:\(port)"
    }

    /// How to log in to the run's desk, as printed.
    var login: String { "desk login \(operatorName) / \(operatorPassword), API token \(operatorToken)" }
}
