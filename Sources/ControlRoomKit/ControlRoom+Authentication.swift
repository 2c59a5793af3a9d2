import Foundation
import PanicCore
import PanicSigning

/// The request nonces a control room has taken, each kept until its claim could no longer be fresh: a signed
/// request is taken once. Pure: the caller passes the time. Only claims whose signature verified enter, so only
/// registered devices can make it grow. (The SQLite store keeps it in memory; the PostgreSQL store keeps the
/// nonces in a table every instance shares, with the same window.)
public struct RequestReplayGuard: Sendable {
    /// Claim time by `device nonce`.
    private(set) var seen: [String: RecordTime] = [:]
    /// Expired nonces are dropped when `seen` outgrows this (twice what was left after the last pass): amortized
    /// O(1) per request, where dropping them on every request cost a pass over the whole window each time.
    private var pruneAt = 64

    public init() {}

    /// Whether `claim`'s time is within the freshness window around `now`.
    public static func isFresh(_ claim: BatchClaim, now: RecordTime) -> Bool {
        abs(claim.time.epochMilliseconds - now.epochMilliseconds) <= BatchClaim.freshness.components.seconds * 1000
    }

    /// Checks a verified claim's time against `now` and takes its nonce; nil when it may act, else why not.
    public mutating func take(_ claim: BatchClaim, now: RecordTime) -> BatchProofRefusal? {
        let window = BatchClaim.freshness.components.seconds * 1000
        guard Self.isFresh(claim, now: now) else { return .stale }
        // A nonce dropped here has a claim time outside the window, so a replay of it is refused as stale.
        if seen.count > pruneAt {
            seen = seen.filter { $0.value.epochMilliseconds >= now.epochMilliseconds - window }
            pruneAt = max(64, 2 * seen.count)
        }
        let key = claim.device + " " + claim.nonce
        guard seen[key] == nil else { return .replayed }
        seen[key] = claim.time
        return nil
    }
}

extension ControlRoom {
    /// Whether a request's proof is checked before its records are stored, whatever the store holds: it carries
    /// acks (taken only under a verified proof), an alert record or a clear (its answer is the alert's state), no
    /// proof, or a device not registered (both answered at no cost). Otherwise the proof is checked only when the
    /// store finds the device has an alert not yet closed or a command not yet acknowledged; a routine request
    /// from a device with nothing open is answered `checked: false` without the Ed25519 check (docs/controlroom.md
    /// → Trust model).
    static func checksProofFirst(_ batch: RecordBatch, records: [GenuineRecord], registry: RegistrySnapshot) -> Bool {
        batch.proof == nil || !batch.commandAcks.isEmpty || !(batch.commandRefusals ?? []).isEmpty
            || registry.byDevice[batch.device] == nil
            || records.contains { $0.record.kind.isUrgent }
    }

    /// Whether `batch` proves it comes from its device: the device's signature over its acks, envelopes and a fresh
    /// time and nonce (`BatchProof`). A verified, fresh claim comes back with it: its nonce is taken by the store in
    /// the ingest's transaction (a replay then answers `replayed`).
    func authenticate(
        _ batch: RecordBatch, registry: RegistrySnapshot, now: RecordTime
    )
        -> (BatchAuthentication, BatchClaim?)
    {
        guard batch.proof != nil else {
            return (BatchAuthentication(verified: false, refusal: .missing, serverTime: now), nil)
        }
        guard let key = registry.byDevice[batch.device] else {
            return (BatchAuthentication(verified: false, refusal: .unknownDevice, serverTime: now), nil)
        }
        switch BatchProof.verify(batch, key: key) {
        case .failure(let refusal):
            return (BatchAuthentication(verified: false, refusal: refusal, serverTime: now), nil)
        case .success(let claim):
            guard RequestReplayGuard.isFresh(claim, now: now) else {
                return (BatchAuthentication(verified: false, refusal: .stale, serverTime: now), nil)
            }
            return (BatchAuthentication(verified: true, serverTime: now), claim)
        }
    }
}
