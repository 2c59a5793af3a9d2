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
import Synchronization

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

        public init(
            devices: Int, duration: Duration, seed: UInt64, board: String = "boards/sim.yaml",
            routes: [String] = ["sim/routes/jaipur-jctsl-3a.csv", "sim/routes/indore-aictsl-ibus-5438.csv"],
            start: Date = Date(timeIntervalSince1970: 1_795_422_600),
            operatorAcceptAfter: Duration = .seconds(4), operatorClearAfter: Duration = .seconds(20),
            lateAfter: Duration = .seconds(5), drainLimit: Duration = .seconds(600)
        ) {
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
        /// Records the control room stored.
        public var delivered: Int
        /// Records still waiting in an outbox after the drain.
        public var undelivered: Int
        /// stored − delivered − undelivered: records that vanished.
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
        /// Whether nothing was lost, stored twice, refused, missing or left behind.
        public var passed: Bool {
            lost == 0 && duplicates == 0 && rejected == 0 && gaps == 0 && undelivered == 0
                && alertsDelivered == alertsStored
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
        self.configuration = configuration
        let loaded = BoardFile.load(path: configuration.board)
        guard let board = loaded.board, loaded.isValid else {
            throw SimulationError(
                "board file \(configuration.board): \(loaded.problems.map(\.description).joined(separator: "; "))")
        }
        self.board = board
        routes = try configuration.routes.map { try Route.load(path: $0) }
        self.directory = directory
        self.print = print
    }

    // MARK: Schedule

    enum Action: Sendable {
        case press(String)
        case release(String)
        case network(up: Bool)
    }

    struct Step: Sendable {
        var at: Duration
        var device: Int
        var action: Action
    }

    /// The seeded schedule: for each box, presses of its buttons (held 800 ms) and network outages that do not
    /// overlap, all within the duration (an outage may run past it; the drain ends it).
    static func schedule(devices: Int, duration: Duration, seed: UInt64, board: BoardDefinition) -> [Step] {
        var random = SplitMix64(seed: seed)
        let seconds = max(Int(duration.components.seconds), 10)
        let emergencyButtons = board.inputs.filter { $0.role == .emergency }.map(\.name)
        let helpButtons = board.inputs.filter { $0.role == .help }.map(\.name)
        var steps: [Step] = []
        for device in 0..<devices {
            // About one press a minute, at least one; seven in ten are emergencies.
            let presses = max(1, seconds / 60) + Int.random(in: 0...1, using: &random)
            for _ in 0..<presses {
                let at = Duration.milliseconds(Int64.random(in: 2_000...Int64(seconds - 2) * 1000, using: &random))
                let emergency = Int.random(in: 0..<10, using: &random) < 7 || helpButtons.isEmpty
                let buttons = emergency ? emergencyButtons : helpButtons
                guard let button = buttons.randomElement(using: &random) else { continue }
                steps.append(Step(at: at, device: device, action: .press(button)))
                steps.append(Step(at: at + .milliseconds(800), device: device, action: .release(button)))
            }
            // Outages of 3 to 40 s, 5 to 60 s apart.
            var at = Duration.zero
            while true {
                at += .milliseconds(Int64.random(in: 5_000...60_000, using: &random))
                guard at < duration else { break }
                let length = Duration.milliseconds(Int64.random(in: 3_000...40_000, using: &random))
                steps.append(Step(at: at, device: device, action: .network(up: false)))
                steps.append(Step(at: at + length, device: device, action: .network(up: true)))
                at += length
            }
        }
        // Stable by time, then by device: the same seed gives the same order.
        return steps.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }

    // MARK: Devices

    /// What the box watchers saw: when each alert was stored, and by which box.
    final class AlertLog: Sendable {
        struct Stored: Sendable {
            var device: Int
            var at: Duration
        }
        private let state = Mutex<[String: Stored]>([:])
        func stored(_ id: String, device: Int, at: Duration) {
            state.withLock { if $0[id] == nil { $0[id] = Stored(device: device, at: at) } }
        }
        var all: [String: Stored] { state.withLock { $0 } }
    }

    /// One simulated bus: its box and everything the conductor drives it with.
    final class Device {
        let index: Int
        let name: String
        let key: DeviceKey
        let routeName: String
        let gnss: SimulatedGNSS
        let feed = PushedGNSSSource()
        let network = NetworkSwitch()
        let answers = AnswerCounter()
        var lastEpoch: MonotonicInstant
        var lines: SimulatedInputLines!
        var box: PanicBox!
        var task: Task<Void, any Error>?
        var presses = 0
        /// Outages as they happened: (down, up), up nil while still down.
        var outages: [(down: Duration, up: Duration?)] = []

        init(index: Int, key: DeviceKey, routeName: String, gnss: SimulatedGNSS, firstEpoch: MonotonicInstant) {
            self.index = index
            name = String(format: "bus-%03d", index + 1)
            self.key = key
            self.routeName = routeName
            self.gnss = gnss
            lastEpoch = firstEpoch
        }

        var deviceID: String { key.identity.deviceID }

        var isBusy: Bool {
            box.isBusy || lines.edgeCount != box.inputService.classifiedThrough
                || box.fixes.chunksDecoded != feed.pushed
        }

        /// Network-up time within `from...to`.
        func upTime(from: Duration, to: Duration) -> Duration {
            var down = Duration.zero
            for outage in outages {
                let start = max(outage.down, from)
                let end = min(outage.up ?? to, to)
                if end > start { down += end - start }
            }
            return (to - from) - down
        }
    }

    /// Counts the control room's answers to one box: resends it recognised, and refusals.
    final class AnswerCounter: Sendable {
        private let counts = Mutex((duplicate: 0, rejected: 0))
        func count(_ response: RecordBatchResponse) {
            let duplicate = response.results.filter { $0.status == .duplicate }.count
            let rejected = response.results.filter { $0.status == .rejected }.count
            counts.withLock {
                $0.duplicate += duplicate
                $0.rejected += rejected
            }
        }
        var duplicate: Int { counts.withLock { $0.duplicate } }
        var rejected: Int { counts.withLock { $0.rejected } }
    }

    /// A transport that tells the box's answer counter what came back.
    struct CountingTransport: UplinkTransport {
        let base: any UplinkTransport
        let counter: AnswerCounter

        func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
            let response = try await base.send(batch, timeout: timeout)
            counter.count(response)
            return response
        }

        func shutdown() async throws { try await base.shutdown() }
    }

    // MARK: Run

    /// Runs the fleet on the virtual clock and returns the totals.
    public func run() async throws -> Report {
        let configuration = configuration
        let clock = ManualClock()
        let origin = clock.now
        let start = configuration.start
        let wall: @Sendable () -> Date = {
            start.addingTimeInterval(Double(origin.duration(to: clock.now).milliseconds) / 1000)
        }
        let recordWall: @Sendable () -> RecordTime = {
            RecordTime(epochMilliseconds: Int64(wall().timeIntervalSince1970 * 1000))
        }
        let quiet = Logger(label: "panicbridge.sim.fleet", factory: { _ in SwiftLogNoOpLogHandler() })
        let roomKey = DeviceKey.generate()
        let room = try ControlRoom(
            path: directory + "/controlroom.sqlite", key: roomKey, wallClock: recordWall, logger: quiet)
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let server = ControlRoomServer.application(
            controlRoom: room, host: "127.0.0.1", port: 0, faults: FaultInjector(), logger: quiet,
            onRunning: { portSink.yield($0) })

        // Each bus starts at its own point along its route: spread evenly over the there-and-back of the route.
        var devices: [Device] = []
        let routeNames = configuration.routes.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        let perRoute = (configuration.devices + routes.count - 1) / routes.count
        for index in 0..<configuration.devices {
            let route = routes[index % routes.count]
            let drive = RouteDrive(route: route)
            let slot = index / routes.count
            let offset = Duration.milliseconds(2 * drive.oneWay.milliseconds * Int64(slot) / Int64(perRoute))
            let gnss = SimulatedGNSS(
                drive: drive, clock: clock, startDate: start.addingTimeInterval(-Double(offset.milliseconds) / 1000),
                origin: origin.advanced(by: .zero - offset))
            let key = DeviceKey.generate()
            try room.addDevice(id: key.identity.deviceID, publicKey: key.identity.jwk)
            let device = Device(
                index: index, key: key,
                routeName: "\(routeNames[index % routes.count]) +\(offset.components.seconds) s",
                gnss: gnss,
                firstEpoch: origin.advanced(by: .seconds(-1)))
            devices.append(device)
        }
        var steps = Self.schedule(
            devices: configuration.devices, duration: configuration.duration, seed: configuration.seed, board: board)[
                ...]
        let log = AlertLog()

        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var portIterator = ports.makeAsyncIterator()
            guard let port = await portIterator.next() else { throw SimulationError("the control room did not start") }
            let url = "http://127.0.0.1:\(port)"
            print(
                "control room on \(url); \(devices.count) boxes on \(routes.map(\.name).joined(separator: ", ")); "
                    + "\(steps.count) scheduled steps (seed \(configuration.seed))")

            for device in devices {
                let directory = self.directory + "/\(device.name)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let outbox = try Outbox(
                    path: directory + "/outbox.sqlite", sealer: RecordSigner(key: device.key), logger: quiet)
                let network = device.network
                let answers = device.answers
                let uplink = try Uplink(
                    outbox: outbox, deviceID: device.deviceID,
                    backends: [
                        .init(
                            name: "control-room", url: url, controlRoomKey: roomKey.identity,
                            requestTimeout: .seconds(5))
                    ],
                    clock: clock, wallClock: recordWall,
                    transport: {
                        SwitchedTransport(
                            CountingTransport(
                                base: HTTPUplinkTransport(baseURL: $0.url, trust: $0.trust), counter: answers),
                            network: network)
                    },
                    seed: configuration.seed &+ UInt64(device.index + 1), logger: quiet)
                device.lines = SimulatedInputLines(specs: board.inputs, clock: clock)
                device.box = try PanicBox(
                    parts: .init(
                        inputs: device.lines, outputs: SimulatedOutputLines(specs: board.outputs, clock: clock),
                        gnss: device.feed, outbox: outbox, uplink: uplink, statePath: directory + "/engine-state.json"),
                    configuration: .init(), clock: clock, logger: quiet, systemTime: wall)
                device.task = Self.start(device.box, index: device.index, log: log, origin: origin, clock: clock)
            }

            let elapsed = { origin.duration(to: clock.now) }
            let end = configuration.duration
            var operatorQueue: [(at: Duration, accept: Bool, device: String, alert: String)] = []
            var seenAlerts: [String: Duration] = [:]

            func pushEpochs(upTo target: MonotonicInstant) {
                for device in devices {
                    while device.lastEpoch.advanced(by: .seconds(1)) <= target {
                        device.lastEpoch = device.lastEpoch.advanced(by: .seconds(1))
                        device.feed.push(
                            GNSSChunk(bytes: device.gnss.epoch(at: device.lastEpoch), receivedAt: device.lastEpoch))
                    }
                }
            }

            /// Waits until every box is idle and the set of sleepers is stable: all of them wait for the clock.
            func settle() async {
                pushEpochs(upTo: clock.now)
                await VirtualTime.settle(clock: clock) { devices.contains { $0.isBusy } }
            }

            func advance(to target: MonotonicInstant) async {
                guard target > clock.now else { return }
                pushEpochs(upTo: target)
                while devices.contains(where: { $0.box.fixes.chunksDecoded != $0.feed.pushed }) {
                    await Task.yield()
                }
                clock.advance(to: target)
            }

            func watchControlRoom() throws {
                let now = elapsed()
                for alert in try room.allAlerts() where seenAlerts[alert.id] == nil {
                    seenAlerts[alert.id] = now
                    if alert.kind != "tamper" {
                        operatorQueue.append((now + configuration.operatorAcceptAfter, true, alert.device, alert.id))
                        operatorQueue.append(
                            (
                                now + configuration.operatorAcceptAfter + configuration.operatorClearAfter, false,
                                alert.device, alert.id
                            ))
                    }
                }
            }

            func apply(_ step: Step) throws {
                let device = devices[step.device]
                let now = elapsed()
                switch step.action {
                case .press(let button):
                    try device.lines.press(button)
                    device.presses += 1
                case .release(let button):
                    try device.lines.release(button)
                case .network(let up):
                    device.network.isUp = up
                    if up {
                        if let last = device.outages.indices.last, device.outages[last].up == nil {
                            device.outages[last].up = now
                        }
                    } else {
                        device.outages.append((now, nil))
                    }
                }
            }

            // The conductor: move time to the next thing that happens, whenever every box is waiting.
            while true {
                await settle()
                try watchControlRoom()
                let now = elapsed()
                let due = operatorQueue.filter { $0.at <= now }
                operatorQueue.removeAll { $0.at <= now }
                for item in due {
                    do {
                        _ =
                            item.accept
                            ? try room.accept(device: item.device, alert: item.alert)
                            : try room.clear(device: item.device, alert: item.alert)
                    } catch {
                        self.print(line(now, "operator: cannot act on alert \(item.alert): \(error)"))
                    }
                }
                var applied = false
                while let step = steps.first, step.at <= now {
                    steps = steps.dropFirst()
                    try apply(step)
                    applied = true
                }
                if applied || !due.isEmpty { continue }
                if now >= end { break }
                let candidates = [
                    steps.first.map { origin.advanced(by: $0.at) },
                    operatorQueue.map(\.at).min().map { origin.advanced(by: $0) },
                    clock.nextDeadline, origin.advanced(by: end),
                ].compactMap { $0 }
                guard let next = candidates.min() else { break }
                await advance(to: next)
            }

            // The drain: every network comes back; let the outboxes empty, within a bound.
            let now = elapsed()
            for device in devices where !device.network.isUp {
                try apply(Step(at: now, device: device.index, action: .network(up: true)))
            }
            let drainUntil = clock.now.advanced(by: configuration.drainLimit)
            func undelivered() throws -> Int {
                try devices.reduce(0) { $0 + (try $1.box.parts.outbox.status().undelivered) }
            }
            while try undelivered() > 0, clock.now < drainUntil {
                await settle()
                try watchControlRoom()
                await advance(to: min(clock.nextDeadline ?? drainUntil, drainUntil))
            }
            await settle()
            try watchControlRoom()

            let report = try makeReport(
                room: room, devices: devices, log: log, arrivals: seenAlerts, simulated: elapsed())
            for device in devices { device.task?.cancel() }
            for device in devices { _ = await device.task?.result }
            group.cancelAll()
            return report
        }
    }

    /// Runs a box in a task of its own, noting when each of its alerts is stored.
    private static func start(
        _ box: PanicBox, index: Int, log: AlertLog, origin: MonotonicInstant, clock: ManualClock
    ) -> Task<Void, any Error> {
        let events = box.events
        let watcher = Task {
            for await event in events {
                if case .stored(let id, let kind, _) = event, kind == .emergency || kind == .help {
                    log.stored(id, device: index, at: origin.duration(to: clock.now))
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

    private func makeReport(
        room: ControlRoom, devices: [Device], log: AlertLog, arrivals: [String: Duration], simulated: Duration
    ) throws -> Report {
        var reports: [DeviceReport] = []
        for device in devices {
            let status = try device.box.parts.outbox.status()
            let delivered = try room.recordCount(device: device.deviceID)
            let order = try room.arrivalOrder(device: device.deviceID)
            let gaps = try room.gaps(device: device.deviceID).reduce(0) { $0 + $1.count }
            reports.append(
                DeviceReport(
                    name: device.name, route: device.routeName, presses: device.presses,
                    outages: device.outages.count, stored: status.lastSequence, delivered: delivered,
                    undelivered: status.undelivered,
                    lost: Int(status.lastSequence) - delivered - status.undelivered,
                    duplicates: order.count - Set(order.map(\.sequence)).count, resent: device.answers.duplicate,
                    rejected: device.answers.rejected, gaps: gaps))
        }
        var late = 0
        var longestWait = Duration.zero
        var longestDelivery = Duration.zero
        var alertsDelivered = 0
        let stored = log.all
        for (id, alert) in stored {
            guard let arrived = arrivals[id] else { continue }
            alertsDelivered += 1
            let wait = devices[alert.device].upTime(from: alert.at, to: arrived)
            if wait > configuration.lateAfter { late += 1 }
            longestWait = max(longestWait, wait)
            longestDelivery = max(longestDelivery, arrived - alert.at)
        }
        return Report(
            devices: reports, stored: reports.reduce(0) { $0 + $1.stored },
            delivered: reports.reduce(0) { $0 + $1.delivered }, undelivered: reports.reduce(0) { $0 + $1.undelivered },
            lost: reports.reduce(0) { $0 + $1.lost }, duplicates: reports.reduce(0) { $0 + $1.duplicates },
            resent: reports.reduce(0) { $0 + $1.resent }, rejected: reports.reduce(0) { $0 + $1.rejected },
            gaps: reports.reduce(0) { $0 + $1.gaps }, alertsStored: stored.count, alertsDelivered: alertsDelivered,
            late: late, longestWait: longestWait, longestDelivery: longestDelivery, simulated: simulated,
            presses: devices.reduce(0) { $0 + $1.presses }, outages: devices.reduce(0) { $0 + $1.outages.count })
    }
}
