import Synchronization

/// Group commit: requests that arrive while an ingest transaction is running wait, and go together in the next
/// one; each request is answered only after the transaction holding its records committed. No thread or task of
/// its own: the first request in becomes the leader and runs the transaction; when it is done it hands the lead to
/// the first request that arrived meanwhile, which takes everything pending (at most `maximumGroup`).
final class IngestQueue: Sendable {
    /// Most requests in one transaction.
    static let maximumGroup = 256

    private struct State {
        var pending: [Ticket] = []
        var running = false
    }

    private let store: any ControlRoomStore
    private let state = Mutex(State())

    init(store: any ControlRoomStore) { self.store = store }

    /// Ingests `request` in the next group commit and returns its answer once that committed.
    func submit(_ request: IngestRequest, issue: @escaping CommandIssuer) async throws -> IngestAnswer {
        let ticket = Ticket(request)
        let leads = state.withLock { state in
            state.pending.append(ticket)
            if state.running { return false }
            state.running = true
            return true
        }
        if !leads {
            switch await ticket.wait() {
            case .answered(let result): return try result.get()
            case .lead: break
            }
        }
        let group = state.withLock { state in
            let group = Array(state.pending.prefix(Self.maximumGroup))
            state.pending.removeFirst(group.count)
            return group
        }
        let outcome: Result<[IngestAnswer], any Error>
        do { outcome = .success(try await store.ingest(group.map(\.request), issue: issue)) } catch {
            outcome = .failure(error)
        }
        let next = state.withLock { state in
            if state.pending.isEmpty {
                state.running = false
                return nil as Ticket?
            }
            return state.pending[0]
        }
        var mine: Result<IngestAnswer, any Error> = .failure(CancellationError())
        for (index, member) in group.enumerated() {
            let result = outcome.map { $0[index] }
            if member === ticket { mine = result } else { member.resolve(.answered(result)) }
        }
        next?.resolve(.lead)
        return try mine.get()
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
