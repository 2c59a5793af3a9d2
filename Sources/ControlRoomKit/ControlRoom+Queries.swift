import Foundation
import PanicCore
import PanicSigning

extension ControlRoom {
    /// Alerts not yet closed (cleared and confirmed by the device), oldest press first.
    public func openAlerts() async throws -> [AlertView] { try await store.alerts(.open, now: wallClock()) }

    /// Every alert, open or closed, oldest press first.
    public func allAlerts() async throws -> [AlertView] { try await store.alerts(.all, now: wallClock()) }

    /// One page of closed alerts (every alert with `query.includeOpen`), newest press first (the desk's history,
    /// `GET /v1/alerts?all=1`).
    public func closedAlerts(_ query: AlertHistoryQuery) async throws -> AlertHistoryPage {
        try await store.closedAlerts(query, now: wallClock())
    }

    /// Alerts that arrived after `cursor` (0 for all), in arrival order, and the cursor to pass next time: a
    /// watcher reads only what is new, however many alerts the store holds.
    public func alerts(after cursor: Int64) async throws -> (alerts: [AlertView], cursor: Int64) {
        try await store.alerts(after: cursor, now: wallClock())
    }

    /// Records stored from `device` (from every device when nil).
    public func recordCount(device: String? = nil) async throws -> Int { try await store.recordCount(device: device) }

    /// Stored sequence numbers of `device`, in arrival order (for tests and audits).
    public func arrivalOrder(device: String) async throws -> [(sequence: Int64, kind: RecordKind)] {
        try await store.arrivalOrder(device: device).map { ($0.sequence, $0.kind) }
    }

    /// Sequence numbers never received from `device`, from 1 to the highest received, as closed ranges.
    public func gaps(device: String) async throws -> [ClosedRange<Int64>] { try await store.gaps(device: device) }

    /// Chain findings recorded for `device` (`fork`, `replay`, `broken-chain`), with sequence numbers (the device
    /// flags beside them, such as `outbox-lost`, are in `devices()` only).
    public func findings(device: String) async throws -> [(sequence: Int64, finding: VerificationFinding.Kind)] {
        try await store.findings(device: device).map { ($0.sequence, $0.finding) }
    }
}

/// Gap ranges as `controlroom devices list` and the desk print them.
extension ClosedRange where Bound == Int64 {
    var gapText: String { lowerBound == upperBound ? "\(lowerBound)" : "\(lowerBound)-\(upperBound)" }
}
