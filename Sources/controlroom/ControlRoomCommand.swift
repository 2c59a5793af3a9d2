import ArgumentParser
import ControlRoomKit
import Hummingbird
import Logging
import PanicCore
import PanicSigning

@main
struct ControlRoomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controlroom",
        abstract: "The PanicBridge reference control room: receives signed records, shows alerts to operators.",
        version: PanicBridgeVersion.current,
        subcommands: [Serve.self, Keygen.self, Identity.self, Devices.self, Users.self])
}

struct DatabaseOption: ParsableArguments {
    @Option(name: .long, help: "The control room's SQLite database.")
    var db: String = "controlroom.db"

    /// The registry needs no signing key.
    func open(logger: Logger) throws -> ControlRoom { try ControlRoom(path: db, key: nil, logger: logger) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Runs the HTTP server (records, operator page).")

    @OptionGroup var options: DatabaseOption

    @Option(name: .long, help: "The control room's Ed25519 key file (made by `controlroom keygen`).")
    var key: String = "controlroom.key"

    @Option(name: .long, help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:8080"

    @OptionGroup var desk: DeskOptions

    func run() async throws {
        let logger = Logger(label: "controlroom")
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
        }
        let host = String(listen[..<colon])
        let controlRoom = try ControlRoom(path: options.db, key: DeviceKey.load(path: key), logger: logger)
        let tls = try desk.tls()
        let app = try ControlRoomServer.application(
            desk: Desk(room: controlRoom, configuration: try desk.configuration(tls: tls != nil)), host: host,
            port: port, tls: tls, logger: logger,
            onRunning: { port in
                logger.notice(
                    "control room listening",
                    metadata: ["port": "\(port)", "scheme": "\(tls == nil ? "http" : "https")"])
            })
        if try controlRoom.users().isEmpty {
            logger.warning("no desk accounts yet: add one with `controlroom users add --name NAME --role admin`")
        }
        try await app.runService()
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

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The device registry.", subcommands: [Add.self, Edit.self, List.self, Remove.self, Records.self])

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sets a device's name, registration, route or booth, phone, and whether it is a responder.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id.")
        var id: String
        @OptionGroup var metadata: MetadataOptions

        func run() throws {
            guard let edit = metadata.edit else {
                throw ValidationError("nothing to change: give --name, --registration, --route, --phone or --responder")
            }
            let controlRoom = try options.open(logger: Logger(label: "controlroom"))
            let result = try controlRoom.editDevice(id: id, edit)
            print(
                "\(id)\tname=\(result.name)\tregistration=\(result.registration)\troute=\(result.route)"
                    + "\tphone=\(result.phone)\tresponder=\(result.responder)")
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Registers a device and its public key.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id (as `panicd identity` prints it).")
        var id: String
        @Option(name: .customLong("key"), help: "The device's public key: a JWK, or the raw key in base64url.")
        var publicKey: String
        @OptionGroup var metadata: MetadataOptions

        func run() throws {
            let controlRoom = try options.open(logger: Logger(label: "controlroom"))
            try controlRoom.addDevice(id: id, publicKey: publicKey)
            if let edit = metadata.edit { try controlRoom.editDevice(id: id, edit) }
            print("registered \(id)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists registered devices.")
        @OptionGroup var options: DatabaseOption

        func run() throws {
            let controlRoom = try options.open(logger: Logger(label: "controlroom"))
            for device in try controlRoom.devices() {
                let gaps = device.gaps.isEmpty ? "none" : device.gaps.joined(separator: ",")
                let name = try controlRoom.metadata(device: device.id).map { "\tname=\($0.name)" } ?? ""
                print("\(device.id)\tkid=\(device.keyID)\trecords=\(device.records)\tgaps=\(gaps)\(name)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Removes a device (its records stay).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id.")
        var id: String

        func run() throws {
            let controlRoom = try options.open(logger: Logger(label: "controlroom"))
            guard try controlRoom.removeDevice(id: id) else { throw ValidationError("no device '\(id)' is registered") }
            print("removed \(id)")
        }
    }

    /// `controlroom devices records`: what the control room holds from one device, by identity, for an audit against
    /// the box's `panicd outbox identities`.
    struct Records: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prints each stored record's sequence and envelope SHA-256 for one device, in order.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The device id.")
        var id: String

        func run() throws {
            let controlRoom = try options.open(logger: Logger(label: "controlroom"))
            for record in try controlRoom.recordIdentities(device: id) { print("\(record.sequence)\t\(record.hash)") }
        }
    }
}
