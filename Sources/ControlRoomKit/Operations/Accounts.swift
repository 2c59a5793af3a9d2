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
    /// The password is shorter than `DeskPasswords.minimumLength` (or longer than bcrypt's 72 bytes), is the account's
    /// name, one character repeated, or a commonly used password.
    case weakPassword(String)
    /// No such account.
    case unknownUser(String)
    /// No API token with that id.
    case unknownToken(String)
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
        case .unknownToken(let id): "no API token '\(id)' (controlroom users tokens NAME lists them)"
        case .duplicateUser(let name): "user '\(name)' already exists"
        case .unknownRole(let text): "'\(text)' is not a role (operator, supervisor or admin)"
        case .badRequest(let why): why
        }
    }
}

/// Password and token rules of the desk.
public enum DeskPasswords {
    /// Shortest password accepted.
    public static let minimumLength = 12
    /// bcrypt's cost for new hashes (2^12 rounds, about a quarter second); tests pass a lower one.
    public static let defaultCost: UInt8 = 12

    package static func check(name: String) throws(DeskError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard (1...64).contains(name.count), name.allSatisfy(allowed.contains) else { throw .badUserName(name) }
    }

    /// Passwords that guessing tools try first (lowercased, spaces removed), refused even when long enough.
    static let common: Set<String> = [
        "123456789012", "1234567890123", "12345678901234", "qwertyuiopas", "qwerty123456", "password1234",
        "password12345", "password123456", "passwordpassword", "password!234", "p@ssw0rd1234", "p@ssword1234",
        "iloveyou1234", "letmeinletmein", "welcome12345", "welcome123456", "administrator", "administrator1",
        "adminadminadmin", "changeme1234", "changemechangeme", "correcthorsebatterystaple", "trustno1trustno1",
        "abcdefghijkl", "abc123abc123", "aaaaaaaaaaaa", "111111111111", "000000000000", "operator1234",
        "supervisor12", "controlroom1", "controlroom123", "panicbridge1", "panicbridge123", "policepolice",
        "police123456",
    ]

    /// Refuses a password too short for the account `name`, too long for bcrypt, the name itself, one character
    /// repeated, or a common password; the error says which.
    package static func check(password: String, name: String) throws(DeskError) {
        if password.count < minimumLength { throw .weakPassword("it needs at least \(minimumLength) characters") }
        // bcrypt reads only the first 72 bytes; a longer password would be silently cut.
        if password.utf8.count > 72 { throw .weakPassword("bcrypt takes at most 72 bytes") }
        let folded = password.lowercased().filter { !$0.isWhitespace }
        // The name itself, or repeated ("ashaashaasha").
        if !name.isEmpty, folded.replacingOccurrences(of: name.lowercased(), with: "").isEmpty {
            throw .weakPassword("it must not be the account's name")
        }
        if Set(folded).count <= 2 { throw .weakPassword("it is one or two characters repeated") }
        if common.contains(folded) { throw .weakPassword("it is a commonly used password") }
    }

    /// SHA-256 of an API token, hex: tokens are 256 random bits, so a fast hash is enough to keep them out of
    /// the database in the clear.
    package static func tokenHash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A fresh random secret: 32 bytes in base64url (session ids, CSRF tokens, and the body of API tokens).
    package static func secret() -> String {
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

/// An API token as `controlroom users tokens` lists it: never its secret (the store keeps only its hash).
public struct APIToken: Sendable, Hashable, Codable {
    /// What it is listed and revoked by (`tok_…`).
    public var id: String
    /// The account it acts as.
    public var user: String
    /// When it was issued and last used (epoch ms; the last use is written at most once a minute).
    public var createdMs: Int64
    public var lastUsedMs: Int64?

    public init(id: String, user: String, createdMs: Int64, lastUsedMs: Int64?) {
        self.id = id
        self.user = user
        self.createdMs = createdMs
        self.lastUsedMs = lastUsedMs
    }
}

extension ControlRoom {
    /// Creates an account. Returns the API token when `token` is set (shown once; only its hash is stored).
    @discardableResult
    public func addUser(
        name: String, role: DeskRole, password: String, token: Bool = false, cost: UInt8 = DeskPasswords.defaultCost,
        by actor: AuditActor = .console
    ) async throws -> String? {
        try DeskPasswords.check(name: name)
        try DeskPasswords.check(password: password, name: name)
        let hash = Bcrypt.hash(password, cost: cost)
        try await store.addUser(name: name, role: role, passwordHash: hash, tokenHash: nil, now: wallClock())
        try await auditSecurity(.userAdd, by: actor, subject: name, detail: "role \(role.rawValue)")
        guard token else { return nil }
        return try await issueToken(user: name, by: actor).secret
    }

    /// Removes an account, its sessions and its API tokens. Returns whether it existed.
    @discardableResult
    public func removeUser(name: String, by actor: AuditActor = .console) async throws -> Bool {
        let removed = try await store.removeUser(name: name)
        if removed { try await auditSecurity(.userRemove, by: actor, subject: name) }
        return removed
    }

    /// Sets a new password for an account; ends every session and API token it has.
    public func setPassword(
        name: String, password: String, cost: UInt8 = DeskPasswords.defaultCost, by actor: AuditActor = .console
    ) async throws {
        try DeskPasswords.check(password: password, name: name)
        try await store.setPasswordHash(name: name, hash: Bcrypt.hash(password, cost: cost))
        try await auditSecurity(.passwordChange, by: actor, subject: name, detail: "sessions and API tokens ended")
    }

    /// Gives an account another role (its sessions see it at their next request).
    public func setRole(name: String, role: DeskRole, by actor: AuditActor = .console) async throws {
        let before = try await store.account(name: name)
        try await store.setRole(name: name, role: role)
        try await auditSecurity(
            .roleChange, by: actor, subject: name,
            detail: "\(before?.role.rawValue ?? "?") → \(role.rawValue)")
    }

    /// Issues another API token for an account: its id and its secret (shown once; only its hash is stored).
    /// Rotating a token is issuing a new one, then revoking the old one.
    public func issueToken(user: String, by actor: AuditActor = .console) async throws -> (id: String, secret: String) {
        let secret = DeskPasswords.apiToken()
        let id = "tok_" + String(DeskPasswords.tokenHash(DeskPasswords.secret()).prefix(16))
        try await store.addToken(id: id, user: user, hash: DeskPasswords.tokenHash(secret), now: wallClock())
        try await auditSecurity(.tokenIssue, by: actor, subject: user, item: id)
        return (id, secret)
    }

    /// The API tokens of an account, oldest first; throws `DeskError.unknownUser` when there is no such account.
    public func tokens(user: String) async throws -> [APIToken] {
        guard try await store.account(name: user) != nil else { throw DeskError.unknownUser(user) }
        return try await store.tokens(user: user)
    }

    /// Revokes an API token: it is refused from the next request on, on every instance. Throws
    /// `DeskError.unknownToken` when there is no such token.
    public func revokeToken(id: String, by actor: AuditActor = .console) async throws {
        guard let owner = try await store.revokeToken(id: id) else { throw DeskError.unknownToken(id) }
        try await auditSecurity(.tokenRevoke, by: actor, subject: owner, item: id)
    }

    /// Every account, by name.
    public func users() async throws -> [DeskAccount] { try await store.users() }

    /// The account whose password this is, or nil. The bcrypt check runs on `hasher`'s thread of its own, so a
    /// login never holds up the record intake.
    public func authenticate(
        name: String, password: String, hasher: PasswordHasher = PasswordHasher()
    ) async throws -> DeskAccount? {
        guard let (account, hash) = try await store.credentials(name: name) else {
            // Spend the same time on an unknown name, so timing does not tell which names exist.
            _ = try await hasher.verify(password, hash: DeskPasswords.decoyHash)
            return nil
        }
        return try await hasher.verify(password, hash: hash) ? account : nil
    }

    /// The account with this name, or nil.
    public func account(name: String) async throws -> DeskAccount? { try await store.account(name: name) }

    /// The account an API token belongs to, or nil.
    public func account(token: String) async throws -> DeskAccount? {
        try await store.account(tokenHash: DeskPasswords.tokenHash(token), now: wallClock().epochMilliseconds)
    }
}

extension DeskPasswords {
    /// A bcrypt hash of nothing anyone knows, checked against when the name is unknown.
    static let decoyHash = Bcrypt.hash(DeskPasswords.secret(), cost: defaultCost)
}
