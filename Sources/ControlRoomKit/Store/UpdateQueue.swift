import Foundation
import PanicCore

/// How software update documents ride the command queue (docs/updates.md), as configuration documents do: a row of
/// `commands` with action ``action`` and, in the alert column, ``alert(version:)``; the box acknowledges it by the
/// document's nonce like any command. Decided here once for both stores.
public enum UpdateQueue {
    /// The `commands.action` of an update document (never a `CommandAction`, so the alert reissue skips it).
    public static let action = "update"

    /// The `commands.alert` value of the update to `version`.
    public static func alert(version: String) -> String { "update-\(version)" }
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
