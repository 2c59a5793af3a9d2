import Logging
import PanicCore
import PanicSigning
import PanicStore
import Synchronization

/// The I/O shell around one backend's `DeliveryStateMachine`: it claims batches from the outbox, sends them,
/// records the outcome, sets timers on the injected clock, and feeds every result back into the machine.
final class BackendUplink: Sendable {
    enum Event: Sendable {
        case appended(urgent: Bool)
        case pollNeeded(Bool)
        case claimed(DeliveryStateMachine.Lane, full: Bool)
        case finished(DeliveryStateMachine.Lane, DeliveryStateMachine.Outcome)
        case timer
    }

    let configuration: BackendConfiguration
    private let deviceID: String
    let requests: RequestAuthenticator
    let outbox: Outbox
    let desk: AlertDesk
    private let clock: any MonotonicClock
    let wallClock: @Sendable () -> RecordTime
    private let makeTransport: @Sendable (BackendConfiguration) -> any UplinkTransport
    private let makeReceiver: @Sendable (BackendConfiguration) -> (any RecordTransport)?
    let eventSink: AsyncStream<UplinkEvent>.Continuation
    private let inbox: AsyncStream<Event>
    private let inboxSink: AsyncStream<Event>.Continuation
    let verifier: CommandSignatureVerifier?
    private let seed: UInt64
    let logger: Logger

    init(
        configuration: BackendConfiguration, deviceID: String, requestSigner: BatchSigner?, outbox: Outbox,
        desk: AlertDesk,
        clock: any MonotonicClock, wallClock: @escaping @Sendable () -> RecordTime,
        makeTransport: @escaping @Sendable (BackendConfiguration) -> any UplinkTransport,
        makeReceiver: @escaping @Sendable (BackendConfiguration) -> (any RecordTransport)?,
        events: AsyncStream<UplinkEvent>.Continuation, seed: UInt64, logger: Logger
    ) {
        self.configuration = configuration
        self.deviceID = deviceID
        self.outbox = outbox
        self.desk = desk
        self.clock = clock
        self.wallClock = wallClock
        self.makeTransport = makeTransport
        self.makeReceiver = makeReceiver
        eventSink = events
        (inbox, inboxSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        verifier = configuration.controlRoomKey.map(CommandSignatureVerifier.init(controlRoom:))
        self.seed = seed
        var logger = logger
        logger[metadataKey: "backend"] = "\(configuration.name)"
        self.logger = logger
        requests = RequestAuthenticator(signer: requestSigner, logger: logger)
    }

    /// The runs of failures that become faults, and the faults raised now (see `BackendUplink+Alarms`).
    let alarms = Mutex(Alarms())

    /// Events posted but not yet handled, plus requests in flight: zero when the backend is waiting on time alone.
    private let busy = Mutex(0)

    /// Whether the backend has work in hand (an unhandled event or a request in flight), as opposed to waiting for
    /// its clock or for new records. The virtual-time simulator advances its clock only when this is false.
    var isBusy: Bool { busy.withLock { $0 > 0 } }

    func post(_ event: Event) {
        busy.withLock { $0 += 1 }
        inboxSink.yield(event)
    }

    func run(owner: Uplink) async throws {
        try outbox.register(backend: configuration.name, backlogOrder: configuration.backlogOrder)
        let carrier: Carrier =
            makeReceiver(configuration).map { .receiver($0) } ?? .controlRoom(makeTransport(configuration))
        // Only PanicBridge's control room answers with commands, polled while an alert is open; a receiver that
        // wants signs of life (AIS-140's heartbeat) is "polled" whenever nothing else is sent.
        let keepAlive = carrier.keepAliveInterval
        let commands = carrier.speaksCommands
        func pollNeeded(_ alertsOpen: Bool) -> Bool { keepAlive != nil || (commands && alertsOpen) }
        let name = configuration.name
        await withDiscardingTaskGroup { group in
            // The receiver's session (AIS-140) lives in this task: it ends, and the connection closes, with the backend.
            if case .receiver(let receiver) = carrier { group.addTask { await receiver.run() } }
            var machine = DeliveryStateMachine(
                now: clock.now, alertPolicy: configuration.alertPolicy, routinePolicy: configuration.routinePolicy,
                pollInterval: keepAlive ?? configuration.pollInterval,
                backlogWindow: configuration.effectiveBacklogWindow, seed: seed)
            // One sleep, always for the machine's next deadline: a deadline that moves cancels it, so nothing wakes
            // the box before something is due.
            let timer = BackendTimer(clock: clock) { self.post(.timer) }
            defer { timer.stop() }

            func perform(_ actions: [DeliveryStateMachine.Action]) {
                for action in actions {
                    busy.withLock { $0 += 1 }
                    group.addTask {
                        let (lane, outcome) = await self.exchange(action, carrier: carrier, owner: owner)
                        self.post(.finished(lane, outcome))
                        self.busy.withLock { $0 -= 1 }
                    }
                }
                let deadline = machine.nextDeadline
                timer.set(deadline)
                if machine.isQuiet { eventSink.yield(.idle(backend: name, until: deadline)) }
            }

            perform(machine.start(now: clock.now))
            perform(machine.setPollNeeded(pollNeeded(desk.hasOpenAlerts), now: clock.now))
            for await event in inbox {
                let now = clock.now
                switch event {
                case .appended(let urgent): perform(machine.recordsAppended(urgent: urgent, now: now))
                case .pollNeeded(let needed): perform(machine.setPollNeeded(pollNeeded(needed), now: now))
                case .claimed(let lane, let full): perform(machine.claimed(lane, full: full, now: now))
                case .finished(let lane, let outcome):
                    perform(machine.setPollNeeded(pollNeeded(desk.hasOpenAlerts), now: now))
                    perform(machine.finished(lane, outcome, now: now))
                case .timer: perform(machine.tick(now: now))
                }
                busy.withLock { $0 -= 1 }
            }
            group.cancelAll()
        }
        try? await carrier.shutdown()
    }

    /// Claims, sends and settles one batch; returns the lane and how it went.
    private func exchange(
        _ action: DeliveryStateMachine.Action, carrier: Carrier, owner: Uplink
    ) async
        -> (DeliveryStateMachine.Lane, DeliveryStateMachine.Outcome)
    {
        let lane: DeliveryStateMachine.Lane
        let records: [StoredRecord]
        do {
            switch action {
            case .send(.alert):
                lane = .alert
                records = try outbox.claimUrgent(for: configuration.name, limit: configuration.batchSize)
            case .send(.backlog):
                lane = .backlog
                records = try outbox.claimRoutine(
                    for: configuration.name, limit: configuration.batchSize, now: wallClock())
            case .poll:
                lane = .alert
                records = []
            }
        } catch {
            logger.error("cannot claim records from the outbox", metadata: ["error": "\(error)"])
            let lane: DeliveryStateMachine.Lane = action == .send(.backlog) ? .backlog : .alert
            eventSink.yield(.failed(backend: configuration.name, lane: lane, reason: "\(error)"))
            return (lane, .failed)
        }
        // A full claim: more may be due, and the backlog lane may claim it while this batch is on the wire.
        if lane == .backlog, records.count >= configuration.batchSize { post(.claimed(lane, full: true)) }
        let transport: any UplinkTransport
        switch carrier {
        case .controlRoom(let controlRoom): transport = controlRoom
        case .receiver(let receiver):
            if records.isEmpty {
                return action == .poll ? await keepAlive(lane: lane, with: receiver) : (lane, .empty)
            }
            return await deliver(records, lane: lane, to: receiver)
        }
        let acks = desk.pendingAcks()
        let refusals = desk.pendingRefusals()
        if records.isEmpty && action != .poll && acks.isEmpty && refusals.isEmpty { return (lane, .empty) }
        let sequences = records.map(\.sequence)
        do {
            let batch = try requests.sign(
                RecordBatch(
                    device: deviceID, envelopes: records.map(\.envelope), commandAcks: acks,
                    commandRefusals: refusals.isEmpty ? nil : refusals),
                now: wallClock())
            let response = try await transport.send(batch, timeout: configuration.requestTimeout)
            guard response.results.count == records.count else {
                throw UplinkTransportError(
                    description: "answer has \(response.results.count) results for \(records.count) records")
            }
            var delivered: [Int64] = []
            var retry: [Int64] = []
            var refusedAlerts: [(Int64, RejectionReason)] = []
            var refusal: String?
            for (record, result) in zip(records, response.results) {
                switch result.status {
                case .accepted, .duplicate: delivered.append(record.sequence)
                case .rejected where result.reason == .unknownDevice:
                    // Perhaps not registered yet: keep the record and try again later.
                    retry.append(record.sequence)
                    refusal = RejectionReason.unknownDevice.rawValue
                case .rejected:
                    let reason = result.reason ?? .malformed
                    refusal = reason.rawValue
                    eventSink.yield(
                        .refused(
                            backend: configuration.name, sequence: record.sequence, kind: record.kind, reason: reason))
                    if record.kind.isAlert {
                        // An alert is never "delivered" by a refusal: it stays pending (the lane retries it with
                        // backoff, e.g. until the registry is fixed) and the box shows a fault.
                        refusedAlerts.append((record.sequence, reason))
                        retry.append(record.sequence)
                    } else {
                        // Resending the same signed bytes cannot change the verdict; keep the record (the outbox
                        // still has it for audit) but stop sending it.
                        logger.error(
                            "record refused by the backend; kept in the outbox, not sent again",
                            metadata: [
                                "seq": "\(record.sequence)", "kind": "\(record.kind.rawValue)",
                                "reason": "\(reason.rawValue)",
                            ])
                        delivered.append(record.sequence)
                    }
                }
            }
            try outbox.markDelivered(delivered, backend: configuration.name)
            desk.delivered(sequences: delivered, role: configuration.role)
            refusalsSettled(delivered)
            alertsRefused(refusedAlerts)
            // Acks count as taken only when the control room took the request as this box's own.
            if requests.settle(response.authentication, now: wallClock()) {
                desk.acksDelivered(acks)
                desk.refusalsDelivered(refusals)
            }
            await takeCommands(response.commands, owner: owner)
            if let refusal { deliveryFailed(reason: "records refused: \(refusal)") } else { deliverySucceeded() }
            if !retry.isEmpty {
                try outbox.markFailed(retry, backend: configuration.name)
                let reason = refusedAlerts.isEmpty ? "device not registered" : "alert refused: \(refusal ?? "?")"
                eventSink.yield(.failed(backend: configuration.name, lane: lane, reason: reason))
                return (lane, .failed)
            }
            eventSink.yield(.delivered(backend: configuration.name, lane: lane, records: records.count))
            return (lane, .delivered(claimed: records.count, full: records.count >= configuration.batchSize))
        } catch {
            // The machine owns the retry timing: as far as the outbox goes, the records are due again at once.
            do {
                try outbox.markFailed(sequences, backend: configuration.name)
            } catch {
                logger.error("cannot return records to pending", metadata: ["error": "\(error)"])
            }
            // The server's words (an error text, a TLS error naming its certificate) only ever quoted.
            let reason = UplinkTransportError.describe(error)
            logger.info(
                "request failed", metadata: ["lane": "\(lane)", "records": "\(records.count)", "error": "\(reason)"])
            deliveryFailed(reason: reason)
            eventSink.yield(.failed(backend: configuration.name, lane: lane, reason: reason))
            return (lane, .failed)
        }
    }
}
