import ControlRoomKit
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDaemon
import PanicHardware
import PanicLinux
import PanicSigning
import PanicSim
import PanicStore
import PanicUplink
import ServiceLifecycle
import Synchronization

/// One simulated bus or booth: its key, its board, a receiver on its route, its mobile link, and the `PanicBox`
/// built from them out of files in its own directory. A power cut drops the box (every in-memory state is lost);
/// power coming back builds a new one from disk, as `panicd` starting after a power cut does.
///
/// Driven by one conductor task: not `Sendable`.
final class SimulatedBox {
    let name: String
    let key: DeviceKey
    let board: BoardDefinition
    let directory: String
    let world: SimulationWorld
    let gnss: SimulatedGNSS
    let outputs: SimulatedOutputLines
    let network = NetworkSwitch()
    let answers = AnswerCounter()
    /// Seeds each power cycle's uplink jitter.
    let seed: UInt64
    /// Backends besides the control room (a scenario's AIS-140 and OsmAnd receivers), through the same link.
    var receivers: [BackendConfiguration] = []
    /// The stream mark of the box's key: beside the key file when the key came from one (as `panicd run` keeps
    /// it), else in the box's directory.
    lazy var streamMarkPath = directory + "/device-key.stream"
    /// The SMS fallback's modem port and settings, when the scenario has one.
    var sms: (port: String, configuration: SMSFallback.Configuration)?
    private(set) var fallback: SMSFallback?
    /// Gets everything the box does, with the elapsed time it happened at.
    let onEvent: @Sendable (BoxEvent, Duration) -> Void
    /// Gets every receiver epoch while the box is powered (the timeline's bus stops, a pseudo-terminal for gpsd).
    var onEpoch: ((MonotonicInstant, [UInt8]) -> Void)?
    /// Remote configuration and updates on the daemon's own code (the fleet's rollout scenario); nil: none.
    var management: BoxManagement?
    /// The running panicd's status board (what `panicd status` and the update agent read), while powered.
    private(set) var statusBoard: StatusBoard?
    /// Set when the running panicd stopped to take up another configuration (its exit 75): the conductor restarts it.
    private(set) var restartRequest = RestartRequest()
    /// Restarts of panicd (a configuration taken up or reverted, an update installed or rolled back).
    private(set) var restarts = 0

    private(set) var box: PanicBox?
    private(set) var lines: SimulatedInputLines
    private(set) var feed = PushedGNSSSource()
    private var task: Task<Void, any Error>?
    /// The last receiver epoch produced.
    private(set) var lastEpoch: MonotonicInstant
    /// The contacts as they were when the power went: switches keep their position without power.
    private var contacts: [String: Bool] = [:]
    private(set) var powerCycles = 0

    /// Presses made on this box's buttons.
    var presses = 0
    /// Times the box could not send, network outages and power cuts alike: (from, to), to nil while it lasts.
    private(set) var unreachable: [(from: Duration, to: Duration?)] = []
    private(set) var outages = 0
    private(set) var powerCuts = 0

    init(
        name: String, key: DeviceKey, board: BoardDefinition, directory: String, world: SimulationWorld,
        gnss: SimulatedGNSS, seed: UInt64, onEvent: @escaping @Sendable (BoxEvent, Duration) -> Void
    ) throws {
        self.name = name
        self.key = key
        self.board = board
        self.directory = directory
        self.world = world
        self.gnss = gnss
        self.seed = seed
        self.onEvent = onEvent
        outputs = SimulatedOutputLines(specs: board.outputs, clock: world.time.clock)
        lines = SimulatedInputLines(specs: board.inputs, clock: world.time.clock)
        lastEpoch = world.time.origin.advanced(by: .seconds(-1))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var deviceID: String { key.identity.deviceID }
    var isOn: Bool { box != nil }

    /// Why the box's `panicd` stopped on its own (it should run until the power goes).
    var failure: (any Error)? { failed.error }
    private let failed = FailureRecord()

    /// Whether the box has work in hand that does not wait for the clock.
    var isBusy: Bool {
        // A panicd that stopped to be restarted (its exit 75) does nothing more until the conductor restarts it.
        guard let box, failure == nil, restartRequest.requested == nil else { return false }
        return box.isBusy || fallback?.isBusy == true || lines.edgeCount != box.inputService.classifiedThrough
            || box.fixes.chunksDecoded != feed.pushed
    }

    /// Whether every epoch pushed so far has been decoded.
    var hasDecodedEverything: Bool {
        guard let box, failure == nil, restartRequest.requested == nil else { return true }
        return box.fixes.chunksDecoded == feed.pushed
    }

    /// The outbox of the box now powered (nil while off).
    var outbox: Outbox? { box?.parts.outbox }

    /// The name of the box's one backend, the control room.
    static let backend = "control-room"

    /// Compares what the box committed with what `client` stored for it, record by record.
    func audit(against client: any ControlRoomClient) async throws -> DeliveryAudit {
        guard let outbox else { throw SimulationError("\(name) is off: its outbox cannot be audited") }
        let committed = try outbox.records().map {
            RecordIdentity(sequence: $0.sequence, hash: Envelope.hash($0.envelope))
        }
        return DeliveryAudit.compare(
            committed: committed, stored: try await client.records(device: deviceID),
            confirmed: try outbox.deliveredSequences(backend: Self.backend))
    }

    /// The box's records the control room holds, by kind (compared by sequence and envelope hash).
    func deliveredByKind(against client: any ControlRoomClient) async throws -> [RecordKind: Int] {
        guard let outbox else { throw SimulationError("\(name) is off: its outbox cannot be audited") }
        let committed = try outbox.records().map {
            (RecordIdentity(sequence: $0.sequence, hash: Envelope.hash($0.envelope)), $0.kind)
        }
        return DeliveryAudit.deliveredByKind(committed: committed, stored: try await client.records(device: deviceID))
    }

    /// Builds the box from its files and starts it.
    func powerOn() throws {
        guard box == nil else { return }
        powerCycles += 1
        feed = PushedGNSSSource()
        lines = SimulatedInputLines(specs: board.inputs, clock: world.time.clock, closed: contacts)
        let world = world
        // Opened as `panicd run` opens it, with its stream mark: an outbox lost or corrupted between runs
        // continues the device's numbering instead of restarting at 1 (a fork the control room refuses).
        let outbox = try PanicBox.openOutbox(
            path: directory + "/outbox.sqlite", key: key, streamMark: streamMarkPath, logger: world.partsLogger)
        let network = network
        let answers = answers
        let management = management
        let effective = management?.effective()
        let software = management?.software ?? PanicBridgeVersion.current
        // A version that never arms: its panicd never gets a batch through (the update agent rolls it back).
        let broken = management?.runsBrokenVersion == true
        let uplink = try Uplink(
            outbox: outbox, deviceID: deviceID, signingKey: key,
            backends: [
                .init(
                    name: Self.backend, url: world.controlRoomURL, controlRoomKey: world.controlRoomKey,
                    requestTimeout: .seconds(5))
            ] + receivers,
            clock: world.time.clock,
            wallClock: { world.time.recordNow },
            transport: { backend -> any UplinkTransport in
                if broken { return NeverArmedTransport(version: software) }
                return SwitchedTransport(
                    CountingTransport(
                        base: HTTPUplinkTransport(baseURL: backend.url, trust: backend.trust), counter: answers),
                    network: network)
            },
            receiver: { configuration in
                Uplink.standardReceiver(configuration).map { SwitchedReceiver(base: $0, network: network) }
            },
            seed: seed &+ UInt64(powerCycles), logger: world.partsLogger)
        let box = try PanicBox(
            parts: .init(
                inputs: lines, outputs: outputs, gnss: NMEAFixSource(feed), outbox: outbox, uplink: uplink,
                statePath: directory + "/engine-state.json",
                restarts: .init(
                    fixPath: LastFixFile.path(statePath: directory + "/engine-state.json"), watchdogReset: { false }),
                // The simulated modem's radio over its pty (as `panicd run` reads a real one) and the simulated
                // supply, which follows the scenario's `main_power`.
                radio: sms.map { ATRadioMonitor(path: $0.port, clock: world.time.clock) },
                supply: SimulatedSupply(lines: lines, clock: world.time.clock),
                configVersion: effective?.version, software: software),
            configuration: effective.map { Daemon.engineConfiguration($0.config) } ?? .init(), clock: world.time.clock,
            logger: world.partsLogger,
            systemTime: { world.time.wallNow })
        self.box = box
        fallback = sms.map { sms in
            SMSFallback(
                outbox: outbox, modem: GSMModem(path: sms.port, timeout: .seconds(30)),
                configuration: sms.configuration,
                clock: world.time.clock, wallClock: { world.time.recordNow }, logger: world.partsLogger)
        }
        if powerCycles > 1, let last = unreachable.indices.last, unreachable[last].to == nil, network.isUp {
            unreachable[last].to = world.time.elapsed
        }
        let board = StatusBoard(
            box: box, deviceID: deviceID, board: self.board, backends: [Self.backend], clock: world.time.clock)
        statusBoard = board
        restartRequest = RestartRequest()
        let services =
            management.map { management in
                let (deliveries, sink) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
                return (
                    management.services(
                        uplink: uplink, deliveries: deliveries, clock: world.time.clock, restart: restartRequest,
                        logger: world.partsLogger), sink
                )
            }
        task = Self.start(
            box, fallback: fallback, board: board, services: services?.0 ?? [], deliveries: services?.1, world: world,
            failed: failed, onEvent: onEvent)
    }

    /// Restarts panicd (not a power cut: the network stays as it is), on the configuration and software now
    /// installed.
    func restart() async throws {
        guard box != nil else { return }
        await stop()
        restarts += 1
        try powerOn()
    }

    /// Ends the running panicd, as a restart or a power cut does: the contacts as they are stay (they are the
    /// world's, not the box's); the task is cancelled and awaited; the outbox's connection goes with the box (as a
    /// killed process's does), and SQLite's WAL keeps what it committed.
    private func stop() async {
        contacts = Dictionary(
            uniqueKeysWithValues: zip(board.inputs.map(\.name), (try? lines.contactsClosed()) ?? []))
        task?.cancel()
        _ = await task?.result
        task = nil
        self.box = nil
        fallback = nil
        statusBoard = nil
    }

    /// Cuts the power: the box's task is cancelled and everything it held in memory is gone.
    func powerOff() async {
        guard box != nil else { return }
        await stop()
        powerCuts += 1
        if unreachable.last.map({ $0.to != nil }) ?? true { unreachable.append((world.time.elapsed, nil)) }
    }

    /// Brings the link down or up.
    func setNetwork(up: Bool) {
        guard network.isUp != up else { return }
        network.isUp = up
        let now = world.time.elapsed
        if up {
            if isOn, let last = unreachable.indices.last, unreachable[last].to == nil { unreachable[last].to = now }
        } else {
            outages += 1
            if unreachable.last.map({ $0.to != nil }) ?? true { unreachable.append((now, nil)) }
        }
    }

    /// Produces the receiver's epochs, one per second, up to `target`: a powered box hears them.
    func pushEpochs(upTo target: MonotonicInstant) {
        while lastEpoch.advanced(by: .seconds(1)) <= target {
            lastEpoch = lastEpoch.advanced(by: .seconds(1))
            guard isOn else { continue }
            let bytes = gnss.epoch(at: lastEpoch)
            feed.push(GNSSChunk(bytes: bytes, receivedAt: lastEpoch))
            onEpoch?(lastEpoch, bytes)
        }
    }

    /// Time within `from...to` in which the box could have sent: powered, and its network up.
    func reachableTime(from: Duration, to: Duration) -> Duration {
        var lost = Duration.zero
        for span in unreachable {
            let start = max(span.from, from)
            let end = min(span.to ?? to, to)
            if end > start { lost += end - start }
        }
        return (to - from) - lost
    }

    /// Stops the box for good (end of the run).
    func shutDown() async {
        task?.cancel()
        _ = await task?.result
        task = nil
    }

    /// Runs a box in a task of its own and hands its events on.
    private static func start(
        _ box: PanicBox, fallback: SMSFallback?, board: StatusBoard, services: [any Service],
        deliveries: AsyncStream<Void>.Continuation?, world: SimulationWorld, failed: FailureRecord,
        onEvent: @escaping @Sendable (BoxEvent, Duration) -> Void
    ) -> Task<Void, any Error> {
        let events = box.events
        let uplinkEvents = box.parts.uplink.events
        let watcher = Task {
            // As `BoxService` does: the status board reads both event streams, the probation the deliveries.
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await event in events {
                        board.record(event)
                        onEvent(event, world.time.elapsed)
                    }
                }
                group.addTask {
                    for await event in uplinkEvents {
                        if case .delivered = event { deliveries?.yield() }
                        _ = board.record(event)
                    }
                }
            }
        }
        return Task {
            try await withTaskCancellationHandler {
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await box.run() }
                        if let fallback { group.addTask { try await fallback.run() } }
                        // The daemon's remote-configuration and update services: the first ends the run when it
                        // asks for a restart (the daemon's exit 75).
                        for service in services { group.addTask { try await service.run() } }
                        try await group.next()
                        group.cancelAll()
                    }
                } catch  where !Task.isCancelled {
                    failed.error = error
                    throw error
                }
            } onCancel: {
                watcher.cancel()
            }
        }
    }
}

/// Why a box's task ended by itself.
final class FailureRecord: Sendable {
    private let state = Mutex<(any Error)?>(nil)
    var error: (any Error)? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
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

/// The link of a panicd version that never arms: nothing it sends gets through (the update agent's health wait
/// sees no delivery and rolls it back).
struct NeverArmedTransport: UplinkTransport {
    let version: String

    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        throw UplinkTransportError(description: "panicd \(version) never arms (simulated broken package)")
    }

    func shutdown() async throws {}
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
