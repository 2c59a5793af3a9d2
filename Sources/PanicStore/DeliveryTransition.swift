/// A record's delivery state for one backend, as the `delivery` table spells it (no row: never claimed).
enum DeliveryState: String, Sendable {
    case pending
    case inflight
    case delivered
}

/// One batch's move to a delivery state for one backend (a claim, a confirmation, a failure), decided in pure code
/// over the batch's rows as they were: which rows leave or enter the `pending` table, whose `delivered_count` moves,
/// and how the backend's counters move. The outbox reads the rows in one statement and writes each consequence in
/// one set-based statement per table (`Outbox.transition`), so a batch of 500 costs a few statements, not six per
/// record as when each record was read and moved alone (issue 29). The rule is the same as that per-record one:
/// a record whose state does not change moves nothing; a record a backend lacks (no row, or pending again) is in
/// `pending`, and only then.
struct DeliveryTransition: Sendable, Equatable {
    /// A record of the batch as stored before the move.
    struct Row: Sendable, Equatable {
        var sequence: Int64
        /// Its delivery state for the backend (nil: never claimed).
        var state: DeliveryState?
        /// How many backends have it.
        var deliveredCount: Int64
    }

    /// The batch's stored records, each once, in the caller's order (records no longer stored are left out).
    let sequences: [Int64]
    /// Records the backend had lacked and now does not: out of `pending`.
    let leavePending: [Int64]
    /// Records the backend had and now lacks again: into `pending`.
    let enterPending: [Int64]
    /// Records now delivered that were not (`delivered_count` + 1), and delivered ones no longer so (− 1).
    let gained: [Int64]
    let lost: [Int64]
    /// The moves of the backend's counters and of the count of records every backend has.
    let inFlightChange: Int
    let highestDelivered: Int64?
    let deliveredToAllChange: Int

    /// The move of `sequences` (duplicates count once) to `after`, over `rows` (the stored ones among them, in any
    /// order) with `backends` registered.
    init(sequences: [Int64], rows: [Row], to after: DeliveryState, backends: Int) {
        var byNumber: [Int64: Row] = [:]
        for row in rows { byNumber[row.sequence] = row }
        var seen = Set<Int64>()
        var ordered: [Row] = []
        for sequence in sequences where seen.insert(sequence).inserted {
            if let row = byNumber[sequence] { ordered.append(row) }
        }
        var leave: [Int64] = []
        var enter: [Int64] = []
        var gained: [Int64] = []
        var lost: [Int64] = []
        var inFlight = 0
        var toAll = 0
        let all = Int64(backends)
        for row in ordered where row.state != after {
            let wasPending = row.state == nil || row.state == .pending
            let isPending = after == .pending
            if wasPending, !isPending { leave.append(row.sequence) }
            if !wasPending, isPending { enter.append(row.sequence) }
            if row.state == .inflight { inFlight -= 1 }
            if after == .inflight { inFlight += 1 }
            if after == .delivered {
                gained.append(row.sequence)
                if row.deliveredCount + 1 == all { toAll += 1 }
            } else if row.state == .delivered {
                lost.append(row.sequence)
                if row.deliveredCount == all { toAll -= 1 }
            }
        }
        self.sequences = ordered.map(\.sequence)
        leavePending = leave
        enterPending = enter
        self.gained = gained
        self.lost = lost
        inFlightChange = inFlight
        highestDelivered = gained.max()
        deliveredToAllChange = toAll
    }

    /// The backend's counters after the move.
    func applied(to counters: BackendCounters) -> BackendCounters {
        var counters = counters
        counters.inFlight += inFlightChange
        counters.delivered += gained.count - lost.count
        if let highestDelivered { counters.highestDelivered = max(counters.highestDelivered, highestDelivered) }
        return counters
    }

    /// `sequences` as the JSON array the set-based statements read with `json_each`.
    static func list(_ sequences: [Int64]) -> String {
        "[" + sequences.map(String.init).joined(separator: ",") + "]"
    }
}
