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

    /// The desk's view of the given alerts, read from the desk's part of the store in a fixed number of queries
    /// however many there are: their audit lines, their responders, the metadata of the alerting devices and their
    /// responders (never the whole fleet's), and each responder's last position once however many alerts it is
    /// on. `tracks` nil: without the route trail (the history's rows; a closed alert's trail is in its evidence
    /// bundle).
    static func alerts(
        _ views: [AlertView], store: any DeskStore, tracks trails: DeskTracks?
    ) async throws
        -> [DeskAlert]
    {
        guard !views.isEmpty else { return [] }
        let refs = views.map { AlertRef(device: $0.device, id: $0.id) }
        let audits = try await store.audit(alerts: refs)
        let dispatches = try await store.dispatches(alerts: refs)
        var tracks: [[TrackPoint]] = []
        for view in views { tracks.append(try await trails?.track(view, store: store) ?? []) }
        let responders = Set(dispatches.values.joined().map(\.responder))
        let metadata = try await store.metadata(devices: Array(Set(views.map(\.device)).union(responders)).sorted())
        let positions = try await store.positions(devices: responders.sorted()).mapValues(TrackPoint.init)
        return zip(zip(views, refs), tracks).map { pair, track in
            let (view, ref) = pair
            let current = track.max { ($0.timeMs, $0.sequence) < ($1.timeMs, $1.sequence) }
            let assigned = (dispatches[ref] ?? []).map { row in
                let position = positions[row.responder]
                return ResponderView(
                    device: row.responder, name: metadata[row.responder]?.name ?? "", stage: row.stage,
                    timeMs: row.timeMs,
                    distanceMeters: position.flatMap { here in current.map { ControlRoom.distance(here, $0) } },
                    position: position)
            }
            return DeskAlert(
                alert: view, device: metadata[view.device] ?? DeviceMetadata(), current: current,
                track: trails == nil ? nil : track, audit: audits[ref] ?? [], responders: assigned)
        }
    }
}

extension ControlRoom {
    /// The desk's view of the given alerts (`DeskTracks.alerts`), over the desk's part of the store; `tracks` nil:
    /// without their route trails (the history).
    func deskAlerts(_ views: [AlertView], tracks: DeskTracks?) async throws -> [DeskAlert] {
        try await DeskTracks.alerts(views, store: store as any DeskStore, tracks: tracks)
    }
}

/// A piece of an open alert's route trail as the push channel sends it: the points whose sequence numbers fall in
/// one block of `size`. A new position changes only the last piece, so an alerting bus's next fix costs each
/// stream one piece, not its whole trail since the press (up to `DeskTracks.limit` points). Keyed
/// `/device/alert#N`: a leading `/` no alert key has (a device id is never empty).
struct DeskTrackChunk: Sendable, Hashable, Codable {
    static let size: Int64 = 64

    /// The alert's key, `device/alert`.
    var alert: String
    /// The block: points with sequence numbers from `chunk × size` to `(chunk + 1) × size − 1`.
    var chunk: Int64
    var points: [TrackPoint]

    var key: String { "/" + alert + "#" + String(chunk) }

    static func isKey(_ key: String) -> Bool { key.hasPrefix("/") }

    /// `track` (in sequence order) in pieces, in order.
    static func chunks(of track: [TrackPoint], alert: String) -> [DeskTrackChunk] {
        var chunks: [DeskTrackChunk] = []
        for point in track {
            let block = point.sequence / size
            if chunks.last?.chunk == block {
                chunks[chunks.count - 1].points.append(point)
            } else {
                chunks.append(DeskTrackChunk(alert: alert, chunk: block, points: [point]))
            }
        }
        return chunks
    }
}
