import Foundation
import Logging
import PanicCore
import PanicHardware
import PanicStore
import PanicUplink
import ServiceLifecycle
import Synchronization

/// The SMS fallback: an alert (emergency, help, tamper) that no alerting authority (`role: authority`; with no
/// `authorities` configured, no data backend) has acknowledged `after` it was made goes as a short text through the
/// GSM modem — emergency and help to `numbers`, tamper to `tamperNumbers` — at most once per alert and number. Each
/// number gets the AIS-140 §3.1.5 fields a state SMS gateway parses (`SMSFormat.fields`) unless it asks for a
/// sentence (`.text`).
///
/// Each message is recorded in the outbox before the dialogue starts (`attempting`) and after it (`sent`, or
/// `failed` when the modem refused it: before taking the text, or with `+CMS ERROR` after it). A power cut between
/// handing the text over (`AT+CMGS`, the text, Ctrl-Z) and the modem's answer leaves `attempting`: the message may or
/// may not have gone out, and it is not sent again — at most once, chosen because "at most one SMS per alert per
/// number" is the rule and the window is the few seconds of one dialogue (docs/outbox.md → SMS). A `failed` message
/// is tried again after a wait that doubles with each refusal (`firstRetry` up to `longestRetry`, on the injected
/// clock) until it is sent, an authority acknowledges the alert, or the alert is cleared.
public final class SMSFallback: Service, Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Numbers that get emergency and help texts (`+91…`).
        public var numbers: [String]
        /// Numbers that get tamper texts (wire cut, box opened); none: tamper alerts are not texted.
        public var tamperNumbers: [String]
        /// How each number's texts are written; a number not listed gets the §3.1.5 fields.
        public var formats: [String: SMSFormat]
        /// How long an alert waits for a data backend's acknowledgement before it is texted.
        public var after: Duration
        /// How often unacknowledged alerts are looked for.
        public var checkInterval: Duration
        /// The vehicle or booth the sentence names (registration, booth id).
        public var place: String
        /// The box's IMEI, the fields' first (`x` when not configured).
        public var imei: String?
        /// The backends whose acknowledgement means the police have the alert (the alerting authorities): an
        /// alert none of them acknowledged is texted, whatever a tracking server said. Nil: any backend's counts.
        public var authorities: [String]?
        /// The wait after a refused text before it is tried again; doubled with each refusal, up to `longestRetry`.
        public var firstRetry: Duration
        public var longestRetry: Duration

        public init(
            numbers: [String], after: Duration = .seconds(120), checkInterval: Duration = .seconds(10), place: String,
            authorities: [String]? = nil, tamperNumbers: [String] = [], formats: [String: SMSFormat] = [:],
            imei: String? = nil, firstRetry: Duration = .seconds(10), longestRetry: Duration = .seconds(300)
        ) {
            self.numbers = numbers
            self.tamperNumbers = tamperNumbers
            self.formats = formats
            self.after = after
            self.checkInterval = checkInterval
            self.place = place
            self.imei = imei
            self.authorities = authorities
            self.firstRetry = firstRetry
            self.longestRetry = longestRetry
        }

        /// Who gets a text for an alert of `kind`.
        public func recipients(for kind: RecordKind) -> [String] { kind == .tamper ? tamperNumbers : numbers }

        /// The wait before the next try after `refusals` refusals (1, 2, …).
        public func retryDelay(afterRefusals refusals: Int) -> Duration {
            var delay = firstRetry
            for _ in 1..<max(1, refusals) {
                delay *= 2
                if delay >= longestRetry { return longestRetry }
            }
            return min(delay, longestRetry)
        }
    }

    /// What one check did for one alert and number.
    public enum Outcome: Sendable, Hashable {
        case sent(alert: Int64, number: String, reference: Int)
        /// Refused (before the text was taken, or `+CMS ERROR` after it): tried again after its wait.
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
    /// Refused messages by alert and number: how often, and not before when the next try is.
    private let refusals = Mutex<[RetryKey: (count: Int, notBefore: MonotonicInstant)]>([:])

    struct RetryKey: Hashable {
        var alert: Int64
        var number: String
    }

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
        let cleared = try clearedAlerts(after: unacknowledged.first?.sequence)
        // Waits for alerts acknowledged meanwhile are forgotten.
        let open = Set(unacknowledged.map(\.sequence))
        refusals.withLock { $0 = $0.filter { open.contains($0.key.alert) } }
        for stored in unacknowledged {
            guard let record = stored.decodedRecord(), !cleared.contains(record.id) else { continue }
            for number in configuration.recipients(for: record.kind) {
                // Stopping: what is not started now is texted after the restart.
                if Task.isCancelled { return outcomes }
                let key = RetryKey(alert: stored.sequence, number: number)
                switch try outbox.smsState(alert: stored.sequence, number: number) {
                case .sent, .attempting: continue
                case .failed:
                    if let notBefore = refusals.withLock({ $0[key]?.notBefore }), clock.now < notBefore { continue }
                case nil: break
                }
                let text = SMSText.compose(
                    for: record, format: configuration.formats[number] ?? .fields, place: configuration.place,
                    imei: configuration.imei)
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
                    refusals.withLock { _ = $0.removeValue(forKey: key) }
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
                    let stopping = Task.isCancelled
                    let delay = refusals.withLock { refusals -> Duration in
                        let count = (refusals[key]?.count ?? 0) + 1
                        let delay = configuration.retryDelay(afterRefusals: count)
                        refusals[key] = (count, clock.now.advanced(by: delay))
                        return delay
                    }
                    logger.warning(
                        stopping ? "SMS abandoned at shutdown; sent after the restart" : "SMS not sent; tried again",
                        metadata: [
                            "seq": "\(stored.sequence)", "error": "\(error.reason)",
                            "retry_in": "\(stopping ? .zero : delay)",
                        ])
                    outcomes.append(.failed(alert: stored.sequence, number: number, reason: error.reason))
                }
            }
        }
        return outcomes
    }

    /// The ids of the alerts cleared by a record after `sequence` (nil: none to look for).
    func clearedAlerts(after sequence: Int64?) throws -> Set<String> {
        guard let sequence else { return [] }
        var ids: Set<String> = []
        for stored in try outbox.clears(after: sequence) {
            if case .cleared(let alert, _) = stored.decodedRecord()?.body { ids.insert(alert) }
        }
        return ids
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
