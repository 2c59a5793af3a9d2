import Foundation
import Logging
import NIOPosix
import PanicCore
import PanicSigning
import Synchronization

extension ControlRoom {
    /// Verifies, stores and answers one batch from a device (see `RecordBatchResponse`).
    ///
    /// The request's proof and every envelope's signature are checked first, outside any transaction (in parallel
    /// for a big batch); only genuine records reach the store, where they join other requests' records in one
    /// group commit (`IngestQueue`). The answer comes after that commit. Acks are taken, and alerts and commands
    /// answered, only for a request the device signed (`authenticate`). Throws `IntakeRefusal` for a batch over
    /// `limits`, or one whose envelopes fail verification `limits.verificationFailures` times.
    public func receive(_ batch: RecordBatch) async throws -> RecordBatchResponse {
        try await receiveStored(batch).response
    }

    /// `receive`, also saying which kinds of record it stored (the desk wakes its pages only for what they show).
    func receiveStored(_ batch: RecordBatch) async throws -> (response: RecordBatchResponse, stored: Set<RecordKind>) {
        let started = ContinuousClock.now
        do {
            let (response, stored) = try await receiveCounted(batch)
            changes.publish(
                ControlRoomChange(
                    stored: stored, device: batch.device,
                    receipts: !batch.commandAcks.isEmpty || !(batch.commandRefusals ?? []).isEmpty))
            metrics.count(response.results)
            metrics.batchLatency.recordNanoseconds(Int64((ContinuousClock.now - started).nanosecondsClamped))
            return (response, stored)
        } catch let refusal as IntakeRefusal {
            metrics.refused.increment()
            throw refusal
        } catch {
            metrics.databaseErrors.increment()
            throw error
        }
    }

    private func receiveCounted(_ batch: RecordBatch) async throws -> (RecordBatchResponse, Set<RecordKind>) {
        let now = wallClock()
        let registry = try await store.registry()
        let screened: [Screened]
        do {
            try limits.check(batch)
            // A small request is checked where it is (its connection's event loop: a thread hop would cost more);
            // a big batch on NIO's thread pool, so the loop stays free for the other connections on it.
            if batch.envelopes.count < Self.parallelScreenThreshold {
                screened = try screen(batch, keys: registry)
            } else {
                screened = try await NIOThreadPool.singleton.runIfActive { try self.screen(batch, keys: registry) }
            }
        } catch let refusal as IntakeRefusal {
            logRejections(device: batch.device, [:], refusal: refusal, now: now)
            throw refusal
        }
        let genuine = screened.compactMap { item -> GenuineRecord? in
            if case .genuine(let record) = item { return record }
            return nil
        }
        // The proof is checked first when the request needs it whatever the store holds; otherwise only if the
        // store finds the device has something to answer (one Ed25519 check less for a routine request).
        let first = Self.checksProofFirst(batch, records: genuine, registry: registry)
        var (authentication, claim) =
            first ? authenticate(batch, registry: registry, now: now) : (.unchecked(serverTime: now), nil)
        var answer = try await ingestQueue.submit(
            IngestRequest(
                device: batch.device, records: genuine, claim: claim, acks: batch.commandAcks,
                refusals: batch.commandRefusals ?? [], now: now, proofWaiting: !first),
            issue: issuer)
        if !first && answer.needsProof {
            (authentication, claim) = authenticate(batch, registry: registry, now: now)
            if let claim {
                // The records are stored; now the nonce, and the answer it unlocks.
                let answered = try await ingestQueue.submit(
                    IngestRequest(device: batch.device, records: [], claim: claim, acks: [], now: now), issue: issuer)
                answer.authenticated = answered.authenticated
                answer.alerts = answered.alerts
                answer.commands = answered.commands
            }
        }
        if claim != nil && !answer.authenticated {
            authentication = BatchAuthentication(verified: false, refusal: .replayed, serverTime: now)
        }
        // An alert the box cleared in this batch closes: it enters the evidence log (as an operator's clear does).
        for item in genuine {
            if case .cleared(let alert, _) = item.record.body {
                await logClosedAlert(device: item.record.device, alert: alert)
            }
        }
        for finding in answer.findings {
            if finding.name == Self.outboxLostFinding {
                logger.error(
                    "outbox lost on the device: records it had not delivered are gone (they show as gaps)",
                    metadata: ["device": "\(finding.device)", "seq": "\(finding.sequence)"])
            } else {
                logger.warning(
                    "chain finding",
                    metadata: [
                        "device": "\(finding.device)", "seq": "\(finding.sequence)", "finding": "\(finding.name)",
                    ])
            }
        }
        var stored = answer.results.makeIterator()
        var results: [RecordResult] = []
        results.reserveCapacity(screened.count)
        for item in screened {
            switch item {
            case .genuine: results.append(stored.next() ?? RecordResult(status: .rejected, reason: .malformed))
            case .refused(let result): results.append(result)
            }
        }
        let response = RecordBatchResponse(
            results: results, alerts: answer.alerts, commands: answer.commands, authentication: authentication)
        var rejections: [RejectionReason: Int] = [:]
        for result in response.results where result.status == .rejected {
            rejections[result.reason ?? .malformed, default: 0] += 1
        }
        logRejections(device: batch.device, rejections, refusal: nil, now: now)
        var kinds = Set<RecordKind>()
        for (item, result) in zip(genuine, answer.results) where result.status == .accepted {
            kinds.insert(item.record.kind)
        }
        return (response, kinds)
    }

    /// An envelope after the signature check: genuine, or already answered.
    enum Screened: Sendable {
        case genuine(GenuineRecord)
        case refused(RecordResult)
    }

    /// Below this many envelopes a batch is checked on the calling thread; above, on NIO's thread pool.
    static let parallelScreenThreshold = 32

    /// The signature half of the rules over every envelope, outside any transaction, with one Ed25519 check per
    /// hash-chained run (`RecordRules.authenticate(batch:)`); throws once `limits.verificationFailures` envelopes
    /// failed it (a hostile batch costs that many checks, not thousands).
    func screen(_ batch: RecordBatch, keys registry: RegistrySnapshot) throws -> [Screened] {
        let envelopes = batch.envelopes
        let device = batch.device
        let verdicts = RecordRules.authenticate(
            batch: envelopes, sender: device, failureLimit: limits.verificationFailures,
            key: { registry.byKeyID[$0] }
        ).verdicts
        var screened: [Screened] = []
        screened.reserveCapacity(envelopes.count)
        var failures = 0
        for (index, verdict) in verdicts.enumerated() {
            switch verdict {
            case .genuine(let genuine):
                if let problem = StorableText.problem(genuine.record) {
                    // Genuinely signed, but not storable under its own identity (`StorableText`): refused alone.
                    logger.error(
                        "genuine record refused: it cannot be stored",
                        metadata: [
                            "device": "\(device)", "seq": "\(genuine.record.sequence)", "problem": "\(problem)",
                        ])
                    screened.append(
                        .refused(RecordResult(status: .rejected, sequence: genuine.record.sequence, reason: .malformed))
                    )
                } else {
                    screened.append(.genuine(genuine))
                }
            case .refused(let record, let finding):
                let reason = finding.rejection ?? .malformed
                if reason == .badSignature || reason == .malformed {
                    failures += 1
                    if failures >= limits.verificationFailures {
                        throw IntakeRefusal.failedVerification(failures: failures, checked: index + 1, reason: reason)
                    }
                }
                screened.append(.refused(RecordResult(status: .rejected, sequence: record?.sequence, reason: reason)))
            }
        }
        return screened
    }

    private func logRejections(
        device: String, _ rejections: [RejectionReason: Int], refusal: IntakeRefusal?, now: RecordTime
    ) {
        let line = rejectionLog.withLock { $0.note(device: device, rejections: rejections, refusal: refusal, now: now) }
        if let line { logger.warning("records rejected", metadata: line) }
    }

    /// The finding recorded when a device reports that it lost its outbox. A box that lost its outbox (moved
    /// aside as corrupt, deleted, an SD card re-imaged with the key kept) continues its stream after the high-water
    /// mark it keeps beside its key, so its new records chain on and are accepted; the records that were only in
    /// the lost outbox show as gaps. The first health record after the loss carries the fault `outbox-lost` (and
    /// `outbox-corrupt-moved-aside` when the file was corrupt): recorded as "outbox lost seq N".
    public static let outboxLostFinding = "outbox-lost"
    /// The health faults that mean the device lost records it had committed.
    static let outboxLossFaults: Set<String> = ["outbox-lost", "outbox-corrupt-moved-aside"]
}
