import PanicCore

/// How configuration documents ride the command queue (docs/configuration.md → *Remote configuration*): a row of
/// `commands` with action ``action`` and, in the alert column, ``alert(version:)``; the box acknowledges it by the
/// document's nonce like any command. Decided here once for both stores.
public enum ConfigQueue {
    /// The `commands.action` of a configuration document (never a `CommandAction`, so the alert reissue skips it).
    public static let action = "config"

    /// The `commands.alert` value of version `version`.
    public static func alert(version: Int) -> String { "config-v\(version)" }

    /// The version after the newest of a device's queued documents (their alert column values); 1 for the first.
    public static func nextVersion(after alerts: [String]) -> Int {
        alerts.compactMap { $0.hasPrefix("config-v") ? Int($0.dropFirst("config-v".count)) : nil }.max().map { $0 + 1 }
            ?? 1
    }
}

/// Signs a configuration document of a given version.
public typealias ConfigIssuer = @Sendable (Int) throws -> IssuedConfig

/// A signed configuration document, as a store keeps it.
public struct IssuedConfig: Sendable, Hashable {
    public var document: ConfigDocument
    public var envelope: String

    public init(document: ConfigDocument, envelope: String) {
        self.document = document
        self.envelope = envelope
    }
}
