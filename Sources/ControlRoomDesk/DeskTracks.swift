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

    /// The track of each of `alerts` since its press, updated with the records stored since the last call: one
    /// query for all of them (`DeskStore.envelopes(tracks:)`), however many alerts are open.
    func tracks(_ alerts: [AlertView], store: any DeskStore) async throws -> [[TrackPoint]] {
        let keys = alerts.map { $0.device + "/" + $0.id }
        let known = tracks.withLock { tracks in keys.map { tracks[$0] ?? Track() } }
        let cursors = zip(alerts, known).map {
            TrackCursor(device: $0.device, from: $0.sequence, afterRowID: $1.lastRowID)
        }
        let stored = try await store.envelopes(tracks: cursors)
        var result: [[TrackPoint]] = []
        var updated: [String: Track] = [:]
        for (index, cursor) in cursors.enumerated() {
            guard let rows = stored[cursor], !rows.isEmpty else {
                result.append(known[index].points)
                continue
            }
            var track = known[index]
            for row in rows {
                track.lastRowID = max(track.lastRowID, row.rowID)
                if let point = ControlRoom.decode(row.envelope).flatMap(ControlRoom.point) {
                    track.points.append(point)
                }
            }
            track.points.sort { $0.sequence < $1.sequence }
            if track.points.count > Self.limit { track.points.removeFirst(track.points.count - Self.limit) }
            updated[keys[index]] = track
            result.append(track.points)
        }
        if !updated.isEmpty { tracks.withLock { $0.merge(updated) { $1 } } }
        return result
    }

    /// Drops the tracks of alerts no longer shown.
    func keep(_ alerts: [AlertView]) {
        let keys = Set(alerts.map { $0.device + "/" + $0.id })
        tracks.withLock { $0 = $0.filter { keys.contains($0.key) } }
    }
}

extension DeskTracks {
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
        let tracks = try await trails?.tracks(views, store: store) ?? views.map { _ in [] }
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
