import Logging
import PanicCore
import PanicSigning
import Synchronization

/// Signs a backend's requests (`RecordBatch.proof`) and follows the control room's verdict on them: a `stale`
/// refusal moves this backend's clock offset to the control room's `serverTime`, so a box whose clock is off
/// still proves its requests fresh from the next one on; every change of verdict is logged once.
final class RequestAuthenticator: Sendable {
    private struct State {
        /// Added to the wall clock when signing: the control room's time minus the box's, as last learnt.
        var offsetMilliseconds: Int64 = 0
        /// The last refusal logged (nil: verified, or nothing heard yet).
        var lastRefusal: BatchProofRefusal?
    }

    private let signer: BatchSigner?
    private let logger: Logger
    private let state = Mutex(State())

    init(signer: BatchSigner?, logger: Logger) {
        self.signer = signer
        self.logger = logger
    }

    /// The control room's clock as this box knows it: `now` (the box's wall clock) plus the learnt offset. Before any
    /// offset is learnt (no `stale` verdict yet) it is `now` itself — rightly so: the control room answers with
    /// commands only a request whose proof was within `BatchClaim.freshness` (2 minutes) of its clock, so a box that
    /// has learnt nothing is that close already. Commands' expiry is judged on this time (`CommandGate`).
    func controlRoomTime(_ now: RecordTime) -> RecordTime {
        RecordTime(epochMilliseconds: now.epochMilliseconds + state.withLock { $0.offsetMilliseconds })
    }

    /// `batch` signed at `now` plus the learnt offset (unsigned when there is no key).
    func sign(_ batch: RecordBatch, now: RecordTime) throws -> RecordBatch {
        guard let signer else { return batch }
        return try signer.sign(batch, time: controlRoomTime(now))
    }

    /// A proof that this box asks for the package `sha256` (`DownloadProof`), signed at `now` plus the learnt
    /// offset; nil when there is no key.
    func downloadProof(sha256: String, now: RecordTime) throws -> String? {
        guard let signer else { return nil }
        return try DownloadProof.sign(sha256: sha256, signer: signer, time: controlRoomTime(now))
    }

    /// Takes the control room's verdict (nil from a control room older than the proof, which took acks from
    /// anyone; `checked: false` when it did not need to check, which is no verdict); returns whether the request's
    /// acks were taken.
    func settle(_ authentication: BatchAuthentication?, now: RecordTime) -> Bool {
        guard let authentication else { return true }
        // Not checked (nothing in the answer needed it, and the request had no acks): no verdict to follow.
        if authentication.checked == false { return false }
        let (changed, offset) = state.withLock { state -> (Bool, Int64) in
            if authentication.refusal == .stale {
                state.offsetMilliseconds = authentication.serverTime.epochMilliseconds - now.epochMilliseconds
            }
            let changed = state.lastRefusal != authentication.refusal
            state.lastRefusal = authentication.refusal
            return (changed, state.offsetMilliseconds)
        }
        if changed, let refusal = authentication.refusal {
            logger.warning(
                "the control room did not take this box's request as its own: commands cannot arrive until it does",
                metadata: [
                    "refusal": "\(refusal.rawValue)", "clock-offset-ms": "\(offset)",
                    "signed": "\(signer != nil)",
                ])
        } else if changed {
            logger.notice("the control room takes this box's requests as its own again")
        }
        return authentication.verified
    }
}
