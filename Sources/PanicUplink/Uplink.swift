import Foundation
import Logging
import NIOCore
import NIOPosix
import PanicCore
import PanicSigning
import PanicStore
import Synchronization

/// One backend the device reports to.
public struct BackendConfiguration: Sendable {
    /// A short name; it keys the backend's delivery state (its cursor) in the outbox.
    public var name: String
    /// Base URL, `https://host:port` (the records go to `/v1/records`).
    public var url: String
    /// Which CAs the server certificate must chain to.
    public var trust: TrustRoots
    /// The control room's public key; commands from this backend are checked against it. Without one, the
    /// backend's commands are refused.
    public var controlRoomKey: DeviceIdentity?
    /// Most records per request.
    public var batchSize: Int
    /// Deadline of one request.
    public var requestTimeout: Duration
    /// Order of the backlog (after alerts and live records).
    public var backlogOrder: BacklogOrder
    /// Backoff of the alert lane.
    public var alertPolicy: BackoffPolicy
    /// Backoff of the backlog lane.
    public var routinePolicy: BackoffPolicy
    /// How often to ask for commands while an alert is open and nothing else is sent.
    public var pollInterval: Duration
    /// The protocol the backend speaks (PanicBridge's own by default).
    public var wire: BackendProtocol
    /// What the backend is to the box's alerts: only an authority's acknowledgement makes an alert `sent`.
    public var role: BackendRole
    /// Most backlog batches in flight at once while the link works (`DeliveryStateMachine.backlogWindow`); nil
    /// for the protocol's own (`BackendProtocol.backlogWindow`).
    public var backlogWindow: Int?

    /// A backend; without `role`, a PanicBridge control room is the alerting authority and any other protocol
    /// (AIS-140, OsmAnd) a tracking server.
    public init(
        name: String, url: String, trust: TrustRoots = .system, controlRoomKey: DeviceIdentity? = nil,
        batchSize: Int = 200, requestTimeout: Duration = .seconds(10), backlogOrder: BacklogOrder = .oldestFirst,
        alertPolicy: BackoffPolicy = .alert, routinePolicy: BackoffPolicy = .routine,
        pollInterval: Duration = .seconds(5), wire: BackendProtocol = .panicBridge, role: BackendRole? = nil,
        backlogWindow: Int? = nil
    ) {
        self.name = name
        self.url = url
        self.trust = trust
        self.controlRoomKey = controlRoomKey
        self.batchSize = batchSize
        self.requestTimeout = requestTimeout
        self.backlogOrder = backlogOrder
        self.alertPolicy = alertPolicy
        self.routinePolicy = routinePolicy
        self.pollInterval = pollInterval
        self.wire = wire
        self.role = role ?? Self.defaultRole(for: wire)
        self.backlogWindow = backlogWindow
    }

    /// The backlog window in use: the configured one, else the protocol's.
    public var effectiveBacklogWindow: Int { max(1, backlogWindow ?? wire.backlogWindow) }

    /// The role a backend of `wire` has unless configured otherwise.
    public static func defaultRole(for wire: BackendProtocol) -> BackendRole {
        if case .panicBridge = wire { .authority } else { .tracking }
    }
}

/// What the uplink did, for tests, benchmarks and status displays.
public enum UplinkEvent: Sendable, Equatable {
    /// A request went through: `records` were sent (duplicates included), `lane` says which lane.
    case delivered(backend: String, lane: DeliveryStateMachine.Lane, records: Int)
    /// A request failed; the records are pending again and the lane backs off.
    case failed(backend: String, lane: DeliveryStateMachine.Lane, reason: String)
    /// Nothing is in flight for the backend; it next acts at `until` (a backoff end or a poll), or on new records.
    case idle(backend: String, until: MonotonicInstant?)
    /// The backend refused a record for a reason a resend will not fix. An alert refused so stays pending (and
    /// `AlertDesk.undeliverable` holds it); any other record is kept in the outbox for audit but not sent again.
    case refused(backend: String, sequence: Int64, kind: RecordKind, reason: RejectionReason)
    /// A fault was raised (also in `Uplink.faults`, the health record and the log at error level).
    case fault(UplinkFault)
    /// A fault is over.
    case faultCleared(UplinkFault)
}

/// A configuration document a backend's answer carried, its signature verified against that backend's pinned
/// control-room key.
public struct ReceivedConfig: Sendable, Hashable {
    public var document: ConfigDocument
    /// The document's compact JWS, as the box keeps it on disk.
    public var envelope: String
    public var backend: String
    /// The control room's clock as the box knows it when the answer arrived (its expiry is judged on it).
    public var controlRoomTime: RecordTime

    public init(document: ConfigDocument, envelope: String, backend: String, controlRoomTime: RecordTime) {
        self.document = document
        self.envelope = envelope
        self.backend = backend
        self.controlRoomTime = controlRoomTime
    }
}

/// A software update document a backend's answer carried, its signature verified against that backend's pinned
/// control-room key (docs/updates.md), with the way to fetch its package from that backend.
public struct ReceivedUpdate: Sendable {
    public var document: UpdateDocument
    /// The document's compact JWS, as the box spools it for the install agent.
    public var envelope: String
    public var backend: String
    /// The control room's clock as the box knows it when the answer arrived (its expiry is judged on it).
    public var controlRoomTime: RecordTime
    /// Fetches the document's package (`document.path`) from the backend that carried it, the request proven the
    /// box's own (`DownloadProof`), into the file at the given path; at most `document.size` bytes are taken.
    public var download: @Sendable (_ path: String) async throws -> Void

    public init(
        document: UpdateDocument, envelope: String, backend: String, controlRoomTime: RecordTime,
        download: @escaping @Sendable (_ path: String) async throws -> Void
    ) {
        self.document = document
        self.envelope = envelope
        self.backend = backend
        self.controlRoomTime = controlRoomTime
        self.download = download
    }
}

/// The device's uplink: the outbox drained to every configured backend, each with its own cursor, lanes and
/// backoff, and control-room commands turned into alert state changes.
///
/// `run()` runs until cancelled (a Service for swift-service-lifecycle). Records are appended through
/// `submit`, which wakes every backend; the alert lifecycle is published on `alerts.transitions`.
public final class Uplink: Sendable {
    /// The alert lifecycle and its stream of changes.
    public let alerts: AlertDesk
    /// Delivery events.
    public let events: AsyncStream<UplinkEvent>
    private let eventSink: AsyncStream<UplinkEvent>.Continuation
    /// Configuration documents whose signature verified against a backend's pinned control-room key, for the
    /// daemon to check and apply (docs/configuration.md → *Remote configuration*); it acknowledges each with
    /// ``acknowledge(nonce:)`` when its decision is final.
    public let configDocuments: AsyncStream<ReceivedConfig>
    let configSink: AsyncStream<ReceivedConfig>.Continuation
    /// Update documents whose signature verified against a backend's pinned control-room key, for the daemon to
    /// check, download and spool (docs/updates.md); it acknowledges each with ``acknowledge(nonce:)``.
    public let updateDocuments: AsyncStream<ReceivedUpdate>
    let updateSink: AsyncStream<ReceivedUpdate>.Continuation
    private let outbox: Outbox
    private let backends: [BackendUplink]
    private let wallClock: @Sendable () -> RecordTime
    private let logger: Logger
    /// Where the box is (its last fix with its age), for the `cleared` records the uplink makes; nil until the
    /// box sets it (``locate(with:)``).
    private let locator = Mutex<(@Sendable () -> RecordFix?)?>(nil)

    /// An uplink for `outbox` (whose records are signed as `deviceID`).
    /// - Parameters:
    ///   - transport: makes the transport for a PanicBridge backend; the default is HTTPS via AsyncHTTPClient.
    ///   - receiver: makes the transport for a backend of another protocol (nil for a PanicBridge one); the
    ///     default builds `AIS140Transport` or `OsmAndTransport` from the backend's `wire`.
    ///   - signingKey: the device key, which signs every request (`RecordBatch.proof`) so the control room takes
    ///     its command acks and answers with commands. Without it records are still delivered, but no command
    ///     ever arrives.
    ///   - seed: seeds the backoff jitter (tests pass a fixed one).
    public init(
        outbox: Outbox, deviceID: String, signingKey: DeviceKey? = nil, backends: [BackendConfiguration],
        clock: any MonotonicClock,
        wallClock: @escaping @Sendable () -> RecordTime = Uplink.systemWallClock,
        transport: @escaping @Sendable (BackendConfiguration) -> any UplinkTransport = {
            HTTPUplinkTransport(baseURL: $0.url, trust: $0.trust)
        },
        receiver: @escaping @Sendable (BackendConfiguration) -> (any RecordTransport)? = Uplink.standardReceiver,
        seed: UInt64 = UInt64.random(in: 0...UInt64.max), logger: Logger
    ) throws {
        self.outbox = outbox
        self.wallClock = wallClock
        self.logger = logger
        alerts = AlertDesk(deviceID: deviceID, logger: logger)
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (configDocuments, configSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(8))
        (updateDocuments, updateSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(4))
        var backendUplinks: [BackendUplink] = []
        for (index, configuration) in backends.enumerated() {
            backendUplinks.append(
                BackendUplink(
                    configuration: configuration, deviceID: deviceID,
                    requestSigner: signingKey.map(BatchSigner.init(key:)), outbox: outbox, desk: alerts,
                    clock: clock, wallClock: wallClock, makeTransport: transport, makeReceiver: receiver,
                    events: eventSink,
                    seed: seed &+ UInt64(index), logger: logger))
        }
        self.backends = backendUplinks
        if signingKey == nil, backends.contains(where: { $0.controlRoomKey != nil }) {
            logger.warning("the uplink has no device key to sign its requests: no control-room command will arrive")
        }
    }

    /// The transport for a backend of another protocol than PanicBridge's, from its `wire`.
    @Sendable public static func standardReceiver(_ configuration: BackendConfiguration) -> (any RecordTransport)? {
        standardReceiver(configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    }

    /// The transport for a backend of another protocol than PanicBridge's, from its `wire`, its connections on
    /// `eventLoopGroup` (the daemon passes its one loop).
    public static func standardReceiver(
        _ configuration: BackendConfiguration, eventLoopGroup: any EventLoopGroup
    ) -> (any RecordTransport)? {
        switch configuration.wire {
        case .panicBridge: nil
        case .ais140(let options):
            AIS140Transport(
                url: configuration.url, options: options, trust: configuration.trust, eventLoopGroup: eventLoopGroup)
        case .osmAnd(let options):
            OsmAndTransport(
                url: configuration.url, options: options, trust: configuration.trust, eventLoopGroup: eventLoopGroup)
        }
    }

    /// The system's wall clock.
    @Sendable public static func systemWallClock() -> RecordTime {
        RecordTime(epochMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// Appends a record to the outbox (signed and committed before this returns), tracks it if it is an
    /// alert, and wakes every backend.
    @discardableResult
    public func submit(_ draft: RecordDraft) throws -> AppendOutcome {
        let outcome = try outbox.append(draft)
        // Drafts held on a full card that this append committed first: their alerts are tracked too, in order.
        let released = outbox.takeReleased()
        track(released)
        if case .stored(let record) = outcome {
            alerts.stored(id: draft.id, kind: draft.body.kind, sequence: record.sequence)
        }
        recordsAppended(urgent: draft.body.kind.isUrgent || released.contains { $0.kind.isUrgent })
        return outcome
    }

    /// Commits the drafts the outbox holds in memory since the card filled, if it has room again; tracks the alerts
    /// among them from then on (so the control room's accept and clear for them take effect) and wakes every
    /// backend. Returns what was committed (empty while the card is still full).
    @discardableResult
    public func retryHeld() throws -> [StoredRecord] {
        let stored = try outbox.retryHeld() + outbox.takeReleased()
        track(stored)
        if !stored.isEmpty { recordsAppended(urgent: stored.contains { $0.kind.isUrgent }) }
        return stored
    }

    /// Follows the alerts among records just committed (by their id, read from the box's own envelope).
    private func track(_ records: [StoredRecord]) {
        for record in records where record.kind.isAlert {
            guard let id = record.decodedRecord()?.id else { continue }
            alerts.stored(id: id, kind: record.kind, sequence: record.sequence)
        }
    }

    /// The faults raised now, for the health record (`HealthReport.faults` carries their descriptions).
    public var faults: [UplinkFault] {
        backends.flatMap(\.faults).sorted { $0.description < $1.description }
    }

    /// Whether any backend has work in hand (a request in flight or an event not yet handled). False means every
    /// backend waits only for its clock or for new records: a virtual-time driver may then move time on.
    public var isBusy: Bool { backends.contains { $0.isBusy } }

    /// Tells every backend that records were appended to the outbox by someone else.
    public func recordsAppended(urgent: Bool) {
        for backend in backends { backend.post(.appended(urgent: urgent)) }
        if urgent { pollStateChanged() }
    }

    func pollStateChanged() {
        let open = alerts.hasOpenAlerts
        for backend in backends { backend.post(.pollNeeded(open)) }
    }

    /// Gives the uplink the box's last fix, so that a `cleared` record says where the box is (a tracking backend
    /// draws its emergency-off frame there, not at 0,0).
    public func locate(with fix: @escaping @Sendable () -> RecordFix?) {
        locator.withLock { $0 = fix }
    }

    /// Appends the `cleared` record owed to the control room for `alert`.
    func appendCleared(_ alert: String, by source: String = "control-room") {
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: wallClock(), timeSource: .system,
            fix: locator.withLock { $0 }?(),
            body: .cleared(alert: alert, by: source))
        do { try submit(draft) } catch {
            logger.error("cannot append the cleared record", metadata: ["alert": "\(alert)", "error": "\(error)"])
        }
    }

    /// Clears every open emergency for an authorised AIS-140 backend's `CLR EO` (docs/uplink.md → *AIS-140 OTA
    /// commands*): each gets its `cleared` record, `by` naming the source; returns the alerts cleared.
    public func clearEmergencies(by source: String) -> [String] {
        let cleared = alerts.clearEmergencies()
        for alert in cleared { appendCleared(alert, by: source) }
        return cleared
    }

    /// Acknowledges a configuration document's nonce on the next request to every control room, so it stops
    /// sending it (the daemon calls it once its decision on the document is final).
    public func acknowledge(nonce: String) { alerts.acknowledge(nonce: nonce) }

    /// Delivers to every backend until cancelled.
    public func run() async throws {
        if backends.isEmpty {
            // Nothing to deliver to (records stay in the outbox): stay up until cancelled, so the alert stream stays
            // open and the box still shows STORED for a press. Finishing at once would close it.
            let (idle, keep) = AsyncStream<Never>.makeStream()
            for await _ in idle {}
            withExtendedLifetime(keep) {}
        }
        try await withThrowingDiscardingTaskGroup { group in
            for backend in backends { group.addTask { try await backend.run(owner: self) } }
        }
        alerts.finish()
        eventSink.finish()
        configSink.finish()
        updateSink.finish()
    }
}
