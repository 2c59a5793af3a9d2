import Crypto
import Foundation
import HummingbirdBcrypt
import PanicSigning

/// What an account may do at the desk. Each role can do everything the one before it can.
public enum DeskRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Sees alerts and locations; accepts, clears, dispatches, writes notes.
    case `operator`
    /// An operator who also exports the audit log and is told about escalations.
    case supervisor
    /// A supervisor who also edits device metadata.
    case admin

    public static func < (lhs: DeskRole, rhs: DeskRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A desk account, as the session and the audit log name it.
public struct DeskAccount: Sendable, Hashable, Codable {
    public init(name: String, role: DeskRole, hasToken: Bool) {
        self.name = name
        self.role = role
        self.hasToken = hasToken
    }

    /// The login name.
    public var name: String
    /// What it may do.
    public var role: DeskRole
    /// Whether an API token (for automation) is set.
    public var hasToken: Bool
}

/// Why a desk operation was refused, each naming what was wrong.
public enum DeskError: Error, Equatable, CustomStringConvertible {
    /// The login name is empty, too long, or has characters other than letters, digits, `.`, `_`, `-`.
    case badUserName(String)
    /// The password is shorter than `DeskPasswords.minimumLength` (or longer than bcrypt's 72 bytes).
    case weakPassword(String)
    /// No such account.
    case unknownUser(String)
    /// An account with that name exists.
    case duplicateUser(String)
    /// The role text is none of operator, supervisor, admin.
    case unknownRole(String)
    /// A required field of a request was missing or malformed.
    case badRequest(String)

    public var description: String {
        switch self {
        case .badUserName(let name):
            "'\(name.prefix(70))' is not a user name (1–64 letters, digits, '.', '_' or '-')"
        case .weakPassword(let why): "password refused: \(why)"
        case .unknownUser(let name): "no user '\(name)'"
        case .duplicateUser(let name): "user '\(name)' already exists"
        case .unknownRole(let text): "'\(text)' is not a role (operator, supervisor or admin)"
        case .badRequest(let why): why
        }
    }
}

/// Password and token rules of the desk.
public enum DeskPasswords {
    /// Shortest password accepted.
    public static let minimumLength = 10
    /// bcrypt's cost for new hashes (2^12 rounds, about a quarter second); tests pass a lower one.
    public static let defaultCost: UInt8 = 12

    static func check(name: String) throws(DeskError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard (1...64).contains(name.count), name.allSatisfy(allowed.contains) else { throw .badUserName(name) }
    }

    static func check(password: String) throws(DeskError) {
        if password.count < minimumLength { throw .weakPassword("it needs at least \(minimumLength) characters") }
        // bcrypt reads only the first 72 bytes; a longer password would be silently cut.
        if password.utf8.count > 72 { throw .weakPassword("bcrypt takes at most 72 bytes") }
    }

    /// SHA-256 of an API token, hex: tokens are 256 random bits, so a fast hash is enough to keep them out of
    /// the database in the clear.
    static func tokenHash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A fresh random secret: 32 bytes in base64url (session ids, CSRF tokens, and the body of API tokens).
    static func secret() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// What every API token starts with. People paste API tokens into command lines
    /// (`panicd sim --operator-token T`, `curl -H "Authorization: Bearer T"`). A bare base64url secret starts with
    /// `-` one time in 64, and an argument parser then reads it as an option. The prefix also lets a secret
    /// scanner recognise a leaked token.
    public static let apiTokenPrefix = "pbt_"

    /// A fresh API token: the prefix and 256 random bits.
    static func apiToken() -> String { apiTokenPrefix + secret() }
}

extension ControlRoom {
    /// Creates an account. Returns the API token when `token` is set (shown once; only its hash is stored).
    @discardableResult
    public func addUser(
        name: String, role: DeskRole, password: String, token: Bool = false, cost: UInt8 = DeskPasswords.defaultCost
    ) async throws -> String? {
        try DeskPasswords.check(name: name)
        try DeskPasswords.check(password: password)
        let hash = Bcrypt.hash(password, cost: cost)
        let secret = token ? DeskPasswords.apiToken() : nil
        try await store.addUser(
            name: name, role: role, passwordHash: hash, tokenHash: secret.map(DeskPasswords.tokenHash), now: wallClock()
        )
        return secret
    }

    /// Removes an account. Returns whether it existed.
    @discardableResult
    public func removeUser(name: String) async throws -> Bool { try await store.removeUser(name: name) }

    /// Sets a new password for an account.
    public func setPassword(name: String, password: String, cost: UInt8 = DeskPasswords.defaultCost) async throws {
        try DeskPasswords.check(password: password)
        try await store.setPasswordHash(name: name, hash: Bcrypt.hash(password, cost: cost))
    }

    /// Every account, by name.
    public func users() async throws -> [DeskAccount] { try await store.users() }

    /// The account whose password this is, or nil. The bcrypt check runs off the store, so a login never holds up
    /// the record intake.
    public func authenticate(name: String, password: String) async throws -> DeskAccount? {
        guard let (account, hash) = try await store.credentials(name: name) else {
            // Spend the same time on an unknown name, so timing does not tell which names exist.
            _ = Bcrypt.verify(password, hash: DeskPasswords.decoyHash)
            return nil
        }
        return Bcrypt.verify(password, hash: hash) ? account : nil
    }

    /// The account with this name, or nil.
    public func account(name: String) async throws -> DeskAccount? { try await store.account(name: name) }

    /// The account an API token belongs to, or nil.
    public func account(token: String) async throws -> DeskAccount? {
        try await store.account(tokenHash: DeskPasswords.tokenHash(token))
    }
}

extension DeskPasswords {
    /// A bcrypt hash of nothing anyone knows, checked against when the name is unknown.
    static let decoyHash = Bcrypt.hash(DeskPasswords.secret(), cost: defaultCost)
}
