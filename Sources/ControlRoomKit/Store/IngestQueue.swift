import Synchronization

/// Group commit: requests that arrive while ingest transactions are running wait, and go together in the next
/// one; each request is answered only after the transaction holding its records committed. No thread or task of
/// its own: a request that finds fewer than `store.ingestParallelism` transactions running leads one; when a leader
/// is done it hands the lead to the first request waiting, which takes everything pending (at most `maximumGroup`).
final class IngestQueue: Sendable {
    /// Most requests in one transaction.
    static let maximumGroup = 256

    private struct State {
        var pending: [Ticket] = []
        var running = 0
    }

    private let store: any ControlRoomStore
    private let parallelism: Int
    private let state = Mutex(State())

    init(store: any ControlRoomStore) {
        self.store = store
        parallelism = max(1, store.ingestParallelism)
    }

    /// Ingests `request` in the next group commit and returns its answer once that committed.
    func submit(_ request: IngestRequest, issue: @escaping CommandIssuer) async throws -> IngestAnswer {
        let ticket = Ticket(request)
        let leads = state.withLock { state in
            if state.running < parallelism {
                state.running += 1
                return true
            }
            state.pending.append(ticket)
            return false
        }
        if !leads {
            switch await ticket.wait() {
            case .answered(let result): return try result.get()
            case .lead: break  // the leader before kept the running count for this group
            }
        }
        let group =
            [ticket]
            + state.withLock { state in
                let taken = Array(state.pending.prefix(Self.maximumGroup - 1))
                state.pending.removeFirst(taken.count)
                return taken
            }
        let outcome: Result<[IngestAnswer], any Error>
        do { outcome = .success(try await store.ingest(group.map(\.request), issue: issue)) } catch {
            outcome = .failure(error)
        }
        let next = state.withLock { state in
            if state.pending.isEmpty {
                state.running -= 1
                return nil as Ticket?
            }
            return state.pending.removeFirst()
        }
        for (index, member) in group.enumerated().dropFirst() {
            member.resolve(.answered(outcome.map { $0[index] }))
        }
        next?.resolve(.lead)
        return try outcome.map { $0[0] }.get()
    }

    /// One waiting request: answered, or told to lead the next group.
    final class Ticket: Sendable {
        enum Outcome: Sendable {
            case answered(Result<IngestAnswer, any Error>)
            case lead
        }

        private struct Slot {
            var outcome: Outcome?
            var waiter: CheckedContinuation<Outcome, Never>?
        }

        let request: IngestRequest
        private let slot = Mutex(Slot())

        init(_ request: IngestRequest) { self.request = request }

        func resolve(_ outcome: Outcome) {
            let waiter = slot.withLock { slot in
                if let waiter = slot.waiter {
                    slot.waiter = nil
                    return waiter as CheckedContinuation<Outcome, Never>?
                }
                slot.outcome = outcome
                return nil
            }
            waiter?.resume(returning: outcome)
        }

        func wait() async -> Outcome {
            await withCheckedContinuation { continuation in
                let ready = slot.withLock { slot in
                    if let outcome = slot.outcome { return outcome as Outcome? }
                    slot.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
