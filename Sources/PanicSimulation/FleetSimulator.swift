import ControlRoomKit
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDaemon
import PanicSigning
import PanicSim

/// A scenario a fleet runs on top of its schedule.
public enum FleetScenario: String, Sendable, CaseIterable {
    /// A configuration rollout, a good update and a broken one, in stages from the control room (`FleetRollout`).
    case rollout
}

/// Runs a fleet of simulated boxes against one embedded control room on one virtual clock: each box has its own
/// key, outbox, route position, and a seeded schedule of presses and network outages. At the end every box's
/// network comes back, the outboxes drain, and the totals say whether anything was lost or stored twice.
public final class FleetSimulator: Sendable {
    /// What to run.
    public struct Configuration: Sendable {
        /// How many boxes.
        public var devices: Int
        /// How long the schedule runs (the drain comes after it).
        public var duration: Duration
        /// Seeds the schedule of presses and outages (the same seed gives the same schedule).
        public var seed: UInt64
        /// The board every box is wired as.
        public var board: String
        /// The routes the buses drive, dealt out in turn, each bus starting at its own point along its route.
        public var routes: [String]
        /// Wall time when the run starts.
        public var start: Date
        /// The operator accepts each alert this long after it shows up at the control room.
        public var operatorAcceptAfter: Duration
        /// ... and clears it this long after accepting it, so the box can raise the next one.
        public var operatorClearAfter: Duration
        /// An alert is late when it spent more than this much network-up time between being stored on the box
        /// and arriving at the control room.
        public var lateAfter: Duration
        /// How much virtual time the final drain may take.
        public var drainLimit: Duration
        /// A scenario on top of the schedule (nil: the schedule alone).
        public var scenario: FleetScenario?

        public init(
            devices: Int, duration: Duration, seed: UInt64, board: String = "boards/sim.yaml",
            routes: [String] = ["sim/routes/jaipur-jctsl-3a.csv", "sim/routes/indore-aictsl-ibus-5438.csv"],
            start: Date = Date(timeIntervalSince1970: 1_795_422_600),
            operatorAcceptAfter: Duration = .seconds(4), operatorClearAfter: Duration = .seconds(20),
            lateAfter: Duration = .seconds(5), drainLimit: Duration = .seconds(600), scenario: FleetScenario? = nil
        ) {
            self.scenario = scenario
            self.devices = devices
            self.duration = duration
            self.seed = seed
            self.board = board
            self.routes = routes
            self.start = start
            self.operatorAcceptAfter = operatorAcceptAfter
            self.operatorClearAfter = operatorClearAfter
            self.lateAfter = lateAfter
            self.drainLimit = drainLimit
        }
    }

    /// One box's figures.
    public struct DeviceReport: Sendable {
        public var name: String
        public var route: String
        public var presses: Int
        public var outages: Int
        public var powerCuts: Int
        public var stored: Int64
        public var delivered: Int
        public var undelivered: Int
        public var lost: Int
        public var duplicates: Int
        public var resent: Int
        public var rejected: Int
        public var gaps: Int
    }

    /// The fleet's totals.
    public struct Report: Sendable {
        public var devices: [DeviceReport]
        /// Records signed and stored in the outboxes (the sum of their last sequence numbers).
        public var stored: Int64
        /// Records the control room holds exactly as a box committed them (same sequence, same envelope hash).
        public var delivered: Int
        /// Records still waiting in an outbox after the drain.
        public var undelivered: Int
        /// Records committed on a box that the control room does not hold (by sequence and envelope hash) although
        /// the box counts them delivered: refused or vanished.
        public var lost: Int
        /// Records the control room stored more than once under the same sequence number.
        public var duplicates: Int
        /// Records sent again and answered `duplicate` (harmless resends; the store keeps one copy).
        public var resent: Int
        /// Records the control room refused.
        public var rejected: Int
        /// Sequence numbers missing at the control room below the highest one it has.
        public var gaps: Int
        /// Alerts (emergency, help) stored on the boxes.
        public var alertsStored: Int
        /// Of those, how many reached the control room.
        public var alertsDelivered: Int
        /// Alerts that took more than `lateAfter` of network-up time to arrive.
        public var late: Int
        /// The longest network-up time any alert waited.
        public var longestWait: Duration
        /// The longest time any alert took from being stored to arriving, outages included.
        public var longestDelivery: Duration
        /// Virtual time simulated, drain included.
        public var simulated: Duration
        public var presses: Int
        public var outages: Int
        public var powerCuts: Int
        /// Bursts of server errors and of lost answers the control room was told to produce.
        public var serverFaults: Int
        /// Requests the control room actually failed or answered into the void.
        public var faultsInjected: Int
        /// The rollout scenario's stages as they settled, its checks, and its audit lines (empty without it).
        public var rolloutStages: [String] = []
        public var rolloutChecks: [(String, Bool)] = []
        public var rolloutAudit: [String] = []
        /// Whether nothing was lost, stored twice, refused, missing or left behind (and the scenario's checks held).
        public var passed: Bool {
            lost == 0 && duplicates == 0 && rejected == 0 && gaps == 0 && undelivered == 0
                && alertsDelivered == alertsStored && rolloutChecks.allSatisfy(\.1)
        }
    }

    let configuration: Configuration
    let board: BoardDefinition
    let routes: [Route]
    let directory: String
    let print: @Sendable (String) -> Void

    public init(configuration: Configuration, directory: String, print: @escaping @Sendable (String) -> Void) throws {
        guard configuration.devices > 0 else { throw SimulationError("a fleet needs at least one device") }
        guard configuration.duration > .zero else { throw SimulationError("the duration must be positive") }
        guard !configuration.routes.isEmpty else { throw SimulationError("a fleet needs at least one route") }
        var configuration = configuration
        if configuration.scenario == .rollout {
            // Three rollouts of three stages, the last one waiting out its deadline, need their time.
            configuration.duration = max(configuration.duration, FleetRollout.minimumDuration)
        }
        self.configuration = configuration
        do { board = try BoardFile.loadValid(path: configuration.board) } catch {
            throw SimulationError(error.description)
        }
        routes = try configuration.routes.map { try Route.load(path: $0) }
        self.directory = directory
        self.print = print
    }

    // MARK: Schedule

    /// The seeded schedule: for each box, presses of its buttons (held 800 ms), network outages that do not
    /// overlap, now and then a power cut (one box in four) and a tunnel (one in three); for the control room, a
    /// burst of server errors and of lost answers every few minutes. Everything starts within the duration
    /// (an outage may run past it; the drain ends it).
    static func schedule(devices: Int, duration: Duration, seed: UInt64, board: BoardDefinition) -> [TimedAct] {
        var random = SplitMix64(seed: seed)
        let seconds = max(Int(duration.components.seconds), 10)
        let emergencyButtons = board.inputs.filter { $0.role == .emergency }.map(\.name)
        let helpButtons = board.inputs.filter { $0.role == .help }.map(\.name)
        func moment() -> Duration {
            .milliseconds(Int64.random(in: 2_000...Int64(seconds - 2) * 1000, using: &random))
        }
        var steps: [TimedAct] = []
        for device in 0..<devices {
            // About one press a minute, at least one; seven in ten are emergencies.
            let presses = max(1, seconds / 60) + Int.random(in: 0...1, using: &random)
            for _ in 0..<presses {
                let at = moment()
                let emergency = Int.random(in: 0..<10, using: &random) < 7 || helpButtons.isEmpty
                let buttons = emergency ? emergencyButtons : helpButtons
                guard let button = buttons.randomElement(using: &random) else { continue }
                steps.append(TimedAct(at: at, box: device, action: .press(input: button, hold: .milliseconds(800))))
            }
            // Outages of 3 to 40 s, 5 to 60 s apart.
            var at = Duration.zero
            while true {
                at += .milliseconds(Int64.random(in: 5_000...60_000, using: &random))
                guard at < duration else { break }
                let length = Duration.milliseconds(Int64.random(in: 3_000...40_000, using: &random))
                steps.append(TimedAct(at: at, box: device, action: .network(up: false)))
                steps.append(TimedAct(at: at + length, box: device, action: .network(up: true)))
                at += length
            }
            if Int.random(in: 0..<4, using: &random) == 0 {
                let restore = Duration.milliseconds(Int64.random(in: 2_000...30_000, using: &random))
                steps.append(TimedAct(at: moment(), box: device, action: .powerCut(restoreAfter: restore)))
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                let at = moment()
                let length = Duration.milliseconds(Int64.random(in: 5_000...90_000, using: &random))
                steps.append(TimedAct(at: at, box: device, action: .gnss(available: false)))
                steps.append(TimedAct(at: at + length, box: device, action: .gnss(available: true)))
            }
        }
        // The control room has a bad moment every three minutes or so, at least once per run.
        for _ in 0..<max(1, seconds / 180) {
            let errors = Int.random(in: 1...max(2, devices / 2), using: &random)
            steps.append(TimedAct(at: moment(), box: nil, action: .serverErrors(status: 500, count: errors)))
            let lost = Int.random(in: 1...max(2, devices / 2), using: &random)
            steps.append(TimedAct(at: moment(), box: nil, action: .lostResponses(count: lost)))
        }
        // Stable by time, then by order of making: the same seed gives the same order.
        return steps.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }

    // MARK: Run

    /// `h:mm:ss` of virtual time.
    static func clockText(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        return String(format: "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    /// Runs the fleet on the virtual clock and returns the totals.
    public func run() async throws -> Report {
        let configuration = configuration
        let manual = ManualClock()
        let origin = manual.now
        let start = configuration.start
        let time = SimulatedTime(clock: manual, origin: origin, start: start)
        let quiet = Logger(label: "panicbridge.sim.fleet", factory: { _ in SwiftLogNoOpLogHandler() })
        let rolloutScenario = configuration.scenario == .rollout
        let embedded = try await EmbeddedControlRoom(
            directory: directory, time: time, port: 0,
            updates: rolloutScenario ? UpdatePackages(directory: directory + "/updates") : nil, logger: quiet)
        let room = embedded.room
        let client = EmbeddedControlRoomClient(room: room)
        let steps = Self.schedule(
            devices: configuration.devices, duration: configuration.duration, seed: configuration.seed, board: board)

        return try await withThrowingTaskGroup(of: Void.self) { group in
            let url = try await embedded.start(in: &group)
            print(
                "control room on \(url); \(configuration.devices) boxes on \(routes.map(\.name).joined(separator: ", ")); "
                    + "\(steps.count) scheduled steps (seed \(configuration.seed))")
            let world = SimulationWorld(
                time: time, controlRoomURL: url, controlRoomKey: embedded.key.identity, partsLogger: quiet)
            let conductor = Conductor(world: world, manual: manual)

            // Each bus starts at its own point along its route: spread evenly over the there-and-back of the route.
            var routeNames: [String] = []
            var observers: [BoxObserver] = []
            let names = configuration.routes.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
            let perRoute = (configuration.devices + routes.count - 1) / routes.count
            for index in 0..<configuration.devices {
                let route = routes[index % routes.count]
                let drive = RouteDrive(route: route)
                let slot = index / routes.count
                let offset = Duration.milliseconds(2 * drive.oneWay.milliseconds * Int64(slot) / Int64(perRoute))
                let gnss = SimulatedGNSS(
                    drive: drive, clock: manual,
                    startDate: start.addingTimeInterval(-Double(offset.milliseconds) / 1000),
                    origin: origin.advanced(by: .zero - offset))
                let key = DeviceKey.generate()
                try await room.addDevice(id: key.identity.deviceID, publicKey: key.identity.jwk)
                let name = String(format: "bus-%03d", index + 1)
                let observer = BoxObserver(narrate: nil)
                observers.append(observer)
                let unit = try SimulatedBox(
                    name: name, key: key, board: board, directory: directory + "/" + name, world: world, gnss: gnss,
                    seed: configuration.seed &+ UInt64(index + 1) &* 1_000,
                    onEvent: { event, at in observer.observe(event, at: at) })
                if rolloutScenario {
                    try await room.setGroup(device: key.identity.deviceID, group: FleetRollout.group)
                    unit.management = try BoxManagement(
                        deviceID: key.identity.deviceID, directory: directory + "/" + name, controlRoomURL: url,
                        controlRoomKey: embedded.key.identity, group: FleetRollout.group,
                        software: FleetRollout.oldVersion, broken: [FleetRollout.brokenVersion],
                        healthTimeout: FleetRollout.agentHealthTimeout)
                }
                conductor.boxes.append(unit)
                routeNames.append("\(names[index % routes.count]) +\(offset.components.seconds) s")
                try unit.powerOn()
            }
            let runner = SimulationRunner(
                conductor: conductor, observers: observers, client: client, faults: embedded.faults,
                operator: AutoOperator(
                    acceptAfter: configuration.operatorAcceptAfter, clearAfter: configuration.operatorClearAfter),
                steps: steps, controls: nil, narrate: false, print: print)
            // A line every few seconds of wall time, so a long fleet run shows it is moving.
            let total = configuration.duration
            runner.progress = { [print] reached in
                let delivered = ((try? await room.devices()) ?? []).reduce(0) { $0 + $1.records }
                print(
                    "progress: \(Self.clockText(reached)) of \(Self.clockText(total)) simulated, "
                        + "\(delivered) records delivered so far")
            }
            let rollout =
                try embedded.updates.map { packages in
                    try FleetRollout(
                        room: room, packages: packages, boxes: conductor.boxes, client: client,
                        startMs: time.recordNow.epochMilliseconds, directory: directory, print: print)
                }
            if let rollout {
                let boxes = conductor.boxes
                runner.tick = {
                    for unit in boxes where unit.isOn {
                        guard let management = unit.management else { continue }
                        // The daemon's exit 75 (a configuration taken up or reverted): systemd starts it again.
                        if unit.restartRequest.requested != nil { try await unit.restart() }
                        // The root agent's turn: a spooled update installed, a new version's trial decided.
                        if management.installSpooled(now: time.recordNow, elapsed: time.elapsed) {
                            try await unit.restart()
                        }
                        if management.checkTrial(status: unit.statusBoard?.snapshot(), elapsed: time.elapsed) {
                            try await unit.restart()
                        }
                    }
                    try await rollout.step(elapsed: time.elapsed)
                }
                runner.deadline = {
                    ([rollout.nextDeadline(elapsed: time.elapsed)] + boxes.map { $0.management?.trialEnds })
                        .compactMap { $0 }.min()
                }
            }
            try await runner.run(until: configuration.duration)
            // The scenario's rollouts take the time they take: a few more rounds while one still runs.
            var extra = 0
            while let rollout, !rollout.isOver, extra < 6 {
                extra += 1
                try await runner.run(until: conductor.elapsed + .seconds(600))
            }
            // The drain: every network and every receiver comes back; let the outboxes empty, within a bound.
            try await runner.drain(.init(restoreLinks: true, limit: configuration.drainLimit))

            var report = try await makeReport(
                client: client, boxes: conductor.boxes, observers: observers, routeNames: routeNames,
                simulated: conductor.elapsed, serverFaults: runner.serverFaults,
                faultsInjected: embedded.faults.injected)
            if let rollout {
                report.rolloutStages = rollout.lines.map(\.text)
                report.rolloutChecks = try await rollout.expectations()
                report.rolloutAudit = try await rollout.auditLines()
            }
            for unit in conductor.boxes { await unit.shutDown() }
            group.cancelAll()
            return report
        }
    }

    private func makeReport(
        client: EmbeddedControlRoomClient, boxes: [SimulatedBox], observers: [BoxObserver], routeNames: [String],
        simulated: Duration, serverFaults: Int, faultsInjected: Int
    ) async throws -> Report {
        var reports: [DeviceReport] = []
        for (index, unit) in boxes.enumerated() {
            guard let outbox = unit.outbox else { throw SimulationError("\(unit.name) is off at the end") }
            let summary = try await client.summary(device: unit.deviceID)
            // By identity: every record the box committed, by sequence and envelope hash, against the control room.
            let audit = try await unit.audit(against: client)
            reports.append(
                DeviceReport(
                    name: unit.name, route: routeNames[index], presses: unit.presses, outages: unit.outages,
                    powerCuts: unit.powerCuts, stored: outbox.lastSequence, delivered: audit.delivered,
                    undelivered: audit.undelivered, lost: audit.lost,
                    duplicates: summary.duplicates, resent: unit.answers.duplicate,
                    rejected: unit.answers.rejected, gaps: summary.gaps))
        }
        var late = 0
        var longestWait = Duration.zero
        var longestDelivery = Duration.zero
        var alertsDelivered = 0
        var alertsStored = 0
        for (unit, observer) in zip(boxes, observers) {
            let seen = observer.seen
            alertsStored += seen.alertsStored.count
            for (id, storedAt) in seen.alertsStored {
                guard let arrived = seen.alertsArrived[id] else { continue }
                alertsDelivered += 1
                let wait = unit.reachableTime(from: storedAt, to: arrived)
                if wait > configuration.lateAfter { late += 1 }
                longestWait = max(longestWait, wait)
                longestDelivery = max(longestDelivery, arrived - storedAt)
            }
        }
        return Report(
            devices: reports, stored: reports.reduce(0) { $0 + $1.stored },
            delivered: reports.reduce(0) { $0 + $1.delivered }, undelivered: reports.reduce(0) { $0 + $1.undelivered },
            lost: reports.reduce(0) { $0 + $1.lost }, duplicates: reports.reduce(0) { $0 + $1.duplicates },
            resent: reports.reduce(0) { $0 + $1.resent }, rejected: reports.reduce(0) { $0 + $1.rejected },
            gaps: reports.reduce(0) { $0 + $1.gaps }, alertsStored: alertsStored, alertsDelivered: alertsDelivered,
            late: late, longestWait: longestWait, longestDelivery: longestDelivery, simulated: simulated,
            presses: boxes.reduce(0) { $0 + $1.presses }, outages: boxes.reduce(0) { $0 + $1.outages },
            powerCuts: boxes.reduce(0) { $0 + $1.powerCuts }, serverFaults: serverFaults, faultsInjected: faultsInjected
        )
    }
}
