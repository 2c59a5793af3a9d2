import Foundation
import Logging
import PanicCore
import PanicHardware
import PanicSigning
import PanicStore
import ServiceLifecycle
import Synchronization

/// The SMS fallback: an alert (emergency, help, tamper) that no alerting authority (`role: authority`; with no
/// `authorities` configured, no data backend) has acknowledged `after` it was made
/// goes as a short text to every configured number, through the GSM modem — at most once per alert and number.
///
/// Each message is recorded in the outbox before the dialogue starts (`attempting`) and after it (`sent`, or
/// `failed` when the modem refused before taking the text). A power cut between handing the text over
/// (`AT+CMGS`, the text, Ctrl-Z) and the modem's `+CMGS:` leaves `attempting`: the message may or may not have gone
/// out, and it is not sent again — at most once, chosen because "at most one SMS per alert per number" is the rule
/// and the window is the few seconds of one dialogue (docs/outbox.md → SMS). A `failed` message is tried again at the
/// next check; an alert a backend acknowledges meanwhile is not texted at all.
public final class SMSFallback: Service, Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Numbers that get the text (`+91…`).
        public var numbers: [String]
        /// How long an alert waits for a data backend's acknowledgement before it is texted.
        public var after: Duration
        /// How often unacknowledged alerts are looked for.
        public var checkInterval: Duration
        /// The vehicle or booth the text names (registration, booth id).
        public var place: String
        /// The backends whose acknowledgement means the police have the alert (the alerting authorities): an
        /// alert none of them acknowledged is texted, whatever a tracking server said. Nil: any backend's counts.
        public var authorities: [String]?

        public init(
            numbers: [String], after: Duration = .seconds(120), checkInterval: Duration = .seconds(10), place: String,
            authorities: [String]? = nil
        ) {
            self.numbers = numbers
            self.after = after
            self.checkInterval = checkInterval
            self.place = place
            self.authorities = authorities
        }
    }

    /// What one check did for one alert and number.
    public enum Outcome: Sendable, Hashable {
        case sent(alert: Int64, number: String, reference: Int)
        /// Refused before the text was taken: tried again next time.
        case failed(alert: Int64, number: String, reason: String)
        /// Failed after the text was handed over: it may have gone out; not sent again.
        case uncertain(alert: Int64, number: String, reason: String)
    }

    let outbox: Outbox
    let modem: any SMSModem
    let configuration: Configuration
    let clock: any MonotonicClock
    let wallClock: @Sendable () -> RecordTime
    let logger: Logger
    private let checking = Mutex(false)

    /// Whether a check (and so perhaps a modem dialogue) is under way: a virtual-time driver waits for it.
    public var isBusy: Bool { checking.withLock { $0 } }

    public init(
        outbox: Outbox, modem: any SMSModem, configuration: Configuration, clock: any MonotonicClock,
        wallClock: @escaping @Sendable () -> RecordTime, logger: Logger
    ) {
        self.outbox = outbox
        self.modem = modem
        self.configuration = configuration
        self.clock = clock
        self.wallClock = wallClock
        self.logger = logger
    }

    /// Checks every `checkInterval` until graceful shutdown or cancellation.
    ///
    /// Under the daemon's `ServiceGroup` a stop is a graceful shutdown, not a cancellation: both the wait between
    /// checks and a check under way (a modem dialogue can wait 30 s for `+CMGS:`) end on it. A dialogue ended so is
    /// recorded as any other refusal — `failed` (texted after the restart) before the text was handed over,
    /// `attempting` (at most once) after.
    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let pass = Task(executorPreference: clock.preferredExecutor) { try await self.check() }
            do {
                _ = try await withTaskCancellationOrGracefulShutdownHandler {
                    try await pass.value
                } onCancelOrGracefulShutdown: {
                    pass.cancel()
                }
            } catch {
                logger.error("SMS fallback: cannot read the outbox", metadata: ["error": "\(error)"])
            }
            let next = clock.now.advanced(by: configuration.checkInterval)
            guard await BoxMonitor.sleep(until: next, clock: clock) else { return }
        }
    }

    /// One pass: texts every alert older than `after` that no backend acknowledged, to every number not yet texted.
    public func check() async throws -> [Outcome] {
        checking.withLock { $0 = true }
        defer { checking.withLock { $0 = false } }
        let now = wallClock()
        let cutoff = RecordTime(epochMilliseconds: now.epochMilliseconds - configuration.after.milliseconds)
        var outcomes: [Outcome] = []
        let unacknowledged =
            try configuration.authorities.map { try outbox.alertsUnacknowledged(madeAtOrBefore: cutoff, byAnyOf: $0) }
            ?? outbox.alertsUnacknowledged(madeAtOrBefore: cutoff)
        for stored in unacknowledged {
            guard let record = Self.record(in: stored.envelope) else { continue }
            let text = SMSText.compose(for: record, place: configuration.place)
            for number in configuration.numbers {
                // Stopping: what is not started now is texted after the restart.
                if Task.isCancelled { return outcomes }
                switch try outbox.smsState(alert: stored.sequence, number: number) {
                case .sent, .attempting: continue
                case .failed, nil: break
                }
                try outbox.recordSMS(.attempting, alert: stored.sequence, number: number, at: wallClock())
                let result: Result<Int, SMSModemError>
                do throws(SMSModemError) {
                    result = .success(try await modem.send(text, to: number))
                } catch {
                    result = .failure(error)
                }
                switch result {
                case .success(let reference):
                    try outbox.recordSMS(
                        .sent, alert: stored.sequence, number: number, at: wallClock(), reference: reference)
                    logger.notice(
                        "alert sent by SMS", metadata: ["seq": "\(stored.sequence)", "reference": "\(reference)"])
                    outcomes.append(.sent(alert: stored.sequence, number: number, reference: reference))
                case .failure(let error) where error.textHandedOver:
                    // Left `attempting`: it may have gone out; at most once.
                    try outbox.recordSMS(
                        .attempting, alert: stored.sequence, number: number, at: wallClock(), detail: error.reason)
                    logger.error(
                        "SMS may or may not have been sent; not sent again",
                        metadata: ["seq": "\(stored.sequence)", "error": "\(error.reason)"])
                    outcomes.append(.uncertain(alert: stored.sequence, number: number, reason: error.reason))
                case .failure(let error):
                    try outbox.recordSMS(
                        .failed, alert: stored.sequence, number: number, at: wallClock(), detail: error.reason)
                    logger.warning(
                        Task.isCancelled
                            ? "SMS abandoned at shutdown; sent after the restart"
                            : "SMS not sent; tried again at the next check",
                        metadata: ["seq": "\(stored.sequence)", "error": "\(error.reason)"])
                    outcomes.append(.failed(alert: stored.sequence, number: number, reason: error.reason))
                }
            }
        }
        return outcomes
    }

    static func record(in envelope: String) -> Record? {
        let parts = envelope.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: payload)
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
