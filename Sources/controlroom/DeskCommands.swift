import ArgumentParser
import ControlRoomDesk
import ControlRoomKit
import Foundation
import Logging
import NIOSSL
import PanicCore
import PanicLinux

/// The desk's options of `controlroom serve`.
struct DeskOptions: ParsableArguments {
    @Option(name: .long, help: "PEM certificate chain: serve HTTPS (with --tls-key). Cookies are then Secure.")
    var tlsCert: String?

    @Option(name: .long, help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        name: .long, help: "Map tile URL template, e.g. https://tiles.example/{z}/{x}/{y}.png (default: a plain grid).")
    var tileURL: String?

    @Option(
        name: .long,
        help: "An MBTiles file the control room serves the map's tiles from itself (docs/controlroom.md → Offline map)."
    )
    var tiles: String?

    @Option(name: .long, help: "Seconds an open alert may wait for an accept before it is escalated.")
    var escalateAfter: Int = 60

    @Option(name: .long, help: "Where Debian's libjs-leaflet is installed.")
    var leafletDir: String = "/usr/share/javascript/leaflet"

    @Option(name: .long, help: "RFC 3161 time-stamping authority (http/https URL) for evidence exports' manifests.")
    var tsaURL: String?

    @Option(
        name: .long,
        help: "Seconds between repeated escalation notifications while an emergency stays unaccepted.")
    var escalateEvery: Int = 300

    @Option(name: .long, help: "SMTP relay for escalation e-mail, HOST:PORT (plain SMTP, no STARTTLS or AUTH).")
    var smtpServer: String?

    @Option(name: .long, help: "Sender address of escalation e-mail.")
    var smtpFrom: String?

    @Option(name: .long, help: "A supervisor on call to e-mail on escalation (repeat for more).")
    var notifyEmail: [String] = []

    @Option(name: .long, help: "URL to POST a signed JSON escalation to (HMAC-SHA256 in X-PanicBridge-Signature).")
    var webhookURL: String?

    @Option(
        name: .long, help: "File holding the webhook's shared secret (at least 16 bytes; a final newline is dropped).")
    var webhookSecretFile: String?

    @Option(
        name: .long,
        help: "The control room's GSM modem (its AT port, e.g. /dev/ttyUSB2) for escalation by SMS.")
    var smsModem: String?

    @Option(name: .long, help: "Baud rate of --sms-modem.")
    var smsModemBaud: Int = 115_200

    @Option(name: .long, help: "A supervisor on call to text on escalation, +COUNTRY… (repeat for more).")
    var notifySMS: [String] = []

    /// Who is notified of an unaccepted emergency (nil: nobody is configured).
    func escalation() throws -> EscalationConfiguration? {
        guard escalateEvery > 0 else { throw ValidationError("--escalate-every must be a positive number of seconds") }
        var email: SMTPConfiguration?
        if let smtpServer {
            guard let colon = smtpServer.lastIndex(of: ":"),
                let port = Int(smtpServer[smtpServer.index(after: colon)...])
            else { throw ValidationError("--smtp-server must be HOST:PORT, got '\(smtpServer)'") }
            guard let smtpFrom else { throw ValidationError("--smtp-server needs --smtp-from") }
            guard !notifyEmail.isEmpty else { throw ValidationError("--smtp-server needs at least one --notify-email") }
            do {
                email = try SMTPConfiguration(
                    host: String(smtpServer[..<colon]), port: port, from: smtpFrom, to: notifyEmail)
            } catch { throw ValidationError("\(error)") }
        } else if smtpFrom != nil || !notifyEmail.isEmpty {
            throw ValidationError("--smtp-from and --notify-email need --smtp-server")
        }
        var webhook: WebhookConfiguration?
        switch (webhookURL, webhookSecretFile) {
        case (nil, nil): break
        case (let url?, let file?):
            var secret: [UInt8]
            do { secret = Array(try Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                throw ValidationError("--webhook-secret-file \(file): cannot read it (\(error.localizedDescription))")
            }
            while secret.last == UInt8(ascii: "\n") || secret.last == UInt8(ascii: "\r") { secret.removeLast() }
            do { webhook = try WebhookConfiguration(url: url, secret: secret) } catch {
                throw ValidationError("\(error)")
            }
        default: throw ValidationError("--webhook-url and --webhook-secret-file go together")
        }
        var sms: SMSEscalation?
        switch (smsModem, notifySMS.isEmpty) {
        case (nil, true): break
        case (let path?, false):
            // Not checked for here: a USB modem may enumerate after the control room starts, and intake must not
            // wait for it. The port is opened for each message; a missing one is that message's audited failure.
            do {
                sms = try SMSEscalation(
                    numbers: notifySMS, modem: GSMModem(path: path, baud: smsModemBaud), modemName: path)
            } catch { throw ValidationError("\(error)") }
        case (nil, false): throw ValidationError("--notify-sms needs --sms-modem (the control room's modem)")
        case (_?, true): throw ValidationError("--sms-modem needs at least one --notify-sms")
        }
        guard email != nil || webhook != nil || sms != nil else { return nil }
        return EscalationConfiguration(
            after: .seconds(escalateAfter), every: .seconds(escalateEvery), email: email, webhook: webhook, sms: sms)
    }

    func tls() throws -> TLSConfiguration? {
        switch (tlsCert, tlsKey) {
        case (nil, nil): return nil
        case (let cert?, let key?): return try ControlRoomServer.tlsConfiguration(certificate: cert, key: key)
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    func configuration(tls: Bool) throws -> DeskConfiguration {
        guard escalateAfter > 0 else { throw ValidationError("--escalate-after must be a positive number of seconds") }
        if let tileURL, !(tileURL.contains("{z}") && tileURL.contains("{x}") && tileURL.contains("{y}")) {
            throw ValidationError("--tile-url must contain {z}, {x} and {y}, got '\(tileURL)'")
        }
        if let tileURL, DeskConfiguration.tileSource(tileURL) == nil {
            throw ValidationError(
                "--tile-url must be an http(s) URL with a plain host (the page's security policy names it), or a "
                    + "path on the control room, got '\(tileURL)'")
        }
        if tiles != nil, tileURL != nil {
            throw ValidationError("--tiles and --tile-url are two sources for one map: give one")
        }
        try Self.checkTSA(tsaURL)
        var configuration = DeskConfiguration(
            tileURL: tileURL, escalateAfter: .seconds(escalateAfter), leafletDirectory: leafletDir, secureCookies: tls,
            // Served over TLS: browsers are told to use nothing else for a year.
            strictTransportSecurity: tls ? .seconds(365 * 24 * 3600) : nil, tsaURL: tsaURL)
        configuration.escalation = try escalation()
        if let tiles {
            do { configuration.tiles = try MBTiles(path: tiles) } catch { throw ValidationError(error.description) }
        }
        return configuration
    }

    static func checkTSA(_ url: String?) throws {
        guard let url else { return }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ValidationError("--tsa-url must be an http(s) URL, got '\(url)'")
        }
    }
}

/// The metadata options of `devices add` and `devices edit`.
struct MetadataOptions: ParsableArguments {
    @Option(name: .long, help: "A name operators know the device by.")
    var name: String?
    @Option(name: .long, help: "The vehicle's registration number.")
    var registration: String?
    @Option(name: .long, help: "The route, or the booth's location.")
    var route: String?
    @Option(name: .long, help: "The vehicle operator's or booth keeper's phone.")
    var phone: String?
    @Option(name: .long, help: "Whether the device rides with a responder that can be dispatched (true/false).")
    var responder: Bool?
    @Option(name: .long, help: "The box's maker (the §63 certificate names it).")
    var make: String?
    @Option(name: .long, help: "The box's model.")
    var model: String?
    @Option(name: .long, help: "The box's serial number or IMEI (letters, digits, - / .; at most 64).")
    var serial: String?

    var edit: DeviceMetadataEdit? {
        let edit = DeviceMetadataEdit(
            name: name, registration: registration, route: route, phone: phone, responder: responder, make: make,
            model: model, serial: serial)
        return edit == DeviceMetadataEdit() ? nil : edit
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Desk accounts: operators, supervisors, administrators.",
        subcommands: [
            Add.self, Remove.self, Passwd.self, Role.self, List.self, Tokens.self, IssueToken.self, RevokeToken.self,
        ])

    /// The password from --password-file, or the first line of standard input.
    static func password(file: String?) throws -> String {
        let text: String
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read --password-file \(file)")
            }
            text = String(decoding: data, as: UTF8.self)
        } else {
            guard let line = readLine(strippingNewline: true) else {
                throw ValidationError("give the password on standard input or with --password-file")
            }
            text = line
        }
        return text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Adds an account; the password is read from standard input (or --password-file).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The login name.")
        var name: String
        @Option(name: .long, help: "operator, supervisor or admin.")
        var role: String = "operator"
        @Option(name: .long, help: "A file whose first line is the password.")
        var passwordFile: String?
        @Flag(name: .long, help: "Also create an API token for automation (printed once).")
        var token = false

        func run() async throws {
            guard let role = DeskRole(rawValue: role) else {
                throw ValidationError(DeskError.unknownRole(role).description)
            }
            let (name, token, password) = (name, token, try Users.password(file: passwordFile))
            let secret = try await options.withRoom {
                try await $0.addUser(name: name, role: role, password: password, token: token)
            }
            print("added \(name) (\(role.rawValue))")
            if let secret { print("token: \(secret)") }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Removes an account (its audit lines stay).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The login name.")
        var name: String

        func run() async throws {
            let name = name
            guard try await options.withRoom({ try await $0.removeUser(name: name) }) else {
                throw ValidationError("no user '\(name)'")
            }
            print("removed \(name)")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sets an account's password, read from standard input (or --password-file).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The login name.")
        var name: String
        @Option(name: .long, help: "A file whose first line is the password.")
        var passwordFile: String?

        func run() async throws {
            let (name, password) = (name, try Users.password(file: passwordFile))
            try await options.withRoom { try await $0.setPassword(name: name, password: password) }
            print("password of \(name) changed; its sessions and API tokens ended")
        }
    }

    struct Role: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Gives an account another role (its open sessions see it at their next request).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The login name.")
        var name: String
        @Option(name: .long, help: "operator, supervisor or admin.")
        var role: String

        func run() async throws {
            guard let role = DeskRole(rawValue: role) else {
                throw ValidationError(DeskError.unknownRole(role).description)
            }
            let name = name
            try await options.withRoom { try await $0.setRole(name: name, role: role) }
            print("\(name) is now \(role.rawValue)")
        }
    }

    struct Tokens: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lists an account's API tokens: id, when issued, when last used (never the secret).")
        @OptionGroup var options: DatabaseOption
        @Argument(help: "The login name.")
        var name: String

        func run() async throws {
            let name = name
            let tokens = try await options.withRoom { try await $0.tokens(user: name) }
            if tokens.isEmpty { print("\(name) has no API tokens") }
            for token in tokens {
                let used = token.lastUsedMs.map { RecordTime(epochMilliseconds: $0).description } ?? "never"
                print("\(token.id)\tcreated=\(RecordTime(epochMilliseconds: token.createdMs))\tlast-used=\(used)")
            }
        }
    }

    struct IssueToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issue-token",
            abstract: "Issues another API token for an account (printed once). To rotate: issue, then revoke the old.")
        @OptionGroup var options: DatabaseOption
        @Argument(help: "The login name.")
        var name: String

        func run() async throws {
            let name = name
            let (id, secret) = try await options.withRoom { try await $0.issueToken(user: name) }
            print("issued \(id) for \(name)")
            print("token: \(secret)")
        }
    }

    struct RevokeToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-token", abstract: "Revokes an API token: refused from the next request on.")
        @OptionGroup var options: DatabaseOption
        @Argument(help: "The token's id (tok_…, from `users tokens NAME`).")
        var id: String

        func run() async throws {
            let id = id
            try await options.withRoom { try await $0.revokeToken(id: id) }
            print("revoked \(id)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists accounts.")
        @OptionGroup var options: DatabaseOption

        func run() async throws {
            for user in try await options.withRoom({ try await $0.users() }) {
                print("\(user.name)\trole=\(user.role.rawValue)\ttoken=\(user.hasToken ? "yes" : "no")")
            }
        }
    }
}
