import Foundation
import PostgresNIO

/// A `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]` URL, parsed with errors
/// that say what is wrong with it. The password, when there is one, never appears in `description`.
public struct PostgresURL: Sendable, CustomStringConvertible {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// `disable`, `prefer` (the default) or `require`.
    public var sslMode: String

    /// Parses `text`; throws `PostgresStoreError.badURL` naming the problem.
    public init(_ text: String) throws {
        func bad(_ why: String) -> PostgresStoreError { .badURL(Self.redacted(text), why) }
        guard let components = URLComponents(string: text) else { throw bad("not a URL") }
        guard components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw bad("the scheme must be postgres:// (got \(components.scheme.map { "\($0)://" } ?? "none"))")
        }
        guard let host = components.host, !host.isEmpty else { throw bad("no host (postgres://user@host:port/db)") }
        guard let user = components.user, !user.isEmpty else { throw bad("no user (postgres://user@host:port/db)") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw bad("no database name after the host") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw bad("port \(port) is out of range") }
        var sslMode = "prefer"
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, ["disable", "prefer", "require"].contains(value) else {
                    throw bad("sslmode must be disable, prefer or require")
                }
                sslMode = value
            default:
                throw bad("unknown parameter '\(item.name)' (only sslmode is understood)")
            }
        }
        self.user = user
        password = components.password
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode
    }

    /// The same URL naming another database on the same server.
    public func with(database: String) -> PostgresURL {
        var copy = self
        copy.database = database
        return copy
    }

    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// The client configuration for this URL.
    public var configuration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else {
            return String(text.prefix(200))
        }
        components.password = "***"
        return components.string ?? "(unprintable URL)"
    }
}

/// Why the PostgreSQL store could not do what it was asked, naming the problem (never a bound value).
public enum PostgresStoreError: Error, CustomStringConvertible {
    /// The `--db` URL is malformed.
    case badURL(String, String)
    /// The server could not be reached, or refused the login.
    case cannotConnect(String, String)
    /// A schema migration failed; the database is left at the step before it.
    case migrationFailed(version: Int, summary: String, String)
    /// A query failed.
    case query(String)

    public var description: String {
        switch self {
        case .badURL(let url, let why): "--db \(url): \(why)"
        case .cannotConnect(let target, let why): "cannot connect to PostgreSQL at \(target): \(why)"
        case .migrationFailed(let version, let summary, let why):
            "PostgreSQL migration \(version) (\(summary)) failed: \(why)"
        case .query(let why): "PostgreSQL: \(why)"
        }
    }

    /// What the server or the connection said, without the query's bound values.
    static func reason(_ error: any Error) -> String {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
                return reason(inner)
            }
        }
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo {
            let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return (info[.message] ?? "server error") + state
        }
        if let underlying = error.underlying {
            let text = "\(underlying)"
            // "Connection errors: SingleConnectionFailure(target: …, error: connection reset (error set): Connection
            // refused) (errno: 111))": the last cause is what a person needs.
            if let errno = text.range(of: " (errno: ") {
                let before = text[..<errno.lowerBound].trimmingCharacters(in: CharacterSet(charactersIn: ")"))
                let cause = before.range(of: ": ", options: .backwards).map { before[$0.upperBound...] } ?? before[...]
                let number = text[errno.upperBound...].prefix { $0.isNumber }
                return "\(cause) (errno \(number))"
            }
            if let range = text.range(of: "error: ", options: .backwards) { return String(text[range.upperBound...]) }
            return text
        }
        return "\(error.code)"
    }
}
