import Foundation
import Logging
import PanicCore
import PanicStore
import PanicUplink

#if canImport(Glibc)
    import Glibc
#endif

/// A file call that failed, with the call, the path and errno.
public struct EngineStateFileError: Error, Sendable, CustomStringConvertible {
    public var call: String
    public var path: String
    public var errno: CInt
    public var description: String { "\(call) \(path): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The engine's persistent state, the outbox sequence and last known state of each open alert, as a small JSON
/// file replaced atomically (written to a temporary file, synced, renamed, the directory synced), so a power cut
/// leaves either the old state or the new one.
enum EngineStateFile {
    struct Contents: Codable, Equatable {
        var engine: AlertEngine.PersistentState
        var alertSequences: [String: Int64]
        /// The last state the box knew of each open alert (absent in files written before it was kept).
        var alerts: [String: IndicatorPolicy.OpenAlert]?

        /// Each open alert's last known state; for an older file, "stored" (all it can be sure of).
        var knownAlerts: [String: IndicatorPolicy.OpenAlert] {
            if let alerts { return alerts }
            var known: [String: IndicatorPolicy.OpenAlert] = [:]
            if let emergency = engine.openEmergency { known[emergency] = .init(kind: .emergency, state: .stored) }
            for help in engine.openHelp { known[help] = .init(kind: .help, state: .stored) }
            return known
        }
    }

    /// How often a write that failed is tried again.
    static let retryInterval = Duration.seconds(1)

    /// The file's contents, nil when there is none; throws (naming the file) when it cannot be read or decoded.
    static func read(path: String) throws -> Contents? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EngineStateFileError(call: "read", path: path, errno: EIO)
        }
        do { return try JSONDecoder().decode(Contents.self, from: data) } catch {
            throw DaemonError("alert-state file \(path) is not valid (\(data.count) bytes): \(error)")
        }
    }

    /// Moves an unreadable file aside (`PATH.corrupt-EPOCHMS`) and returns where it went.
    static func setAside(path: String) -> String? {
        let aside = "\(path).corrupt-\(Int64(Date().timeIntervalSince1970 * 1000))"
        return rename(path, aside) == 0 ? aside : nil
    }

    /// The open alerts as the outbox tells them: every emergency and help record not followed by a `cleared`
    /// record for it, nor cleared in the commands' history; each in the last state the history has for it (an
    /// accepted alert is help on the way again), else `stored`. Input faults are not in the outbox; the classifier
    /// finds them again.
    static func rebuild(from outbox: Outbox) throws -> Contents? {
        var open: [String: (kind: RecordKind, sequence: Int64)] = [:]
        let history = try outbox.alertStates()
        var cleared = Set(history.filter { $0.value == .cleared }.keys)
        for stored in try outbox.records() {
            guard stored.kind == .emergency || stored.kind == .help || stored.kind == .cleared else { continue }
            guard let record = stored.decodedRecord() else { continue }
            switch record.body {
            case .cleared(let alert, _): cleared.insert(alert)
            default: open[record.id] = (record.kind, record.sequence)
            }
        }
        open = open.filter { !cleared.contains($0.key) }
        guard !open.isEmpty else { return nil }
        // One emergency can be latched: the latest; help requests stay open side by side.
        let emergency = open.filter { $0.value.kind == .emergency }.max { $0.value.sequence < $1.value.sequence }
        let helps = open.filter { $0.value.kind == .help }.sorted { $0.value.sequence < $1.value.sequence }
        var kept = helps.map { ($0.key, $0.value) }
        if let emergency { kept.append((emergency.key, emergency.value)) }
        return Contents(
            engine: .init(openEmergency: emergency?.key, openHelp: helps.map(\.key)),
            alertSequences: Dictionary(uniqueKeysWithValues: kept.map { ($0.0, $0.1.sequence) }),
            alerts: Dictionary(
                uniqueKeysWithValues: kept.map { ($0.0, .init(kind: $0.1.kind, state: history[$0.0] ?? .stored)) }))
    }

    /// `contents` with every open alert it lacks the outbox sequence of found in the outbox (an alert held in
    /// memory on a full card and committed after the file was last written). An open alert the outbox does not
    /// have at all was held when the power went and is lost: it is let go (logged), so the next press is an alert
    /// again instead of being swallowed by a latch nothing can clear.
    static func completed(_ contents: Contents, from outbox: Outbox, logger: Logger) throws -> Contents {
        let open = [contents.engine.openEmergency].compactMap { $0 } + contents.engine.openHelp
        let missing = open.filter { contents.alertSequences[$0] == nil }
        guard !missing.isEmpty else { return contents }
        let found = try rebuild(from: outbox)
        var completed = contents
        var known = contents.knownAlerts
        for id in missing {
            if let sequence = found?.alertSequences[id] {
                completed.alertSequences[id] = sequence
                let kind: RecordKind = contents.engine.openEmergency == id ? .emergency : .help
                known[id] = found?.alerts?[id] ?? .init(kind: kind, state: .stored)
            } else {
                logger.error(
                    "an alert held in memory on a full card was lost before it could be committed",
                    metadata: ["alert": "\(id)"])
                if completed.engine.openEmergency == id { completed.engine.openEmergency = nil }
                completed.engine.openHelp.removeAll { $0 == id }
                known[id] = nil
            }
        }
        completed.alerts = known
        return completed
    }

    /// Writes `contents` durably. Every failing call (a full disk: `write` or `fsync` with ENOSPC) throws with
    /// the call, the path and errno; the previous file is then left as it was.
    static func write(_ contents: Contents, path: String) throws {
        try writeAtomically(try JSONEncoder().encode(contents), path: path)
    }

    /// Replaces the file at `path` with `data` durably: a temporary file written and synced, renamed over it, the
    /// directory synced. A power cut leaves the old file or the new one.
    static func writeAtomically(_ data: Data, path: String) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw EngineStateFileError(call: "open", path: temporary, errno: errno) }
        var failure: EngineStateFileError?
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    failure = EngineStateFileError(call: "write", path: temporary, errno: count < 0 ? errno : ENOSPC)
                    return
                }
                offset += count
            }
        }
        if failure == nil, fsync(descriptor) != 0 {
            failure = EngineStateFileError(call: "fsync", path: temporary, errno: errno)
        }
        _ = close(descriptor)
        if let failure {
            _ = unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let error = EngineStateFileError(call: "rename", path: path, errno: errno)
            _ = unlink(temporary)
            throw error
        }
        // The rename is durable only once the directory is.
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let handle = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard handle >= 0 else { throw EngineStateFileError(call: "open", path: directory, errno: errno) }
        defer { _ = close(handle) }
        guard fsync(handle) == 0 else { throw EngineStateFileError(call: "fsync", path: directory, errno: errno) }
    }
}
