import PanicCore
import PanicSigning

/// What the operator desk (`ControlRoomDesk`) reads and writes, and nothing else: accounts, API tokens and sessions,
/// the audit log, device metadata, dispatch, the tracks and positions the map shows. `ControlRoomStore` refines it,
/// so both stores conform; the desk holds an `any DeskStore`, not the whole store. The rules stay out of it (the
/// plans in `Store/`, `SessionPlan` for sessions, `DispatchPlan` for dispatch).
public protocol DeskStore: Sendable {
    // MARK: Desk: accounts

    /// Creates an account; throws `DeskError.duplicateUser` when the name is taken.
    func addUser(name: String, role: DeskRole, passwordHash: String, tokenHash: String?, now: RecordTime) async throws
    func removeUser(name: String) async throws -> Bool
    /// Throws `DeskError.unknownUser` when there is no such account.
    func setPasswordHash(name: String, hash: String) async throws
    func users() async throws -> [DeskAccount]
    /// The account and its bcrypt hash, for a login.
    func credentials(name: String) async throws -> (account: DeskAccount, passwordHash: String)?
    func account(name: String) async throws -> DeskAccount?
    /// The account an API token (by the SHA-256 of its secret) belongs to, marking the token used at `now` (epoch
    /// ms) when its recorded last use is a minute old or more.
    func account(tokenHash: String, now: Int64) async throws -> DeskAccount?
    /// Gives an account another role; throws `DeskError.unknownUser` when there is no such account.
    func setRole(name: String, role: DeskRole) async throws

    // MARK: Desk: API tokens (several per account; a password change or the account's removal ends them all)

    /// Keeps a new API token of `user`: its id and the SHA-256 of its secret. Throws `DeskError.unknownUser`.
    func addToken(id: String, user: String, hash: String, now: RecordTime) async throws
    /// The API tokens of `user`, oldest first (never their secrets: the store has only hashes).
    func tokens(user: String) async throws -> [APIToken]
    /// Revokes the token with this id; returns the account it belonged to, or nil when there was none.
    func revokeToken(id: String) async throws -> String?

    // MARK: Desk: sessions (in the database, so every instance on it knows every session)

    /// Keeps a new session: only the SHA-256 of its secret (a copy of the database gives no live cookie).
    func startSession(_ session: StoredSession) async throws
    /// The session with this id hash if it is alive at `now` (`idle` since its last use, `lifetime` since its
    /// start, in ms), marking it used when its last use is older than `touchAfter` ms; a dead one is deleted.
    func session(
        idHash: String, now: Int64, idle: Int64, lifetime: Int64, touchAfter: Int64
    ) async throws
        -> StoredSession?
    func endSession(idHash: String) async throws
    /// Ends every session of `user` (the account was removed, its password changed).
    func endSessions(user: String) async throws

    // MARK: Desk: audit, metadata, dispatch, tracks

    /// Appends to the append-only audit log; with `requireAlert`, throws `unknownAlert` when the alert is unknown.
    func appendAudit(_ entry: NewAuditEntry, requireAlert: Bool) async throws
    func audit(device: String?, alert: String?) async throws -> [AuditEntry]
    /// One page of the audit log in id order (`AuditQuery`): reads only the page, however long the log is.
    func audit(_ query: AuditQuery) async throws -> AuditPage
    /// The audit lines of each of `alerts` (those with any), in order, in one query.
    func audit(alerts: [AlertRef]) async throws -> [AlertRef: [AuditEntry]]
    /// Applies `edit` to the device's metadata in one transaction and returns the result.
    func editMetadata(device: String, _ edit: DeviceMetadataEdit) async throws -> DeviceMetadata
    func metadata(device: String) async throws -> DeviceMetadata?
    func allMetadata() async throws -> [String: DeviceMetadata]
    /// The metadata of `devices` (those that have any), in one query.
    func metadata(devices: [String]) async throws -> [String: DeviceMetadata]
    /// Assigns a responder (or moves it to `stage`), writes the audit line and, for a stage the box shows, issues
    /// its command to the alerting device (unless the alert is cleared), in one transaction.
    func dispatch(
        device: String, alert: String, responder: String, stage: DispatchStage, by account: DeskAccount,
        now: RecordTime, issue: CommandIssuer
    ) async throws
    /// The responders on each of `alerts` (those with any), oldest assignment first, in one query.
    func dispatches(alerts: [AlertRef]) async throws -> [AlertRef: [DispatchRow]]
    /// Envelopes of `device` from sequence `from` on, stored after `afterRowID`, in sequence order.
    func envelopes(device: String, from sequence: Int64, afterRowID: Int64) async throws -> [StoredEnvelope]
    /// `envelopes(device:from:afterRowID:)` for each of `tracks` (the open alerts' route trails of a push frame), in
    /// one query however many there are; a cursor with no new record is absent from the answer.
    func envelopes(tracks: [TrackCursor]) async throws -> [TrackCursor: [StoredEnvelope]]
    /// The vehicles' newest positions written after change counter `cursor` (0: all), oldest change first, at most
    /// `limit` (the desk's fleet map, `VehiclePosition`).
    func vehiclePositions(after cursor: Int64, limit: Int) async throws -> VehiclePositionPage
    /// The newest positions of `devices` (those with one), in one query: the responders on the desk.
    func positions(devices: [String]) async throws -> [String: VehiclePosition]
}

/// Where a control room keeps its state: the registry, the records and the rules' ledger, alerts, operator actions
/// and commands, and (its `DeskStore` part) the desk's tables. Two sides: `SQLiteControlRoomStore` (one process on one file) and
/// `PostgresControlRoomStore` (module ControlRoomPostgres: several `controlroom serve` on one database).
///
/// Every rule that decides lives in `ControlRoom` and `IntakePlan`, once; a store reads, writes and keeps the
/// invariants a second instance must see in the database itself (UNIQUE keys, one transaction per ingest, a
/// per-device lock the database holds), never in process memory.
public protocol ControlRoomStore: DeskStore {
    /// What the store is (the SQLite file, or the PostgreSQL URL without its password), for logs and errors.
    var description: String { get }
    /// How many ingest transactions may run at once (SQLite: one writer; PostgreSQL: a few connections, the
    /// per-device locks keep them apart).
    var ingestParallelism: Int { get }

    // MARK: Registry

    /// The registry as the database has it now (a change by any process is seen within a second).
    func registry() async throws -> RegistrySnapshot
    /// Registers `id` with `identity`; throws `ControlRoomError.duplicateDevice` when the id or the key is taken.
    func addDevice(id: String, identity: DeviceIdentity) async throws
    /// Removes `id`; returns whether it was registered.
    func removeDevice(id: String) async throws -> Bool
    /// One page of registered devices (`request.after`, `request.limit`, in id order) with the rows `DevicePage`
    /// decides the device and health views over, read in a fixed number of aggregate queries over the page's id
    /// range, however many devices and records there are.
    func devicePage(_ request: DevicePageRequest) async throws -> DevicePageRows

    // MARK: Intake

    /// Runs the ledger half of the rules over each request's genuine records and stores what they accept, all in
    /// one transaction (a group commit), in order. A request with a verified, fresh proof has its nonce taken in
    /// the same transaction (once across every instance on the store); when it was taken before, the request is
    /// answered as unauthenticated. Only an authenticated request's acks are applied and its alerts and commands
    /// answered. `issue` signs a fresh command.
    func ingest(_ requests: [IngestRequest], issue: @escaping CommandIssuer) async throws -> [IngestAnswer]

    // MARK: Alerts and commands

    /// Moves an alert from one of `allowed` to `newState`, issues the command that tells the device and writes
    /// `audit` (who did it, why), in one transaction; returns the alert as it is now.
    func act(
        _ action: CommandAction, device: String, alert: String, allowed: Set<ControlRoomAlertState>,
        newState: ControlRoomAlertState, now: RecordTime, issue: CommandIssuer, audit: NewAuditEntry?
    ) async throws -> AlertView
    /// Alerts, oldest press first.
    func alerts(_ scope: AlertScope, now: RecordTime) async throws -> [AlertView]
    /// Alerts that arrived after `cursor`, in arrival order, and the next cursor.
    func alerts(after cursor: Int64, now: RecordTime) async throws -> (alerts: [AlertView], cursor: Int64)
    /// Closed alerts (every alert with `query.includeOpen`), newest press first, one page of them (the desk's
    /// history, `GET /v1/alerts?all=1`): reads only the page, however many alerts the store holds.
    func closedAlerts(_ query: AlertHistoryQuery, now: RecordTime) async throws -> AlertHistoryPage

    // MARK: Queries

    /// Records stored from `device` (every device when nil).
    func recordCount(device: String?) async throws -> Int
    /// Stored sequence numbers of `device` in arrival order, with their kinds.
    func arrivalOrder(device: String) async throws -> [RecordArrival]
    /// Sequence numbers never received from `device`, from 1 to the highest received.
    func gaps(device: String) async throws -> [ClosedRange<Int64>]
    /// Chain findings of `device` (`fork`, `replay`, `broken-chain`) in the order they were found.
    func findings(device: String) async throws -> [DeviceFinding]
    /// Every stored record's identity, in sequence order.
    func recordIdentities(device: String) async throws -> [RecordIdentity]

    // MARK: Commands, evidence, activity

    /// Queues a configuration document for `device` (registered, else `ControlRoomError.unknownDevice`) as a row of
    /// `commands` (``ConfigQueue``), with `audit` (its alert set to the document's) in the same transaction;
    /// `issue` signs it at ``ConfigQueue/nextVersion(after:)`` of the device's queued documents.
    func queueConfig(device: String, issue: ConfigIssuer, audit: NewAuditEntry) async throws -> IssuedConfig
    /// Queues a signed update document for `device` (registered, else `ControlRoomError.unknownDevice`) as a row of
    /// `commands` (``UpdateQueue``), with `audit` (its alert set to the document's) in the same transaction.
    func queueUpdate(device: String, issued: IssuedUpdate, audit: NewAuditEntry) async throws
    /// The newest `limit` envelopes of `device` (of `kind` only, when given), newest first.
    func latestEnvelopes(device: String, kind: RecordKind?, limit: Int) async throws -> [String]
    /// Every command issued about one alert, in the order issued, with whether the device acknowledged it (the
    /// evidence export reads them).
    func commands(device: String, alert: String) async throws -> [StoredCommand]
    /// Every command of `device` under `commands.action` `action` (e.g. its update documents), in the order queued.
    func commands(device: String, action: String) async throws -> [StoredCommand]
    /// Appends `leaf` to the append-only evidence log unless it is there already, in one transaction; returns every
    /// leaf in log order and the index of this one (the Merkle tree is built over them in `EvidenceInclusion`).
    func logEvidence(leaf: String, now: RecordTime) async throws -> (leaves: [String], index: Int)
    /// Keeps the signed checkpoint of the evidence log at `size` (the first one kept for a size stays) and returns
    /// the one kept.
    func keepCheckpoint(size: Int, note: String, now: RecordTime) async throws -> String
    /// Every leaf of the evidence log, in log order (read only).
    func evidenceLeaves() async throws -> [String]
    /// When a record of `device` was last stored (epoch ms).
    func lastSeen(device: String) async throws -> Int64?
    /// How many devices had a record stored at or after `since` (epoch ms).
    func devicesSeen(since: Int64) async throws -> Int

    // MARK: Groups and staged rollouts (docs/configuration.md → *Staged rollouts*; rules in `RolloutPlan`)

    /// Puts `device` (registered, else `ControlRoomError.unknownDevice`) in `group` (empty: in none) and writes
    /// `audit`, in one transaction.
    func setGroup(device: String, group: String, audit: NewAuditEntry) async throws
    /// Every grouped device's group.
    func groups() async throws -> [String: String]
    /// Stores a new rollout (the store picks its id) and its device rows, with `audit` (its alert set to the
    /// rollout's `auditName`) in one transaction; returns the rollout with its id.
    func createRollout(
        _ rollout: RolloutRow, devices: [RolloutDeviceRow], audit: NewAuditEntry
    ) async throws
        -> RolloutRow
    /// Every rollout, newest first.
    func rollouts() async throws -> [RolloutRow]
    /// One rollout's devices, by stage then id.
    func rolloutDevices(id: Int64) async throws -> [RolloutDeviceRow]
    /// Writes `plan` in one transaction if the rollout is still at `plan.readRevision` (else throws
    /// `RolloutError.conflict`, writing nothing): the rollout at the next revision, the settled device rows, and for
    /// each device in `plan.push` its document (`issue` signs it, given the `commands.alert` values already queued
    /// for the device under the kind's `queueAction`) inserted into `commands`, the device row made pending with
    /// the version, alert and `now`, and a push audit line; then the plan's audit lines, all by `actor` at `now`.
    func applyRollout(_ plan: RolloutPlan, issue: RolloutIssuer, actor: AuditActor, now: RecordTime) async throws
    /// The newest document queued for `device` under `action`: its `commands.alert` and whether it was acknowledged.
    func lastQueued(device: String, action: String) async throws -> (alert: String, acked: Bool)?
}

extension ControlRoomStore {
    public var ingestParallelism: Int { 1 }
}

/// Signs a fresh command: action, device, alert, the time it is issued at.
public typealias CommandIssuer = @Sendable (CommandAction, String, String, RecordTime) throws -> IssuedCommand

/// A signed command, as a store keeps it.
public struct IssuedCommand: Sendable, Hashable {
    public var nonce: String
    public var action: CommandAction
    public var device: String
    public var alert: String
    public var envelope: String
    public var expires: RecordTime
}

/// The registered keys at one generation.
public struct RegistrySnapshot: Sendable {
    /// By thumbprint (the JWS `kid`).
    public var byKeyID: [String: RegisteredKey] = [:]
    /// By device id.
    public var byDevice: [String: RegisteredKey] = [:]
    /// The registry generation it was read at.
    public var generation: Int64 = -1

    public init(generation: Int64 = -1, keys: [RegisteredKey] = []) {
        self.generation = generation
        for key in keys {
            byKeyID[key.identity.thumbprint] = key
            byDevice[key.device] = key
        }
    }

    /// Reads registry rows (id, JWK); rows whose JWK does not parse are left out.
    public init(generation: Int64, rows: [(id: String, jwk: String)]) {
        self.init(
            generation: generation,
            keys: rows.compactMap { row in
                DeviceIdentity(jwk: row.jwk).map { RegisteredKey(device: row.id, identity: $0) }
            })
    }
}

/// One request's share of an ingest: its genuine records (batch order) and, when its proof verified and is fresh,
/// the claim whose nonce is to be taken and the acks it carries.
public struct IngestRequest: Sendable {
    public var device: String
    public var records: [GenuineRecord]
    /// The verified, fresh proof; nil when the request is not authenticated (no acks, alerts or commands).
    public var claim: BatchClaim?
    /// The command nonces acknowledged (applied only when `claim`'s nonce is taken).
    public var acks: [String]
    /// The commands the device reports it refused (applied, like `acks`, only when `claim`'s nonce is taken).
    public var refusals: [CommandRefusalReport]
    public var now: RecordTime
    /// The request carries a proof not checked yet (`ControlRoom.checksProofFirst`): the store says, from the
    /// same transaction, whether the device has anything the proof would unlock (`IngestAnswer.needsProof`).
    public var proofWaiting: Bool

    public init(
        device: String, records: [GenuineRecord], claim: BatchClaim?, acks: [String],
        refusals: [CommandRefusalReport] = [], now: RecordTime, proofWaiting: Bool = false
    ) {
        self.device = device
        self.records = records
        self.claim = claim
        self.acks = acks
        self.refusals = refusals
        self.now = now
        self.proofWaiting = proofWaiting
    }
}

/// What an ingest decided for one request.
public struct IngestAnswer: Sendable {
    /// One per genuine record, in order.
    public var results: [RecordResult]
    /// Findings recorded (for the log).
    public var findings: [FindingRow]
    /// Whether the request was authenticated: its claim's nonce taken here, for the first time.
    public var authenticated: Bool
    /// The device's alerts not yet closed, and its pending commands (empty when not authenticated).
    public var alerts: [RemoteAlertState]
    public var commands: [String]
    /// For a request whose proof is waiting (`IngestRequest.proofWaiting`): the device has an alert not yet
    /// closed or a command not yet acknowledged, so its answer needs the proof checked.
    public var needsProof: Bool

    public init(
        results: [RecordResult], findings: [FindingRow], authenticated: Bool = false, alerts: [RemoteAlertState] = [],
        commands: [String] = [], needsProof: Bool = false
    ) {
        self.results = results
        self.findings = findings
        self.authenticated = authenticated
        self.alerts = alerts
        self.commands = commands
        self.needsProof = needsProof
    }
}

/// Which alerts.
public enum AlertScope: Sendable, Hashable {
    /// Not yet closed (cleared and confirmed by the device).
    case open
    case all
    case one(device: String, alert: String)
}

/// A record's place in arrival order.
public struct RecordArrival: Sendable, Hashable {
    public var sequence: Int64
    public var kind: RecordKind
    public init(sequence: Int64, kind: RecordKind) {
        self.sequence = sequence
        self.kind = kind
    }
}

/// A chain finding with its sequence number.
public struct DeviceFinding: Sendable, Hashable {
    public var sequence: Int64
    public var finding: VerificationFinding.Kind
    public init(sequence: Int64, finding: VerificationFinding.Kind) {
        self.sequence = sequence
        self.finding = finding
    }
}

/// A finding row as stored: device, sequence, name (`fork`, `replay`, `broken-chain`, `outbox-lost`).
public struct FindingRow: Sendable, Hashable {
    public var device: String
    public var sequence: Int64
    public var name: String
    public init(device: String, sequence: Int64, name: String) {
        self.device = device
        self.sequence = sequence
        self.name = name
    }
}

/// An audit line to append.
public struct NewAuditEntry: Sendable, Hashable {
    public var action: AuditAction
    /// Who did it, and their role (none for a login name tried, or the console): the stored `role` text is empty.
    public var user: String
    public var role: DeskRole?
    public var device: String
    public var alert: String
    public var reason: String
    public var now: RecordTime

    /// The role as stored: its name, or empty.
    public var roleText: String { role?.rawValue ?? "" }

    public init(
        action: AuditAction, actor: AuditActor, device: String, alert: String, reason: String, now: RecordTime
    ) {
        self.action = action
        self.user = actor.user
        self.role = actor.role
        self.device = device
        self.alert = alert
        self.reason = reason
        self.now = now
    }

    public init(
        action: AuditAction, account: DeskAccount, device: String, alert: String, reason: String, now: RecordTime
    ) {
        self.init(action: action, actor: AuditActor(account), device: device, alert: alert, reason: reason, now: now)
    }
}

/// A responder assigned to an alert, as stored.
public struct DispatchRow: Sendable, Hashable {
    public var responder: String
    public var stage: DispatchStage
    public var timeMs: Int64
    public init(responder: String, stage: DispatchStage, timeMs: Int64) {
        self.responder = responder
        self.stage = stage
        self.timeMs = timeMs
    }
}

/// A command as stored: its signed envelope and whether the device acknowledged it.
public struct StoredCommand: Sendable, Hashable {
    public var nonce: String
    public var action: String
    public var envelope: String
    public var expiresMs: Int64
    public var acked: Bool
    public init(nonce: String, action: String, envelope: String, expiresMs: Int64, acked: Bool) {
        self.nonce = nonce
        self.action = action
        self.envelope = envelope
        self.expiresMs = expiresMs
        self.acked = acked
    }
}

/// Where a route trail's reading resumes: the records of `device` from sequence `from` on, stored after
/// `afterRowID`.
public struct TrackCursor: Sendable, Hashable {
    public var device: String
    public var from: Int64
    public var afterRowID: Int64

    public init(device: String, from: Int64, afterRowID: Int64) {
        self.device = device
        self.from = from
        self.afterRowID = afterRowID
    }
}

/// An envelope with its arrival position.
public struct StoredEnvelope: Sendable, Hashable {
    public var rowID: Int64
    public var envelope: String
    public init(rowID: Int64, envelope: String) {
        self.rowID = rowID
        self.envelope = envelope
    }
}
