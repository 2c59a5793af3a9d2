import PanicCore
import PanicStore

/// Backends of other protocols (AIS-140, OsmAnd) run through the same loop as PanicBridge's: the same claims,
/// lanes, backoff and alarms. Only the exchange differs: records go out decoded, the receiver's report says how many
/// it acknowledged, and no command comes back.
extension BackendUplink {
    /// What carries this backend's records.
    enum Carrier: Sendable {
        /// PanicBridge's control room: signed batches, commands back.
        case controlRoom(any UplinkTransport)
        /// A receiver of another protocol.
        case receiver(any RecordTransport)

        var speaksCommands: Bool {
            if case .controlRoom = self { true } else { false }
        }

        /// How often the receiver wants a sign of life while nothing else is sent.
        var keepAliveInterval: Duration? {
            if case .receiver(let transport) = self { transport.keepAliveInterval } else { nil }
        }

        func shutdown() async throws {
            switch self {
            case .controlRoom(let transport): try await transport.shutdown()
            case .receiver(let transport): try await transport.shutdown()
            }
        }
    }

    /// The alert lane's poll on a receiver: a sign of life (AIS-140's heartbeat), settled like a delivery of nothing.
    func keepAlive(
        lane: DeliveryStateMachine.Lane, with receiver: any RecordTransport
    ) async -> (
        DeliveryStateMachine.Lane, DeliveryStateMachine.Outcome
    ) {
        if let failure = await receiver.keepAlive(timeout: configuration.requestTimeout) {
            logger.info("heartbeat failed", metadata: ["error": "\(failure)"])
            deliveryFailed(reason: failure)
            eventSink.yield(.failed(backend: configuration.name, lane: lane, reason: failure))
            return (lane, .failed)
        }
        deliverySucceeded()
        return (lane, .delivered(claimed: 0, full: false))
    }

    /// Sends claimed `records` through `receiver` and settles them: acknowledged ones delivered, the rest pending.
    func deliver(
        _ records: [StoredRecord], lane: DeliveryStateMachine.Lane, to receiver: any RecordTransport
    ) async -> (DeliveryStateMachine.Lane, DeliveryStateMachine.Outcome) {
        let cutoff = wallClock().epochMilliseconds - outbox.configuration.liveWindowMilliseconds
        var outgoing: [OutgoingRecord] = []
        var unreadable: [Int64] = []
        var sent: [StoredRecord] = []
        for stored in records {
            guard let record = stored.decodedRecord() else {
                // Cannot happen for the box's own envelopes; never block the lane on one.
                logger.error(
                    "record unreadable: not sent to this backend, kept in the outbox",
                    metadata: ["seq": "\(stored.sequence)"])
                unreadable.append(stored.sequence)
                continue
            }
            // A fresh alert is live wherever it is: it goes out as it happened.
            // A `cleared` record says which alert it closes by id: the receivers tell a help request's end apart.
            var clearedKind: RecordKind?
            if case .cleared(let alert, _) = record.body { clearedKind = try? outbox.kind(ofRecord: alert) }
            outgoing.append(
                OutgoingRecord(
                    record: record, live: stored.time.epochMilliseconds >= cutoff, clearedKind: clearedKind))
            sent.append(stored)
        }
        let report = await receiver.deliver(outgoing, timeout: configuration.requestTimeout)
        let count = min(max(report.acknowledged, 0), sent.count)
        let delivered = unreadable + sent.prefix(count).map(\.sequence)
        let retry = sent.dropFirst(count).map(\.sequence)
        do {
            try outbox.markDelivered(delivered, backend: configuration.name)
            try outbox.markFailed(retry, backend: configuration.name)
        } catch {
            logger.error("cannot settle records in the outbox", metadata: ["error": "\(error)"])
        }
        desk.delivered(sequences: delivered, role: configuration.role)
        if let failure = report.failure ?? (retry.isEmpty ? nil : "\(retry.count) record(s) not acknowledged") {
            logger.info(
                "delivery failed",
                metadata: [
                    "lane": "\(lane)", "records": "\(records.count)", "acknowledged": "\(count)", "error": "\(failure)",
                ])
            deliveryFailed(reason: failure)
            eventSink.yield(.failed(backend: configuration.name, lane: lane, reason: failure))
            return (lane, .failed)
        }
        deliverySucceeded()
        eventSink.yield(.delivered(backend: configuration.name, lane: lane, records: records.count))
        return (lane, .delivered(claimed: records.count, full: records.count >= configuration.batchSize))
    }
}
