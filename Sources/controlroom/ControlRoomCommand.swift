import ArgumentParser
import ControlRoomDesk
import ControlRoomKit
import ControlRoomPostgres
import CoreMetrics
import Hummingbird
import Logging
import PanicCore
import PanicSigning
import Prometheus
import ServiceLifecycle

@main
struct ControlRoomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controlroom",
        abstract: "The PanicBridge reference control room: receives signed records, shows alerts to operators.",
        version: PanicBridgeVersion.current,
        subcommands: [
            Serve.self, Keygen.self, Identity.self, Devices.self, Users.self, ConfigCommand.self, RolloutCommand.self,
            UpdateCommand.self, Evidence.self,
        ])
}

struct DatabaseOption: ParsableArguments {
    @Option(
        name: .long,
        help:
            "The control room's database: a SQLite file, or postgres://user[:password]@host[:port]/db (several `serve` may share one)."
    )
    var db: String = "controlroom.db"

    var isPostgres: Bool { db.hasPrefix("postgres://") || db.hasPrefix("postgresql://") }

    /// Runs `body` with the control room on `--db` (the registry needs no signing key), then closes it.
    func withRoom<T: Sendable>(
        key: DeviceKey? = nil, logger: Logger = Logger(label: "controlroom"),
        _ body: @Sendable (ControlRoom) async throws -> T
    ) async throws -> T {
        guard isPostgres else { return try await body(ControlRoom(path: db, key: key, logger: logger)) }
        return try await PostgresControlRoomStore.with(url: try PostgresURL(db), logger: logger) { store in
            try await body(ControlRoom(store: store, key: key, logger: logger))
        }
    }
}

/// Runs the HTTP application after the PostgreSQL schema is up to date (the pool runs as the service before it).
struct MigratedApplication<App: ApplicationProtocol>: Service {
    let store: PostgresControlRoomStore
    let app: App

    func run() async throws {
        try await store.migrate()
        try await app.run()
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Runs the HTTP server (records, operator page).")

    @OptionGroup var options: DatabaseOption

    @Option(name: .long, help: "The control room's Ed25519 key file (made by `controlroom keygen`).")
    var key: String = "controlroom.key"

    @Option(name: .long, help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:8080"

    @OptionGroup var desk: DeskOptions

    @OptionGroup var updates: UpdatesOption

    func run() async throws {
        let logger = Logger(label: "controlroom")
        let packages = updates.packages(database: options)
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
        }
        let host = String(listen[..<colon])
        let signingKey = try DeviceKey.load(path: key)
        // /metrics: a Prometheus registry for the control room's figures and the PostgreSQL pool's (swift-metrics).
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        MetricsSystem.bootstrap(factory)
        let metrics = ControlRoomMetrics(factory: factory)
        let endpoint = MetricsEndpoint(metrics: metrics, emit: { registry.emitToBuffer() })
        let tls = try desk.tls()
        let deskConfiguration = try desk.configuration(tls: tls != nil)
        let running: @Sendable (Int) async -> Void = { port in
            logger.notice(
                "control room listening", metadata: ["port": "\(port)", "scheme": "\(tls == nil ? "http" : "https")"])
        }
        guard options.isPostgres else {
            let store = try SQLiteControlRoomStore(path: options.db)
            let controlRoom = ControlRoom(store: store, key: signingKey, logger: logger, metrics: metrics)
            let room = Desk(room: controlRoom, configuration: deskConfiguration)
            let app = try ControlRoomServer.application(
                desk: room, host: host, port: port, tls: tls, metrics: endpoint, updates: packages, logger: logger,
                onRunning: running)
            if try await controlRoom.users().isEmpty {
                logger.warning("no desk accounts yet: add one with `controlroom users add --name NAME --role admin`")
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: SQLiteCheckpointer(store: store, logger: logger)), .init(service: app),
                        .init(service: Self.rollouts(room, logger: logger)),
                    ] + Self.escalator(room, logger: logger),
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            return
        }
        // PostgreSQL: the connection pool is a service of its own, started first and stopped last.
        let store = PostgresControlRoomStore(url: try PostgresURL(options.db), logger: logger)
        let controlRoom = ControlRoom(store: store, key: signingKey, logger: logger, metrics: metrics)
        let room = Desk(room: controlRoom, configuration: deskConfiguration)
        let app = try ControlRoomServer.application(
            desk: room, host: host, port: port, tls: tls, metrics: endpoint, updates: packages, logger: logger,
            onRunning: running)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: store), .init(service: PostgresDeskFeed(store: store, changes: controlRoom.changes)),
                    .init(service: MigratedApplication(store: store, app: app)),
                    .init(service: Self.rollouts(room, logger: logger)),
                ] + Self.escalator(room, logger: logger),
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

extension Serve {
    /// The staged-rollout service (docs/configuration.md → *Staged rollouts*).
    static func rollouts(_ desk: Desk, logger: Logger) -> RolloutService {
        RolloutService(room: desk.room, signal: desk.signal, logger: logger)
    }

    /// The escalation service, when a channel is configured.
    static func escalator(_ desk: Desk, logger: Logger) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard let escalation = desk.configuration.escalation else { return [] }
        return [
            .init(service: Escalator(room: desk.room, signal: desk.signal, configuration: escalation, logger: logger))
        ]
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Creates the control room's Ed25519 command-signing key (mode 0600).")

    @Option(name: .long, help: "Where to write the key.")
    var out: String = "controlroom.key"

    @Flag(name: .long, help: "Replace an existing key file.")
    var force = false

    func run() throws {
        let key = DeviceKey.generate()
        try key.write(to: out, force: force)
        print("wrote \(out)")
        print("public key (pin this on every device): \(key.identity.jwk)")
    }
}

struct Identity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prints the control room's public key, which devices pin to verify commands.")

    @Option(name: .long, help: "The control room's key file.")
    var key: String = "controlroom.key"

    func run() throws {
        let identity = try DeviceKey.load(path: key).identity
        print("jwk: \(identity.jwk)")
        print("x: \(identity.publicKeyBase64URL)")
        print("kid: \(identity.thumbprint)")
    }
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The device registry.", subcommands: [Add.self, Edit.self, List.self, Remove.self, Records.self])

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Sets a device's name, registration, route or booth, phone, responder flag, make, model, serial / IMEI."
        )
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id.")
        var id: String
        @OptionGroup var metadata: MetadataOptions
        @Option(
            name: .long,
            help: "The device's rollout group (`config push --group`); an empty string takes it out of its group.")
        var group: String?

        func run() async throws {
            let (id, group) = (id, group)
            if let group {
                try await options.withRoom { try await $0.setGroup(device: id, group: group) }
                print("\(id)\tgroup=\(group)")
                if metadata.edit == nil { return }
            }
            guard let edit = metadata.edit else {
                throw ValidationError(
                    "nothing to change: give --name, --registration, --route, --phone, --responder, --make, --model, --serial or --group"
                )
            }
            let result = try await options.withRoom { try await $0.editDevice(id: id, edit) }
            print(
                "\(id)\tname=\(result.name)\tregistration=\(result.registration)\troute=\(result.route)"
                    + "\tphone=\(result.phone)\tresponder=\(result.responder)\tmake=\(result.make)"
                    + "\tmodel=\(result.model)\tserial=\(result.serial)")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Registers a device and its public key.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id (as `panicd identity` prints it).")
        var id: String
        // The next word is the key even when it starts with `-`, as a base64url key does one time in 64.
        @Option(
            name: .customLong("key"), parsing: .unconditional,
            help: "The device's public key: a JWK, or the raw key in base64url.")
        var publicKey: String
        @OptionGroup var metadata: MetadataOptions

        func run() async throws {
            let (id, publicKey, edit) = (id, publicKey, metadata.edit)
            try await options.withRoom { controlRoom in
                try await controlRoom.addDevice(id: id, publicKey: publicKey)
                if let edit { try await controlRoom.editDevice(id: id, edit) }
            }
            print("registered \(id)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists registered devices.")
        @OptionGroup var options: DatabaseOption

        func run() async throws {
            let lines = try await options.withRoom { controlRoom in
                var lines: [String] = []
                for device in try await controlRoom.devices() {
                    let gaps = device.gaps.isEmpty ? "none" : device.gaps.joined(separator: ",")
                    let name = try await controlRoom.metadata(device: device.id).map { "\tname=\($0.name)" } ?? ""
                    lines.append("\(device.id)\tkid=\(device.keyID)\trecords=\(device.records)\tgaps=\(gaps)\(name)")
                }
                return lines
            }
            for line in lines { print(line) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Removes a device (its records stay).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id.")
        var id: String

        func run() async throws {
            let id = id
            guard try await options.withRoom({ try await $0.removeDevice(id: id) }) else {
                throw ValidationError("no device '\(id)' is registered")
            }
            print("removed \(id)")
        }
    }

    /// `controlroom devices records`: what the control room holds from one device, by identity, for an audit against
    /// the box's `panicd outbox identities`.
    struct Records: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prints each stored record's sequence and envelope SHA-256 for one device, in order.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id.")
        var id: String

        func run() async throws {
            let id = id
            let records = try await options.withRoom { try await $0.recordIdentities(device: id) }
            for record in records { print("\(record.sequence)\t\(record.hash)") }
        }
    }
}
