import Foundation
import PanicCore

/// The box's last GNSS fix kept across restarts (beside the alert-state file, `STATE.fix`), so that records and
/// frames after a reboot carry the last known position with its true age instead of none. Replaced atomically
/// (``EngineStateFile/writeAtomically(_:path:)``); written at most once per `saveInterval` while the fix moves,
/// with every alert, and at a clean shutdown, so an SD card sees at most one small write a minute.
public enum LastFixFile {
    /// What the file holds.
    public struct Contents: Codable, Equatable, Sendable {
        /// The fix, its `ageMs` 0 (the age is counted from `takenMs` when it is used).
        public var fix: RecordFix
        /// Wall time the fix was taken, UTC milliseconds.
        public var takenMilliseconds: Int64

        public init(fix: RecordFix, takenMilliseconds: Int64) {
            self.fix = fix
            self.takenMilliseconds = takenMilliseconds
        }

        enum CodingKeys: String, CodingKey {
            case fix
            case takenMilliseconds = "takenMs"
        }
    }

    /// The longest time between two saves of a fix that moves.
    public static let saveInterval = Duration.seconds(60)

    /// The file beside the alert-state file at `statePath`.
    public static func path(statePath: String) -> String { statePath + ".fix" }

    /// The saved fix, nil when there is none or the file cannot be read (a lost position is no reason not to
    /// start).
    public static func read(path: String) -> Contents? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(Contents.self, from: data)
    }

    /// Writes `contents` durably.
    static func write(_ contents: Contents, path: String) throws {
        try EngineStateFile.writeAtomically(try JSONEncoder().encode(contents), path: path)
    }

    /// Whether a fix is owed to the file: it differs from the one saved, and an alert was just made, the box is
    /// stopping, or `saveInterval` has passed since the last save. Pure.
    public static func due(
        _ current: Contents?, saved: Contents?, lastSave: MonotonicInstant?, now: MonotonicInstant, urgent: Bool
    ) -> Bool {
        guard let current, current != saved else { return false }
        guard !urgent, let lastSave else { return true }
        return now >= lastSave.advanced(by: saveInterval)
    }
}
