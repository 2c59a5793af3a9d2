import Foundation
import Logging
import NIOCore
import NIOPosix
import PanicConfig
import PanicCore
import PanicHardware
import PanicLinux
import PanicSigning
import PanicSim
import PanicStore
import PanicUplink
import ServiceLifecycle

/// Why the daemon cannot start, in the integrator's words: the file and key (or the call) that is wrong.
public struct DaemonError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The composition root behind `panicd run`: a configuration turned into a running box. `init` reads and
/// checks what the box needs (board file, device key, backends) and starts nothing; `run()` opens the outbox,
/// builds the parts for the board's backend and runs the box and the systemd watchdog in a `ServiceGroup`
/// until SIGTERM or SIGINT.
public struct Daemon: Sendable {
    /// The environment variable naming the route the simulated board's GNSS drives.
    public static let simRouteVariable = "PANICD_SIM_ROUTE"
    /// The simulated board's state at start: acts of the input-script vocabulary separated by `;` (`enclosure open;
    /// cut panic`), carried out before the daemon reads its inputs, as a box that powers up with its enclosure
    /// already open (docs/daemon.md → *Sim board*).
    public static let simStartVariable = "PANICD_SIM_START"

    /// Carries out `acts` (see ``simStartVariable``) on `lines`.
    static func performStartActs(_ acts: String?, on lines: SimulatedInputLines) throws {
        guard let acts else { return }
        for (number, act) in acts.split(separator: ";").enumerated() {
            let text = act.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            do {
                guard case .act(let action)? = try InputScript.parse(Substring(text), line: number + 1),
                    try lines.perform(action)
                else { throw DaemonError("not an act on the lines") }
            } catch {
                throw DaemonError("\(simStartVariable): '\(text)': \(error)")
            }
        }
    }

    public let config: DaemonConfig
    public let board: BoardDefinition
    public let key: DeviceKey
    /// The device id records carry (derived from the key).
    public let deviceID: String
    /// One per configured backend.
    public let backends: [BackendConfiguration]
    let environment: [String: String]
    let logger: Logger
    /// The local file and the applied remote configuration's version, when the daemon takes remote configuration
    /// (`panicd run`; nil: the configuration given is all there is).
    public let remote: RemoteConfigSetup?
    /// Set when the daemon stopped to take up another configuration (``RestartRequest``).
    public let restart = RestartRequest()

    /// Checks the board file, the device key (refusing one group or others may read) and the backends.
    public init(
        config: DaemonConfig, environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger,
        remote: RemoteConfigSetup? = nil
    ) throws {
        self.config = config
        self.remote = remote
        self.environment = environment
        self.logger = logger
        do { board = try BoardFile.loadValid(path: config.boardFile) } catch { throw DaemonError(error.description) }
        do {
            key = try DeviceKey.load(path: config.keyFile)
        } catch {
            throw DaemonError("\(error)")
        }
        deviceID = key.identity.deviceID
        if let configured = config.deviceID, configured != deviceID {
            throw DaemonError(
                "device_id \(configured) does not match the key \(config.keyFile), whose device id is \(deviceID); "
                    + "remove device_id or use the key registered for \(configured)")
        }
        let deviceID = deviceID
        backends = try config.backends.enumerated().map { index, backend in
            try Self.backendConfiguration(backend, index: index, config: config, deviceID: deviceID)
        }
    }

    /// The daemon for the local file at `path` with the applied remote configuration (beside the outbox) merged
    /// over it (docs/configuration.md → *Remote configuration*). An applied document that no longer verifies or
    /// merges is set aside with a warning: the local file alone runs.
    public static func withRemoteConfig(
        local: DaemonConfig, path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger
    ) throws -> Daemon {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let base = RemoteOverlay.base(ofFile: path)
        let deviceID: String
        do { deviceID = try DeviceKey.load(path: local.keyFile).identity.deviceID } catch {
            throw DaemonError("\(error)")
        }
        let files = RemoteConfigFiles(outboxPath: local.outboxPath)
        let effective = files.effectiveText(local: local, localText: text, localBase: base, deviceID: deviceID)
        if let problem = effective.problem { logger.warning("\(problem): running without it") }
        return try Daemon(
            config: effective.config, environment: environment, logger: logger,
            remote: RemoteConfigSetup(
                local: local, localText: text, localBase: base,
                version: effective.version > 0 ? effective.version : nil,
                currentText: effective.text))
    }

    /// The uplink's view of one configured backend.
    /// The warning for a configuration in which no backend is an alerting authority (nil when one is): such a box
    /// keeps its promise not to lie (its LED never says SENT), but no alert it makes ever reaches the police.
    public static func noAuthorityWarning(_ config: DaemonConfig) -> String? {
        guard config.authorityBackends.isEmpty else { return nil }
        let tracking = config.backends.map(\.name)
        return tracking.isEmpty
            ? "no backend is an alerting authority (no backends at all): alerts stay in the outbox, the LED never "
                + "shows SENT; add the control room (protocol panicbridge, role authority by default)"
            : "no backend is an alerting authority (\(tracking.joined(separator: ", ")): tracking only): the LED "
                + "never shows SENT, since a tracking server's acknowledgement does not mean the police have the "
                + "alert; add the control room, or give the state AIS-140 backend `role: authority` if it dispatches help"
    }

    /// The warning for an SMS fallback whose §3.1.5 texts would carry no IMEI (nil when they do, or none goes out):
    /// a state SMS gateway keys its alerts on that field.
    public static func smsWarning(_ config: DaemonConfig) -> String? {
        guard let sms = config.sms, config.identity == nil else { return nil }
        let fielded = (sms.numbers + sms.tamperNumbers).filter { (sms.formats[$0] ?? .fields) == .fields }
        guard !fielded.isEmpty else { return nil }
        return "sms: no identity.imei: the AIS-140 texts to \(fielded.joined(separator: ", ")) carry 'x' in the IMEI "
            + "field, which a state SMS gateway cannot match to the box; set identity.imei"
    }

    /// What AIS-140 frames will send as placeholders because the box cannot measure it (docs/uplink.md →
    /// *Telemetry fields*): no supply monitor (voltages `0.0`), no ignition input (ignition `0`), no modem (signal
    /// 99, no cells). Only when an AIS-140 backend is configured.
    public static func telemetryWarnings(_ config: DaemonConfig, board: BoardDefinition) -> [String] {
        guard config.backends.contains(where: { $0.wire == .ais140 }) else { return [] }
        var warnings: [String] = []
        if board.supply == nil, board.backend != .simulated {
            warnings.append(
                "no supply: section: AIS-140 frames carry main and battery voltage 0.0 and health battery x "
                    + "(not measured)")
        }
        if !board.inputs.contains(where: { $0.role == .ignition }) {
            warnings.append("no ignition input: AIS-140 frames carry ignition 0 (not measured)")
        }
        if config.sms == nil {
            warnings.append("no modem (sms.port): AIS-140 frames carry signal 99 and no operator or cells")
        }
        return warnings
    }

    static func backendConfiguration(
        _ backend: DaemonConfig.Backend, index: Int, config: DaemonConfig, deviceID: String
    ) throws -> BackendConfiguration {
        let trust: TrustRoots = backend.caFile.map { .caFile($0) } ?? .system
        let order: BacklogOrder = backend.backlogOrder == .newestFirst ? .newestFirst : .oldestFirst
        switch backend.wire {
        case .panicbridge: break
        case .ais140:
            guard let identity = config.identity else {
                throw DaemonError("backends[\(index)]: protocol ais140 needs identity.imei")
            }
            let health = AIS140.HealthSettings(
                capacity: config.outboxMaxRecords,
                positionIntervalSeconds: Int(config.rates.position.components.seconds),
                emergencyIntervalSeconds: Int(config.rates.emergencyPosition.components.seconds))
            var options = AIS140Options(
                identity: identity, emergencyOnly: backend.emergencyOnly, health: health,
                tls: backend.url.scheme == "tls", heartbeat: backend.heartbeat ?? AIS140Options.defaultHeartbeat)
            options.sendHelp = backend.sendHelp
            options.dialect = backend.dialect
            return BackendConfiguration(
                name: backend.name, url: backend.url.absoluteString, trust: trust, batchSize: backend.batchSize,
                requestTimeout: backend.timeout, backlogOrder: order, wire: .ais140(options),
                role: backend.effectiveRole)
        case .osmand:
            return BackendConfiguration(
                name: backend.name, url: backend.url.absoluteString, trust: trust, batchSize: backend.batchSize,
                requestTimeout: backend.timeout, backlogOrder: order,
                wire: .osmAnd(OsmAndOptions(deviceID: config.identity?.imei ?? deviceID, sendHelp: backend.sendHelp)),
                role: backend.effectiveRole)
        }
        // The config names the control room's public key as base64url of its 32 raw bytes; its JWK form is
        // what DeviceIdentity parses and validates as an Ed25519 point.
        let jwk = #"{"kty":"OKP","crv":"Ed25519","x":"\#(backend.controlRoomKey ?? "")"}"#
        guard let roomKey = DeviceIdentity(jwk: jwk) else {
            throw DaemonError(
                "backends[\(index)].controlroom_key: not an Ed25519 public key; copy it from `controlroom identity`")
        }
        // The config gives the records endpoint; the transport adds `/v1/records` to the base URL itself.
        var url = backend.url.absoluteString
        for suffix in ["/v1/records", "/v1/records/"] where url.hasSuffix(suffix) {
            url = String(url.dropLast(suffix.count))
        }
        return BackendConfiguration(
            name: backend.name, url: url, trust: trust, controlRoomKey: roomKey, batchSize: backend.batchSize,
            requestTimeout: backend.timeout, backlogOrder: order, role: backend.effectiveRole)
    }

    /// The alert engine's rates and privacy mode from the configuration.
    public var engineConfiguration: AlertEngine.Configuration { Self.engineConfiguration(config) }

    /// The alert engine's settings of a configuration (its rates, its privacy mode): the daemon's, and a simulated
    /// box's running a remote configuration.
    public static func engineConfiguration(_ config: DaemonConfig) -> AlertEngine.Configuration {
        AlertEngine.Configuration(
            positionInterval: config.rates.position, emergencyPositionInterval: config.rates.emergencyPosition,
            emergencyTrackingAfter: config.rates.emergencyTrackingAfter, healthInterval: config.rates.health,
            privacyMode: config.privacyMode)
    }

    /// Where the engine's state is kept across power cuts: beside the outbox.
    public var statePath: String {
        URL(fileURLWithPath: config.outboxPath).deletingLastPathComponent().appendingPathComponent(
            "engine-state.json"
        ).path
    }

    /// The route the simulated board's GNSS drives: `PANICD_SIM_ROUTE`, or the Jaipur route shipped beside the
    /// board files (`<boards>/../sim/routes/jaipur-jctsl-3a.csv`).
    public var simulatedRoutePath: String {
        Self.simulatedRoutePath(boardFile: config.boardFile, environment: environment)
    }

    /// The simulated board's route for a board file and environment (see `simulatedRoutePath`).
    public static func simulatedRoutePath(boardFile: String, environment: [String: String]) -> String {
        if let path = environment[simRouteVariable], !path.isEmpty { return path }
        return URL(fileURLWithPath: boardFile).deletingLastPathComponent()
            .appendingPathComponent("../sim/routes/jaipur-jctsl-3a.csv").standardized.path
    }

    /// Runs the box until SIGTERM or SIGINT; returns after a clean stop. Every task runs on one thread
    /// (`DaemonLoop`), which the clock's sleeps wake. Synchronous, for a synchronous `main`: call it before the
    /// process starts any thread, so the signals it blocks (`ShutdownSignals`) are blocked in every thread.
    public func runBlocking() throws {
        let signals = ShutdownSignals()
        // NIO's blocking pool (an answer decoded off the loop, a command's signature checked, a backend's name looked
        // up) needs one thread on a box, not one per core: each thread costs its stack and its malloc arena.
        NIOSingletons.blockingPoolThreadCountSuggestion = 1
        let loop = DaemonLoop()
        let clock = loop.clock
        let network = loop.eventLoopGroup
        try loop.runBlocking { try await run(clock: clock, signals: signals, network: network) }
    }

    /// The update service (docs/updates.md), when the local file pins a control-room key (no update can be trusted
    /// otherwise: the uplink never hands one on).
    func updateService(uplink: Uplink) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let local = remote?.local ?? config
        guard !RemoteConfigGate.verifiers(local).isEmpty else { return [] }
        let agent = UpdateAgentState.defaultDirectory
        return [
            .init(
                service: UpdateService(
                    uplink: uplink,
                    gate: UpdateGate(
                        deviceID: deviceID, group: local.group, architecture: InstalledSoftware.architecture),
                    spool: UpdateSpool(outboxPath: config.outboxPath),
                    installed: { InstalledSoftware.packageVersion() },
                    agent: { UpdateAgentState.load(directory: agent) }, logger: logger.child("update")))
        ]
    }

    /// Runs the box; `network` carries the backends' connections and the local sockets (the daemon's one loop:
    /// no thread of its own wakes for them, docs/daemon.md → *Backends that sleep*).
    func run(
        clock: some MonotonicClock, signals: ShutdownSignals,
        network: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        let outboxDirectory = URL(fileURLWithPath: config.outboxPath).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(
                atPath: outboxDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DaemonError("cannot create the outbox directory \(outboxDirectory): \(error)")
        }
        let outbox: Outbox
        do {
            outbox = try PanicBox.openOutbox(
                path: config.outboxPath, key: key, streamMark: PanicBox.streamMarkPath(keyFile: config.keyFile),
                maxRecords: config.outboxMaxRecords, logger: logger.child("outbox"))
        } catch {
            throw DaemonError("cannot open the outbox \(config.outboxPath): \(error)")
        }
        // AIS-140 OTA commands on the kept sessions (docs/uplink.md → AIS-140 OTA commands): the desk is made once
        // the uplink is; the sessions start after that.
        let otaDesk = AIS140OTADeskSlot()
        let (otaApplied, otaAppliedSink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let uplink = try Uplink(
            outbox: outbox, deviceID: deviceID, signingKey: key, backends: backends, clock: clock,
            transport: { HTTPUplinkTransport(baseURL: $0.url, trust: $0.trust, eventLoopGroup: network) },
            receiver: { configuration in
                let receiver = Uplink.standardReceiver(configuration, eventLoopGroup: network)
                if let session = receiver as? AIS140Transport, let desk = otaDesk.current {
                    desk.install(on: session, backend: configuration.name) { otaAppliedSink.yield($0) }
                    otaDesk.opened(session)
                }
                return receiver
            },
            logger: logger.child("uplink"))
        if let remote {
            var desk = AIS140OTADesk(
                currentText: remote.currentText ?? remote.localText, base: remote.localBase,
                backends: config.backends, files: RemoteConfigFiles(outboxPath: config.outboxPath),
                uplink: uplink, logger: logger.child("ota"))
            desk.sms = config.sms
            otaDesk.current = desk
        }
        let hardware = try openHardware(clock: clock)
        defer { hardware.inputs.close() }
        let box = try PanicBox(
            parts: .init(
                inputs: hardware.inputs, outputs: hardware.outputs, gnss: hardware.gnss, outbox: outbox,
                uplink: uplink, statePath: statePath,
                restarts: .init(fixPath: LastFixFile.path(statePath: statePath)),
                radio: config.sms.map { ATRadioMonitor(path: $0.port, baud: $0.baud, clock: clock) },
                supply: hardware.supply, telemetryInterval: config.rates.telemetry, configVersion: remote?.version),
            configuration: engineConfiguration, clock: clock, logger: logger.child("box"))

        let notifier = SystemdNotifier(environment: environment)
        let statusBoard = StatusBoard(
            box: box, deviceID: deviceID, board: self.board, backends: backends.map(\.name), clock: clock)
        let longestTimeout = backends.map(\.requestTimeout).max() ?? .seconds(10)
        let (deliveries, deliverySink) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        // AIS-140 OTA by SMS: only with `sms.ota_numbers` and under `panicd run` (remote configuration).
        let otaInbox: [AIS140OTAInboxService] =
            if remote != nil, let sms = config.sms, !sms.otaNumbers.isEmpty {
                [
                    AIS140OTAInboxService(
                        slot: otaDesk, modem: GSMModem(path: sms.port, baud: sms.baud), every: config.rates.telemetry,
                        clock: clock, applied: { otaAppliedSink.yield($0) }, logger: logger.child("ota"))
                ]
            } else { [] }
        let remoteService: [ServiceGroupConfiguration.ServiceConfiguration] =
            remote.map { setup in
                [
                    .init(
                        service: RemoteConfigService(
                            uplink: uplink, files: RemoteConfigFiles(outboxPath: config.outboxPath),
                            gate: RemoteConfigGate(
                                deviceID: deviceID, localText: setup.localText, localBase: setup.localBase),
                            setup: setup, deliveries: deliveries, clock: clock, restart: restart,
                            logger: logger.child("config"), otaApplied: otaApplied),
                        successTerminationBehavior: .gracefullyShutdownGroup)
                ]
            } ?? []
        // Built step by step with declared types: one long `+` chain of optional maps is more than Swift 6.2's type
        // checker finishes in reasonable time (the arm64 build's compiler).
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            // First, so it is shut down last: a signal ends it, and its ending shuts the group down.
            .init(
                service: ShutdownSignalService(signals: signals, logger: logger),
                successTerminationBehavior: .gracefullyShutdownGroup),
            .init(
                service: BoxService(box: box, board: statusBoard, logger: logger, deliveries: deliverySink) {
                    // What only start-up ran leaves the resident set (docs/daemon.md → *Start-up pages given back
                    // at ready*).
                    StartupPages.release()
                    try notifier.ready(status: statusBoard.snapshot().summary)
                }),
            .init(
                service: BoxMonitor(
                    board: statusBoard, notifier: notifier, clock: clock, logger: logger.child("monitor"),
                    uplinkLimit: longestTimeout * 2 + .seconds(10))),
            .init(
                service: StatusServer(
                    path: config.statusSocket, board: statusBoard, clock: clock, logger: logger.child("status"),
                    network: network)
            ),
        ]
        services += remoteService
        services += updateService(uplink: uplink)
        for fallback in smsFallback(outbox: outbox, clock: clock) { services.append(.init(service: fallback)) }
        for inbox in otaInbox { services.append(.init(service: inbox)) }
        if let lines = hardware.simulated {
            services.append(
                .init(
                    service: SimInputServer(
                        path: simInputPath, lines: lines, logger: logger.child("sim"), network: network)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                // SIGTERM and SIGINT come through ShutdownSignalService: ServiceLifecycle's own handling uses libdispatch.
                logger: logger))
        logger.info(
            "starting",
            metadata: [
                "version": "\(PanicBridgeVersion.current)", "device": "\(deviceID)", "board": "\(board.id)",
                "backend": "\(board.backend.rawValue)",
                "outbox": "\(config.outboxPath)", "backends": "\(backends.map(\.name).joined(separator: ","))",
            ])
        if let warning = Self.noAuthorityWarning(config) { logger.warning("\(warning)") }
        if let warning = Self.smsWarning(config) { logger.warning("\(warning)") }
        // STOPPING=1 is the monitor's: it sends it as soon as graceful shutdown begins.
        try await group.run()
        logger.notice("stopped", metadata: ["undelivered": "\((try? outbox.status().undelivered) ?? -1)"])
    }

    /// The simulated board's input socket: `sim-inputs.sock` beside the status socket.
    public var simInputPath: String {
        URL(fileURLWithPath: config.statusSocket).deletingLastPathComponent().appendingPathComponent("sim-inputs.sock")
            .path
    }

    /// The SMS fallback the configuration asks for (an empty list when it has no `sms:`).
    func smsFallback(outbox: Outbox, clock: any MonotonicClock) -> [SMSFallback] {
        guard let sms = config.sms else { return [] }
        return [
            SMSFallback(
                outbox: outbox, modem: GSMModem(path: sms.port, baud: sms.baud),
                configuration: .init(
                    numbers: sms.numbers, after: sms.after,
                    place: config.identity?.vehicleRegistration ?? "box \(deviceID.prefix(12))",
                    authorities: config.authorityBackends, tamperNumbers: sms.tamperNumbers, formats: sms.formats,
                    imei: config.identity?.imei),
                clock: clock, wallClock: Uplink.systemWallClock, logger: logger.child("sms"))
        ]
    }

    /// The fix source for a board's receiver: gpsd's reports when the board names a gpsd, else NMEA from the
    /// serial port. Each carries its own decoder (the one place a receiver's protocol is chosen).
    public static func gnssSource(
        _ spec: GNSSPortSpec, clock: any MonotonicClock, logger: Logger
    ) throws(DaemonError) -> any GNSSFixSource {
        if let address = spec.gpsd {
            guard let source = GPSDSource(address: address, clock: clock) else {
                throw DaemonError("gnss.gpsd: '\(address)' is not HOST:PORT")
            }
            return source
        }
        return NMEAFixSource(
            GNSSSerialSource(path: spec.port, baud: spec.baud, clock: clock, logger: logger),
            rejected: { logger.debug("NMEA sentence dropped", metadata: ["reason": "\($0)"]) })
    }

    /// The lines and GNSS source the board's backend provides.
    struct Hardware {
        var inputs: any InputLines
        var outputs: any OutputLines
        var gnss: any GNSSFixSource
        /// The simulated board's lines, which `SimInputServer` presses.
        var simulated: SimulatedInputLines? = nil
        /// The supply monitor: the board file's `supply:` section, or the simulated board's supply.
        var supply: (any SupplyMonitor)? = nil
    }

    func openHardware(clock: some MonotonicClock) throws -> Hardware {
        switch board.backend {
        case .gpiod:
            let inputs: GPIODInputLines
            let outputs: LinuxOutputLines
            do {
                inputs = try GPIODInputLines(specs: board.inputs)
                outputs = try LinuxOutputLines(specs: board.outputs)
            } catch {
                throw DaemonError("board \(board.id) (\(config.boardFile)): \(error)")
            }
            // Opened at run time (GPIODLibrary): which one this box got, for whoever reads the journal.
            if let library = try? GPIODLibrary.loaded() {
                logger.info("GPIO through \(library.api), opened as \(library.path)")
            }
            let gnss: any GNSSFixSource
            do { gnss = try Self.gnssSource(board.gnss, clock: clock, logger: logger.child("gnss")) } catch {
                throw DaemonError("board file \(config.boardFile): \(error)")
            }
            return Hardware(
                inputs: inputs, outputs: outputs, gnss: gnss, supply: board.supply.map { SysfsSupplyMonitor(spec: $0) })
        case .simulated:
            let routePath = simulatedRoutePath
            let route: Route
            do {
                route = try Route.load(path: routePath)
            } catch {
                throw DaemonError(
                    "route \(routePath) for the simulated board: \(error) (set \(Self.simRouteVariable) to another)")
            }
            let lines = SimulatedInputLines(specs: board.inputs, clock: clock)
            try Self.performStartActs(environment[Self.simStartVariable], on: lines)
            return Hardware(
                inputs: lines, outputs: SimulatedOutputLines(specs: board.outputs, clock: clock),
                gnss: NMEAFixSource(SimulatedGNSS(drive: RouteDrive(route: route), clock: clock, startDate: Date())),
                simulated: lines, supply: SimulatedSupply(lines: lines, clock: clock))
        }
    }
}

/// The box as a service: runs it until graceful shutdown, says "ready" once it has started, and is the one
/// reader of the box's and the uplink's events: each goes to the status board and, when it is a change a
/// technician needs, to the log. Locations are never in these lines.
struct BoxService: Service {
    let box: PanicBox
    let board: StatusBoard
    let logger: Logger
    let ready: @Sendable () throws -> Void
    /// Told of every batch a backend took (the remote configuration's probation listens).
    let deliveries: AsyncStream<Void>.Continuation?

    init(
        box: PanicBox, board: StatusBoard, logger: Logger, deliveries: AsyncStream<Void>.Continuation? = nil,
        ready: @escaping @Sendable () throws -> Void
    ) {
        self.deliveries = deliveries
        self.box = box
        self.board = board
        self.logger = logger
        self.ready = ready
    }

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            // Both event streams are unbounded: someone must drain them, and the board and the log read them here.
            group.addTask {
                for await event in box.events {
                    board.record(event)
                    log(event)
                }
            }
            group.addTask {
                for await event in box.parts.uplink.events {
                    if case .delivered = event { deliveries?.yield() }
                    if let change = board.record(event) { log(change) }
                }
            }
            do {
                try ready()
            } catch {
                logger.warning("cannot tell systemd the daemon is ready", metadata: ["error": "\(error)"])
            }
            logger.notice("ready", metadata: ["emergency-open": "\(box.emergencyOpen)"])
            do {
                try await cancelWhenGracefulShutdown { try await box.run() }
            } catch is CancellationError {
                // Graceful shutdown cancels the box: a clean stop.
            }
            // Returned or cancelled (not failed): the last fix is saved and the run marked stopped.
            box.stopped()
            // The box has stopped; the event readers would wait forever.
            group.cancelAll()
        }
    }

    func log(_ event: BoxEvent) { Self.log(event, to: logger) }

    /// What the journal says about a box event: one notice line per alert event (an emergency's or a help
    /// request's `stored` is its transition's line; the record's own line is info).
    static func log(_ event: BoxEvent, to logger: Logger) {
        switch event {
        case .input(let input):
            let level: Logger.Level = input.kind.isFault || input.kind.isTamper ? .warning : .info
            let what = input.kind.isFault ? "input fault" : "input"
            logger.log(
                level: level, "\(what): \(input.name) \(input.kind.rawValue)",
                metadata: ["role": "\(input.role.rawValue)"])
        case .stored(let id, let kind, let sequence):
            let level: Logger.Level =
                switch kind {
                case .position, .health: .debug
                // Alerts and their ends have a transition line at notice (`.alert`): the record's line is info.
                case .emergency, .help, .cleared: .info
                default: .notice
                }
            let what = kind.isAlert && level == .notice ? "alert stored" : "record stored"
            logger.log(
                level: level, "\(what): \(kind.rawValue)", metadata: ["id": "\(id)", "seq": "\(sequence)"])
        case .held(let id, let kind):
            logger.error(
                "record held in memory: the outbox cannot take it",
                metadata: ["kind": "\(kind.rawValue)", "id": "\(id)"])
        case .alert(let transition):
            logger.notice(
                "alert \(transition.to.rawValue): \(transition.kind.rawValue)", metadata: ["id": "\(transition.alert)"])
        case .indicator(let state):
            logger.info("indicator: \(state.rawValue)")
        case .fault(let fault, let raised):
            if raised {
                logger.error("box fault: \(fault)")
            } else {
                logger.notice("box fault cleared: \(fault)")
            }
        }
    }

    func log(_ change: StatusBoard.BackendChange) {
        switch change {
        case .reachable(let backend):
            logger.info("backend \(backend) reachable")
        case .unreachable(let backend, let reason):
            logger.warning("backend \(backend) unreachable: \(reason)")
        case .recovered(let backend, let after, let failures):
            logger.info(
                "backend \(backend) recovered after \(after.milliseconds / 1000) s (\(failures) failed attempt(s))")
        }
    }
}

extension Logger {
    /// The same handler and level, labelled for one part.
    func child(_ part: String) -> Logger {
        var copy = self
        copy[metadataKey: "part"] = "\(part)"
        return copy
    }
}
