import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Log lines for journald on standard error: each starts with its syslog priority (`<3>` … `<7>`, see
/// sd-daemon(3)), so `journalctl -p err` and the colours work, and has no timestamp of its own (the journal
/// stamps every line). `panicd run` uses it when standard error is the journal (`JOURNAL_STREAM`), and
/// swift-log's `StreamLogHandler` otherwise.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JournalLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        write(Self.format(level: event.level, message: "\(event.message)", metadata: merged) + "\n")
    }

    /// The syslog priority of a swift-log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// `<6>[box] message key=value …`: the part first (when there is one), then the message, then the rest of
    /// the metadata sorted by key.
    public static func format(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = "<\(priority(level))>"
        var rest = metadata
        if let part = rest.removeValue(forKey: "part") { line += "[\(part)] " }
        line += message.replacingOccurrences(of: "\n", with: " ")
        for (key, value) in rest.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        return line
    }

    /// Whether standard error is the journal: `JOURNAL_STREAM` names its device and inode (systemd.exec(5)).
    public static func standardErrorIsJournal(environment: [String: String]) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// One write(2) per line, so lines from different threads never interleave.
    @Sendable public static func standardError(_ line: String) {
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                Glibc.write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}
