import ControlRoomKit
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDaemon
import PanicLinux
import PanicSigning
import PanicSim
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
        /// Records the control room holds exactly as the box committed them (same sequence, same envelope hash).
        public var delivered: Int
        /// Records not at the control room that the box does not count delivered (still on their way).
        public var undelivered: Int
        /// Records not at the control room although the box counts them delivered (refused, or vanished).
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
        /// The API token of a desk account at the external control room (`controlroom users add --token`).
        public var operatorToken: String?
        /// The file the external device key was read from: its stream mark is kept beside it, as `panicd run`
        /// keeps it (`PanicBox.streamMarkPath(keyFile:)`), so numbering continues across runs and lost outboxes.
        public var deviceKeyFile: String?

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
        let client: any ControlRoomClient
        let roomIdentity: DeviceIdentity
        var embedded: EmbeddedControlRoom?
        var url = ""
        switch options.controlRoom {
        case .embedded(let port):
            deviceKey = DeviceKey.generate()
            let room = try await EmbeddedControlRoom(directory: directory, time: time, port: port, logger: quiet)
            try await room.room.addDevice(id: deviceKey.identity.deviceID, publicKey: deviceKey.identity.jwk)
            embedded = room
            client = EmbeddedControlRoomClient(room: room.room)
            roomIdentity = room.key.identity
        case .external(let external, let pinned, let key):
            deviceKey = key
            let remote = HTTPControlRoomClient(baseURL: external, token: options.operatorToken)
            client = remote
            if let pinned { roomIdentity = pinned } else { roomIdentity = try await remote.identity() }
            url = remote.baseURL
            if pinned == nil {
                print("control room key fetched from \(url)/v1/identity (pin it with --controlroom-key)")
            }
        }
        let deviceID = deviceKey.identity.deviceID
        let print = self.print
        let observer = BoxObserver(narrate: print)

        return try await withThrowingTaskGroup(of: Void.self) { group in
            if let embedded {
                url = try await embedded.start(in: &group)
                print("control room on \(url) (operator page: \(url)/, \(embedded.login)); device \(deviceID)")
            } else {
                print("external control room \(url); device \(deviceID)")
            }
            print(
                "route \(route.name) (\(route.stops.count) stops); "
                    + (manual == nil ? "real time" : "virtual clock"))

            let world = SimulationWorld(
                time: time, controlRoomURL: url, controlRoomKey: roomIdentity, partsLogger: quiet)
            let receivers = try await ScenarioReceivers.start(scenario, in: &group, logger: quiet)
            for entry in receivers.entries {
                print("\(entry.backend.wire.rawValue) backend \(entry.backend.name) on \(entry.url)")
            }
            let conductor = Conductor(world: world, manual: manual)
            var controls: ControlQueue?
            if let stream = typed {
                let queue = ControlQueue()
                controls = queue
                let wake = conductor.waker
                group.addTask {
                    for await control in stream {
                        queue.append(control)
                        wake()
                    }
                    queue.append(.quit)
                    wake()
                }
            }
            let gnss = SimulatedGNSS(drive: RouteDrive(route: route), clock: clock, startDate: start, origin: origin)
            let unit = try SimulatedBox(
                name: "box", key: deviceKey, board: board, directory: directory, world: world, gnss: gnss, seed: 0,
                onEvent: { event, at in observer.observe(event, at: at) })
            unit.receivers = receivers.configurations(deviceID: deviceID)
            if let keyFile = options.deviceKeyFile { unit.streamMarkPath = PanicBox.streamMarkPath(keyFile: keyFile) }
            var modem: SimulatedModemPort?
            if let sms = scenario.sms {
                let port = try SimulatedModemPort { message in
                    print(line(time.elapsed, "modem: SMS to \(message.number): \(message.text)"))
                }
                group.addTask { try await port.run() }
                modem = port
                unit.sms = (
                    port.path,
                    .init(
                        numbers: sms.numbers, after: sms.after,
                        place: scenario.identity?.vehicleRegistration ?? "bus \(deviceID.prefix(8))",
                        imei: scenario.identity?.imei)
                )
                print("GSM modem (simulated) on \(port.path); SMS to \(sms.numbers.joined(separator: ", "))")
            }
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

            let runner = SimulationRunner(
                conductor: conductor, observers: [observer], client: client, faults: embedded?.faults,
                operator: AutoOperator(
                    acceptAfter: scenario.operatorAcceptAfter, clearAfter: scenario.operatorClearAfter),
                steps: scenario.steps.map { TimedAct(at: $0.at, box: 0, action: $0.action) }, controls: controls,
                narrate: true, print: print)
            try await runner.run(until: scenario.duration)
            // Let what is still in the outbox drain (when the network is up), so the totals are final.
            try await runner.drain(.init(restoreLinks: false, limit: manual == nil ? .seconds(15) : .seconds(600)))

            var report = try await makeReport(
                client: client, deviceID: deviceID, unit: unit, observer: observer, receivers: receivers)
            if let outbox = unit.outbox {
                report.expectations += try receivers.check(outbox: outbox)
                if let modem, let sms = scenario.sms {
                    report.expectations.append(
                        try modem.check(outbox: outbox, numbers: sms.numbers, imei: scenario.identity?.imei))
                }
            }
            await unit.shutDown()
            group.cancelAll()
            return report
        }
    }

    private func makeReport(
        client: any ControlRoomClient, deviceID: String, unit: SimulatedBox, observer: BoxObserver,
        receivers: ScenarioReceivers
    ) async throws -> Report {
        guard let outbox = unit.outbox else { throw SimulationError("the box is off at the end") }
        let summary = try await client.summary(device: deviceID)
        // Compared by identity: every record the box committed, by sequence and envelope hash.
        let audit = try await unit.audit(against: client)
        // An external control room's API has no per-kind counts: count the box's records it holds, by kind.
        let byKind = summary.byKind.isEmpty ? try await unit.deliveredByKind(against: client) : summary.byKind
        let seen = observer.seen
        var observed = Expectations.Observed(
            milestones: seen.milestones, indicator: seen.indicator, lost: audit.lost,
            duplicates: summary.duplicates, deliveredByKind: byKind,
            alertsStored: Set(seen.alertsStored.keys), alertsArrived: Set(seen.alertsArrived.keys))
        observed.ais140Sessions = receivers.ais140Sessions
        observed.sessionBreaks = unit.outages + unit.powerCuts
        let results = Expectations.grade(scenario.expectations, observed)
        return Report(
            expectations: results, stored: outbox.lastSequence, delivered: audit.delivered,
            undelivered: audit.undelivered, lost: audit.lost, duplicates: summary.duplicates, gaps: summary.gaps,
            deliveredByKind: byKind, finalIndicator: seen.indicator, simulated: unit.world.time.elapsed)
    }

    public static func seconds(_ duration: Duration) -> String { Expectations.seconds(duration) }
}
