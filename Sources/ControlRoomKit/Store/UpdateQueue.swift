import Foundation
import PanicCore
import PanicSigning

/// How software update documents ride the command queue (docs/updates.md), as configuration documents do: a row of
/// `commands` with action ``action`` and, in the alert column, ``alert(version:)``; the box acknowledges it by the
/// document's nonce like any command. Decided here once for both stores.
public enum UpdateQueue {
    /// The `commands.action` of an update document (never a `CommandAction`, so the alert reissue skips it).
    public static let action = "update"

    /// The `commands.alert` value of the update to `version`.
    public static func alert(version: String) -> String { "update-\(version)" }

    /// The package hash a queued update document (the control room's own signed envelope) names, or nil.
    public static func sha256(envelope: String) -> String? {
        guard let parsed = try? Envelope(envelope),
            let document = try? JSONDecoder().decode(UpdateDocument.self, from: parsed.payload)
        else { return nil }
        return document.sha256
    }
}

/// What a package is, read from its control fields (`dpkg-deb -f`), with its stored file's size and SHA-256: what
/// an update document says about it.
public struct UpdateArtifact: Sendable, Hashable {
    public var version: String
    public var architecture: String
    public var sha256: String
    public var size: Int

    /// Checks the control fields: the package must be `panicbridge` with a Debian version and an architecture.
    public init(package: String, version: String, architecture: String, sha256: String, size: Int) throws {
        guard package == UpdateDocument.packageName else {
            throw DeskError.badRequest("the package is \(package), not \(UpdateDocument.packageName): refused")
        }
        guard DebianVersion(version) != nil else {
            throw DeskError.badRequest("the package's version \(version) is not a Debian version")
        }
        guard !architecture.isEmpty, architecture.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw DeskError.badRequest("the package's architecture \(architecture) is not a Debian architecture")
        }
        guard UpdateDocument.isSHA256(sha256), size > 0 else {
            throw DeskError.badRequest("the package's SHA-256 or size is wrong")
        }
        self.version = version
        self.architecture = architecture
        self.sha256 = sha256
        self.size = size
    }

    /// The control fields of `dpkg-deb -f FILE Package Version Architecture` (`Field: value` lines).
    public static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":"), !line.hasPrefix(" ") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}

/// What an update rollout pushes (a rollout row's payload, as JSON): the package and the floor each device's
/// document names.
public struct UpdateRolloutPayload: Sendable, Hashable, Codable {
    public var version: String
    public var architecture: String
    public var sha256: String
    public var size: Int
    public var floor: String?

    public init(_ artifact: UpdateArtifact, floor: String?) {
        version = artifact.version
        architecture = artifact.architecture
        sha256 = artifact.sha256
        size = artifact.size
        self.floor = floor
    }

    /// The payload as a rollout row stores it.
    public func stored() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The payload of a stored update rollout, its package checked again as when it was pushed.
    public static func read(stored text: String) throws -> (artifact: UpdateArtifact, floor: String?) {
        guard let payload = try? JSONDecoder().decode(Self.self, from: Data(text.utf8)) else {
            throw DeskError.badRequest("the update rollout's stored package is unreadable")
        }
        let artifact = try UpdateArtifact(
            package: UpdateDocument.packageName, version: payload.version, architecture: payload.architecture,
            sha256: payload.sha256, size: payload.size)
        return (artifact, payload.floor)
    }
}

/// A signed update document, as a store keeps it.
public struct IssuedUpdate: Sendable, Hashable {
    public var document: UpdateDocument
    public var envelope: String

    public init(document: UpdateDocument, envelope: String) {
        self.document = document
        self.envelope = envelope
    }
}

/// The packages the control room serves to its boxes (`GET /v1/updates/<sha256>`): files in a directory of the
/// control room's data, each named by its SHA-256 (`<sha256>.deb`), written to a temporary name and renamed. Not in
/// the database: a package is tens of megabytes, and every instance on a shared database reads the same directory.
public struct UpdatePackages: Sendable {
    /// The most a package may weigh (the box refuses a document saying more, and the endpoint serves no more).
    public static let maximumBytes = 512 * 1024 * 1024

    public let directory: String
    public init(directory: String) { self.directory = directory }

    /// The stored file of `sha256`, when it is a SHA-256 and such a package is stored; nil otherwise (never a path
    /// outside the directory).
    public func path(sha256: some StringProtocol) -> String? {
        guard UpdateDocument.isSHA256(sha256) else { return nil }
        let path = "\(directory)/\(sha256).deb"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// What the console stored beside each package (`<sha256>.json`): its control fields and the file's name, so the
    /// desk can offer it for a rollout without reading the archive. The desk rolls out only packages stored this way
    /// (`controlroom update push`, which checked them with dpkg-deb); it takes no upload.
    public struct Stored: Sendable, Hashable, Codable {
        public var name: String
        public var version: String
        public var architecture: String
        public var sha256: String
        public var size: Int

        public var artifact: UpdateArtifact {
            get throws {
                try UpdateArtifact(
                    package: UpdateDocument.packageName, version: version, architecture: architecture, sha256: sha256,
                    size: size)
            }
        }
    }

    /// Writes the description of a stored package (`<sha256>.json`), atomically.
    public func describe(_ artifact: UpdateArtifact, name: String) throws {
        let stored = Stored(
            name: String(name.prefix(200)), version: artifact.version, architecture: artifact.architecture,
            sha256: artifact.sha256, size: artifact.size)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try encoder.encode(stored).write(
            to: URL(fileURLWithPath: "\(directory)/\(artifact.sha256).json"), options: .atomic)
    }

    /// The described packages whose file is there with the described size, newest version first.
    public func catalogue() -> [Stored] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Stored? in
            guard name.hasSuffix(".json"), UpdateDocument.isSHA256(name.dropLast(5)),
                let data = FileManager.default.contents(atPath: directory + "/" + name),
                let stored = try? JSONDecoder().decode(Stored.self, from: data), stored.sha256 == name.dropLast(5),
                (try? stored.artifact) != nil, let path = path(sha256: stored.sha256),
                let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int,
                size == stored.size
            else { return nil }
            return stored
        }.sorted {
            guard let left = DebianVersion($0.version), let right = DebianVersion($1.version), left != right else {
                return $0.name < $1.name
            }
            return left > right
        }
    }

    /// The described package named by its SHA-256 or its file name, or why there is none.
    public func find(_ reference: String) throws -> UpdateArtifact {
        let matches = catalogue().filter { $0.sha256 == reference || $0.name == reference }
        guard let stored = matches.first else {
            throw DeskError.badRequest(
                "no stored package '\(reference.prefix(80))' (store it with `controlroom update push` first)")
        }
        guard matches.count == 1 else {
            throw DeskError.badRequest("'\(reference.prefix(80))' names \(matches.count) packages: give its SHA-256")
        }
        return try stored.artifact
    }

    /// Copies the package at `source` into the directory under its SHA-256; returns its SHA-256 and size.
    public func store(_ source: String, sha256: String, size: Int) throws -> String {
        guard size <= Self.maximumBytes else {
            throw DeskError.badRequest("the package is \(size) bytes, more than \(Self.maximumBytes)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = directory + "/" + sha256 + ".deb"
        if FileManager.default.fileExists(atPath: target) { return target }
        let temporary = target + ".tmp-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: source, toPath: temporary)
        try FileManager.default.moveItem(atPath: temporary, toPath: target)
        return target
    }
}
