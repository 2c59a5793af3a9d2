import Synchronization

/// Group commit: requests that arrive while ingest transactions are running wait, and go together in the next
/// one; each request is answered only after the transaction holding its records committed. No thread or task of
/// its own: a request that finds its lane idle leads a group; when a leader is done it hands the lead to the first
/// request waiting in the lane, which takes everything pending there (at most `maximumGroup`).
///
/// `store.ingestParallelism` lanes, a device always in the same one (by a hash of its id): transactions run in
/// parallel only for different devices, so two groups of one instance never wait for each other's device locks
/// (PostgreSQL's advisory locks, held to the commit) — before, four parallel groups over the same devices took
/// turns, one commit's fsync after the other.
final class IngestQueue: Sendable {
    /// Most requests in one transaction.
    static let maximumGroup = 256

    private struct Lane {
        var pending: [Ticket] = []
        var running = false
    }

    private let store: any ControlRoomStore
    private let lanes: Mutex<[Lane]>
    private let laneCount: Int

    init(store: any ControlRoomStore) {
        self.store = store
        laneCount = max(1, store.ingestParallelism)
        lanes = Mutex(Array(repeating: Lane(), count: laneCount))
    }

    /// The lane of `device`: FNV-1a of its id (stable across runs, unlike `hashValue`).
    func lane(of device: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in device.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(laneCount))
    }

    /// Ingests `request` in the next group commit of its lane and returns its answer once that committed.
    func submit(_ request: IngestRequest, issue: @escaping CommandIssuer) async throws -> IngestAnswer {
        let ticket = Ticket(request)
        let lane = lane(of: request.device)
        let leads = lanes.withLock { lanes in
            if !lanes[lane].running {
                lanes[lane].running = true
                return true
            }
            lanes[lane].pending.append(ticket)
            return false
        }
        if !leads {
            switch await ticket.wait() {
            case .answered(let result): return try result.get()
            case .lead: break  // the leader before kept the lane running for this group
            }
        }
        let group =
            [ticket]
            + lanes.withLock { lanes in
                let taken = Array(lanes[lane].pending.prefix(Self.maximumGroup - 1))
                lanes[lane].pending.removeFirst(taken.count)
                return taken
            }
        let outcome: Result<[IngestAnswer], any Error>
        do { outcome = .success(try await store.ingest(group.map(\.request), issue: issue)) } catch {
            outcome = .failure(error)
        }
        let next = lanes.withLock { lanes in
            if lanes[lane].pending.isEmpty {
                lanes[lane].running = false
                return nil as Ticket?
            }
            return lanes[lane].pending.removeFirst()
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
