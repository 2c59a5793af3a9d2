import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicLinux
import PanicUplink
import ServiceLifecycle
import Synchronization

/// The box's side of AIS-140 OTA commands (docs/uplink.md → *AIS-140 OTA commands*): decides on each command a
/// backend's kept session carries, answers it, and carries it out the one way a configuration changes — the
/// command's overlay merged by `RemoteOverlay.merge` and checked as `panicd config check` checks a file, kept on
/// disk beside the signed document (`RemoteConfigFiles.applyOTA`), on probation, taken up by a restart.
///
/// Who may do what: a backend with `ota: true` may `SET` and `GET`; one with `ota_emergency_off: true` may
/// `CLR EO`; a backend with `ota_pin` must put that PIN in front of each command. Everything else is refused,
/// answered with the reason and logged at warning.
public struct AIS140OTADesk: Sendable {
    /// The configuration the box runs, as text (the local file, the signed document and the OTA changes merged).
    public var currentText: String
    public var base: URL?
    public var backends: [DaemonConfig.Backend]
    public var files: RemoteConfigFiles
    public var uplink: Uplink
    public var wallClock: @Sendable () -> RecordTime
    public var logger: Logger
    /// The SMS side (`sms.ota_numbers`, `sms.ota_pin`); nil: no command is taken by SMS.
    public var sms: DaemonConfig.SMS?

    public init(
        currentText: String, base: URL?, backends: [DaemonConfig.Backend], files: RemoteConfigFiles, uplink: Uplink,
        wallClock: @escaping @Sendable () -> RecordTime = Uplink.systemWallClock, logger: Logger
    ) {
        self.currentText = currentText
        self.base = base
        self.backends = backends
        self.files = files
        self.uplink = uplink
        self.wallClock = wallClock
        self.logger = logger
    }

    /// What a command did: the reply to send, and the restart reason when a `SET` was applied.
    public struct Outcome: Sendable {
        public var reply: AIS140.OTA.Reply
        public var restart: String?
    }

    /// Decides on `text` texted from `number`: nil (logged, never answered) when the number is not in
    /// `sms.ota_numbers`, so an answer never confirms the box's number to a stranger; a listed sender gets an answer
    /// to every command. `EO` is never taken by SMS (a sender's number can be spoofed).
    public func handle(_ text: String, fromSMS number: String) -> Outcome? {
        let time = wallClock()
        let source = AIS140.OTA.Source.sms(number)
        guard let sms, sms.otaNumbers.contains(number) else {
            logger.warning(
                "AIS-140 OTA SMS from an unlisted number ignored",
                metadata: ["source": "\(source)", "command": "\(LogText.quoted(text, limit: 80))"])
            return nil
        }
        let refuse = refusal(of: text, from: source, at: time)
        let command: AIS140.OTA.Command
        switch AIS140.OTA.parse(text) {
        case .failure(let error): return refuse(error.description)
        case .success(let parsed): command = parsed
        }
        if let pin = sms.otaPIN, command.pin != pin {
            return refuse(command.pin == nil ? "a PIN is required" : "wrong PIN")
        }
        if command.clearsEmergency { return refuse("EO (emergency off) is not taken by SMS") }
        return carryOut(command, source: source, time: time, refuse: refuse)
    }

    /// Decides on `text` from backend `name`'s session.
    public func handle(_ text: String, fromBackend name: String) -> Outcome {
        let time = wallClock()
        let source = AIS140.OTA.Source.server(name)
        let refuse = refusal(of: text, from: source, at: time)
        let command: AIS140.OTA.Command
        switch AIS140.OTA.parse(text) {
        case .failure(let error): return refuse(error.description)
        case .success(let parsed): command = parsed
        }
        guard let backend = backends.first(where: { $0.name == name }) else {
            return refuse("backend \(name) is not configured")
        }
        if let pin = backend.otaPIN, command.pin != pin {
            return refuse(command.pin == nil ? "a PIN is required" : "wrong PIN")
        }
        if command.clearsEmergency {
            guard backend.otaEmergencyOff else {
                return refuse("backend \(name) is not authorised to clear an emergency (ota_emergency_off)")
            }
        } else if !backend.ota {
            return refuse("backend \(name) is not authorised to send OTA commands (ota)")
        }
        return carryOut(command, source: source, time: time, refuse: refuse)
    }

    /// Refuses `text` from `source`: logged with the reason, answered with it.
    func refusal(
        of text: String, from source: AIS140.OTA.Source, at time: RecordTime
    ) -> (String) -> Outcome {
        { reason in
            logger.warning(
                "AIS-140 OTA command refused",
                metadata: [
                    "source": "\(source)", "command": "\(LogText.quoted(text, limit: 80))",
                    "reason": "\(LogText.quoted(reason, limit: 200))",
                ])
            return Outcome(reply: .refused(reason, time: time), restart: nil)
        }
    }

    func carryOut(
        _ command: AIS140.OTA.Command, source: AIS140.OTA.Source, time: RecordTime,
        refuse: (String) -> Outcome
    ) -> Outcome {
        switch AIS140OTAMapper.map(command, currentText: currentText, relativeTo: base) {
        case .failure(let refusal): return refuse(refusal.description)
        case .success(.clearEmergency):
            let cleared = uplink.clearEmergencies(by: "ais140-ota:\(source)")
            logger.notice(
                "AIS-140 OTA: emergency cleared",
                metadata: ["source": "\(source)", "alerts": "\(cleared.joined(separator: ","))"])
            let report = AIS140.OTA.alertInfo(verb: command.verb, source: source, key: .emergencyOff, value: nil)
            return Outcome(
                reply: .init(
                    answer: cleared.isEmpty ? "OK EO (no open emergency)" : "OK EO \(cleared.count) cleared",
                    reports: [report], time: time),
                restart: nil)
        case .success(.read(let values)):
            logger.info(
                "AIS-140 OTA: read", metadata: ["source": "\(source)", "keys": "\(values.map(\.key.rawValue))"])
            return Outcome(
                reply: .init(
                    answer: "OK " + values.map { "\($0.key.rawValue):\($0.value)" }.joined(separator: ","),
                    reports: values.map {
                        AIS140.OTA.alertInfo(verb: .get, source: source, key: $0.key, value: $0.value)
                    }, time: time),
                restart: nil)
        case .success(.change(let change)):
            let stored = AIS140.OTA.Command(verb: command.verb, items: command.items).canonicalText
            do { try files.applyOTA(stored) } catch {
                return refuse("cannot keep the change on disk: \(error)")
            }
            logger.notice(
                "AIS-140 OTA: configuration changed",
                metadata: ["source": "\(source)", "change": "\(LogText.quoted(stored, limit: 200))"])
            return Outcome(
                reply: .init(
                    answer: "OK " + change.values.map { "\($0.key.rawValue):\($0.value)" }.joined(separator: ","),
                    reports: change.values.map {
                        AIS140.OTA.alertInfo(verb: .set, source: source, key: $0.key, value: $0.value)
                    }, time: time),
                restart: "AIS-140 OTA \(stored) from \(source)")
        }
    }

    /// Installs the desk on every AIS-140 transport of `receivers` (by backend name): a command is answered on the
    /// session, and an applied `SET` asks `restart` once the answer is written.
    public func install(
        on transport: AIS140Transport, backend name: String, applied: @escaping @Sendable (String) -> Void
    ) {
        transport.handleCommands(
            with: { text in
                let outcome = handle(text, fromBackend: name)
                return (outcome.reply, outcome.restart)
            },
            answered: applied)
    }
}

/// Where the daemon keeps its OTA desk for the AIS-140 sessions the uplink opens once it runs (the desk needs the
/// uplink, the uplink the sessions' factory).
final class AIS140OTADeskSlot: Sendable {
    private let desk = Mutex<AIS140OTADesk?>(nil)
    private let opened = Mutex<[AIS140Transport]>([])
    var current: AIS140OTADesk? {
        get { desk.withLock { $0 } }
        set { desk.withLock { $0 = newValue } }
    }
    /// The AIS-140 sessions opened so far (they get the Alert 12 frames of commands taken by SMS).
    var sessions: [AIS140Transport] { opened.withLock { $0 } }
    func opened(_ session: AIS140Transport) { opened.withLock { $0.append(session) } }
}

/// Reads the modem's inbox for AIS-140 OTA commands with each radio reading's interval (`rates.telemetry`): the
/// port is opened per dialogue, so a `+CMTI` notice between dialogues is never seen and the inbox is read on this
/// schedule instead, on the daemon's clock. An applied `SET` asks for the restart that takes it up.
struct AIS140OTAInboxService: Service {
    let slot: AIS140OTADeskSlot
    let modem: GSMModem
    let every: Duration
    let clock: any MonotonicClock
    let applied: @Sendable (String) -> Void
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await clock.sleep(for: every) } catch { return }
                guard let desk = slot.current else { continue }
                let inbox = AIS140OTAInbox(modem: modem, desk: desk, sessions: slot.sessions, logger: logger)
                if let reason = await inbox.check() { applied(reason) }
            }
        }
    }
}

/// Reads the modem's inbox for AIS-140 OTA commands (``AIS140OTADesk/handle(_:fromSMS:)``), answers each listed
/// sender by SMS and sends the Alert 12 frames on the AIS-140 sessions given.
public struct AIS140OTAInbox: Sendable {
    public var modem: GSMModem
    public var desk: AIS140OTADesk
    /// Sessions that get the Alert 12 frames of a command taken by SMS.
    public var sessions: [AIS140Transport]
    public var logger: Logger

    public init(modem: GSMModem, desk: AIS140OTADesk, sessions: [AIS140Transport], logger: Logger) {
        self.modem = modem
        self.desk = desk
        self.sessions = sessions
        self.logger = logger
    }

    /// One read of the inbox: each message decided on and answered; returns the restart reason of the last `SET`
    /// applied, if any.
    public func check() async -> String? {
        let messages: [ModemAnswers.IncomingSMS]
        do { messages = try await modem.readMessages() } catch {
            logger.warning("cannot read the modem's inbox", metadata: ["error": "\(error)"])
            return nil
        }
        var restart: String?
        for message in messages {
            guard let outcome = desk.handle(message.text, fromSMS: message.sender) else { continue }
            do { _ = try await modem.send(outcome.reply.answer, to: message.sender) } catch {
                logger.warning(
                    "cannot answer an AIS-140 OTA SMS", metadata: ["to": "\(message.sender)", "error": "\(error)"])
            }
            for session in sessions {
                if let failure = await session.report(outcome.reply, timeout: .seconds(30)) {
                    logger.warning("cannot send the Alert 12 frames", metadata: ["error": "\(failure)"])
                }
            }
            restart = outcome.restart ?? restart
        }
        return restart
    }
}
