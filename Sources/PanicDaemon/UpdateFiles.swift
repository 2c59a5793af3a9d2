import Foundation
import PanicCore

/// Where panicd leaves an update it accepted and downloaded, for the root install agent (docs/updates.md): the
/// package (`update.deb`) and then its signed document (`update.jws`, whose appearance starts
/// `panicbridge-update.path`), in a directory beside the outbox. The agent trusts neither: it copies both into its
/// own directory and checks them again. Each file is written to a temporary name and renamed.
public struct UpdateSpool: Sendable {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    /// `update/` beside the outbox.
    public init(outboxPath: String) {
        self.init(directory: URL(fileURLWithPath: outboxPath).deletingLastPathComponent().path + "/update")
    }

    public var packagePath: String { directory + "/update.deb" }
    public var documentPath: String { directory + "/update.jws" }

    /// The spooled document's JWS, when there is one.
    public var document: String? { try? String(contentsOfFile: documentPath, encoding: .utf8) }

    /// Makes the directory (0700 when new).
    public func prepare() throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Writes the document last (the package is already in place): its rename is what the path unit waits for.
    public func commit(document envelope: String) throws {
        let temporary = documentPath + ".tmp"
        try Data(envelope.utf8).write(to: URL(fileURLWithPath: temporary))
        if FileManager.default.fileExists(atPath: documentPath) {
            try FileManager.default.removeItem(atPath: documentPath)
        }
        try FileManager.default.moveItem(atPath: temporary, toPath: documentPath)
    }

    /// Removes whatever is spooled.
    public func clear() {
        for path in [documentPath, packagePath, packagePath + ".part", documentPath + ".tmp"] {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

/// What is installed on this box, as the update channel compares it.
public enum InstalledSoftware {
    /// This box's Debian architecture, as built (`dpkg --print-architecture` of the machine it was built for).
    public static var architecture: String {
        #if arch(x86_64)
            return "amd64"
        #elseif arch(arm64)
            return "arm64"
        #elseif arch(arm)
            return "armhf"
        #else
            return "unknown"
        #endif
    }

    /// The installed `panicbridge` package's version, read from dpkg's status file (no process started: panicd
    /// runs on one thread), else this build's version (not installed from a package: a development build).
    public static func packageVersion(statusFile: String = "/var/lib/dpkg/status") -> String {
        guard let text = try? String(contentsOfFile: statusFile, encoding: .utf8) else {
            return PanicBridgeVersion.current
        }
        return version(inStatus: text) ?? PanicBridgeVersion.current
    }

    /// The version of the installed `panicbridge` in the text of dpkg's status file.
    static func version(inStatus text: String) -> String? {
        for stanza in text.components(separatedBy: "\n\n") {
            var fields: [Substring: Substring] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix(" ") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon]] = line[line.index(after: colon)...].drop { $0 == " " }
            }
            guard fields["Package"] == Substring(UpdateDocument.packageName),
                fields["Status"]?.hasSuffix(" installed") == true, let version = fields["Version"],
                DebianVersion(String(version)) != nil
            else { continue }
            return String(version)
        }
        return nil
    }
}

/// The install agent's own state, root's (docs/updates.md): `state.json` (the floor: the lowest version this box may
/// run, raised to each version that proves healthy; the last outcome) and `current.deb`, the package of the version
/// that last proved healthy (rollback target). World-readable, so panicd refuses below-floor documents early; only
/// root writes it.
public struct UpdateAgentState: Sendable, Codable, Equatable {
    /// The lowest version the box may run (nil: none yet).
    public var floor: String?
    /// The last update's outcome, e.g. `installed 0.9.1`, `rolled back 0.9.2 to 0.9.1`, `refused: …`.
    public var lastOutcome: String?
    /// Versions the agent rolled back (the newest 16): never installed again, however often the control room sends
    /// their document (an acknowledgement lost with panicd's restart brings it back).
    public var rolledBack: [String]

    public init(floor: String? = nil, lastOutcome: String? = nil, rolledBack: [String] = []) {
        self.floor = floor
        self.lastOutcome = lastOutcome
        self.rolledBack = rolledBack
    }

    enum CodingKeys: String, CodingKey { case floor, lastOutcome, rolledBack }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        floor = try container.decodeIfPresent(String.self, forKey: .floor)
        lastOutcome = try container.decodeIfPresent(String.self, forKey: .lastOutcome)
        rolledBack = try container.decodeIfPresent([String].self, forKey: .rolledBack) ?? []
    }

    /// Remembers that `version` was rolled back.
    public mutating func remember(rolledBack version: String) {
        rolledBack = Array((rolledBack.filter { $0 != version } + [version]).suffix(16))
    }

    /// The agent's directory.
    public static let defaultDirectory = "/var/lib/panicbridge-update"

    public static func load(directory: String) -> UpdateAgentState {
        guard let data = FileManager.default.contents(atPath: directory + "/state.json"),
            let state = try? JSONDecoder().decode(UpdateAgentState.self, from: data)
        else { return UpdateAgentState() }
        return state
    }

    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let path = directory + "/state.json"
        try encoder.encode(self).write(to: URL(fileURLWithPath: path + ".tmp"))
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
    }

    /// The floor raised to `version` (never lowered).
    public mutating func raiseFloor(to version: String) {
        guard let new = DebianVersion(version) else { return }
        if let current = floor.flatMap(DebianVersion.init), current >= new { return }
        floor = version
    }
}
