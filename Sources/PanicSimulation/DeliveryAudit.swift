import ControlRoomKit
import PanicCore

/// What one box committed, compared record by record with what the control room stored: a record counts as
/// delivered only when the control room holds the same envelope (same sequence, same SHA-256) — a refused record,
/// or another record under its sequence number, is lost, however the totals add up. Pure; counts cannot go
/// negative.
public struct DeliveryAudit: Sendable, Equatable {
    /// Records in the box's outbox.
    public var committed: Int
    /// Of those, at the control room with the same hash.
    public var delivered: Int
    /// Not at the control room, and the box does not count them delivered: still on their way.
    public var undelivered: Int
    /// Not at the control room although the box counts them delivered (refused, answered for another record).
    public var lost: Int
    /// Sequence numbers of the lost records.
    public var lostSequences: [Int64]
    /// Records the control room holds under the box's id that are not in its outbox (e.g. from an outbox the box
    /// lost); reported, not counted as lost.
    public var foreign: Int

    /// How many of the box's records the control room holds (same sequence, same hash), by kind: what
    /// `delivered: KIND` expectations count when the control room's API has no per-kind counts (an external one).
    public static func deliveredByKind(
        committed: [(RecordIdentity, RecordKind)], stored: [RecordIdentity]
    ) -> [RecordKind: Int] {
        let atRoom = Set(stored)
        var counts: [RecordKind: Int] = [:]
        for (identity, kind) in committed where atRoom.contains(identity) { counts[kind, default: 0] += 1 }
        return counts
    }

    /// Compares `committed` (the outbox) with `stored` (the control room); `confirmed` are the sequences the box
    /// was told are delivered.
    public static func compare(
        committed: [RecordIdentity], stored: [RecordIdentity], confirmed: Set<Int64>
    ) -> DeliveryAudit {
        let atRoom = Set(stored)
        let inBox = Set(committed)
        var delivered = 0
        var undelivered = 0
        var lost: [Int64] = []
        for record in committed {
            if atRoom.contains(record) {
                delivered += 1
            } else if confirmed.contains(record.sequence) {
                lost.append(record.sequence)
            } else {
                undelivered += 1
            }
        }
        return DeliveryAudit(
            committed: committed.count, delivered: delivered, undelivered: undelivered, lost: lost.count,
            lostSequences: lost.sorted(), foreign: atRoom.subtracting(inBox).count)
    }
}
