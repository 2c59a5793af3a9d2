import ControlRoomKit
import Foundation
import PanicCore
import Synchronization

/// Decoded positions per alert, kept between pushes so each push decodes only the records that are new.
final class DeskTracks: Sendable {
    /// Most points kept and shown per alert.
    static let limit = 2000

    private struct Track {
        var lastRowID: Int64 = 0
        var points: [TrackPoint] = []
    }

    private let tracks = Mutex<[String: Track]>([:])

    /// The track of `alert` since its press, updated with records stored since the last call.
    func track(_ alert: AlertView, store: any DeskStore) async throws -> [TrackPoint] {
        let key = alert.device + "/" + alert.id
        let known = tracks.withLock { $0[key] ?? Track() }
        let rows = try await Self.recordsWithFix(
            device: alert.device, from: alert.sequence, afterRowID: known.lastRowID, store: store)
        guard !rows.isEmpty else { return known.points }
        var track = known
        for row in rows {
            track.lastRowID = max(track.lastRowID, row.rowID)
            if let point = row.point { track.points.append(point) }
        }
        track.points.sort { $0.sequence < $1.sequence }
        if track.points.count > Self.limit { track.points.removeFirst(track.points.count - Self.limit) }
        tracks.withLock { $0[key] = track }
        return track.points
    }

    /// Drops the tracks of alerts no longer shown.
    func keep(_ alerts: [AlertView]) {
        let keys = Set(alerts.map { $0.device + "/" + $0.id })
        tracks.withLock { $0 = $0.filter { keys.contains($0.key) } }
    }
}

extension DeskTracks {
    /// Stored records of `device` from sequence number `from` on, stored after `rowID`, with their fixes.
    static func recordsWithFix(
        device: String, from sequence: Int64, afterRowID rowID: Int64, store: any DeskStore
    ) async throws -> [(rowID: Int64, point: TrackPoint?)] {
        try await store.envelopes(device: device, from: sequence, afterRowID: rowID).map {
            ($0.rowID, ControlRoom.decode($0.envelope).flatMap(ControlRoom.point))
        }
    }

    /// The desk's view of the given alerts, read from the desk's part of the store. The metadata comes in one query
    /// for the alerting devices and their responders (never the whole fleet's), each responder's last position once
    /// however many alerts it is on.
    func alerts(_ views: [AlertView], store: any DeskStore) async throws -> [DeskAlert] {
        guard !views.isEmpty else { return [] }
        var parts: [(track: [TrackPoint], audit: [AuditEntry], dispatches: [DispatchRow])] = []
        for view in views {
            parts.append(
                (
                    try await track(view, store: store), try await store.audit(device: view.device, alert: view.id),
                    try await store.dispatches(device: view.device, alert: view.id)
                ))
        }
        let responders = Set(parts.flatMap { $0.dispatches.map(\.responder) })
        let metadata = try await store.metadata(devices: Array(Set(views.map(\.device)).union(responders)).sorted())
        let positions = try await store.positions(devices: responders.sorted()).mapValues(TrackPoint.init)
        return zip(views, parts).map { view, part in
            let current = part.track.max { ($0.timeMs, $0.sequence) < ($1.timeMs, $1.sequence) }
            let assigned = part.dispatches.map { row in
                let position = positions[row.responder]
                return ResponderView(
                    device: row.responder, name: metadata[row.responder]?.name ?? "", stage: row.stage,
                    timeMs: row.timeMs,
                    distanceMeters: position.flatMap { here in current.map { ControlRoom.distance(here, $0) } },
                    position: position)
            }
            return DeskAlert(
                alert: view, device: metadata[view.device] ?? DeviceMetadata(), current: current, track: part.track,
                audit: part.audit, responders: assigned)
        }
    }
}

extension ControlRoom {
    /// The desk's view of the given alerts (`DeskTracks.alerts`), over the desk's part of the store.
    func deskAlerts(_ views: [AlertView], tracks: DeskTracks) async throws -> [DeskAlert] {
        try await tracks.alerts(views, store: store as any DeskStore)
    }
}
