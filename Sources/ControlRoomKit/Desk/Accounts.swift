import Crypto
import Foundation
import HummingbirdBcrypt
import PanicSQLite
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

    /// A fresh random secret: 32 bytes in base64url (session ids, CSRF and API tokens).
    static func secret() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

extension ControlRoom {
    /// Creates an account. Returns the API token when `token` is set (shown once; only its hash is stored).
    @discardableResult
    public func addUser(
        name: String, role: DeskRole, password: String, token: Bool = false, cost: UInt8 = DeskPasswords.defaultCost
    ) throws -> String? {
        try DeskPasswords.check(name: name)
        try DeskPasswords.check(password: password)
        let hash = Bcrypt.hash(password, cost: cost)
        let secret = token ? DeskPasswords.secret() : nil
        let now = wallClock()
        try state.withLock { state in
            let existing = try state.statement("SELECT 1 FROM users WHERE name = ?1")
            try existing.bind([.text(name)])
            let taken = try existing.step()
            existing.reset()
            if taken { throw DeskError.duplicateUser(name) }
            try state.statement(
                "INSERT INTO users(name, role, password_hash, token_hash, created_ms) VALUES(?1, ?2, ?3, ?4, ?5)"
            ).bind([
                .text(name), .text(role.rawValue), .text(hash),
                secret.map { .text(DeskPasswords.tokenHash($0)) } ?? .null, .integer(now.epochMilliseconds),
            ]).run()
        }
        return secret
    }

    /// Removes an account. Returns whether it existed.
    @discardableResult
    public func removeUser(name: String) throws -> Bool {
        try state.withLock { state in
            try state.statement("DELETE FROM users WHERE name = ?1").bind([.text(name)]).run()
            return state.connection.changes > 0
        }
    }

    /// Sets a new password for an account.
    public func setPassword(name: String, password: String, cost: UInt8 = DeskPasswords.defaultCost) throws {
        try DeskPasswords.check(password: password)
        let hash = Bcrypt.hash(password, cost: cost)
        try state.withLock { state in
            try state.statement("UPDATE users SET password_hash = ?2 WHERE name = ?1")
                .bind([.text(name), .text(hash)]).run()
            if state.connection.changes == 0 { throw DeskError.unknownUser(name) }
        }
    }

    /// Every account, by name.
    public func users() throws -> [DeskAccount] {
        try state.withLock { state in
            let query = try state.statement("SELECT name, role, token_hash IS NOT NULL FROM users ORDER BY name")
            try query.bind([])
            var result: [DeskAccount] = []
            while try query.step() {
                result.append(
                    DeskAccount(
                        name: query.text(0), role: DeskRole(rawValue: query.text(1)) ?? .operator,
                        hasToken: query.integer(2) != 0))
            }
            query.reset()
            return result
        }
    }

    /// The account whose password this is, or nil. The bcrypt check runs outside the control room's lock, so a
    /// login never holds up the record intake.
    public func authenticate(name: String, password: String) throws -> DeskAccount? {
        let stored: (DeskAccount, String)? = try state.withLock { state in
            let query = try state.statement(
                "SELECT role, password_hash, token_hash IS NOT NULL FROM users WHERE name = ?1")
            try query.bind([.text(name)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            let account = DeskAccount(
                name: name, role: DeskRole(rawValue: query.text(0)) ?? .operator, hasToken: query.integer(2) != 0)
            return (account, query.text(1))
        }
        guard let (account, hash) = stored else {
            // Spend the same time on an unknown name, so timing does not tell which names exist.
            _ = Bcrypt.verify(password, hash: DeskPasswords.decoyHash)
            return nil
        }
        return Bcrypt.verify(password, hash: hash) ? account : nil
    }

    /// The account with this name, or nil.
    public func account(name: String) throws -> DeskAccount? {
        try state.withLock { state in
            let query = try state.statement("SELECT role, token_hash IS NOT NULL FROM users WHERE name = ?1")
            try query.bind([.text(name)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            return DeskAccount(
                name: name, role: DeskRole(rawValue: query.text(0)) ?? .operator, hasToken: query.integer(1) != 0)
        }
    }

    /// The account an API token belongs to, or nil.
    public func account(token: String) throws -> DeskAccount? {
        let digest = DeskPasswords.tokenHash(token)
        return try state.withLock { state in
            let query = try state.statement("SELECT name, role FROM users WHERE token_hash = ?1")
            try query.bind([.text(digest)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            return DeskAccount(
                name: query.text(0), role: DeskRole(rawValue: query.text(1)) ?? .operator, hasToken: true)
        }
    }
}

extension DeskPasswords {
    /// A bcrypt hash of nothing anyone knows, checked against when the name is unknown.
    static let decoyHash = Bcrypt.hash(DeskPasswords.secret(), cost: defaultCost)
}
