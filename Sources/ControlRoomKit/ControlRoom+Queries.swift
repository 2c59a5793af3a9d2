import Foundation
import Logging
import PanicCore
import PanicSQLite
import PanicSigning

extension ControlRoom {
    /// Alerts not yet closed (cleared and confirmed by the device), oldest press first.
    public func openAlerts() throws -> [AlertView] {
        let now = wallClock()
        return try state.withLock { state in
            try alertViews(where: "a.device_cleared = 0", [], now: now, state)
        }
    }

    /// Every alert, open or closed, oldest press first.
    public func allAlerts() throws -> [AlertView] {
        let now = wallClock()
        return try state.withLock { state in try alertViews(where: "1", [], now: now, state) }
    }

    /// Alerts that arrived after `cursor` (0 for all), in arrival order, and the cursor to pass next time: a
    /// watcher reads only what is new, however many alerts the store holds.
    public func alerts(after cursor: Int64) throws -> (alerts: [AlertView], cursor: Int64) {
        let now = wallClock()
        return try state.withLock { state in
            let views = try alertViews(
                where: "a.rowid > ?1", [.integer(cursor)], order: "a.rowid", now: now, state)
            let last = try state.statement("SELECT ifnull(max(rowid), 0) FROM alerts")
            try last.bind([])
            defer { last.reset() }
            return (views, try last.step() ? max(cursor, last.integer(0)) : cursor)
        }
    }

    func alertViews(
        where condition: String, _ values: [SQLiteValue], order: String = "a.pressed_ms, a.device, a.seq",
        now: RecordTime, _ state: State
    ) throws
        -> [AlertView]
    {
        let query = try state.statement(
            """
            SELECT a.id, a.device, a.seq, a.kind, a.input, a.pressed_ms, a.time_source, a.fix, a.state,
                   a.device_cleared
            FROM alerts a WHERE \(condition) ORDER BY \(order)
            """)
        try query.bind(values)
        var result: [AlertView] = []
        while try query.step() {
            let fix = query.isNull(7) ? nil : try? JSONDecoder().decode(RecordFix.self, from: Data(query.text(7).utf8))
            let pressed = RecordTime(epochMilliseconds: query.integer(5))
            result.append(
                AlertView(
                    id: query.text(0), device: query.text(1), sequence: query.integer(2), kind: query.text(3),
                    input: query.isNull(4) ? nil : query.text(4), pressed: pressed.description,
                    timeSource: query.text(6), sincePressMs: now.epochMilliseconds - pressed.epochMilliseconds,
                    latitude: fix?.latitude, longitude: fix?.longitude, fixAgeMs: fix?.ageMilliseconds,
                    state: ControlRoomAlertState(rawValue: query.text(8)) ?? .open, deviceCleared: query.integer(9) != 0
                ))
        }
        query.reset()
        return result
    }

    /// Records stored from `device` (from every device when nil).
    public func recordCount(device: String? = nil) throws -> Int {
        try state.withLock { state in try recordCount(device: device, state) }
    }

    func recordCount(device: String?, _ state: State) throws -> Int {
        let query = try state.statement("SELECT count(*) FROM records WHERE ?1 IS NULL OR device = ?1")
        try query.bind([device.map { .text($0) } ?? .null])
        defer { query.reset() }
        return try query.step() ? Int(query.integer(0)) : 0
    }

    /// Stored sequence numbers of `device`, in arrival order (for tests and audits).
    public func arrivalOrder(device: String) throws -> [(sequence: Int64, kind: RecordKind)] {
        try state.withLock { state in
            let query = try state.statement(
                "SELECT seq, kind FROM records WHERE device = ?1 ORDER BY rowid")
            try query.bind([.text(device)])
            var result: [(Int64, RecordKind)] = []
            while try query.step() {
                result.append((query.integer(0), RecordKind(rawValue: query.text(1)) ?? .position))
            }
            query.reset()
            return result
        }
    }

    /// Sequence numbers never received from `device`, from 1 to the highest received, as closed ranges.
    public func gaps(device: String) throws -> [ClosedRange<Int64>] {
        try state.withLock { state in try gaps(device: device, state) }
    }

    func gaps(device: String, _ state: State) throws -> [ClosedRange<Int64>] {
        let query = try state.statement(
            """
            SELECT before + 1, seq - 1 FROM (
                SELECT seq, lag(seq, 1, 0) OVER (ORDER BY seq) AS before FROM records WHERE device = ?1)
            WHERE seq > before + 1
            """)
        try query.bind([.text(device)])
        var result: [ClosedRange<Int64>] = []
        while try query.step() { result.append(query.integer(0)...query.integer(1)) }
        query.reset()
        return result
    }

    /// Chain findings recorded for `device` (`fork`, `replay`, `broken-chain`), with sequence numbers (the device
    /// flags beside them, such as `outbox-lost`, are in `devices()` only).
    public func findings(device: String) throws -> [(sequence: Int64, finding: VerificationFinding.Kind)] {
        try state.withLock { state in
            let query = try state.statement("SELECT seq, finding FROM findings WHERE device = ?1 ORDER BY rowid")
            try query.bind([.text(device)])
            var result: [(Int64, VerificationFinding.Kind)] = []
            while try query.step() {
                guard let kind = VerificationFinding.Kind(rawValue: query.text(1)) else { continue }
                result.append((query.integer(0), kind))
            }
            query.reset()
            return result
        }
    }
}
